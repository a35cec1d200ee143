// A metric chart with its controls: which metrics, x by step / wall time / relative time, log
// scale, smoothing, zoom. Histories come from metrics/get-history-bulk-interval, which samples
// each run's history on the server (first and last points kept), so a 100,000-point history
// arrives as a few thousand points; zooming in on steps fetches that range again in detail.

import * as api from "../api.js";
import { color } from "../charts/colors.js";
import { LineChart } from "../charts/line-chart.js";
import { button } from "../components/widgets.js";
import { h } from "../dom.js";

const SAMPLES = 2500;     // points per run and metric: the server's maximum for this route
const RUNS_PER_CALL = 100;

/**
 * runs: [{id, name, color, start}], keys: metric keys to offer, chosen: initially drawn keys.
 * onChoose(keys) is told when the chosen metrics change (to keep them in the URL).
 */
export function metricPanel({ runs, keys, chosen, onChoose = () => {}, height = 340 }) {
  const state = { keys: chosen.length ? chosen : keys.slice(0, 1), xKind: "step", logY: false, smoothing: 0, steps: null };
  const cache = new Map();  // 'key|start|end' -> points grouped by run
  const status = h("span.muted", { role: "status" });
  const chartBox = h("div.chart-box");
  const element = h("section.panel.metric-panel", { dataset: { state: "loading" } });

  const metricMenu = h("details.menu", h("summary.btn.ghost", "Metrics"), h("div.menu-panel",
    h("fieldset", h("legend", "Metrics to draw"), keys.map((key) => h("label.check-label",
      h("input", { type: "checkbox", checked: state.keys.includes(key), value: key, on: { change: (e) => {
        state.keys = e.target.checked ? [...state.keys, key] : state.keys.filter((k) => k !== key);
        onChoose(state.keys);
        load();
      } } }), key)))));
  const xSelect = h("select.input", { "aria-label": "X axis", on: { change: () => { state.xKind = xSelect.value; state.steps = null; chart.setView(null); draw(); } } },
    h("option", { value: "step" }, "Step"), h("option", { value: "time" }, "Wall time"), h("option", { value: "relative" }, "Relative time"));
  const logBox = h("input", { type: "checkbox", on: { change: () => { state.logY = logBox.checked; draw(); } } });
  const smoothing = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", "aria-label": "Smoothing",
    on: { input: () => { state.smoothing = Number(smoothing.value); smoothingValue.textContent = smoothing.value; draw(); } } });
  const smoothingValue = h("output", "0");
  const reset = button("Reset zoom", () => { chart.setView(null); zoom(null); }, { kind: "ghost", title: "Or double-click the chart" });

  element.append(
    h("div.toolbar.chart-controls", metricMenu,
      h("label.inline", "X axis ", xSelect),
      h("label.check-label", logBox, "Log scale"),
      h("label.inline", "Smoothing ", smoothing, smoothingValue),
      reset, h("span.spacer"), status),
    chartBox);
  const chart = new LineChart(chartBox, { height, onZoom: zoom, label: "Metric history chart" });

  async function fetchKey(key) {
    const range = state.steps;
    const id = `${key}|${range ? range.join("|") : ""}`;
    if (!cache.has(id)) {
      const calls = [];
      for (let i = 0; i < runs.length; i += RUNS_PER_CALL) {
        calls.push(api.get("metrics/get-history-bulk-interval", {
          run_ids: runs.slice(i, i + RUNS_PER_CALL).map((r) => r.id), metric_key: key, max_results: SAMPLES,
          start_step: range?.[0], end_step: range?.[1],
        }).then((page) => page.metrics || []));
      }
      const fetched = Promise.all(calls).then((pages) => group(pages.flat()));
      fetched.catch(() => cache.delete(id));  // a failed fetch is tried again next time
      cache.set(id, fetched);
    }
    return cache.get(id);
  }

  let data = [];
  let generation = 0;
  async function load() {
    const mine = ++generation;
    element.dataset.state = "loading";
    if (!state.keys.length) { data = []; draw(); return; }
    status.textContent = "Loading…";
    try {
      const fetched = await Promise.all(state.keys.map(async (key) => ({ key, byRun: await fetchKey(key) })));
      if (mine !== generation) return;
      data = fetched;
      status.textContent = "";
      draw();
    } catch (error) {
      if (mine !== generation) return;
      status.textContent = error.message;
      element.dataset.state = "error";
    }
  }

  function draw() {
    const series = [];
    const many = runs.length > 1, several = state.keys.length > 1;
    for (const { key, byRun } of data) {
      for (const run of runs) {
        const points = byRun.get(run.id);
        if (!points) continue;
        const label = many && several ? `${run.name} · ${key}` : many ? run.name : key;
        // one metric of several runs: each run in its own colour; otherwise one per line
        series.push({ label, color: many && !several ? run.color : color(series.length), ...toXY(points, state.xKind, run.start) });
      }
    }
    chart.setData(series, { xKind: state.xKind, logY: state.logY, smoothing: state.smoothing, yLabel: several ? "" : state.keys[0] });
    const points = series.reduce((n, s) => n + s.x.length, 0);
    status.textContent = series.length ? `${points.toLocaleString()} points drawn` : (state.keys.length ? "No values logged" : "Choose a metric");
    element.dataset.state = "ready";
  }

  function zoom(domain) {
    if (state.xKind !== "step") return;  // time axes zoom on the points already fetched
    state.steps = domain ? [Math.floor(domain[0]), Math.ceil(domain[1])] : null;
    load().then(() => chart.setView(domain));
  }

  load();
  return { element, destroy: () => { generation++; chart.destroy(); } };
}

/** Points of a bulk answer grouped by run. */
function group(points) {
  const byRun = new Map();
  for (const p of points) {
    if (!byRun.has(p.run_id)) byRun.set(p.run_id, []);
    byRun.get(p.run_id).push(p);
  }
  return byRun;
}

/** x and y arrays for the x kind, ascending in x. */
function toXY(points, xKind, start) {
  const sorted = xKind === "step" ? points : [...points].sort((a, b) => a.timestamp - b.timestamp);
  const first = sorted.reduce((min, p) => Math.min(min, Number(p.timestamp)), Infinity);
  const origin = Math.min(Number(start) || Infinity, first);
  const x = new Float64Array(sorted.length), y = new Float64Array(sorted.length);
  sorted.forEach((p, i) => {
    x[i] = xKind === "step" ? Number(p.step) : xKind === "time" ? Number(p.timestamp) : (p.timestamp - origin) / 1000;
    y[i] = api.num(p.value);
  });
  return { x, y };
}
