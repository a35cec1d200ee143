"""Request values are read as proto3 JSON, as the official server reads them (issue 18): a wrong
type, a null inside a list, an integer beyond 64 bits, a NUL or an unpaired surrogate is a 400
INVALID_PARAMETER_VALUE on every backend and changes nothing; an experiment id that cannot be one
of ours is not found (404); a relative artifact_location is stored absolute."""
from __future__ import annotations

import pytest

from conftest import unique
from tracking_helpers import assert_error, assert_ok, now_ms, raises_mlflow, raw_experiment, raw_get_run, raw_run

INT64_MAX = 2**63 - 1


@pytest.fixture
def exp_id(api):
    return raw_experiment(api, unique("types"))


@pytest.fixture
def run_id(api, exp_id):
    return raw_run(api, exp_id, run_name="before")


def refused(resp) -> dict:
    return assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def post_raw(api, path: str, text: str):
    """A JSON body as written (json.dumps would not write a lone surrogate's escape)."""
    return api.post(path, data=text.encode(), headers={"Content-Type": "application/json"})


def experiment_names(api) -> set[str]:
    found = assert_ok(api.post("experiments/search", json={"max_results": 1000, "view_type": "ALL"}))
    return {e["name"] for e in found.get("experiments", [])}


def unchanged_run(api, run_id: str) -> None:
    run = raw_get_run(api, run_id)
    assert run["info"]["run_name"] == "before", run
    assert not run["data"].get("metrics") and not run["data"].get("params"), run
    assert {t["key"] for t in run["data"].get("tags", [])} <= {"mlflow.runName"}, run


# ------------------------------------------------------------------ unpaired surrogates


@pytest.mark.parametrize("path, text", [
    ("runs/update", '{"run_id": "%s", "run_name": "\\ud800"}'),
    ("runs/set-tag", '{"run_id": "%s", "key": "k", "value": "a\\udfffb"}'),
    ("runs/set-tag", '{"run_id": "%s", "key": "\\ud800", "value": "v"}'),
    ("runs/log-parameter", '{"run_id": "%s", "key": "p", "value": "\\ud83d"}'),
    ("runs/log-batch", '{"run_id": "%s", "params": [{"key": "p", "value": "\\udc00"}]}'),
    ("runs/log-metric", '{"run_id": "%s", "key": "\\ud800", "value": 1, "timestamp": 1}'),
])
def test_an_unpaired_surrogate_is_refused_and_changes_nothing(api, run_id, path, text):
    body = refused(post_raw(api, path, text % run_id))
    assert "surrogate" in body["message"]
    unchanged_run(api, run_id)


def test_an_unpaired_surrogate_in_a_name_creates_nothing(api):
    before = experiment_names(api)
    refused(post_raw(api, "experiments/create", '{"name": "\\ud800"}'))
    refused(post_raw(api, "experiments/create", '{"name": "ok-name", "tags": [{"key": "\\ud800", "value": "v"}]}'))
    assert experiment_names(api) == before
    refused(post_raw(api, "registered-models/create", '{"name": "m\\udc00"}'))


def test_a_paired_surrogate_escape_is_a_character_like_any_other(api, run_id):
    assert_ok(post_raw(api, "runs/set-tag", '{"run_id": "%s", "key": "k", "value": "\\ud83d\\ude00"}' % run_id))
    tags = {t["key"]: t["value"] for t in raw_get_run(api, run_id)["data"]["tags"]}
    assert tags["k"] == "\N{GRINNING FACE}"


# ------------------------------------------------------------------ NUL characters


@pytest.mark.parametrize("path, change", [
    ("runs/update", {"run_name": "a\x00b"}),
    ("runs/set-tag", {"key": "k", "value": "a\x00"}),
    ("runs/log-parameter", {"key": "p", "value": "\x00"}),
    ("runs/log-batch", {"tags": [{"key": "k", "value": "v\x00"}]}),
    ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1, "dataset_name": "d\x00", "model_id": "x"}),
])
def test_a_nul_is_refused_on_every_backend_and_changes_nothing(api, run_id, path, change):
    body = refused(api.post(path, json={"run_id": run_id, **change}))
    assert "NUL" in body["message"]
    unchanged_run(api, run_id)


