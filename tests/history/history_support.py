"""Helpers shared by the metric history tests: raw HTTP checks, fast logging of many points,
and the bulk-interval and paged history requests."""
from __future__ import annotations


import requests

BATCH = 1000  # metrics per log-batch request (the API's limit)


from api_checks import assert_error, assert_ok, now_ms, raw_experiment, raw_run, wire  # noqa: F401


def log_points(api, run_id: str, key: str, points) -> None:
    """Log (step, timestamp, value) points with log-batch, 1000 per request."""
    points = list(points)
    for start in range(0, len(points), BATCH):
        metrics = [{"key": key, "value": wire(v), "timestamp": t, "step": s}
                   for s, t, v in points[start:start + BATCH]]
        assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": metrics}))


def as_float(value) -> float:
    return float(value)  # "NaN", "Infinity" and numbers alike


def bulk_interval(api, run_ids, metric_key="m", prefix: str = "/api/", **params):
    """GET metrics/get-history-bulk-interval with run_ids repeated in the query string."""
    query = [("run_ids", r) for r in run_ids]
    if metric_key is not None:
        query.append(("metric_key", metric_key))
    query += [(k, v) for k, v in params.items() if v is not None]
    return requests.get(api.base.replace("/api/", prefix, 1) + "metrics/get-history-bulk-interval",
                        params=query, timeout=60)


def bulk_points(api, run_ids, metric_key="m", **params) -> dict:
    """{run_id: [(step, timestamp, value)]} in response order; every point's key checked."""
    body = assert_ok(bulk_interval(api, run_ids, metric_key, **params))
    assert set(body) <= {"metrics"}, body.keys()
    out: dict = {}
    for m in body.get("metrics", []):
        assert m["key"] == metric_key, m
        assert set(m) <= {"key", "value", "timestamp", "step", "run_id"}, m
        out.setdefault(m["run_id"], []).append((int(m.get("step", 0)), int(m.get("timestamp", 0)),
                                                as_float(m.get("value", 0.0))))
    return out


def history_page(api, run_id, key, max_results=None, page_token=None) -> dict:
    params = {"run_id": run_id, "metric_key": key}
    if max_results is not None:
        params["max_results"] = max_results
    if page_token is not None:
        params["page_token"] = page_token
    return assert_ok(api.get("metrics/get-history", params=params))


class Api:
    """Raw HTTP against a server, usable from module-scoped fixtures (like conftest's `api`)."""

    def __init__(self, server):
        self.base = f"{server.url}/api/2.0/mlflow/"

    def get(self, path, **kw):
        return requests.get(self.base + path, timeout=60, **kw)

    def post(self, path, **kw):
        return requests.post(self.base + path, timeout=60, **kw)
