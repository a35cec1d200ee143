// Previews of artifact files: text, JSON, YAML, CSV/TSV as a table, Markdown, images,
// MLmodel files (a summary above the text), HTML only inside a sandboxed frame (no scripts,
// no same-origin access). Everything else is offered for download.

import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { renderMarkdown } from "../markdown.js";

const MAX_TEXT = 5 * 1024 * 1024;
const MAX_TABLE_ROWS = 1000;
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg|ico)$/i;
const TEXT = /\.(txt|log|ya?ml|json|jsonl|py|r|sql|sh|cfg|ini|toml|conf|xml|js|ts|java|scala|c|h|cpp|go|rs|env|properties|ipynb|lock)$|(^|\/)(MLmodel|requirements\.txt|conda\.yaml|python_env\.yaml|Dockerfile|LICENSE|README)$/i;

export function preview(file, url) {
  const box = h("div.preview", h("p.loading", "Loading preview…"));
  render(box, file, url).catch((error) => replace(box, h("p.error-box", `No preview: ${error.message}`)));
  return box;
}

async function render(box, file, url) {
  const path = file.path;
  if (IMAGE.test(path)) {
    replace(box, h("img.image-preview", { src: url, alt: path }));
    return;
  }
  const size = file.file_size;
  const textual = TEXT.test(path) || /\.(csv|tsv|md|markdown|html?)$/i.test(path);
  if (size > MAX_TEXT) {
    replace(box, h("p.muted", `This file is ${fmt.bytes(size)}; download it to look inside.`));
    return;
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (!textual && bytes.subarray(0, 8192).includes(0)) {
    replace(box, h("p.muted", "Binary file: no preview. Download it to open it."));
    return;
  }
  const text = new TextDecoder().decode(bytes);
  const name = path.split("/").pop();
  if (/\.json$/i.test(name)) replace(box, jsonView(text));
  else if (/\.(csv|tsv)$/i.test(name)) replace(box, tableView(text, /\.tsv$/i.test(name) ? "\t" : ","));
  else if (/\.(md|markdown)$/i.test(name)) replace(box, renderMarkdown(text));
  else if (/\.html?$/i.test(name)) replace(box, htmlView(text));
  else if (name === "MLmodel") replace(box, mlmodelView(text));
  else replace(box, h("pre.code", text));
}

function jsonView(text) {
  try {
    return h("pre.code", JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    return h("pre.code", text);
  }
}

/** CSV/TSV rows (quoted fields with separators, quotes and newlines inside). */
function parseDelimited(text, separator) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === separator) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
      if (rows.length > MAX_TABLE_ROWS) break;
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function tableView(text, separator) {
  const [head = [], ...rows] = parseDelimited(text, separator);
  const shown = rows.slice(0, MAX_TABLE_ROWS);
  return h("div",
    h("div.table-wrap", h("table.grid.compact",
      h("thead", h("tr", head.map((c) => h("th", c)))),
      h("tbody", shown.map((r) => h("tr", r.map((c) => h("td", c))))))),
    rows.length > shown.length ? h("p.muted", `First ${MAX_TABLE_ROWS} rows shown.`) : null);
}

/** HTML in a frame that may not run scripts, submit forms or reach this page. */
function htmlView(text) {
  const frame = h("iframe.html-preview", { sandbox: "", title: "HTML preview (scripts disabled)", referrerpolicy: "no-referrer" });
  frame.srcdoc = text;
  return h("div", h("p.muted.small", "Shown in a sandbox: scripts and styles of the file do not run."), frame);
}

/** The MLmodel's main facts (flavors, ids, signature) above its text. */
function mlmodelView(text) {
  const top = {}, flavors = [];
  let section = null;
  for (const line of text.split("\n")) {
    const key = /^([A-Za-z_][\w.-]*):\s*(.*)$/.exec(line);
    if (key) { section = key[1]; top[section] = key[2]; continue; }
    const nested = /^ {2}([A-Za-z_][\w.-]*):/.exec(line);
    if (nested && section === "flavors") flavors.push(nested[1]);
  }
  const facts = [["Flavors", flavors.join(", ")], ["Model ID", top.model_id], ["Run ID", top.run_id],
    ["Model UUID", top.model_uuid], ["Created", top.utc_time_created], ["MLflow version", top.mlflow_version],
    ["Signature", "signature" in top ? "yes" : "no"]].filter(([, v]) => v);
  return h("div",
    h("dl.facts", facts.map(([k, v]) => [h("dt", k), h("dd", v.replace(/^['"]|['"]$/g, ""))])),
    h("pre.code", text));
}
