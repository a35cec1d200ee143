"""Metrics, params and tags: history, special values, latest-value semantics, log-batch
limits, value lengths and key rules."""
from __future__ import annotations

import http.client
import json
import math
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag

from conftest import unique
from tracking_helpers import (as_dict, assert_error, assert_ok, now_ms, raises_mlflow,
                              raw_experiment, raw_get_run, raw_run)


@pytest.fixture
def exp_id(client):
    return client.create_experiment(unique("mpt"))


@pytest.fixture
def run_id(client, exp_id):
    return client.create_run(exp_id).info.run_id


def history(client, run_id, key):
    return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]


# ------------------------------------------------------------------ metric history


def test_metric_history_steps_and_timestamps(client, run_id):
    for step in range(5):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), timestamp=1000 + step, step=step)
    got = client.get_metric_history(run_id, "loss")
    assert [(m.key, m.step, m.timestamp, m.value) for m in got] == \
        [("loss", s, 1000 + s, 1.0 / (s + 1)) for s in range(5)]
    assert client.get_metric_history(run_id, "never-logged") == []


def test_metric_history_is_sorted_not_insertion_order(client, run_id):
    # logged out of order; step order and timestamp order agree
    for step in [3, 0, 4, 1, 2]:
        client.log_metric(run_id, "m", step * 10.0, timestamp=5000 + step, step=step)
    assert history(client, run_id, "m") == [(s, 5000 + s, s * 10.0) for s in range(5)]


def test_metric_history_order_matches_official_server(client, run_id):
    """The official SQL store orders history by timestamp, then step, then value."""
    client.log_batch(run_id, metrics=[
        Metric("m", 1.0, 300, 1),
        Metric("m", 2.0, 100, 2),
        Metric("m", 3.0, 200, 3),
        Metric("m", 4.0, 100, 1),
    ])
    assert history(client, run_id, "m") == [(1, 100, 4.0), (2, 100, 2.0), (3, 200, 3.0), (1, 300, 1.0)]


def test_nan_and_infinities_round_trip(client, api, run_id):
    values = [float("nan"), float("inf"), float("-inf"), 0.0, -0.5, 1e308, -1e-300]
    for step, value in enumerate(values):
        client.log_metric(run_id, "special", value, timestamp=1000 + step, step=step)
    got = client.get_metric_history(run_id, "special")
    assert [m.step for m in got] == list(range(len(values)))
    assert math.isnan(got[0].value)
    assert math.isinf(got[1].value) and got[1].value > 0
    assert math.isinf(got[2].value) and got[2].value < 0
    assert [m.value for m in got[3:]] == values[3:]
    # latest value (highest step) is -1e-300
    assert client.get_run(run_id).data.metrics["special"] == -1e-300
    # each special value is the latest value of its own metric
    for key, value in [("nan", float("nan")), ("pinf", float("inf")), ("ninf", float("-inf"))]:
        client.log_metric(run_id, key, value, step=0)
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == float("inf")
    assert metrics["ninf"] == float("-inf")
    # and on the wire they travel as proto3 JSON strings
    body = assert_ok(api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "special"}))
    wire = {m["step"]: m["value"] for m in body["metrics"]}
    assert wire[0] == "NaN" and wire[1] == "Infinity" and wire[2] == "-Infinity"


