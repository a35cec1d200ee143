"""Raw HTTP behaviour: error format and status codes, request parsing, service routes
(/health, /version, server-info) and the /ajax-api mirror."""
from __future__ import annotations

import pytest
import requests

from conftest import unique
from tracking_helpers import as_dict, assert_error, assert_ok, now_ms, raw_experiment, raw_get_run, raw_run


@pytest.fixture
def exp_id(api):
    return raw_experiment(api, unique("err"))


@pytest.fixture
def run_id(api, exp_id):
    return raw_run(api, exp_id)


# ------------------------------------------------------------------ service routes


def test_health(server):
    resp = requests.get(f"{server.url}/health", timeout=10)
    assert resp.status_code == 200
    assert resp.text == "OK"


def test_version(server):
    resp = requests.get(f"{server.url}/version", timeout=10)
    assert resp.status_code == 200
    text = resp.text.strip()
    assert text and text[0].isdigit() and "." in text, text


def test_server_info(server):
    resp = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10)
    assert resp.status_code == 200
    info = resp.json()
    assert isinstance(info, dict)
    assert info["multipart_uploads_enabled"] is False or info["multipart_uploads_enabled"] is True
    assert isinstance(info.get("multipart_downloads_enabled"), bool)
    assert info.get("store_type") == "SqlStore"


def test_ajax_api_mirror(server, api, run_id):
    ajax = f"{server.url}/ajax-api/2.0/mlflow/"
    resp = requests.get(ajax + "runs/get", params={"run_id": run_id}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["run"]["info"]["run_id"] == run_id
    resp = requests.post(ajax + "runs/set-tag", json={"run_id": run_id, "key": "via", "value": "ajax"}, timeout=10)
    assert resp.status_code == 200
    assert as_dict(raw_get_run(api, run_id)["data"]["tags"])["via"] == "ajax"
    resp = requests.post(ajax + "experiments/search", json={"max_results": 5}, timeout=10)
    assert resp.status_code == 200 and isinstance(resp.json().get("experiments"), list)
    assert_error(requests.get(ajax + "runs/get", params={"run_id": "f" * 32}, timeout=10),
                 404, "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ routing errors


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/2.0/mlflow/no/such/route"),
    ("POST", "/api/2.0/mlflow/runs/nothing"),
    ("GET", "/api/2.0/mlflow/"),
    ("GET", "/api/9.9/mlflow/runs/get"),
    ("GET", "/ajax-api/2.0/mlflow/no-such-thing"),
])
def test_unknown_route_is_404_endpoint_not_found(server, method, path):
    resp = requests.request(method, server.url + path, json={}, timeout=10)
    assert resp.status_code == 404
    body = assert_error(resp, 404)
    # never RESOURCE_DOES_NOT_EXIST: the client uses this 404 to fall back to older routes
    assert body["error_code"] == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("method, path", [
    ("GET", "runs/create"),
    ("POST", "runs/get"),
    ("PUT", "runs/log-metric"),
    ("DELETE", "experiments/create"),
    ("GET", "runs/log-batch"),
])
def test_wrong_method_is_405_json(api, method, path):
    resp = api.request(method, path, json={})
    assert resp.status_code == 405
    assert_error(resp, 405)


# ------------------------------------------------------------------ malformed requests


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"{'single': 'quotes'}",
                                  b'{"name": "x"', b"\xff\xfe"])
def test_malformed_json_body_is_400(api, body):
    resp = api.post("experiments/create", data=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "BAD_REQUEST", "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("path, body", [
    ("runs/create", {"experiment_id": {"nested": 1}}),
    ("runs/create", {"experiment_id": ["1", "2"]}),
    ("runs/create", {"experiment_id": "0", "start_time": "abc"}),
    ("runs/create", {"experiment_id": "0", "start_time": {"t": 1}}),
    ("runs/create", {"experiment_id": "0", "tags": "not-a-list"}),
    ("runs/create", {"experiment_id": "0", "tags": [{"key": {"a": 1}, "value": "v"}]}),
    ("experiments/create", {"name": {"a": "b"}}),
    ("experiments/create", {"name": "ok", "tags": [1, 2]}),
    ("experiments/search", {"max_results": "many"}),
    ("experiments/search", {"max_results": 1.5}),
    ("runs/search", {"experiment_ids": [{"a": 1}]}),
    ("runs/search", {"experiment_ids": ["0"], "max_results": "ten"}),
])
def test_wrong_types_are_400_not_500(api, path, body):
    resp = api.post(path, json=body)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE", "BAD_REQUEST")


