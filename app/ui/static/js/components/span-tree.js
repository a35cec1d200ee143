// A trace's spans as a tree and a timeline in one: each row is a span, indented under its
// parent, with its type, name and a bar placed by its start and end relative to the trace.
//
// Big traces stay fast: the rows are built into a fragment and appended at once, with widths
// and offsets set as percentages (nothing is measured, so there is no layout per row); clicks
// and keys are handled by one listener on the list. Collapsing a span redraws the list from
// the tree, which for a thousand spans takes a few milliseconds.

import { h } from "../dom.js";
import { latency, typeClass } from "./trace-parts.js";

/**
 * spanTree(spans, {selected, onSelect}) -> {element, select(id, focus), selected()}. spans: as
 * readSpan returns them; `selected` defaults to the first root. A span whose parent is missing
 * (not received yet) is shown as a root.
 */
export function spanTree(spans, { selected = null, onSelect = () => {} } = {}) {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (span.parent && span.parent !== span.id && byId.has(span.parent)) {
      if (!children.has(span.parent)) children.set(span.parent, []);
      children.get(span.parent).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => (a.start ?? 0) - (b.start ?? 0);
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);

  // (reduce, not Math.min(...spread): a spread of 100,000 spans would overflow the stack)
  const first = spans.reduce((min, s) => (s.start === null ? min : Math.min(min, s.start)), Infinity);
  const origin = Number.isFinite(first) ? first : 0;
  const last = spans.reduce((max, s) => Math.max(max, s.end ?? s.start ?? -Infinity), -Infinity);
  const total = Math.max(last - origin, 1e-6);

  const collapsed = new Set();
  let rows = [];  // [{span, depth}] as shown
  let current = byId.has(selected) ? selected : roots[0]?.id ?? null;

  const list = h("ul.span-tree", { role: "tree", "aria-label": "Spans" });
  const axis = h("div.span-axis", { "aria-hidden": "true" },
    h("span"), h("div.span-ticks", [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const tick = h("span.tick", f ? latency(total * f) : "0");
      tick.style.left = `${f * 100}%`;
      return tick;
    })), h("span"));

  function flatten() {
    const out = [];
    const visit = (span, depth) => {
      out.push({ span, depth });
      if (!collapsed.has(span.id)) for (const kid of children.get(span.id) || []) visit(kid, depth + 1);
    };
    for (const root of roots) visit(root, 0);
    return out;
  }

  function row({ span, depth }, index) {
    const kids = children.get(span.id)?.length || 0;
    const open = !collapsed.has(span.id);
    const start = span.start ?? origin;
    const end = span.end ?? origin + total;  // still running: to the end of what is known
    const bar = h(`div.span-bar.${typeClass(span.type)}`);
    bar.style.left = `${((start - origin) / total) * 100}%`;
    bar.style.width = `${Math.max(((end - start) / total) * 100, 0.3)}%`;
    const label = h("div.span-label",
      kids ? h("span.span-twisty", { dataset: { toggle: "1" }, "aria-hidden": "true" }, open ? "▾" : "▸") : h("span.span-twisty"),
      h(`span.span-type.${typeClass(span.type)}`, span.type),
      h("span.span-name", span.name),
      span.error ? h("span.span-error-mark", { title: span.message || "error" }, "error") : null);
    label.style.paddingLeft = `${depth * 16}px`;
    return h(`li.span-row${span.error ? ".error" : ""}${span.id === current ? ".selected" : ""}`, {
      role: "treeitem", tabindex: span.id === current ? "0" : "-1", "aria-level": String(depth + 1),
      "aria-selected": String(span.id === current), "aria-expanded": kids ? String(open) : null,
      title: `${span.name} (${span.type})`, dataset: { index: String(index) },
    }, label, h("div.span-lane", bar), h("span.span-dur", latency(span.end === null ? null : end - start)));
  }

  function draw(focus = false) {
    rows = flatten();
    const fragment = document.createDocumentFragment();
    rows.forEach((r, i) => fragment.append(row(r, i)));
    list.replaceChildren(fragment);
    if (focus) list.querySelector(".span-row[tabindex='0']")?.focus();
  }

  function select(id, focus = false) {
    if (!byId.has(id)) return;
    // A span hidden under a collapsed ancestor is revealed first.
    let reveal = false;
    for (let p = byId.get(id).parent; p && byId.has(p); p = byId.get(p).parent) if (collapsed.delete(p)) reveal = true;
    const before = list.querySelector(".span-row.selected");
    current = id;
    if (reveal || !before) { draw(focus); } else {
      before.classList.remove("selected");
      before.setAttribute("aria-selected", "false");
      before.tabIndex = -1;
      const now = list.children[rows.findIndex((r) => r.span.id === id)];
      now.classList.add("selected");
      now.setAttribute("aria-selected", "true");
      now.tabIndex = 0;
      if (focus) now.focus();
    }
    onSelect(byId.get(id));
  }

  function toggle(id, focus = false) {
    if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
    if (collapsed.has(id) && current !== id && isBelow(current, id)) { current = id; onSelect(byId.get(id)); }
    draw(focus);
  }

  const isBelow = (id, ancestor) => {
    for (let p = byId.get(id)?.parent; p && byId.has(p); p = byId.get(p).parent) if (p === ancestor) return true;
    return false;
  };

  list.addEventListener("click", (event) => {
    const el = event.target.closest(".span-row");
    if (!el) return;
    const { span } = rows[Number(el.dataset.index)];
    if (event.target.closest("[data-toggle]")) toggle(span.id, true);
    else select(span.id, true);
  });
  list.addEventListener("keydown", (event) => {
    const index = rows.findIndex((r) => r.span.id === current);
    if (index < 0) return;
    const { span } = rows[index];
    const move = (i) => { if (i >= 0 && i < rows.length) select(rows[i].span.id, true); };
    const kids = children.get(span.id)?.length;
    switch (event.key) {
      case "ArrowDown": move(index + 1); break;
      case "ArrowUp": move(index - 1); break;
      case "Home": move(0); break;
      case "End": move(rows.length - 1); break;
      case "ArrowRight":
        if (kids && collapsed.has(span.id)) toggle(span.id, true); else if (kids) move(index + 1);
        break;
      case "ArrowLeft":
        if (kids && !collapsed.has(span.id)) toggle(span.id, true); else if (span.parent && byId.has(span.parent)) select(span.parent, true);
        break;
      default: return;
    }
    event.preventDefault();
  });

  draw();
  return { element: h("div.span-timeline", axis, list), select, selected: () => current };
}