def test_latest_values_read_back_exactly_from_get_and_search(client, api, exp_id, run_id):
    """The database writes a run's metrics JSON (PostgreSQL, MySQL): every double reads back as the
    same double, keys as written."""
    values = {"third": 1 / 3, "tenth": 0.1, "sum": 0.1 + 0.2, "tiny": 5e-324, "small": 1e-7, "big": 1.5e300,
              "two-53": 2.0**53 + 2, "long": 123456789.12345679, "neg zero": -0.0,
              "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "a/b.c:d_e": -2.5}
    client.log_batch(run_id, metrics=[Metric(k, v, 1000, 3) for k, v in values.items()])
    runs = [assert_ok(api.get("runs/get", params={"run_id": run_id}))["run"],
            assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id]}))["runs"][0]]
    for run in runs:
        got = {m["key"]: m for m in run["data"]["metrics"]}
        assert set(got) == set(values)
        assert all((m["timestamp"], m["step"]) == (1000, 3) for m in got.values())
        for key, value in values.items():
            wire = got[key]["value"]
            if math.isnan(value) or math.isinf(value):
                assert wire == {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[key]
            else:
                assert wire == value and repr(wire) == repr(value) or key == "neg zero" and wire == 0, key


def test_special_values_via_raw_http(client, api, run_id):
    ts = now_ms()
    for key, value in [("n", "NaN"), ("p", "Infinity"), ("q", "-Infinity")]:
        assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": key, "value": value,
                                                     "timestamp": ts, "step": 0}))
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["n"]) and metrics["p"] == math.inf and metrics["q"] == -math.inf


def test_negative_steps_gaps_and_large_steps(client, run_id):
    steps = [-10, -1, 0, 5, 1000, 2**53 + 1, 2**62]
    for i, step in enumerate(steps):
        client.log_metric(run_id, "s", float(i), timestamp=1000 + i, step=step)
    assert history(client, run_id, "s") == [(step, 1000 + i, float(i)) for i, step in enumerate(steps)]
    assert client.get_run(run_id).data.metrics["s"] == float(len(steps) - 1)


def test_duplicate_steps_with_different_timestamps_are_all_kept(client, run_id):
    client.log_metric(run_id, "d", 1.0, timestamp=100, step=1)
    client.log_metric(run_id, "d", 2.0, timestamp=200, step=1)
    client.log_metric(run_id, "d", 3.0, timestamp=300, step=1)
    assert history(client, run_id, "d") == [(1, 100, 1.0), (1, 200, 2.0), (1, 300, 3.0)]
    assert client.get_run(run_id).data.metrics["d"] == 3.0


def test_identical_metric_logged_twice_is_accepted(client, run_id):
    client.log_metric(run_id, "same", 1.0, timestamp=100, step=1)
    client.log_metric(run_id, "same", 1.0, timestamp=100, step=1)
    client.log_batch(run_id, metrics=[Metric("same", 1.0, 100, 1)])
    assert client.get_run(run_id).data.metrics["same"] == 1.0
    assert {h for h in history(client, run_id, "same")} == {(1, 100, 1.0)}


def test_history_with_more_than_25000_points(client, api, run_id):
    """The client pages the history with max_results=25000: 30,000 points need two pages."""
    total = 30_000
    for start in range(0, total, 1000):
        batch = [{"key": "big", "value": float(i) / 2, "timestamp": 1_000_000 + i, "step": i}
                 for i in range(start, start + 1000)]
        assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": batch}))
    got = client.get_metric_history(run_id, "big")
    assert len(got) == total
    assert [m.step for m in got] == list(range(total))
    assert all(m.value == m.step / 2 and m.timestamp == 1_000_000 + m.step for m in got)
    assert client.get_run(run_id).data.metrics["big"] == (total - 1) / 2
    # the server caps a page at 25000 and says where to continue
    first = assert_ok(api.get("metrics/get-history",
                              params={"run_id": run_id, "metric_key": "big", "max_results": 25000}))
    assert len(first["metrics"]) == 25000 and first.get("next_page_token")
    second = assert_ok(api.get("metrics/get-history", params={
        "run_id": run_id, "metric_key": "big", "max_results": 25000, "page_token": first["next_page_token"]}))
    assert len(second["metrics"]) == 5000 and not second.get("next_page_token")


def test_history_small_pages(client, api, run_id):
    for i in range(23):
        client.log_metric(run_id, "h", float(i), timestamp=10 + i, step=i)
    seen, token = [], None
    for _ in range(10):
        params = {"run_id": run_id, "metric_key": "h", "max_results": 5}
        if token:
            params["page_token"] = token
        body = assert_ok(api.get("metrics/get-history", params=params))
        assert len(body.get("metrics", [])) <= 5
        seen.extend(m["step"] for m in body.get("metrics", []))
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == list(range(23))


