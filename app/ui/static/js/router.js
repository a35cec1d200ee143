// Hash routing: '#/experiments/1?filter=...' -> view(main, {id: '1'}, URLSearchParams).
// Hash routes keep the page a single file at any --static-prefix and match the links the
// official client prints ('#/experiments/<id>/runs/<run_id>').

import { h, replace } from "./dom.js";

const routes = [];
let cleanup = null;
let main = null;
let renders = 0;  // a newer render makes an older, still loading one drop its result

/** route('/experiments/:id', view); a view may return a cleanup function (or a promise of one). */
export function route(pattern, view) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; });
  routes.push({ regex: new RegExp(`^${source}/?$`), names, view });
}

export function start(element, fallback) {
  main = element;
  window.addEventListener("hashchange", render);
  if (!location.hash || location.hash === "#") history.replaceState(null, "", fallback);
  render();
}

function parse() {
  const [path, query = ""] = location.hash.slice(1).split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

async function render() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const { path, query } = parse();
  for (const { regex, names, view } of routes) {
    const match = regex.exec(path);
    if (!match) continue;
    const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    highlightNav(path);
    // Each render gets its own container: a slow, superseded view fills a detached one.
    const container = h("div.view", h("p.loading", "Loading…"));
    replace(main, container);
    const rendering = ++renders;
    try {
      const result = await view(container, params, query);
      if (rendering !== renders) { if (typeof result === "function") result(); return; }
      cleanup = result;
    } catch (error) {
      if (rendering === renders) showError(error);
    }
    return;
  }
  showNotFound();
}

export function showNotFound() {
  replace(main, h("section.page", h("h1", "Page not found"), h("p", "Nothing lives at ", h("code", parse().path), ". "),
    h("a", { href: "#/experiments" }, "Go to the experiments")));
}

export function showError(error) {
  console.error(error);
  replace(main, h("section.page", h("h1", error.status === 403 ? "Permission denied" : "Something went wrong"),
    h("p.error-box", { role: "alert" }, error.message || String(error)),
    h("a", { href: "#/experiments" }, "Go to the experiments")));
}

function highlightNav(path) {
  const section = /^\/(models|admin|account)\b/.exec(path)?.[1] || "experiments";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

/** Store view state in the hash's query without re-rendering (back/forward and links keep it). */
export function setQuery(values) {
  const { path, query } = parse();
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) query.delete(key);
    else query.set(key, Array.isArray(value) ? value.join(",") : value);
  }
  const text = query.toString();
  history.replaceState(null, "", `#${path}${text ? `?${text}` : ""}`);
}

/** A comma-separated list from the query. */
export function listParam(query, key) {
  const value = query.get(key);
  if (!value) return [];
  if (value.startsWith("[")) {  // the official UI's form: runs=["a","b"]
    try { return JSON.parse(value).map(String); } catch { /* fall through */ }
  }
  return value.split(",").filter(Boolean);
}