@pytest.mark.parametrize("change", [
    {"value": "abc"},
    {"value": {"v": 1}},
    {"value": True},
    {"step": 1.5},
    {"step": "one"},
    {"step": 2**64},
    {"timestamp": "yesterday"},
    {"timestamp": -1},
    {"timestamp": 1.25},
    {"key": ""},
    {"key": None},
    {"value": None},
    {"timestamp": None},
])
def test_bad_metric_fields_are_400(api, run_id, change):
    body = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": now_ms(), "step": 0, **change}
    body = {k: v for k, v in body.items() if v is not None}
    resp = api.post("runs/log-metric", json=body)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    # the same metric inside a batch is rejected too
    metric = {k: v for k, v in body.items() if k != "run_id"}
    resp = api.post("runs/log-batch", json={"run_id": run_id, "metrics": [metric]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    assert not raw_get_run(api, run_id)["data"].get("metrics")


def test_numeric_strings_are_accepted_like_proto_json(api, run_id):
    """proto3 JSON allows int64 and double as strings ("5", "0.5")."""
    assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": "0.5",
                                                 "timestamp": str(now_ms()), "step": "5"}))
    [metric] = raw_get_run(api, run_id)["data"]["metrics"]
    assert metric["value"] == 0.5 and metric["step"] == 5


def test_unknown_fields_are_ignored(api, exp_id):
    body = assert_ok(api.post("runs/create", json={"experiment_id": exp_id, "run_name": "extra",
                                                   "unknown_field": 1, "nested": {"x": [1, 2]}}))
    run_id = body["run"]["info"]["run_id"]
    assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1,
                                                 "timestamp": now_ms(), "step": 0, "zzz": "ignored"}))
    assert_ok(api.get("runs/get", params={"run_id": run_id, "what": "ever"}))
    assert raw_get_run(api, run_id)["info"]["run_name"] == "extra"


def test_huge_values_are_4xx(api, run_id):
    huge = "x" * (10 * 1024 * 1024)
    resp = api.post("experiments/create", json={"name": huge})
    assert 400 <= resp.status_code < 500, resp.status_code
    assert resp.json().get("error_code")
    resp = api.post("runs/set-tag", json={"run_id": run_id, "key": "k", "value": huge})
    assert 400 <= resp.status_code < 500, resp.status_code
    resp = api.post("runs/log-parameter", json={"run_id": run_id, "key": huge[:100_000], "value": "v"})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # the server is still fine afterwards
    assert_ok(api.get("runs/get", params={"run_id": run_id}))


