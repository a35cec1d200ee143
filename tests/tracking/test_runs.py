"""Runs as a user drives them with the official client: fluent start_run/end_run, nested
runs, names, descriptions, system tags, status updates, delete/restore."""
from __future__ import annotations

import re
import time

import mlflow
import pytest
from mlflow.entities import RunStatus, ViewType

from conftest import unique
from tracking_helpers import as_dict, assert_ok, raises_mlflow, raw_experiment


@pytest.fixture
def exp_id(client):
    return mlflow.set_experiment(unique("runs")).experiment_id


def test_fluent_run_records_everything(client, exp_id):
    before = int(time.time() * 1000)
    with mlflow.start_run(run_name="first-run", tags={"team": "vision", "ver": "2"},
                          description="trying **markdown**") as run:
        run_id = run.info.run_id
        assert run.info.status == "RUNNING"
        assert run.info.run_name == "first-run"
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"epochs": 10, "optimizer": "adam", "dropout": None})
        mlflow.log_metric("loss", 0.7, step=0)
        mlflow.log_metric("loss", 0.4, step=1)
        mlflow.log_metrics({"acc": 0.91, "f1": 0.88}, step=1)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": "1", "b": 2})
    after = int(time.time() * 1000)

    got = client.get_run(run_id)
    assert got.info.run_id == run_id
    assert got.info.experiment_id == exp_id
    assert got.info.status == "FINISHED"
    assert got.info.lifecycle_stage == "active"
    assert got.info.run_name == "first-run"
    assert before - 1000 <= got.info.start_time <= got.info.end_time <= after + 1000
    assert got.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    assert got.data.params == {"lr": "0.01", "epochs": "10", "optimizer": "adam", "dropout": "None"}
    assert got.data.metrics == {"loss": 0.4, "acc": 0.91, "f1": 0.88}
    tags = got.data.tags
    assert tags["team"] == "vision" and tags["ver"] == "2"
    assert tags["stage"] == "dev" and tags["a"] == "1" and tags["b"] == "2"
    assert tags["mlflow.runName"] == "first-run"
    assert tags["mlflow.note.content"] == "trying **markdown**"


def test_system_tags_and_user(client, exp_id):
    with mlflow.start_run() as run:
        pass
    got = client.get_run(run.info.run_id)
    tags = got.data.tags
    for key in ("mlflow.user", "mlflow.source.name", "mlflow.source.type"):
        assert tags.get(key), f"missing system tag {key}: {tags}"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert got.info.user_id == tags["mlflow.user"]


def test_nested_runs_record_parent(client, exp_id):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-1", nested=True) as child1:
            mlflow.log_metric("m", 1)
        with mlflow.start_run(run_name="child-2", nested=True) as child2:
            pass
        assert mlflow.active_run().info.run_id == parent.info.run_id
    for child in (child1, child2):
        got = client.get_run(child.info.run_id)
        assert got.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert got.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags
    children = client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["child-1", "child-2"]


def test_end_run_with_failed_status(client, exp_id):
    run = mlflow.start_run()
    mlflow.end_run(status="FAILED")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time


def test_exception_in_with_block_marks_run_failed(client, exp_id):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_generated_run_name_when_none_given(client, exp_id):
    run = client.create_run(exp_id)
    name = run.info.run_name
    assert name and re.fullmatch(r"[a-z]+-[a-z]+-\d+", name), name
    assert run.data.tags.get("mlflow.runName") == name
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == name and got.data.tags["mlflow.runName"] == name
    with mlflow.start_run() as fluent:
        pass
    assert client.get_run(fluent.info.run_id).info.run_name


def test_run_name_from_tag_only(client, api, exp_id):
    body = assert_ok(api.post("runs/create", json={
        "experiment_id": exp_id, "tags": [{"key": "mlflow.runName", "value": "from-tag"}]}))
    assert body["run"]["info"]["run_name"] == "from-tag"


def test_run_name_and_conflicting_tag_rejected(client, api, exp_id):
    resp = api.post("runs/create", json={"experiment_id": exp_id, "run_name": "a",
                                         "tags": [{"key": "mlflow.runName", "value": "b"}]})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_run_name_and_tag_stay_in_sync(client, exp_id):
    run = client.create_run(exp_id, run_name="original")
    run_id = run.info.run_id
    client.set_tag(run_id, "mlflow.runName", "renamed-by-tag")
    got = client.get_run(run_id)
    assert got.info.run_name == "renamed-by-tag"
    assert got.data.tags["mlflow.runName"] == "renamed-by-tag"

    client.update_run(run_id, name="renamed-by-update")
    got = client.get_run(run_id)
    assert got.info.run_name == "renamed-by-update"
    assert got.data.tags["mlflow.runName"] == "renamed-by-update"
    # searching by either form finds it
    assert [r.info.run_id for r in client.search_runs([exp_id], "attributes.run_name = 'renamed-by-update'")] \
        == [run_id]
    assert [r.info.run_id for r in client.search_runs([exp_id], "tags.mlflow.runName = 'renamed-by-update'")] \
        == [run_id]