def test_history_of_missing_run(api):
    """404 RESOURCE_DOES_NOT_EXIST; the official server answers an empty 200, also fine."""
    resp = api.get("metrics/get-history", params={"run_id": "f" * 32, "metric_key": "m"})
    if resp.status_code == 200:
        assert not resp.json().get("metrics")
    else:
        assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ latest metric


def test_latest_metric_is_highest_step_then_latest_timestamp(client, run_id):
    client.log_metric(run_id, "m", 5.0, timestamp=1000, step=5)
    client.log_metric(run_id, "m", 10.0, timestamp=500, step=10)
    client.log_metric(run_id, "m", 3.0, timestamp=9000, step=3)  # newer, but lower step
    assert client.get_run(run_id).data.metrics["m"] == 10.0
    client.log_metric(run_id, "m", 99.0, timestamp=400, step=10)  # same step, older
    assert client.get_run(run_id).data.metrics["m"] == 10.0
    client.log_metric(run_id, "m", 42.0, timestamp=600, step=10)  # same step, newer
    assert client.get_run(run_id).data.metrics["m"] == 42.0
    client.log_metric(run_id, "m", -1.0, timestamp=1, step=11)  # higher step wins, however old
    assert client.get_run(run_id).data.metrics["m"] == -1.0
    # the same holds when everything arrives in one batch, in any order
    other = client.create_run(client.get_run(run_id).info.experiment_id).info.run_id
    client.log_batch(other, metrics=[Metric("m", 7.0, 50, 2), Metric("m", 8.0, 10, 3),
                                     Metric("m", 9.0, 5, 3), Metric("m", 1.0, 99, 1)])
    assert client.get_run(other).data.metrics["m"] == 8.0


def test_latest_metric_in_search_results(client, exp_id, run_id):
    client.log_metric(run_id, "m", 2.0, timestamp=10, step=2)
    client.log_metric(run_id, "m", 1.0, timestamp=20, step=1)
    [found] = client.search_runs([exp_id], "metrics.m = 2")
    assert found.data.metrics["m"] == 2.0
    assert client.search_runs([exp_id], "metrics.m = 1") == []


def test_fluent_log_metric_with_timestamp(client, exp_id):
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_metric("t", 1.5, step=3, timestamp=1_234_567)
    [m] = client.get_metric_history(run.info.run_id, "t")
    assert (m.step, m.timestamp, m.value) == (3, 1_234_567, 1.5)


# ------------------------------------------------------------------ params


