"""Artifacts of runs stored in each database (the suite's 3-backend `server` fixture)."""
from __future__ import annotations

from pathlib import Path

import mlflow

from conftest import unique


def test_run_artifacts_round_trip_on_every_backend(server, client, tmp_path):
    exp_id = client.create_experiment(unique())
    run = client.create_run(exp_id)
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run.info.run_id}/artifacts"
    client.log_text(run.info.run_id, "on " + server.backend, "notes/backend.txt")
    client.log_dict(run.info.run_id, {"backend": server.backend}, "meta.json")
    on_disk = server.artifacts / exp_id / run.info.run_id / "artifacts"
    assert (on_disk / "notes" / "backend.txt").read_text() == "on " + server.backend
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)] == [
        ("meta.json", False), ("notes", True)]
    assert mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/meta.json") == {"backend": server.backend}
    local = Path(client.download_artifacts(run.info.run_id, "notes", str(tmp_path)))
    assert (local / "backend.txt").read_text() == "on " + server.backend