def test_client_create_run_with_start_time_and_tags(client, exp_id):
    run = client.create_run(exp_id, start_time=1_600_000_000_123, tags={"k": "v"}, run_name="timed")
    got = client.get_run(run.info.run_id)
    assert got.info.start_time == 1_600_000_000_123
    assert got.info.end_time is None
    assert got.info.status == "RUNNING"
    assert got.data.tags["k"] == "v"


def test_set_terminated_and_update_run(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.set_terminated(run_id, status="KILLED", end_time=1_700_000_000_000)
    got = client.get_run(run_id)
    assert got.info.status == "KILLED"
    assert got.info.end_time == 1_700_000_000_000

    run_id = client.create_run(exp_id).info.run_id
    client.update_run(run_id, status="FINISHED")
    assert client.get_run(run_id).info.status == "FINISHED"
    client.update_run(run_id, status="RUNNING")
    assert client.get_run(run_id).info.status == "RUNNING"
    client.set_terminated(run_id)
    got = client.get_run(run_id)
    assert got.info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert got.info.end_time >= got.info.start_time


def test_update_run_name_keeps_status(client, exp_id):
    run_id = client.create_run(exp_id, run_name="n1").info.run_id
    client.set_terminated(run_id, status="FAILED")
    client.update_run(run_id, name="n2")
    got = client.get_run(run_id)
    assert got.info.run_name == "n2"
    assert got.info.status == "FAILED"


def test_tags_set_overwrite_delete(client, exp_id):
    with mlflow.start_run() as run:
        mlflow.set_tag("k", "v1")
        mlflow.set_tag("k", "v2")
        mlflow.set_tag("gone", "x")
        mlflow.delete_tag("gone")
    run_id = run.info.run_id
    tags = client.get_run(run_id).data.tags
    assert tags["k"] == "v2"
    assert "gone" not in tags
    client.set_tag(run_id, "after-end", "ok")  # tags can be set after the run finished
    client.delete_tag(run_id, "k")
    tags = client.get_run(run_id).data.tags
    assert "k" not in tags and tags["after-end"] == "ok"
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_tag(run_id, "never-set")


def test_delete_and_restore_run(client, exp_id):
    keep = client.create_run(exp_id).info.run_id
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "m", 1.0)
    client.delete_run(run_id)
    got = client.get_run(run_id)  # a deleted run can still be read
    assert got.info.lifecycle_stage == "deleted"
    assert got.data.metrics == {"m": 1.0}
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [keep]
    assert [r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)] \
        == [run_id]
    # logging to a deleted run fails
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.log_param(run_id, "p", "v")
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert {r.info.run_id for r in client.search_runs([exp_id])} == {keep, run_id}
    client.log_param(run_id, "p", "v")
    assert client.get_run(run_id).data.params == {"p": "v"}


def test_fluent_delete_run(client, exp_id):
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"


def test_get_missing_run_raises(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_run("0123456789abcdef0123456789abcdef")


def test_create_run_in_missing_experiment_raises(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.create_run("987654321")


def test_create_run_in_deleted_experiment_rejected(client, api):
    exp = raw_experiment(api, unique("gone"))
    client.delete_experiment(exp)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.create_run(exp)


def test_run_data_round_trip_raw(client, api, exp_id):
    """The raw runs/get answer has the proto3 JSON shape the client and UI expect."""
    with mlflow.start_run(run_name="shape") as run:
        mlflow.log_param("p", "v")
        mlflow.log_metric("m", 2.5, step=7)
        mlflow.set_tag("t", "x")
    body = assert_ok(api.get("runs/get", params={"run_id": run.info.run_id, "run_uuid": run.info.run_id}))
    info, data = body["run"]["info"], body["run"]["data"]
    assert info["run_id"] == info["run_uuid"] == run.info.run_id
    assert info["experiment_id"] == exp_id and isinstance(info["experiment_id"], str)
    assert info["status"] == "FINISHED"
    assert isinstance(info["start_time"], int) and isinstance(info["end_time"], int)
    assert info["lifecycle_stage"] == "active"
    assert as_dict(data["params"]) == {"p": "v"}
    metric = [m for m in data["metrics"] if m["key"] == "m"]
    assert len(metric) == 1 and metric[0]["value"] == 2.5 and metric[0]["step"] == 7
    assert isinstance(metric[0]["timestamp"], int)
    assert as_dict(data["tags"])["t"] == "x"


def test_resume_finished_run(client, exp_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0, step=0)
    run_id = run.info.run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    with mlflow.start_run(run_id=run_id) as resumed:
        assert resumed.info.run_id == run_id
        assert client.get_run(run_id).info.status == "RUNNING"
        mlflow.log_metric("m", 2.0, step=1)
        mlflow.log_param("added", "later")
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.metrics["m"] == 2.0 and got.data.params["added"] == "later"
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0, 2.0]
