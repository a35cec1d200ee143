// Series colours: distinguishable, and stable for a run wherever it is drawn.

export const PALETTE = ["#0b6bcb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#e67700",
  "#5c940d", "#862e9c", "#1864ab", "#d9480f", "#495057"];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/** A colour from blue (0) to orange (1), for values along a colour scale. */
export function ramp(t) {
  const clamp = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const from = [11, 107, 203], to = [232, 89, 12];
  const [r, g, b] = from.map((c, i) => Math.round(c + (to[i] - c) * clamp));
  return `rgb(${r},${g},${b})`;
}