def test_param_cannot_change_but_same_value_is_fine(client, api, run_id):
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # same value again
    client.log_batch(run_id, params=[Param("p", "1")])
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_param(run_id, "p", "2")
    resp = api.post("runs/log-batch", json={"run_id": run_id, "params": [{"key": "p", "value": "3"}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = api.post("runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "4"})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_rejected_param_change_in_batch_stores_nothing(client, api, run_id):
    client.log_param(run_id, "p", "old")
    resp = api.post("runs/log-batch", json={
        "run_id": run_id,
        "params": [{"key": "fresh", "value": "x"}, {"key": "p", "value": "new"}],
        "metrics": [{"key": "m", "value": 1, "timestamp": now_ms(), "step": 0}],
        "tags": [{"key": "t", "value": "y"}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    data = client.get_run(run_id).data
    assert data.params == {"p": "old"}
    assert "m" not in data.metrics and "t" not in data.tags


def test_duplicate_param_keys_in_one_batch_rejected(client, api, run_id):
    for values in (("1", "2"), ("1", "1")):
        resp = api.post("runs/log-batch", json={"run_id": run_id, "params": [
            {"key": "dup", "value": values[0]}, {"key": "dup", "value": values[1]}]})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "dup" not in client.get_run(run_id).data.params


def test_param_value_length_limit(client, api, run_id):
    assert_ok(api.post("runs/log-parameter", json={"run_id": run_id, "key": "ok", "value": "v" * 6000}))
    resp = api.post("runs/log-parameter", json={"run_id": run_id, "key": "long", "value": "v" * 6001})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = api.post("runs/log-batch", json={"run_id": run_id, "params": [{"key": "long2", "value": "v" * 6001}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    params = client.get_run(run_id).data.params
    assert params["ok"] == "v" * 6000
    assert "long" not in params and "long2" not in params


def test_tag_value_length_limit(client, api, run_id):
    assert_ok(api.post("runs/set-tag", json={"run_id": run_id, "key": "ok", "value": "v" * 8000}))
    resp = api.post("runs/set-tag", json={"run_id": run_id, "key": "long", "value": "v" * 8001})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = api.post("runs/log-batch", json={"run_id": run_id, "tags": [{"key": "long2", "value": "v" * 8001}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    tags = client.get_run(run_id).data.tags
    assert tags["ok"] == "v" * 8000
    assert "long" not in tags and "long2" not in tags


def test_unicode_values_round_trip(client, run_id):
    client.log_param(run_id, "lang", "日本語 ü é 🚀")
    client.set_tag(run_id, "emoji", "✓ 🚀")
    client.log_param(run_id, "ü-key", "x")
    data = client.get_run(run_id).data
    assert data.params["lang"] == "日本語 ü é 🚀"
    assert data.params["ü-key"] == "x"
    assert data.tags["emoji"] == "✓ 🚀"


WRITERS = 48


def test_concurrent_writers_of_one_run_lose_no_param_or_tag(client, api, exp_id, run_id):
    """Many clients set params and tags of the same run at once, rename it and delete tags: a
    run read and a search return exactly what was written (each run keeps its params and tags
    as JSON too, rewritten with every write)."""
    def write(i):
        assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "params": [{"key": f"p{i}", "value": str(i)}],
                                                    "tags": [{"key": f"t{i}", "value": str(i)}]}))
        assert_ok(api.post("runs/set-tag", json={"run_id": run_id, "key": f"s{i}", "value": str(i)}))
        if i % 4 == 0:
            assert_ok(api.post("runs/update", json={"run_id": run_id, "run_name": f"name-{i}"}))
    assert_ok(api.post("runs/set-tag", json={"run_id": run_id, "key": "gone", "value": "x"}))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(WRITERS)))
    assert_ok(api.post("runs/delete-tag", json={"run_id": run_id, "key": "gone"}))
    run = raw_get_run(api, run_id)
    name = run["info"]["run_name"]
    expected_tags = {**{f"t{i}": str(i) for i in range(WRITERS)}, **{f"s{i}": str(i) for i in range(WRITERS)},
                     "mlflow.runName": name}
    assert as_dict(run["data"]["params"]) == {f"p{i}": str(i) for i in range(WRITERS)}
    tags = as_dict(run["data"]["tags"])  # the client's create_run adds other mlflow.* tags
    assert {k: v for k, v in tags.items() if not k.startswith("mlflow.") or k == "mlflow.runName"} == expected_tags
    assert name in {f"name-{i}" for i in range(0, WRITERS, 4)}
    found = client.search_runs([exp_id], "params.p5 = '5' and tags.s7 = '7'")
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.params == as_dict(run["data"]["params"])
    assert found[0].data.tags == tags


def test_empty_param_value_is_kept(client, run_id):
    client.log_param(run_id, "empty", "")
    assert client.get_run(run_id).data.params["empty"] == ""


# ------------------------------------------------------------------ key rules

BAD_KEYS = ["a b?", "../x", "/x", "x/", "a//b", "./x", "..", ".", "..x", "a\\b", "k" * 251, "semi;colon"]
GOOD_KEYS = ["a/b", "a.b-c_d e/f", "with:colon", "k" * 250, "x..y", "ü"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k[:12]))
def test_invalid_keys_rejected(api, key):
    exp = raw_experiment(api, unique("keys"))
    run_id = raw_run(api, exp)
    ts = now_ms()
    requests_ = [
        ("runs/log-parameter", {"run_id": run_id, "key": key, "value": "v"}),
        ("runs/log-metric", {"run_id": run_id, "key": key, "value": 1, "timestamp": ts, "step": 0}),
        ("runs/set-tag", {"run_id": run_id, "key": key, "value": "v"}),
        ("runs/log-batch", {"run_id": run_id, "params": [{"key": key, "value": "v"}]}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [{"key": key, "value": 1, "timestamp": ts, "step": 0}]}),
        ("runs/log-batch", {"run_id": run_id, "tags": [{"key": key, "value": "v"}]}),
    ]
    for path, body in requests_:
        assert_error(api.post(path, json=body), 400, "INVALID_PARAMETER_VALUE")
    data = raw_get_run(api, run_id)["data"]
    assert key not in as_dict(data.get("params"))
    assert key not in as_dict(data.get("metrics"))
    assert key not in as_dict(data.get("tags"))


def test_valid_keys_accepted(client, api, run_id):
    ts = now_ms()
    for key in GOOD_KEYS:
        assert_ok(api.post("runs/log-parameter", json={"run_id": run_id, "key": key, "value": "v"}))
        assert_ok(api.post("runs/log-metric", json={"run_id": run_id, "key": key, "value": 1.0,
                                                     "timestamp": ts, "step": 0}))
        assert_ok(api.post("runs/set-tag", json={"run_id": run_id, "key": key, "value": "v"}))
    data = client.get_run(run_id).data
    for key in GOOD_KEYS:
        assert data.params[key] == "v"
        assert data.metrics[key] == 1.0
        assert data.tags[key] == "v"
    assert [m.value for m in client.get_metric_history(run_id, "a.b-c_d e/f")] == [1.0]


# ------------------------------------------------------------------ log-batch limits


def _metrics(n, prefix="m"):
    ts = now_ms()
    return [{"key": f"{prefix}{i}", "value": float(i), "timestamp": ts, "step": 0} for i in range(n)]


def _kv(n, prefix):
    return [{"key": f"{prefix}{i}", "value": "v"} for i in range(n)]


def test_batch_limits_accept_exact_maximum(client, api, run_id):
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": _metrics(1000)}))
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "params": _kv(100, "p")}))
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "tags": _kv(100, "t")}))
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": _metrics(800, "x"),
                                                "params": _kv(100, "q"), "tags": _kv(100, "u")}))
    data = client.get_run(run_id).data
    assert len([k for k in data.metrics if k.startswith("m")]) == 1000
    assert len([k for k in data.metrics if k.startswith("x")]) == 800
    assert len(data.params) == 200
    assert len([k for k in data.tags if k[0] in "tu" and k[1:].isdigit()]) == 200


