// Formatting of times, durations, numbers and sizes for display.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function time(ms) {
  return ms ? dateTime.format(new Date(Number(ms))) : "";
}

export function ago(ms) {
  if (!ms) return "";
  const seconds = (Date.now() - Number(ms)) / 1000;
  if (seconds < 0) return time(ms);
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n > 1 ? "s" : ""} ago`;
  }
  return "just now";
}

export function duration(startMs, endMs) {
  if (!startMs || !endMs) return "";
  return span(Number(endMs) - Number(startMs));
}

function span(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}

/** A metric or param value: numbers with up to 6 significant digits. */
export function number(value) {
  const n = typeof value === "number" ? value : Number(value);
  if (value === undefined || value === null || value === "") return "";
  if (Number.isNaN(n)) return typeof value === "string" && value !== "NaN" ? value : "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "∞" : "-∞";
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return n.toExponential(4);
  return String(Number(n.toPrecision(6)));
}

export function bytes(size) {
  if (size === undefined || size === null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = Number(size), i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function count(n) {
  return Number(n).toLocaleString();
}
