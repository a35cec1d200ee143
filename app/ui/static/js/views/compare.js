// Comparing runs: params, metrics and tags side by side with differences marked, overlaid
// metric charts, a scatter plot of one value against another, and parallel coordinates.

import * as api from "../api.js";
import { color } from "../charts/colors.js";
import { ParallelChart } from "../charts/parallel.js";
import { ScatterChart } from "../charts/scatter.js";
import { pageHeader, statusBadge } from "../components/widgets.js";
import { enc, h } from "../dom.js";
import * as fmt from "../format.js";
import { listParam, setQuery } from "../router.js";
import { metricPanel } from "./metric-panel.js";

export async function compareView(main, _params, query) {
  const ids = [...new Set(listParam(query, "runs"))];
  if (ids.length < 1) throw new Error("Choose runs to compare in a runs table first.");
  const runs = (await Promise.all(ids.map(api.getRun))).map((run, i) => ({
    run, id: run.info.run_id, name: api.runName(run), color: color(i), start: run.info.start_time,
    params: api.pairs(run.data?.params), tags: api.pairs(run.data?.tags),
    metrics: Object.fromEntries((run.data?.metrics || []).map((m) => [m.key, api.num(m.value)])),
  }));
  const union = (field, skip = () => false) => [...new Set(runs.flatMap((r) => Object.keys(r[field])))].filter((k) => !skip(k)).sort();
  const paramKeys = union("params"), metricKeys = union("metrics"), tagKeys = union("tags", (k) => k.startsWith("mlflow."));
  const differs = (field, key) => new Set(runs.map((r) => String(r[field][key] ?? "\u0000"))).size > 1;
  const cleanups = [];

  const onlyDiff = h("input", { type: "checkbox", checked: query.get("diff") === "1" });
  const tables = h("div.stack");
  const drawTables = () => {
    const only = onlyDiff.checked;
    setQuery({ diff: only ? "1" : "" });
    tables.replaceChildren(
      valueTable("Parameters", paramKeys, "params", (v) => v ?? "", only),
      valueTable("Metrics (latest)", metricKeys, "metrics", (v) => fmt.number(v), only),
      tagKeys.length ? valueTable("Tags", tagKeys, "tags", (v) => v ?? "", only) : null);
  };

  function valueTable(title, keys, field, show, only) {
    const rows = keys.filter((k) => !only || differs(field, k));
    return h("section.panel", h("h2", title),
      rows.length ? h("div.table-wrap", h("table.grid.compare",
        h("thead", h("tr", h("th", "Key"), runs.map((r) => h("th", h("span.swatch", { style: { background: r.color } }), r.name)))),
        h("tbody", rows.map((k) => h(`tr${differs(field, k) ? ".diff" : ""}`, h("th", { scope: "row" }, k),
          runs.map((r) => h(`td${field === "metrics" ? ".num" : ""}`, show(r[field][k]))))))))
        : h("p.muted", only ? "No differences." : "None."));
  }
  onlyDiff.addEventListener("change", drawTables);

  const runsHeader = h("div.table-wrap", h("table.grid.compare",
    h("thead", h("tr", h("th", "Run"), runs.map((r) => h("th", h("span.swatch", { style: { background: r.color } }),
      h("a", { href: `#/experiments/${enc(r.run.info.experiment_id)}/runs/${enc(r.id)}` }, r.name))))),
    h("tbody",
      h("tr", h("th", "Status"), runs.map((r) => h("td", statusBadge(r.run.info.status)))),
      h("tr", h("th", "Started"), runs.map((r) => h("td", fmt.time(r.run.info.start_time)))),
      h("tr", h("th", "Duration"), runs.map((r) => h("td", fmt.duration(r.run.info.start_time, r.run.info.end_time)))))));

  // Values a person can plot: 'param:lr' or 'metric:loss'.
  const choices = [...metricKeys.map((k) => `metric:${k}`), ...paramKeys.map((k) => `param:${k}`)];
  const valueOf = (r, choice) => {
    const [kind, key] = [choice.slice(0, choice.indexOf(":")), choice.slice(choice.indexOf(":") + 1)];
    return kind === "metric" ? r.metrics[key] : r.params[key];
  };
  const select = (label, value) => h("label.inline", label, " ", h("select.input", { "aria-label": label },
    choices.map((c) => h("option", { value: c, selected: c === value }, c))));

  const page = h("section.page",
    pageHeader([h("a", { href: "#/experiments" }, "Experiments")], `Comparing ${runs.length} run${runs.length > 1 ? "s" : ""}`),
    h("section.panel", runsHeader),
    h("label.check-label", onlyDiff, "Show only differences"),
    tables);
  main.replaceChildren(page);
  drawTables();

  if (metricKeys.length) {
    const panel = metricPanel({ runs, keys: metricKeys, chosen: listParam(query, "metrics").filter((k) => metricKeys.includes(k)),
      onChoose: (chosen) => setQuery({ metrics: chosen }) });
    page.append(h("h2.section-title", "Metric charts"), panel.element);
    cleanups.push(panel.destroy);
  }

  if (choices.length) {
    const xSelect = select("X", query.get("x") || choices.find((c) => c.startsWith("param:")) || choices[0]);
    const ySelect = select("Y", query.get("y") || choices[0]);
    const box = h("div");
    const section = h("section.panel", h("h2", "Scatter plot"), h("div.toolbar", xSelect, ySelect), box);
    page.append(section);
    const scatter = new ScatterChart(box);
    const drawScatter = () => {
      const [x, y] = [xSelect.querySelector("select").value, ySelect.querySelector("select").value];
      setQuery({ x, y });
      scatter.setData(runs.map((r) => ({ x: valueOf(r, x), y: valueOf(r, y), label: r.name, color: r.color })), x, y);
    };
    xSelect.addEventListener("change", drawScatter);
    ySelect.addEventListener("change", drawScatter);
    drawScatter();
    cleanups.push(() => scatter.destroy());

    const differing = choices.filter((c) => new Set(runs.map((r) => String(valueOf(r, c)))).size > 1);
    const initial = new Set((differing.length >= 2 ? differing : choices).slice(0, 6));
    const box2 = h("div");
    const axisBoxes = choices.map((c) => h("label.check-label", h("input", { type: "checkbox", value: c, checked: initial.has(c) }), c));
    const parallel = new ParallelChart(box2);
    const drawParallel = () => {
      // params first, metrics last: lines are coloured by the last axis
      const chosen = axisBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value)
        .sort((a, b) => (a.startsWith("metric:") - b.startsWith("metric:")));
      parallel.setData(chosen.map((c) => ({ name: c.slice(c.indexOf(":") + 1), values: runs.map((r) => valueOf(r, c)) })),
        runs.map((r) => ({ label: r.name })));
    };
    page.append(h("section.panel", h("h2", "Parallel coordinates"),
      h("details.menu", h("summary.btn.ghost", "Axes"), h("div.menu-panel", h("fieldset", h("legend", "Axes"), axisBoxes))), box2));
    for (const l of axisBoxes) l.addEventListener("change", drawParallel);
    drawParallel();
    cleanups.push(() => parallel.destroy());
  }
  return () => cleanups.forEach((fn) => fn());
}