@pytest.mark.parametrize("body", [
    {"metrics": 1001},
    {"params": 101},
    {"tags": 101},
    {"metrics": 901, "params": 100},
    {"metrics": 1000, "tags": 1},
    {"metrics": 801, "params": 100, "tags": 100},
], ids=lambda b: "+".join(f"{v}{k}" for k, v in b.items()))
def test_batch_over_limit_rejected_and_nothing_stored(api, body):
    exp = raw_experiment(api, unique("limits"))
    run_id = raw_run(api, exp)
    request = {"run_id": run_id}
    if "metrics" in body:
        request["metrics"] = _metrics(body["metrics"], "over")
    if "params" in body:
        request["params"] = _kv(body["params"], "overp")
    if "tags" in body:
        request["tags"] = _kv(body["tags"], "overt")
    assert_error(api.post("runs/log-batch", json=request), 400, "INVALID_PARAMETER_VALUE")
    data = raw_get_run(api, run_id)["data"]
    assert not data.get("metrics") and not data.get("params")
    assert not any(t["key"].startswith("overt") for t in data.get("tags", []))


def test_batch_body_over_1mb_rejected_and_connection_reusable(api, server):
    exp = raw_experiment(api, unique("big"))
    run_id = raw_run(api, exp)
    # 100 tags of 8000 chars + 100 params of 6000 chars: every entity is valid, the body is ~1.4 MB
    request = {"run_id": run_id,
               "tags": [{"key": f"big{i}", "value": "x" * 8000} for i in range(100)],
               "params": [{"key": f"bp{i}", "value": "y" * 6000} for i in range(100)]}
    body = json.dumps(request).encode()
    assert len(body) > 1024 * 1024
    # The official client keeps connections alive: after the rejection, the next request on the
    # same connection must get a proper answer (or the server must have said Connection: close).
    host, port = server.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", "/api/2.0/mlflow/runs/log-batch", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.status == 400, payload[:300]
        assert json.loads(payload)["error_code"] == "INVALID_PARAMETER_VALUE"
        conn.request("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
        follow = conn.getresponse()
        follow_payload = follow.read()
        assert follow.status == 200, follow_payload[:300]
        assert json.loads(follow_payload)["run"]["info"]["run_id"] == run_id
    finally:
        conn.close()
    data = raw_get_run(api, run_id)["data"]
    assert not data.get("params")
    assert not any(t["key"].startswith("big") for t in data.get("tags", []))


def test_client_log_batch_splits_large_batches(client, run_id):
    """MlflowClient.log_batch splits into server-sized requests: 2500 metrics and 250 params work."""
    ts = now_ms()
    client.log_batch(run_id,
                     metrics=[Metric(f"m{i}", float(i), ts, 0) for i in range(2500)],
                     params=[Param(f"p{i}", str(i)) for i in range(250)],
                     tags=[RunTag(f"t{i}", str(i)) for i in range(150)])
    data = client.get_run(run_id).data
    assert len(data.metrics) == 2500 and data.metrics["m2499"] == 2499.0
    assert len(data.params) == 250 and data.params["p249"] == "249"
    assert sum(1 for k in data.tags if k.startswith("t") and k[1:].isdigit()) == 150


def test_log_batch_with_same_key_many_steps(client, run_id):
    client.log_batch(run_id, metrics=[Metric("curve", float(s * s), 1000 + s, s) for s in range(500)])
    got = history(client, run_id, "curve")
    assert got == [(s, 1000 + s, float(s * s)) for s in range(500)]
    assert client.get_run(run_id).data.metrics["curve"] == float(499 * 499)


def test_logging_to_deleted_run_rejected(client, api, run_id):
    client.delete_run(run_id)
    ts = now_ms()
    for path, body in [
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": ts, "step": 0}),
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "v"}),
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": "v"}),
        ("runs/log-batch", {"run_id": run_id, "metrics": _metrics(2)}),
    ]:
        assert_error(api.post(path, json=body), 400, "INVALID_PARAMETER_VALUE", "INVALID_STATE", "BAD_REQUEST")
    data = raw_get_run(api, run_id)["data"]
    assert not data.get("metrics") and not data.get("params")
    assert "t" not in as_dict(data.get("tags"))


def test_logging_to_missing_run_is_404(api):
    missing = "0" * 32
    ts = now_ms()
    for path, body in [
        ("runs/log-metric", {"run_id": missing, "key": "m", "value": 1, "timestamp": ts, "step": 0}),
        ("runs/log-parameter", {"run_id": missing, "key": "p", "value": "v"}),
        ("runs/set-tag", {"run_id": missing, "key": "t", "value": "v"}),
        ("runs/log-batch", {"run_id": missing, "params": [{"key": "p", "value": "v"}]}),
    ]:
        assert_error(api.post(path, json=body), 404, "RESOURCE_DOES_NOT_EXIST")
