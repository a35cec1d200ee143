// Line chart of metric histories on a canvas: several series, x by step, wall time or relative
// time, linear or log y, exponential smoothing, hover read-out, drag to zoom, double-click to
// reset. Each series is drawn in one pass that keeps only first/min/max/last per pixel column,
// so the cost is linear in the points and independent of how dense they are.

import { h } from "../dom.js";
import { ChartCanvas, THEME, drawAxes, nearestIndex } from "./canvas.js";
import { extent, formatSeconds, formatTick, formatTimeTick, scale } from "./scale.js";

const MARGIN = { left: 64, right: 16, top: 12, bottom: 46 };

/** Exponential moving average with bias correction (as TensorBoard smooths). */
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Float64Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) { out[i] = y; continue; }
    last = last * weight + (1 - weight) * y;
    n++;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

export class LineChart {
  /** onZoom(domain or null) is told when the user zooms in or resets. */
  constructor(container, { height = 320, onZoom = () => {}, label = "Metric chart" } = {}) {
    this.series = [];
    this.hidden = new Set();
    this.options = { xKind: "step", logY: false, smoothing: 0, yLabel: "" };
    this.view = null;
    this.hover = null;
    this.drag = null;
    this.onZoom = onZoom;
    this.chart = new ChartCanvas(container, (ctx, w, hgt) => this.paint(ctx, w, hgt), { height, label });
    this.legend = h("div.legend");
    container.append(this.legend);
    this.listen(this.chart.canvas);
  }

  /** series: [{label, color, x: Float64Array (ascending), y: Float64Array}] */
  setData(series, options = {}) {
    this.series = series;
    Object.assign(this.options, options);
    this.smoothed = series.map((s) => smooth(s.y, this.options.smoothing));
    this.renderLegend();
    this.chart.redraw();
  }

  setView(domain) {
    this.view = domain;
    this.chart.redraw();
  }

  destroy() {
    window.removeEventListener("mouseup", this.endDrag);
    this.chart.destroy();
    this.legend.remove();
  }

  visible() {
    return this.series.map((s, i) => ({ s, i })).filter(({ s }) => !this.hidden.has(s.label));
  }

  paint(ctx, width, height) {
    const plot = { left: MARGIN.left, top: MARGIN.top, right: width - MARGIN.right, bottom: height - MARGIN.bottom };
    const shown = this.visible();
    const { xKind, logY } = this.options;
    const xDomain = this.view || extent(shown.map(({ s }) => s.x), false, 0);
    if (!xDomain || !shown.some(({ s }) => s.x.length)) {
      ctx.fillStyle = THEME.muted;
      ctx.textAlign = "center";
      ctx.fillText(this.series.length ? "No values to draw" : "No data", width / 2, height / 2);
      this.scales = null;
      return;
    }
    const inView = shown.map(({ s, i }) => visibleValues(s.x, this.smoothed[i], xDomain)).concat(
      this.options.smoothing ? shown.map(({ s }) => visibleValues(s.x, s.y, xDomain)) : []);
    const yDomain = extent(inView, logY) || [0, 1];
    const x = scale(xDomain[0] === xDomain[1] ? [xDomain[0] - 1, xDomain[1] + 1] : xDomain, [plot.left, plot.right]);
    const y = scale(yDomain, [plot.bottom, plot.top], logY);
    this.scales = { x, y, plot };
    drawAxes(ctx, plot, x, y, this.formatX(x.domain), formatTick,
      { xLabel: { step: "Step", time: "Time", relative: "Relative time" }[xKind], yLabel: this.options.yLabel });

    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.left, plot.top - 2, plot.right - plot.left, plot.bottom - plot.top + 4);
    ctx.clip();
    for (const { s, i } of shown) {
      if (this.options.smoothing) drawLine(ctx, s.x, s.y, x, y, s.color, 1, 0.25);
      drawLine(ctx, s.x, this.smoothed[i], x, y, s.color, 1.75, 1);
      if (s.x.length === 1) dot(ctx, x(s.x[0]), y(this.smoothed[i][0]), s.color);
    }
    ctx.restore();