def test_a_nul_in_a_name_query_or_path_is_refused(api):
    before = experiment_names(api)
    refused(api.post("experiments/create", json={"name": "nul\x00name"}))
    assert experiment_names(api) == before
    refused(api.get("experiments/get-by-name", params={"experiment_name": "a\x00"}))
    refused(api.get("runs/get", params={"run_id": "\x00"}))
    refused(api.get("logged-models/m-abc%00"))
    refused(api.post("registered-models/create", json={"name": "m\x00"}))


# ------------------------------------------------------------------ nulls inside lists


def test_a_null_inside_a_list_is_refused_and_creates_nothing(api):
    before = experiment_names(api)
    name = unique("null-tag")
    body = refused(api.post("experiments/create", json={"name": name, "tags": [None]}))
    assert "null" in body["message"]
    assert experiment_names(api) == before
    refused(api.post("registered-models/create", json={"name": name, "tags": [None]}))
    assert_error(api.get("registered-models/get", params={"name": name}), 404, "RESOURCE_DOES_NOT_EXIST")
    refused(api.post("runs/search", json={"experiment_ids": [None]}))
    refused(api.post("runs/search", json={"experiment_ids": ["0"], "order_by": [None]}))


@pytest.mark.parametrize("field", ["metrics", "params", "tags"])
def test_a_null_inside_a_batch_is_refused_and_logs_nothing(api, run_id, field):
    good = {"metrics": {"key": "m", "value": 1.0, "timestamp": now_ms(), "step": 0},
            "params": {"key": "p", "value": "v"}, "tags": {"key": "t", "value": "v"}}[field]
    refused(api.post("runs/log-batch", json={"run_id": run_id, field: [good, None]}))
    unchanged_run(api, run_id)


# ------------------------------------------------------------------ integers beyond 64 bits


@pytest.mark.parametrize("start_time", [2**63, 2**64, 2**70, -(2**63) - 1, -(2**64), str(2**63)])
def test_a_start_time_beyond_64_bits_is_refused(api, exp_id, start_time):
    refused(api.post("runs/create", json={"experiment_id": exp_id, "start_time": start_time}))
    found = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id]}))
    assert not found.get("runs")


@pytest.mark.parametrize("change", [
    {"timestamp": 2**63}, {"step": 2**63}, {"step": -(2**63) - 1}, {"step": -(2**64) - 5},
    {"timestamp": "9223372036854775808"}, {"value": 10**400},
])
def test_a_metric_beyond_64_bits_is_refused(api, run_id, change):
    metric = {"key": "m", "value": 1.0, "timestamp": now_ms(), "step": 0, **change}
    refused(api.post("runs/log-metric", json={"run_id": run_id, **metric}))
    refused(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [metric]}))
    unchanged_run(api, run_id)


def test_the_int64_bounds_themselves_are_taken(api, run_id):
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": "lo", "value": 1.0, "timestamp": INT64_MAX, "step": -(2**63)},
        {"key": "hi", "value": 2.0, "timestamp": 0, "step": INT64_MAX}]}))
    metrics = {m["key"]: m for m in raw_get_run(api, run_id)["data"]["metrics"]}
    assert (metrics["lo"]["timestamp"], metrics["lo"]["step"]) == (INT64_MAX, -(2**63))
    assert metrics["hi"]["step"] == INT64_MAX


def test_an_end_time_or_max_results_beyond_64_bits_is_refused(api, run_id):
    refused(api.post("runs/update", json={"run_id": run_id, "end_time": 2**64}))
    refused(api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "m",
                                                   "max_results": str(2**63)}))
    refused(api.get("metrics/get-history-bulk-interval", params={
        "run_ids": run_id, "metric_key": "m", "start_step": str(-(2**63) - 1), "end_step": "5"}))
    refused(api.post("experiments/search", json={"max_results": 2**64}))
    unchanged_run(api, run_id)


