// The column chooser of the runs table: a disclosure with a search box and one checkbox per
// metric, param and tag key seen in the loaded runs.

import { h } from "../dom.js";

const GROUPS = [["m", "Metrics"], ["p", "Params"], ["t", "Tags"]];

/** keys: {m: Set, p: Set, t: Set}; chosen() -> ['m:loss', ...]; onChange(list) on each change. */
export function columnPicker(keys, chosen, onChange) {
  const search = h("input.input", { type: "search", placeholder: "Find a key", "aria-label": "Find a column" });
  const lists = h("div.picker-lists");
  const summary = h("summary.btn.ghost", "Columns");
  const element = h("details.menu.picker", summary, h("div.menu-panel", search, lists));

  function refresh() {
    const current = new Set(chosen());
    summary.textContent = `Columns (${current.size})`;
    const needle = search.value.trim().toLowerCase();
    lists.replaceChildren(...GROUPS.map(([kind, title]) => {
      const items = [...keys[kind]].sort().filter((k) => k.toLowerCase().includes(needle));
      return h("fieldset", h("legend", `${title} (${keys[kind].size})`),
        items.length ? items.slice(0, 300).map((key) => {
          const id = `${kind}:${key}`;
          return h("label.check-label", h("input", { type: "checkbox", checked: current.has(id), on: { change: (e) => {
            const next = chosen().filter((c) => c !== id);
            if (e.target.checked) next.push(id);
            onChange(next);
            summary.textContent = `Columns (${next.length})`;
          } } }), key);
        }) : h("p.muted", "None"));
    }));
  }

  search.addEventListener("input", refresh);
  refresh();
  return { element, refresh };
}
