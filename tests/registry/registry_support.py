"""Raw-HTTP helpers shared by the registry tests."""
from __future__ import annotations

from api_checks import assert_error, assert_ok, raw_experiment, raw_run  # noqa: F401
from conftest import unique


def create_model(api, name: str | None = None, **fields) -> dict:
    return assert_ok(api.post("registered-models/create", json={"name": name or unique("rm"), **fields}))[
        "registered_model"]


def create_version(api, name: str, source: str, **fields) -> dict:
    return assert_ok(api.post("model-versions/create", json={"name": name, "source": source, **fields}))[
        "model_version"]


def get_model(api, name: str) -> dict:
    return assert_ok(api.get("registered-models/get", params={"name": name}))["registered_model"]


def get_version(api, name: str, version) -> dict:
    return assert_ok(api.get("model-versions/get", params={"name": name, "version": version}))["model_version"]


def download_uri(api, name: str, version) -> str:
    return assert_ok(api.get("model-versions/get-download-uri",
                             params={"name": name, "version": version}))["artifact_uri"]


def new_run(api) -> tuple[str, str]:
    """(run_id, artifact_uri) of a new run in a new experiment."""
    run_id = raw_run(api, raw_experiment(api, unique("reg-exp")))
    run = assert_ok(api.get("runs/get", params={"run_id": run_id}))["run"]
    return run_id, run["info"]["artifact_uri"]


def as_dict(entries) -> dict:
    return {e["key"]: e["value"] for e in entries or []}
