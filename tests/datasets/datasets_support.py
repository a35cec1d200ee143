"""Helpers shared by the dataset tests: raw HTTP checks and dataset-input builders."""
from __future__ import annotations


import requests


from api_checks import assert_error, assert_ok, now_ms, raw_experiment, raw_run  # noqa: F401


def raw_get_run(api, run_id: str) -> dict:
    return assert_ok(api.get("runs/get", params={"run_id": run_id}))["run"]


def dataset(name: str = "ds", digest: str = "d1", **fields) -> dict:
    """A proto-JSON Dataset; fields=None drops a field."""
    body = {"name": name, "digest": digest, "source_type": "local",
            "source": '{"uri": "/data/train.csv"}', "schema": '{"mlflow_colspec": []}',
            "profile": '{"num_rows": 3}'}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def dataset_input(ds: dict, tags: dict | list | None = None) -> dict:
    if isinstance(tags, dict):
        tags = [{"key": k, "value": v} for k, v in tags.items()]
    return {"tags": tags or [], "dataset": ds}


def log_inputs(api, run_id: str, *inputs: dict, prefix: str = "/api/"):
    """POST runs/log-inputs (the response, unchecked); prefix="/ajax-api/" as the web UI does.
    A long timeout: some bodies carry a 16 MB profile."""
    body = {"run_id": run_id, "datasets": list(inputs)}
    return requests.post(api.base.replace("/api/", prefix, 1) + "runs/log-inputs", json=body, timeout=180)


def inputs_of(run: dict) -> list[dict]:
    """A proto-JSON run's dataset inputs as [{name, digest, ..., tags: {k: v}}], sorted."""
    out = []
    for item in (run.get("inputs") or {}).get("dataset_inputs") or []:
        entry = dict(item["dataset"])
        entry["tags"] = {t["key"]: t["value"] for t in item.get("tags") or []}
        out.append(entry)
    return sorted(out, key=lambda e: (e.get("name", ""), e.get("digest", "")))


def raw_inputs(api, run_id: str) -> list[dict]:
    return inputs_of(raw_get_run(api, run_id))
