// The artifacts browser: a tree of folders opened on demand, with sizes, beside a preview of
// the chosen file and a download link. Used for runs, logged models and model versions.

import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { preview } from "./preview.js";

/**
 * list(path) -> [{path, is_dir, file_size}] (paths relative to the root);
 * urlOf(path) -> download URL, or null when this server cannot serve the files;
 * selected: a file to open at start; onSelect(path) is told of each choice (for the URL).
 */
export function artifactBrowser({ list, urlOf, selected = "", onSelect = () => {}, note }) {
  const tree = h("ul.tree", { role: "tree", "aria-label": "Artifacts" });
  const pane = h("div.preview-pane", h("p.muted", "Choose a file to preview it."));
  const element = h("div.artifacts", h("div.tree-pane", note ? h("p.muted.small", note) : null, tree), pane);
  let current = null;

  async function fill(container, path, depth) {
    let files;
    try {
      files = await list(path);
    } catch (error) {
      replace(container, h("li.error-text", error.message));
      return;
    }
    files.sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
    replace(container, files.length ? files.map((f) => node(f, depth)) : h("li.muted", path ? "Empty folder" : "No artifacts"));
    const open = files.find((f) => selected === f.path || (f.is_dir && selected.startsWith(`${f.path}/`)));
    if (open) container.querySelector(`[data-path="${CSS.escape(open.path)}"]`)?.click();
  }

  function node(file, depth) {
    const name = file.path.split("/").pop();
    const item = h("li", { role: "treeitem" });
    const row = h("button.tree-row", { type: "button", dataset: { path: file.path }, title: file.path },
      h("span.icon", { "aria-hidden": "true" }, file.is_dir ? "▸" : "·"), h("span.tree-name", name),
      file.is_dir ? null : h("span.size", fmt.bytes(file.file_size)));
    row.style.paddingLeft = `${8 + depth * 14}px`;
    item.append(row);
    if (file.is_dir) {
      item.setAttribute("aria-expanded", "false");
      const children = h("ul", { role: "group", hidden: true });
      item.append(children);
      let loaded = false;
      row.addEventListener("click", () => {
        const open = children.hidden;
        children.hidden = !open;
        item.setAttribute("aria-expanded", String(open));
        row.firstChild.textContent = open ? "▾" : "▸";
        if (open && !loaded) { loaded = true; children.append(h("li.muted", "Loading…")); fill(children, file.path, depth + 1); }
      });
    } else {
      row.addEventListener("click", () => show(file, row));
    }
    return item;
  }

  function show(file, row) {
    current?.classList.remove("selected");
    current = row;
    row.classList.add("selected");
    row.setAttribute("aria-current", "true");
    onSelect(file.path);
    const url = urlOf(file.path);
    replace(pane,
      h("div.preview-head", h("h3", { title: file.path }, file.path), h("span.muted", fmt.bytes(file.file_size)),
        url ? h("a.btn", { href: url, download: file.path.split("/").pop() }, "Download") : null),
      url ? preview(file, url) : h("p.muted", "This server does not serve these artifacts (they are not in an mlflow-artifacts: location)."));
  }

  fill(tree, "", 0);
  return element;
}
