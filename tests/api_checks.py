"""Raw-HTTP checks shared by the test folders."""
from __future__ import annotations

import math
import time


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_error(resp, status: int, *codes: str) -> dict:
    """The response is a JSON MLflow error with this status and (one of) these error codes."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error_code"), str) and body["error_code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if codes:
        assert body["error_code"] in codes, body
    return body


def assert_ok(resp) -> dict:
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:500]}"
    return resp.json()


def raw_experiment(api, name: str) -> str:
    return assert_ok(api.post("experiments/create", json={"name": name}))["experiment_id"]


def raw_run(api, experiment_id: str, **fields) -> str:
    body = assert_ok(api.post("runs/create", json={"experiment_id": experiment_id,
                                                   "start_time": now_ms(), **fields}))
    return body["run"]["info"]["run_id"]


def wire(value: float):
    """A double as proto3 JSON carries it (NaN and infinities as strings)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