# ------------------------------------------------------------------ proto3 JSON types


def test_a_number_is_not_a_string(api):
    before = experiment_names(api)
    body = refused(api.post("experiments/create", json={"name": 123}))
    assert "'name'" in body["message"]
    assert experiment_names(api) == before and "123" not in before


@pytest.mark.parametrize("method, path, body", [
    ("POST", "runs/delete", {"run_id": 31}),
    ("POST", "runs/update", {"run_id": 31, "status": "FINISHED"}),
    ("POST", "runs/set-tag", {"run_id": 31, "key": "k", "value": "v"}),
    ("POST", "runs/log-metric", {"run_id": 31, "key": "m", "value": 1, "timestamp": 1}),
    ("POST", "runs/create", {"experiment_id": 0}),
    ("POST", "experiments/delete", {"experiment_id": 0}),
    ("POST", "runs/search", {"experiment_ids": [0]}),
    ("POST", "runs/set-tag", {"run_id": "r", "key": "k", "value": 5}),
    ("POST", "runs/set-tag", {"run_id": "r", "key": "k", "value": True}),
    ("POST", "registered-models/create", {"name": 7}),
    ("PATCH", "model-versions/update", {"name": "m", "version": 1}),
])
def test_a_number_for_a_string_field_is_400_not_404(api, method, path, body):
    refused(api.request(method, path, json=body))


def test_a_number_for_an_id_changes_nothing(api, run_id):
    refused(api.post("runs/update", json={"run_id": 31, "run_name": "after"}))
    refused(api.post("runs/delete", json={"run_id": {"id": run_id}}))
    unchanged_run(api, run_id)
    assert raw_get_run(api, run_id)["info"]["lifecycle_stage"] == "active"


@pytest.mark.parametrize("path, body", [
    ("runs/search", {"experiment_ids": "0"}),  # a repeated field is a list
    ("runs/create", {"experiment_id": "0", "tags": {"key": "k", "value": "v"}}),
    ("runs/create", {"experiment_id": "0", "tags": ["k=v"]}),  # a message is an object
    ("runs/log-batch", {"run_id": "r", "metrics": "m"}),
    ("model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production",
                                         "archive_existing_versions": "true"}),  # a bool is true or false
    ("model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production",
                                         "archive_existing_versions": 1}),
    ("runs/create", {"experiment_id": "0", "start_time": True}),
    ("runs/create", {"experiment_id": "0", "start_time": 1.5}),
    ("runs/create", {"experiment_id": "0", "start_time": "1 2"}),
])
def test_other_wrong_types_are_refused(api, path, body):
    refused(api.post(path, json=body))


def test_numbers_as_text_and_integral_numbers_are_read_as_proto3_json_does(api, exp_id):
    run = assert_ok(api.post("runs/create", json={"experiment_id": exp_id, "start_time": "12"}))["run"]
    assert run["info"]["start_time"] == 12
    run_id = run["info"]["run_id"]
    assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": "NaN",
                                                 "timestamp": 5.0, "step": "1e3"}))
    [metric] = raw_get_run(api, run_id)["data"]["metrics"]
    assert (metric["value"], metric["timestamp"], metric["step"]) == ("NaN", 5, 1000)
    assert_ok(api.post("runs/update", json={"run_id": run_id, "end_time": str(INT64_MAX)}))
    assert assert_ok(api.post("experiments/search", json={"max_results": "2"}))


