// Parallel coordinates: one vertical axis per param or metric, one line per run, coloured by
// the last axis. Hovering near a line names the run.

import { ChartCanvas, THEME } from "./canvas.js";
import { ramp } from "./colors.js";
import { extent, formatTick, scale } from "./scale.js";
import { axisOf, truncate } from "./scatter.js";

const MARGIN = { left: 40, right: 60, top: 34, bottom: 24 };

export class ParallelChart {
  constructor(container, { height = 380 } = {}) {
    this.hover = null;
    this.chart = new ChartCanvas(container, (ctx, w, h) => this.paint(ctx, w, h), { height, label: "Parallel coordinates" });
    this.chart.followPointer((point) => { this.hover = point; });
  }

  /** axes: [{name, values: [raw value per item]}]; items: [{label}] */
  setData(axes, items) {
    this.axes = axes.map((a) => ({ ...a, kind: axisOf(a.values) }));
    this.items = items;
    this.chart.redraw();
  }

  paint(ctx, width, height) {
    const axes = this.axes || [];
    if (axes.length < 2 || !this.items.length) {
      ctx.fillStyle = THEME.muted;
      ctx.textAlign = "center";
      ctx.fillText("Choose at least two params or metrics", width / 2, height / 2);
      return;
    }
    const top = MARGIN.top, bottom = height - MARGIN.bottom;
    const step = (width - MARGIN.left - MARGIN.right) / (axes.length - 1);
    const columns = axes.map((axis, k) => {
      const positions = axis.values.map((v) => axis.kind.position(v));
      const y = axis.kind.numeric
        ? scale(extent([positions], false, 0) || [0, 1], [bottom, top])
        : scale([-0.5, axis.kind.categories.length - 0.5], [bottom, top]);
      return { axis, positions, y, x: MARGIN.left + k * step };
    });
    const last = columns[columns.length - 1];
    const [lo, hi] = extent([last.positions], false, 0) || [0, 1];
    const lines = this.items.map((item, i) => ({
      item,
      color: ramp((last.positions[i] - lo) / (hi - lo || 1)),
      points: columns.map((c) => (Number.isFinite(c.positions[i]) ? [c.x, c.y(c.positions[i])] : null)),
    }));
    const hovered = this.hover ? nearestLine(lines, this.hover) : null;
    for (const line of lines) strokeLine(ctx, line.points, line.color, hovered && hovered !== line ? 0.2 : 0.8, 1.5);
    if (hovered) strokeLine(ctx, hovered.points, hovered.color, 1, 3);
    for (const { axis, y, x } of columns) {
      ctx.strokeStyle = THEME.axis;
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x + 0.5, top); ctx.lineTo(x + 0.5, bottom); ctx.stroke();
      ctx.fillStyle = THEME.text;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.fillText(truncate(axis.name, 18), x, top - 10);
      ctx.fillStyle = THEME.muted;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      const ticks = axis.kind.numeric ? y.ticks(5) : axis.kind.categories.map((_, i) => i);
      for (const t of ticks) {
        const label = axis.kind.numeric ? formatTick(t) : truncate(axis.kind.categories[t], 10);
        ctx.fillText(label, x + 4, y(t));
      }
    }
    if (hovered) {
      const [px, py] = this.hover;
      this.chart.showTooltip(px, py, [{ text: hovered.item.label, color: hovered.color },
        ...axes.map((a) => `${a.name}: ${a.values[lines.indexOf(hovered)] ?? "—"}`)]);
    } else {
      this.chart.showTooltip(0, 0, null);
    }
  }

  destroy() {
    this.chart.destroy();
  }
}

function strokeLine(ctx, points, color, alpha, width) {
  ctx.strokeStyle = color;
  ctx.globalAlpha = alpha;
  ctx.lineWidth = width;
  ctx.beginPath();
  let pen = false;
  for (const p of points) {
    if (!p) { pen = false; continue; }
    if (pen) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]);
    pen = true;
  }
  ctx.stroke();
  ctx.globalAlpha = 1;
}

/** The line passing closest to (x, y) at x, within 10 pixels. */
function nearestLine(lines, [x, y]) {
  let best = null, bestDistance = 10;
  for (const line of lines) {
    for (let k = 1; k < line.points.length; k++) {
      const a = line.points[k - 1], b = line.points[k];
      if (!a || !b || x < a[0] || x > b[0]) continue;
      const distance = Math.abs(a[1] + ((b[1] - a[1]) * (x - a[0])) / (b[0] - a[0]) - y);
      if (distance < bestDistance) { bestDistance = distance; best = line; }
    }
  }
  return best;
}
