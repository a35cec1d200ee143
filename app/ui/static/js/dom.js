// Building DOM nodes. Text always goes in as text nodes: no HTML string is ever parsed, so
// names, tags, notes and artifact contents can't inject markup or scripts.

/**
 * h('a.link', {href, on: {click}}, 'text', child, [more]) -> element.
 * The tag may carry .classes; props: `class`, `on` (event listeners), `dataset`, `style`
 * (an object, applied through the CSSOM), other keys become attributes (false/null: left out).
 */
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  if (props && (typeof props !== "object" || props instanceof Node || Array.isArray(props))) {
    children.unshift(props);
    props = null;
  }
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.classList.add(...String(value).split(" ").filter(Boolean));
    else if (key === "on") for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on")) throw new Error(`use {on: {...}} for ${key}`);
    else if (key in PROPERTIES) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

// Set as properties (their live state), not as attributes.
const PROPERTIES = { value: 1, checked: 1, selected: 1, indeterminate: 1, disabled: 1 };

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Encode one path segment or query value of a hash route. */
export const enc = encodeURIComponent;

/** Offer bytes or text as a file download without leaving the page. */
export function saveFile(name, content, type = "text/plain") {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Run fn at most once per animation frame. */
export function throttleFrame(fn) {
  let pending = false;
  return (...args) => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fn(...args); });
  };
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