def test_an_enum_may_be_named_by_its_number(api, run_id):
    """proto3 JSON: RunStatus FINISHED is 3, ViewType ALL is 3."""
    assert assert_ok(api.post("runs/update", json={"run_id": run_id, "status": "3"}))["run_info"]["status"] == "FINISHED"
    assert_ok(api.post("runs/delete", json={"run_id": run_id}))
    found = assert_ok(api.post("runs/search", json={"experiment_ids": [raw_get_run(api, run_id)["info"]["experiment_id"]],
                                                    "run_view_type": "2"}))
    assert [run["info"]["run_id"] for run in found["runs"]] == [run_id]
    refused(api.post("runs/update", json={"run_id": run_id, "status": "9"}))


def test_query_strings_are_read_by_the_fields_type(api, exp_id):
    """GET parameters arrive as text: int64 fields take a number's text, bools true or false."""
    assert_ok(api.get("experiments/search", params={"max_results": "3"}))
    refused(api.get("experiments/search", params={"max_results": "three"}))
    refused(api.get("experiments/search", params={"max_results": "1.5"}))
    model = assert_ok(api.post("logged-models", json={"experiment_id": exp_id, "name": "m"}))["model"]
    model_id = model["info"]["model_id"]
    for flag in ("true", "True", "FALSE"):
        assert_ok(api.get(f"logged-models/{model_id}", params={"allow_deleted": flag}))
    refused(api.get(f"logged-models/{model_id}", params={"allow_deleted": "yes"}))
    refused(api.get(f"logged-models/{model_id}", params={"allow_deleted": "1"}))


# ------------------------------------------------------------------ ids that cannot be ours


@pytest.mark.parametrize("experiment_id", ["987654321987", str(2**31), "-1", "99999999999999999999999"])
def test_an_experiment_id_that_cannot_be_ours_is_not_found(api, client, experiment_id):
    assert_error(api.get("experiments/get", params={"experiment_id": experiment_id}), 404, "RESOURCE_DOES_NOT_EXIST")
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_experiment(experiment_id)
    for path, body in [("runs/create", {}), ("experiments/delete", {}), ("experiments/restore", {}),
                       ("experiments/update", {"new_name": unique("renamed")}),
                       ("experiments/set-experiment-tag", {"key": "k", "value": "v"}),
                       ("logged-models", {"name": "m"})]:
        assert_error(api.post(path, json={"experiment_id": experiment_id, **body}), 404, "RESOURCE_DOES_NOT_EXIST")
    # searched for, it matches nothing
    assert assert_ok(api.post("runs/search", json={"experiment_ids": [experiment_id]})) == {}
    found = assert_ok(api.post("experiments/search", json={
        "max_results": 10, "filter": f"attribute.experiment_id = '{experiment_id}'"}))
    assert found == {}
    others = assert_ok(api.post("experiments/search", json={
        "max_results": 10, "filter": f"attribute.experiment_id != '{experiment_id}'"}))
    assert others["experiments"]


def test_an_experiment_id_that_is_no_number_is_400(api, client):
    body = assert_error(api.get("experiments/get", params={"experiment_id": "abc"}), 400, "INVALID_PARAMETER_VALUE")
    assert "must be a valid integer" in body["message"]
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.get_experiment("abc")


# ------------------------------------------------------------------ artifact_location


@pytest.mark.parametrize("given, stored", [
    ("rel/dir", "{cwd}/rel/dir"),
    ("./a/./b", "{cwd}/a/b"),
    ("file:rel/dir", "file://{cwd}/rel/dir"),
    ("/abs/dir", "/abs/dir"),
    ("file:///abs/dir", "file:///abs/dir"),
    ("s3://bucket/path", "s3://bucket/path"),
])
def test_a_relative_artifact_location_is_stored_absolute(server, api, client, given, stored):
    experiment_id = assert_ok(api.post("experiments/create", json={
        "name": unique("loc"), "artifact_location": given}))["experiment_id"]
    expected = stored.format(cwd=server.cwd.resolve().as_posix())
    experiment = assert_ok(api.get("experiments/get", params={"experiment_id": experiment_id}))["experiment"]
    assert experiment["artifact_location"] == expected
    assert client.get_experiment(experiment_id).artifact_location == expected