    if (this.hover !== null && this.hover >= plot.left && this.hover <= plot.right) this.paintHover(ctx, x, y, plot, shown);
    if (this.drag && Math.abs(this.drag.to - this.drag.from) > 2) {
      ctx.fillStyle = "rgba(11,107,203,0.12)";
      ctx.fillRect(Math.min(this.drag.from, this.drag.to), plot.top, Math.abs(this.drag.to - this.drag.from), plot.bottom - plot.top);
    }
  }

  paintHover(ctx, x, y, plot, shown) {
    const at = x.invert(this.hover);
    const lines = [];
    let anchorY = plot.top;
    ctx.strokeStyle = THEME.axis;
    ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(this.hover + 0.5, plot.top); ctx.lineTo(this.hover + 0.5, plot.bottom); ctx.stroke();
    ctx.setLineDash([]);
    for (const { s, i } of shown) {
      const k = nearestIndex(s.x, at);
      if (k < 0) continue;
      const value = this.smoothed[i][k];
      if (Number.isFinite(value) && (!y.log || value > 0)) {
        dot(ctx, x(s.x[k]), y(value), s.color);
        anchorY = y(value);
      }
      lines.push({ text: `${s.label}: ${formatTick(value)} @ ${this.formatX(x.domain)(s.x[k])}`, color: s.color, value });
    }
    lines.sort((a, b) => (b.value || 0) - (a.value || 0));
    this.chart.showTooltip(this.hover, anchorY, lines.length ? lines.slice(0, 12) : null);
  }

  formatX(domain) {
    const { xKind } = this.options;
    if (xKind === "time") return (v) => formatTimeTick(v, domain[1] - domain[0]);
    if (xKind === "relative") return formatSeconds;
    return formatTick;
  }

  renderLegend() {
    this.legend.replaceChildren(...this.series.map((s) => h("button.legend-item", {
      type: "button",
      "aria-pressed": String(!this.hidden.has(s.label)),
      title: "Show or hide this line",
      on: {
        click: (event) => {
          if (this.hidden.has(s.label)) this.hidden.delete(s.label); else this.hidden.add(s.label);
          event.currentTarget.setAttribute("aria-pressed", String(!this.hidden.has(s.label)));
          this.chart.redraw();
        },
      },
    }, h("span.swatch", { style: { background: s.color } }), s.label)));
  }

  listen(canvas) {
    const position = (event) => event.clientX - canvas.getBoundingClientRect().left;
    this.chart.followPointer((point) => {
      this.hover = point && point[0];
      if (this.drag && point) this.drag.to = this.hover;
    });
    canvas.addEventListener("mousedown", (event) => {
      if (this.scales) this.drag = { from: position(event), to: position(event) };
    });
    window.addEventListener("mouseup", this.endDrag = () => {
      const drag = this.drag;
      this.drag = null;
      if (!drag || !this.scales || Math.abs(drag.to - drag.from) < 6) return;
      const { x } = this.scales;
      const domain = [x.invert(Math.min(drag.from, drag.to)), x.invert(Math.max(drag.from, drag.to))];
      this.setView(domain);
      this.onZoom(domain);
    });
    canvas.addEventListener("dblclick", () => {
      this.setView(null);
      this.onZoom(null);
    });
  }
}

function visibleValues(xs, ys, [lo, hi]) {
  const out = [];
  for (let i = 0; i < xs.length; i++) if (xs[i] >= lo && xs[i] <= hi) out.push(ys[i]);
  return out;
}

function dot(ctx, px, py, color) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(px, py, 3.5, 0, Math.PI * 2);
  ctx.fill();
}

/** One polyline; per pixel column only the first, lowest, highest and last points are kept. */
function drawLine(ctx, xs, ys, x, y, color, width, alpha) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.globalAlpha = alpha;
  ctx.lineJoin = "round";
  ctx.beginPath();
  let column = null, first, min, max, last, pen = false;
  const flush = () => {
    if (column === null) return;
    if (pen) ctx.lineTo(column, first); else ctx.moveTo(column, first);
    if (min !== first) ctx.lineTo(column, min);
    if (max !== min) ctx.lineTo(column, max);
    if (last !== max) ctx.lineTo(column, last);
    pen = true;
  };
  for (let i = 0; i < xs.length; i++) {
    const v = ys[i];
    if (!Number.isFinite(v) || (y.log && v <= 0)) { flush(); column = null; pen = false; continue; }
    const px = Math.round(x(xs[i]));
    const py = y(v);
    if (px === column) {
      if (py < min) min = py;
      if (py > max) max = py;
      last = py;
    } else {
      flush();
      column = px; first = min = max = last = py;
    }
  }
  flush();
  ctx.stroke();
  ctx.globalAlpha = 1;
}
