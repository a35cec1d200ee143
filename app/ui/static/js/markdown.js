// A small, safe Markdown renderer for run and model notes. It builds DOM nodes and puts all
// text in as text: HTML in the source shows as typed. Supported: headings, paragraphs,
// lists, block quotes, fenced code, rules, **bold**, *italic*, `code`, [links](http...).

import { h } from "./dom.js";

export function renderMarkdown(source) {
  const root = h("div.markdown");
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
      i++;
      root.append(h("pre", h("code", code.join("\n"))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      root.append(inline(h(`h${Math.min(heading[1].length + 2, 6)}`), heading[2]));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { root.append(h("hr")); i++; continue; }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^\s*>/.test(lines[i]); i++) quoted.push(lines[i].replace(/^\s*>\s?/, ""));
      root.append(h("blockquote", ...renderMarkdown(quoted.join("\n")).childNodes));
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const list = h(/^\s*\d/.test(line) ? "ol" : "ul");
      for (; i < lines.length && item.test(lines[i]); i++) list.append(inline(h("li"), lines[i].replace(item, "")));
      root.append(list);
      continue;
    }
    const paragraph = [];
    for (; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*~~~|\s*>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i++) {
      paragraph.push(lines[i].trim());
    }
    if (!paragraph.length) paragraph.push(lines[i++].trim());
    root.append(inline(h("p"), paragraph.join(" ")));
  }
  return root;
}

// `code`, **bold**, *italic* / _italic_, [text](url): earliest match first, the rest as text.
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|\b_([^_]+?)_\b|\[([^\]]+)\]\(([^)\s]+)\)/;

function inline(parent, text) {
  while (text) {
    const match = INLINE.exec(text);
    if (!match) { parent.append(text); break; }
    if (match.index) parent.append(text.slice(0, match.index));
    const [, code, bold, bold2, italic, italic2, label, href] = match;
    if (code !== undefined) parent.append(h("code", code));
    else if (bold !== undefined || bold2 !== undefined) parent.append(inline(h("strong"), bold ?? bold2));
    else if (italic !== undefined || italic2 !== undefined) parent.append(inline(h("em"), italic ?? italic2));
    else parent.append(safeLink(label, href));
    text = text.slice(match.index + match[0].length);
  }
  return parent;
}

/** Links to http(s) and mailto only, opened in a new tab without access to this page. */
function safeLink(label, href) {
  let url;
  try { url = new URL(href, document.baseURI); } catch { url = null; }
  if (!url || !["http:", "https:", "mailto:"].includes(url.protocol)) return `[${label}](${href})`;
  return inline(h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }), label);
}