def test_experiment_name_limits(api):
    assert_error(api.post("experiments/create", json={"name": ""}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/create", json={"name": "n" * 501}), 400, "INVALID_PARAMETER_VALUE")
    name = unique("n")
    name = name + "n" * (500 - len(name))
    exp = assert_ok(api.post("experiments/create", json={"name": name}))["experiment_id"]
    assert assert_ok(api.get("experiments/get", params={"experiment_id": exp}))["experiment"]["name"] == name


# ------------------------------------------------------------------ missing things


@pytest.mark.parametrize("method, path, body", [
    ("POST", "experiments/create", {}),
    ("GET", "experiments/get", None),
    ("GET", "experiments/get-by-name", None),
    ("POST", "experiments/delete", {}),
    ("POST", "experiments/update", {"new_name": "x"}),
    ("GET", "runs/get", None),
    ("POST", "runs/delete", {}),
    ("POST", "runs/update", {"status": "FINISHED"}),
    ("POST", "runs/log-parameter", {"key": "p", "value": "v"}),
    ("POST", "runs/set-tag", {"key": "k", "value": "v"}),
    ("POST", "runs/log-batch", {"metrics": []}),
    ("GET", "metrics/get-history", {"metric_key": "m"}),
])
def test_missing_required_parameters_are_400(api, method, path, body):
    if method == "GET":
        resp = api.get(path, params=body or {})
    else:
        resp = api.post(path, json=body)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def test_history_without_metric_key_is_400(api, run_id):
    assert_error(api.get("metrics/get-history", params={"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE")


def test_missing_resources_are_404(api):
    missing_run = "ab" * 16
    for resp in [
        api.get("runs/get", params={"run_id": missing_run}),
        api.get("runs/get", params={"run_id": missing_run, "run_uuid": missing_run}),
        api.get("experiments/get", params={"experiment_id": "987654321"}),
        api.get("experiments/get-by-name", params={"experiment_name": unique("nope")}),
        api.post("runs/delete", json={"run_id": missing_run}),
        api.post("runs/restore", json={"run_id": missing_run}),
        api.post("runs/update", json={"run_id": missing_run, "status": "FINISHED"}),
        api.post("experiments/delete", json={"experiment_id": "987654321"}),
        api.post("experiments/restore", json={"experiment_id": "987654321"}),
        api.post("experiments/update", json={"experiment_id": "987654321", "new_name": unique()}),
        api.post("runs/create", json={"experiment_id": "987654321"}),
    ]:
        assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_missing_tag_is_404(api, run_id):
    assert_error(api.post("runs/delete-tag", json={"run_id": run_id, "key": "never"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_non_numeric_experiment_id_is_400(api):
    resp = api.get("experiments/get", params={"experiment_id": "abc"})
    assert resp.status_code in (400, 404)
    assert_error(resp, resp.status_code, "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")


def test_duplicate_experiment_is_400_already_exists(api):
    name = unique("dup")
    assert_ok(api.post("experiments/create", json={"name": name}))
    body = assert_error(api.post("experiments/create", json={"name": name}), 400, "RESOURCE_ALREADY_EXISTS")
    assert name in body["message"]


def test_get_by_name_missing_then_create(api):
    """The exact sequence of mlflow.set_experiment on a new name."""
    name = unique("seq")
    assert_error(api.get("experiments/get-by-name", params={"experiment_name": name}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    exp = assert_ok(api.post("experiments/create", json={"name": name}))["experiment_id"]
    assert isinstance(exp, str) and exp.isdigit()
    got = assert_ok(api.get("experiments/get", params={"experiment_id": exp}))["experiment"]
    assert got["name"] == name and got["experiment_id"] == exp and got["lifecycle_stage"] == "active"
    again = assert_ok(api.get("experiments/get-by-name", params={"experiment_name": name}))["experiment"]
    assert again["experiment_id"] == exp


def test_run_id_and_run_uuid_both_accepted(api, run_id):
    for params in [{"run_id": run_id}, {"run_uuid": run_id}, {"run_id": run_id, "run_uuid": run_id}]:
        assert assert_ok(api.get("runs/get", params=params))["run"]["info"]["run_id"] == run_id
    assert_ok(api.post("runs/log-metric", json={"run_uuid": run_id, "key": "legacy", "value": 2.0,
                                                 "timestamp": now_ms(), "step": 1}))
    hist = assert_ok(api.get("metrics/get-history",
                             params={"run_uuid": run_id, "run_id": run_id, "metric_key": "legacy",
                                     "max_results": 25000}))
    assert [(m["step"], m["value"]) for m in hist["metrics"]] == [(1, 2.0)]
    assert_ok(api.post("runs/update", json={"run_uuid": run_id, "status": "KILLED", "end_time": now_ms()}))
    assert raw_get_run(api, run_id)["info"]["status"] == "KILLED"


def test_logging_to_deleted_run_is_400(api, run_id):
    assert_ok(api.post("runs/delete", json={"run_id": run_id}))
    resp = api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1,
                                             "timestamp": now_ms(), "step": 0})
    assert_error(resp, 400)
    resp = api.post("runs/update", json={"run_id": run_id, "status": "FINISHED"})
    assert_error(resp, 400)
    assert_ok(api.post("runs/restore", json={"run_id": run_id}))
    assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1,
                                                 "timestamp": now_ms(), "step": 0}))


def test_invalid_run_status_never_corrupts_the_run(api, run_id):
    """The official server ignores an unknown status; rejecting it with 400 is fine too."""
    resp = api.post("runs/update", json={"run_id": run_id, "status": "BOGUS"})
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    assert raw_get_run(api, run_id)["info"]["status"] == "RUNNING"


def test_search_experiments_bad_arguments_are_400(api):
    for body in [{"view_type": "SOMETIMES"}, {"max_results": 0}, {"max_results": 50001},
                 {"filter": "name LIKE"}, {"filter": "foo.bar = 'x'"}, {"page_token": "garbage"},
                 {"order_by": ["name SIDEWAYS"]}]:
        resp = api.post("experiments/search", json=body)
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_get_search_experiments_with_query_params(api):
    name = unique("qs")
    assert_ok(api.post("experiments/create", json={"name": name}))
    body = assert_ok(api.get("experiments/search", params={"filter": f"name = '{name}'", "max_results": 5,
                                                            "view_type": "ALL"}))
    assert [e["name"] for e in body["experiments"]] == [name]
    body = assert_ok(api.get("experiments/search", params=[("filter", "name LIKE 'qs-%'"),
                                                           ("order_by", "name DESC"),
                                                           ("order_by", "experiment_id ASC"),
                                                           ("max_results", "1000")]))
    names = [e["name"] for e in body["experiments"]]
    assert name in names and names == sorted(names, reverse=True)


def test_history_takes_any_positive_page_size(api, run_id):
    """As the official server: no upper limit (the client asks for 25000, the UI for more)."""
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": "m", "value": step / 2, "timestamp": 1000 + step, "step": step} for step in range(5)]}))
    everything = assert_ok(api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "m"}))["metrics"]
    for size in (25001, 2**62):
        page = assert_ok(api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "m",
                                                               "max_results": size}))
        assert len(page["metrics"]) == 5 and page["metrics"] == everything and "next_page_token" not in page
    for size in (0, -1):
        resp = api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "m", "max_results": size})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_error_responses_are_json_everywhere(server, api, run_id):
    """Whatever goes wrong, the answer is a JSON object with error_code and message."""
    responses = [
        api.post("runs/create", data=b"garbage", headers={"Content-Type": "application/json"}),
        api.post("runs/log-metric", json={"run_id": run_id, "key": "bad key?", "value": 1,
                                           "timestamp": 1, "step": 0}),
        api.post("runs/search", json={"experiment_ids": ["0"], "filter": "metrics.x >>> 1"}),
        api.get("no/such/thing"),
        api.request("PATCH", "runs/create", json={}),
        api.get("runs/get", params={"run_id": "zz"}),
    ]
    for resp in responses:
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
        assert_error(resp, resp.status_code)
