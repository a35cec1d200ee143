"""Helpers shared by the logged-model tests: raw HTTP calls and a small trained model."""
from __future__ import annotations

import re

from api_checks import assert_error, assert_ok, now_ms, raw_experiment, raw_run  # noqa: F401

MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def create_model(api, experiment_id: str, **fields) -> dict:
    """POST logged-models; fields as the JSON body has them (params/tags may be dicts)."""
    for name in ("params", "tags"):
        if isinstance(fields.get(name), dict):
            fields[name] = [{"key": k, "value": v} for k, v in fields[name].items()]
    return assert_ok(api.post("logged-models", json={"experiment_id": experiment_id, **fields}))["model"]


def get_model(api, model_id: str, **query) -> dict:
    return assert_ok(api.get(f"logged-models/{model_id}", params=query))["model"]


def finalize(api, model_id: str, status="LOGGED_MODEL_READY") -> dict:
    return assert_ok(api.request("PATCH", f"logged-models/{model_id}", json={"model_id": model_id,
                                                                              "status": status}))["model"]


def search(api, experiment_ids: list[str], **body) -> tuple[list[dict], str | None]:
    found = assert_ok(api.post("logged-models/search", json={"experiment_ids": experiment_ids, **body}))
    return found.get("models", []), found.get("next_page_token")


def search_ids(api, experiment_ids: list[str], **body) -> list[str]:
    return [m["info"]["model_id"] for m in search(api, experiment_ids, **body)[0]]


def pairs(items) -> dict:
    """[{key, value}, ...] as a dict."""
    return {item["key"]: item["value"] for item in items or []}


def iris_model():
    """(fitted LogisticRegression, X) on the iris data."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), X
