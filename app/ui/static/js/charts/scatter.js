// Scatter plot of runs: one param or metric against another. Non-numeric values are placed
// as categories along their axis.

import { ChartCanvas, THEME, drawAxes } from "./canvas.js";
import { extent, formatTick, scale } from "./scale.js";

const MARGIN = { left: 64, right: 20, top: 14, bottom: 46 };

/** An axis of raw values: numeric when every present value is a number, else categorical. */
export function axisOf(values) {
  const present = values.filter((v) => v !== undefined && v !== null && v !== "");
  const numeric = present.every((v) => typeof v === "number" || (v.trim() !== "" && Number.isFinite(Number(v))));
  if (numeric) return { numeric: true, position: (v) => (v === undefined || v === "" ? NaN : Number(v)) };
  const categories = [...new Set(present.map(String))].sort();
  return { numeric: false, categories, position: (v) => (v === undefined ? NaN : categories.indexOf(String(v))) };
}

function categoricalScale(categories, range) {
  const map = scale([-0.5, categories.length - 0.5], range);
  map.ticks = () => categories.map((_, i) => i);
  return map;
}

export class ScatterChart {
  constructor(container, { height = 360 } = {}) {
    this.points = [];
    this.hover = null;
    this.chart = new ChartCanvas(container, (ctx, w, h) => this.paint(ctx, w, h), { height, label: "Scatter plot" });
    this.chart.followPointer((point) => { this.hover = point; });
  }

  /** points: [{x, y (raw values), label, color}]; xName, yName label the axes. */
  setData(points, xName, yName) {
    Object.assign(this, { points, xName, yName });
    this.xAxis = axisOf(points.map((p) => p.x));
    this.yAxis = axisOf(points.map((p) => p.y));
    this.chart.redraw();
  }

  paint(ctx, width, height) {
    const plot = { left: MARGIN.left, top: MARGIN.top, right: width - MARGIN.right, bottom: height - MARGIN.bottom };
    const placed = this.points.map((p) => ({ ...p, px: this.xAxis?.position(p.x), py: this.yAxis?.position(p.y) }))
      .filter((p) => Number.isFinite(p.px) && Number.isFinite(p.py));
    if (!placed.length) {
      ctx.fillStyle = THEME.muted;
      ctx.textAlign = "center";
      ctx.fillText("No run has both values", width / 2, height / 2);
      return;
    }
    const make = (axis, values, range) => (axis.numeric ? scale(extent([values]), range) : categoricalScale(axis.categories, range));
    const x = make(this.xAxis, placed.map((p) => p.px), [plot.left, plot.right]);
    const y = make(this.yAxis, placed.map((p) => p.py), [plot.bottom, plot.top]);
    const label = (axis) => (axis.numeric ? formatTick : (i) => truncate(axis.categories[i] ?? "", 14));
    drawAxes(ctx, plot, x, y, label(this.xAxis), label(this.yAxis), { xLabel: this.xName, yLabel: this.yName });
    let nearest = null, best = 12 ** 2;
    for (const p of placed) {
      const cx = x(p.px), cy = y(p.py);
      ctx.fillStyle = p.color;
      ctx.globalAlpha = 0.85;
      ctx.beginPath(); ctx.arc(cx, cy, 5, 0, Math.PI * 2); ctx.fill();
      if (this.hover) {
        const d = (cx - this.hover[0]) ** 2 + (cy - this.hover[1]) ** 2;
        if (d < best) { best = d; nearest = { p, cx, cy }; }
      }
    }
    ctx.globalAlpha = 1;
    if (nearest) {
      ctx.strokeStyle = THEME.text;
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(nearest.cx, nearest.cy, 7, 0, Math.PI * 2); ctx.stroke();
      this.chart.showTooltip(nearest.cx, nearest.cy, [{ text: nearest.p.label, color: nearest.p.color },
        `${this.xName}: ${nearest.p.x}`, `${this.yName}: ${nearest.p.y}`]);
    } else {
      this.chart.showTooltip(0, 0, null);
    }
  }

  destroy() {
    this.chart.destroy();
  }
}

export function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
