// A canvas that fills its container at the device's pixel density and redraws on resize,
// with a DOM tooltip beside it (so tooltip text is text, never drawn HTML).

import { h, throttleFrame } from "../dom.js";

export const THEME = {
  font: "12px system-ui, -apple-system, 'Segoe UI', sans-serif",
  text: "#374151",
  muted: "#6b7280",
  grid: "#e8ebf0",
  axis: "#9ca3af",
};

export class ChartCanvas {
  constructor(container, draw, { height = 320, label = "Chart" } = {}) {
    this.canvas = h("canvas", { role: "img", "aria-label": label });
    this.tooltip = h("div.chart-tooltip", { hidden: true });
    this.root = h("div.chart", { style: { height: `${height}px` } }, this.canvas, this.tooltip);
    container.append(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.draw = draw;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.root);
    this.resize();
  }

  resize() {
    const { width, height } = this.root.getBoundingClientRect();
    if (!width || !height) return;
    const ratio = window.devicePixelRatio || 1;
    this.width = width;
    this.height = height;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this.redraw();
  }

  redraw() {
    if (!this.width) return;
    this.ctx.clearRect(0, 0, this.width, this.height);
    this.ctx.font = THEME.font;
    this.draw(this.ctx, this.width, this.height);
  }

  /** Show lines of text ([{text, color}] or strings) near (x, y); null hides it. */
  showTooltip(x, y, lines) {
    if (!lines) { this.tooltip.hidden = true; return; }
    this.tooltip.replaceChildren(...lines.map((line) => {
      const row = h("div", typeof line === "string" ? line : line.text);
      if (line.color) row.prepend(h("span.swatch", { style: { background: line.color } }));
      return row;
    }));
    this.tooltip.hidden = false;
    const tipWidth = this.tooltip.offsetWidth;
    this.tooltip.style.left = `${x + 14 + tipWidth > this.width ? Math.max(0, x - tipWidth - 14) : x + 14}px`;
    this.tooltip.style.top = `${Math.max(0, Math.min(y - 10, this.height - this.tooltip.offsetHeight))}px`;
  }

  /** Calls onMove([x, y]) as the pointer moves over the canvas and onMove(null) when it
   *  leaves (the tooltip then hides), redrawing at most once a frame after each. */
  followPointer(onMove) {
    const repaint = throttleFrame(() => this.redraw());
    this.canvas.addEventListener("mousemove", (event) => {
      const box = this.canvas.getBoundingClientRect();
      onMove([event.clientX - box.left, event.clientY - box.top]);
      repaint();
    });
    this.canvas.addEventListener("mouseleave", () => {
      onMove(null);
      this.showTooltip(0, 0, null);
      repaint();
    });
  }

  destroy() {
    this.observer.disconnect();
    this.root.remove();
  }
}

/** Grid lines and tick labels of both axes inside `plot` = {left, top, right, bottom}. */
export function drawAxes(ctx, plot, x, y, formatX, formatY, { xLabel, yLabel } = {}) {
  ctx.save();
  ctx.strokeStyle = THEME.grid;
  ctx.fillStyle = THEME.muted;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of y.ticks(Math.max(2, Math.floor((plot.bottom - plot.top) / 45)))) {
    const py = Math.round(y(v)) + 0.5;
    if (py < plot.top - 1 || py > plot.bottom + 1) continue;
    ctx.beginPath(); ctx.moveTo(plot.left, py); ctx.lineTo(plot.right, py); ctx.stroke();
    ctx.fillText(formatY(v), plot.left - 6, py);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xTicks = x.ticks(Math.max(2, Math.floor((plot.right - plot.left) / 90)));
  for (const v of xTicks) {
    const px = Math.round(x(v)) + 0.5;
    if (px < plot.left - 1 || px > plot.right + 1) continue;
    ctx.beginPath(); ctx.moveTo(px, plot.top); ctx.lineTo(px, plot.bottom); ctx.stroke();
    ctx.fillText(formatX(v), px, plot.bottom + 6);
  }
  ctx.strokeStyle = THEME.axis;
  ctx.beginPath(); ctx.moveTo(plot.left + 0.5, plot.top); ctx.lineTo(plot.left + 0.5, plot.bottom + 0.5);
  ctx.lineTo(plot.right, plot.bottom + 0.5); ctx.stroke();
  ctx.fillStyle = THEME.text;
  if (xLabel) { ctx.textBaseline = "bottom"; ctx.fillText(xLabel, (plot.left + plot.right) / 2, plot.bottom + 40); }
  if (yLabel) {
    ctx.translate(12, (plot.top + plot.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "top";
    ctx.fillText(yLabel, 0, -8);
  }
  ctx.restore();
}

export function nearestIndex(sorted, value) {
  let lo = 0, hi = sorted.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1; else hi = mid;
  }
  return lo > 0 && Math.abs(sorted[lo - 1] - value) <= Math.abs(sorted[lo] - value) ? lo - 1 : lo;
}
