// The tabs of one experiment: its runs, traces and logged models, and its permissions for those who
// manage it (with auth on; the tab is added once that is known).

import { manages } from "../auth/session.js";
import { tabs } from "../components/widgets.js";
import { enc, h } from "../dom.js";

export function experimentTabs(experimentId, current) {
  const base = `#/experiments/${enc(experimentId)}`;
  const items = [{ id: "runs", label: "Runs", href: base }, { id: "traces", label: "Traces", href: `${base}/traces` },
    { id: "models", label: "Logged models", href: `${base}/models` }];
  const permissions = { id: "permissions", label: "Permissions", href: `${base}/permissions` };
  if (current === "permissions") return tabs([...items, permissions], current);
  const nav = tabs(items, current);
  manages("experiment", experimentId).then((yes) => yes && nav.append(h("a.tab", { href: permissions.href }, permissions.label)));
  return nav;
}
