// Scales (data -> pixels) and tick placement for the canvas charts.

/** Round tick values covering [min, max], about `count` of them. */
export function niceTicks(min, max, count = 6) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A linear or log10 scale from a domain onto a pixel range. */
export function scale([d0, d1], [r0, r1], log = false) {
  const f = log ? (v) => Math.log10(v) : (v) => v;
  let a = f(d0), b = f(d1);
  if (a === b || !Number.isFinite(a) || !Number.isFinite(b)) { a -= 1; b += 1; }
  const k = (r1 - r0) / (b - a);
  const map = (v) => r0 + (f(v) - a) * k;
  map.invert = (px) => { const v = a + (px - r0) / k; return log ? 10 ** v : v; };
  map.ticks = (count) => (log ? logTicks(d0, d1) : niceTicks(d0, d1, count));
  map.domain = [d0, d1];
  map.log = log;
  return map;
}

/** Powers of ten; over fewer than three decades also their 2x and 5x. */
function logTicks(min, max) {
  const steps = Math.log10(max / min) < 3 ? [1, 2, 5] : [1];
  const ticks = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of steps) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks.length >= 3 ? ticks : niceTicks(min, max, 4).filter((v) => v > 0);
}

/** [min, max] of the finite values (and > 0 on a log scale), padded a little; null if none. */
export function extent(arrays, log = false, pad = 0.05) {
  let min = Infinity, max = -Infinity;
  for (const values of arrays) {
    for (const v of values) {
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) return null;
  if (log) return [min / (1 + pad * 4), max * (1 + pad * 4)];
  if (min === max) return [min - (Math.abs(min) || 1) * 0.1, max + (Math.abs(max) || 1) * 0.1];
  const d = (max - min) * pad;
  return [min - d, max + d];
}

const shortNumber = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });

export function formatTick(v) {
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return v.toExponential(1);
  return shortNumber.format(v);
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** Tick labels for wall-clock milliseconds: time of day, or the date for long spans. */
export function formatTimeTick(ms, span) {
  return span > 2 * 86400000 ? day.format(new Date(ms)) : clock.format(new Date(ms));
}

/** Tick labels for relative seconds. */
export function formatSeconds(s) {
  const abs = Math.abs(s);
  if (abs < 120) return `${formatTick(s)}s`;
  if (abs < 7200) return `${formatTick(s / 60)}m`;
  return `${formatTick(s / 3600)}h`;
}
