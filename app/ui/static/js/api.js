// The REST API, exactly as the clients use it, under ajax-api/ next to this page (so it
// follows the server's --static-prefix).

const ROOT = new URL("ajax-api/2.0/", document.baseURI);

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function url(path, params) {
  const u = new URL(path, ROOT);
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) u.searchParams.append(key, item);
  }
  return u;
}

async function send(method, path, { params, body, signal } = {}) {
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      signal,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The server could not be reached", "UNREACHABLE", 0);
  }
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { /* not JSON: reported below */ }
  if (!response.ok) {
    throw new ApiError(data.message || `${response.status} ${response.statusText}`,
      data.error_code || "HTTP_ERROR", response.status);
  }
  return data;
}

export const get = (path, params, options = {}) => send("GET", `mlflow/${path}`, { ...options, params });
export const post = (path, body, options = {}) => send("POST", `mlflow/${path}`, { ...options, body });
export const patch = (path, body) => send("PATCH", `mlflow/${path}`, { body });
export const del = (path, body) => send("DELETE", `mlflow/${path}`, { body });

/** The 3.0 routes (roles and grants of the auth app): v3.get('roles/list'), v3.post(...). */
export const v3 = {
  get: (path, params) => send("GET", `../3.0/mlflow/${path}`, { params }),
  post: (path, body) => send("POST", `../3.0/mlflow/${path}`, { body }),
  patch: (path, body) => send("PATCH", `../3.0/mlflow/${path}`, { body }),
  del: (path, body) => send("DELETE", `../3.0/mlflow/${path}`, { body }),
};

/** Every item of a paged search (for short lists: models, versions, experiments). */
export async function all(fetchPage, key, limit = 10_000) {
  const items = [];
  let token;
  do {
    const page = await fetchPage(token);
    items.push(...(page[key] || []));
    token = page.next_page_token;
  } while (token && items.length < limit);
  return items;
}

// ---------------------------------------------------------------- entities

/** [{key, value}] -> {key: value} */
export function pairs(list) {
  const out = {};
  for (const item of list || []) out[item.key] = item.value;
  return out;
}

/** A metric value off the wire: NaN and the infinities arrive as strings. */
export const num = (value) => (typeof value === "number" ? value : Number(value));

export const runName = (run) => run.info.run_name || pairs(run.data?.tags)["mlflow.runName"] || run.info.run_id;

export const getRun = async (runId) => (await get("runs/get", { run_id: runId })).run;
export const getExperiment = async (id) => (await get("experiments/get", { experiment_id: id })).experiment;

// ---------------------------------------------------------------- artifacts

/** The proxy path of an mlflow-artifacts: URI, or null when the server does not proxy it. */
export function proxyPath(artifactUri) {
  const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/?(.*)$/.exec(artifactUri || "");
  return match ? match[1].replace(/\/+$/, "") : null;
}

/** Download URL of a file below a proxied root. */
export function artifactUrl(root, path) {
  const parts = [...root.split("/"), ...path.split("/")].filter(Boolean).map(encodeURIComponent);
  return new URL(`mlflow-artifacts/artifacts/${parts.join("/")}`, ROOT).href;
}

/** Files directly under `path` of a proxied root: [{path (relative to root), is_dir, file_size}]. */
export async function listProxied(root, path) {
  const data = await send("GET", "mlflow-artifacts/artifacts", { params: { path: [root, path].filter(Boolean).join("/") } });
  return (data.files || []).map((f) => ({ ...f, path: path ? `${path}/${f.path}` : f.path }));
}

/** Files directly under `path` of a run's artifacts, listed by the tracking API. */
export async function listRunArtifacts(runId, path) {
  return (await get("artifacts/list", { run_id: runId, path })).files || [];
}
