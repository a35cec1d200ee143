"""Logged models over raw HTTP: the proto-JSON shapes, finalize, tags, params, soft delete,
runs/outputs and model inputs on runs/get, metrics logged for a model, search (filters,
datasets, order_by, keyset pages), and every error's status and error_code."""
from __future__ import annotations

import re
import time

import pytest
import requests
from conftest import unique
from models_support import (
    MODEL_ID,
    assert_error,
    assert_ok,
    create_model,
    finalize,
    get_model,
    now_ms,
    pairs,
    raw_experiment,
    raw_run,
    search,
    search_ids,
)

MISSING = "m-" + "0" * 32


@pytest.fixture
def exp_id(api):
    return raw_experiment(api, unique("lm"))


@pytest.fixture
def run_id(api, exp_id):
    return raw_run(api, exp_id)


def run_of(api, run_id: str) -> dict:
    return assert_ok(api.get("runs/get", params={"run_id": run_id}))["run"]


def log_metric(api, run_id: str, key: str, value, **fields):
    return api.post("runs/log-metric", json={"run_id": run_id, "key": key, "value": value,
                                             "timestamp": fields.pop("timestamp", now_ms()), **fields})


# ------------------------------------------------------------------ create, get, finalize


def test_create_answers_a_pending_model_under_the_experiment(api, exp_id, run_id):
    experiment = assert_ok(api.get("experiments/get", params={"experiment_id": exp_id}))["experiment"]
    before = now_ms()
    model = create_model(api, exp_id, name="clf", model_type="sklearn", source_run_id=run_id,
                         params={"alpha": "0.5"}, tags={"team": "vision"})
    info = model["info"]
    assert MODEL_ID.match(info["model_id"])
    assert info["artifact_uri"] == f"{experiment['artifact_location']}/models/{info['model_id']}/artifacts"
    assert info["artifact_uri"].startswith(f"mlflow-artifacts:/{exp_id}/models/m-")
    assert (info["experiment_id"], info["name"], info["model_type"], info["source_run_id"], info["status"]) == \
        (exp_id, "clf", "sklearn", run_id, "LOGGED_MODEL_PENDING")
    assert before <= info["creation_timestamp_ms"] == info["last_updated_timestamp_ms"] <= now_ms()
    assert pairs(info["tags"]) == {"team": "vision"}
    assert model["data"] == {"params": [{"key": "alpha", "value": "0.5"}]}
    assert get_model(api, info["model_id"]) == model


def test_name_is_generated_when_absent_and_ids_are_unique(api, exp_id):
    first, second = (create_model(api, exp_id)["info"] for _ in range(2))
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", first["name"]), first["name"]
    assert first["model_id"] != second["model_id"]
    assert create_model(api, exp_id, name="")["info"]["name"]
    # optional fields a model was created without stay out of the JSON
    assert not {"model_type", "source_run_id", "status_message", "tags"} & set(first)


@pytest.mark.parametrize("status, stored", [
    ("LOGGED_MODEL_READY", "LOGGED_MODEL_READY"),
    ("LOGGED_MODEL_UPLOAD_FAILED", "LOGGED_MODEL_UPLOAD_FAILED"),
    (2, "LOGGED_MODEL_READY"),
])
def test_finalize_sets_the_status(api, exp_id, status, stored):
    created = create_model(api, exp_id)["info"]
    model = finalize(api, created["model_id"], status)
    assert model["info"]["status"] == stored
    assert model["info"]["last_updated_timestamp_ms"] >= created["creation_timestamp_ms"]
    assert get_model(api, created["model_id"])["info"]["status"] == stored


def test_ajax_api_mirror(server, api, exp_id):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    resp = requests.get(f"{server.url}/ajax-api/2.0/mlflow/logged-models/{model_id}", timeout=10)
    assert resp.status_code == 200 and resp.json()["model"]["info"]["model_id"] == model_id


# ------------------------------------------------------------------ tags, params, delete


def test_tags_set_overwrite_and_delete(api, exp_id):
    model_id = create_model(api, exp_id, tags={"a": "1"})["info"]["model_id"]
    tags = [{"key": "a", "value": "2"}, {"key": "dir/key", "value": "x"}, {"key": "empty", "value": ""}]
    assert assert_ok(api.request("PATCH", f"logged-models/{model_id}/tags", json={"tags": tags})) == {}
    assert pairs(get_model(api, model_id)["info"]["tags"]) == {"a": "2", "dir/key": "x", "empty": ""}
    assert assert_ok(api.request("DELETE", f"logged-models/{model_id}/tags/dir/key")) == {}
    assert_ok(api.request("DELETE", f"logged-models/{model_id}/tags/a"))
    assert pairs(get_model(api, model_id)["info"]["tags"]) == {"empty": ""}
    body = assert_error(api.request("DELETE", f"logged-models/{model_id}/tags/a"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "a" in body["message"]


def test_params_are_added_and_never_change(api, exp_id):
    model_id = create_model(api, exp_id, params={"lr": "0.1"})["info"]["model_id"]
    body = {"model_id": model_id, "params": [{"key": "depth", "value": "3"}, {"key": "lr", "value": "0.1"}]}
    assert assert_ok(api.post(f"logged-models/{model_id}/params", json=body)) == {}
    assert pairs(get_model(api, model_id)["data"]["params"]) == {"lr": "0.1", "depth": "3"}
    changed = api.post(f"logged-models/{model_id}/params", json={"params": [{"key": "lr", "value": "0.2"}]})
    assert "lr" in assert_error(changed, 400, "INVALID_PARAMETER_VALUE")["message"]
    assert pairs(get_model(api, model_id)["data"]["params"]) == {"lr": "0.1", "depth": "3"}


def test_delete_is_soft(api, exp_id, run_id):
    model_id = create_model(api, exp_id, name="gone")["info"]["model_id"]
    assert_ok(api.post("runs/outputs", json={"run_id": run_id, "models": [{"model_id": model_id}]}))
    assert assert_ok(api.request("DELETE", f"logged-models/{model_id}")) == {}
    assert_error(api.get(f"logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert get_model(api, model_id, allow_deleted="true")["info"]["name"] == "gone"
    assert search_ids(api, [exp_id]) == []
    for method, path, body in (("DELETE", "", None), ("PATCH", "", {"status": "LOGGED_MODEL_READY"}),
                               ("PATCH", "/tags", {"tags": [{"key": "k", "value": "v"}]}),
                               ("POST", "/params", {"params": [{"key": "k", "value": "v"}]})):
        assert_error(api.request(method, f"logged-models/{model_id}{path}", json=body), 404,
                     "RESOURCE_DOES_NOT_EXIST")
    # the run still tells which model it produced
    assert run_of(api, run_id)["outputs"]["model_outputs"] == [{"model_id": model_id, "step": 0}]


# ------------------------------------------------------------------ runs: outputs, inputs, metrics


def test_run_outputs_and_model_inputs(api, exp_id, run_id):
    produced, used = (create_model(api, exp_id)["info"]["model_id"] for _ in range(2))
    assert assert_ok(api.post("runs/outputs", json={"run_id": run_id,
                                                    "models": [{"model_id": produced, "step": 7}]})) == {}
    assert assert_ok(api.post("runs/log-inputs", json={"run_id": run_id, "models": [{"model_id": used}]})) == {}
    for _ in range(2):  # linking again changes nothing
        assert_ok(api.post("runs/outputs", json={"run_id": run_id, "models": [{"model_id": produced, "step": 7}]}))
        assert_ok(api.post("runs/log-inputs", json={"run_id": run_id, "models": [{"model_id": used}]}))
    run = run_of(api, run_id)
    assert run["outputs"] == {"model_outputs": [{"model_id": produced, "step": 7}]}
    assert run["inputs"] == {"model_inputs": [{"model_id": used}]}
    [found] = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id]}))["runs"]
    assert found["outputs"] == run["outputs"] and found["inputs"] == run["inputs"]
    assert run_of(api, raw_run(api, exp_id))["outputs"] == {}


def test_metrics_logged_for_a_model(api, exp_id, run_id):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    assert_ok(log_metric(api, run_id, "loss", 0.5, step=1, timestamp=1000, model_id=model_id,
                         dataset_name="val", dataset_digest="abc"))
    batch = [{"key": "loss", "value": 0.25, "timestamp": 2000, "step": 2, "model_id": model_id},
             {"key": "loss", "value": "NaN", "timestamp": 3000, "step": 3, "model_id": model_id},
             {"key": "plain", "value": 1.0, "timestamp": 2000, "step": 0}]
    assert_ok(api.post("runs/log-batch", json={"run_id": run_id, "metrics": batch}))
    points = sorted(get_model(api, model_id)["data"]["metrics"], key=lambda m: m["step"])
    assert points == [
        {"key": "loss", "value": 0.5, "timestamp": 1000, "step": 1, "run_id": run_id, "model_id": model_id,
         "dataset_name": "val", "dataset_digest": "abc"},
        {"key": "loss", "value": 0.25, "timestamp": 2000, "step": 2, "run_id": run_id, "model_id": model_id},
        {"key": "loss", "value": "NaN", "timestamp": 3000, "step": 3, "run_id": run_id, "model_id": model_id},
    ]
    # the run has every point as usual
    history = assert_ok(api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}))
    assert [m["step"] for m in history["metrics"]] == [1, 2, 3]


def test_metric_for_an_unknown_model_logs_nothing(api, run_id):
    assert_error(log_metric(api, run_id, "m", 1.0, model_id=MISSING), 404, "RESOURCE_DOES_NOT_EXIST")
    batch = [{"key": "a", "value": 1.0, "timestamp": now_ms()},
             {"key": "b", "value": 1.0, "timestamp": now_ms(), "model_id": MISSING}]
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": batch}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert "metrics" not in run_of(api, run_id)["data"]


# ------------------------------------------------------------------ search


@pytest.fixture
def catalog(api, exp_id):
    """Four models in a fresh experiment: {name: model_id}, created in the order a, b, c, d."""
    run_a, run_b = raw_run(api, exp_id), raw_run(api, exp_id)
    specs = {
        "a": dict(model_type="sklearn", source_run_id=run_a, params={"depth": "3"}, tags={"env": "prod"}),
        "b": dict(model_type="sklearn", source_run_id=run_b, params={"depth": "5"}, tags={"env": "dev"}),
        "c": dict(model_type="torch", params={"depth": "3"}),
        "d": dict(),
    }
    ids = {}
    for name, fields in specs.items():
        time.sleep(0.002)  # distinct creation times: the default order is newest first
        ids[name] = create_model(api, exp_id, name=name, **fields)["info"]["model_id"]
    finalize(api, ids["a"])
    finalize(api, ids["b"])
    finalize(api, ids["c"], "LOGGED_MODEL_UPLOAD_FAILED")
    # accuracy per dataset: a 0.6 on train, later 0.9 on test; b 0.8 on test; c 0.95 on train; d none
    for name, value, dataset, timestamp in (("a", 0.6, "train", 1000), ("a", 0.9, "test", 2000),
                                            ("b", 0.8, "test", 1500), ("c", 0.95, "train", 1000)):
        assert_ok(log_metric(api, run_a, "accuracy", value, timestamp=timestamp, model_id=ids[name],
                             dataset_name=dataset, dataset_digest=f"{dataset}-digest"))
    return {"ids": ids, "runs": (run_a, run_b)}


def names(api, exp_id, ids, **body) -> list[str]:
    by_id = {model_id: name for name, model_id in ids.items()}
    return [by_id[model_id] for model_id in search_ids(api, [exp_id], **body)]


@pytest.mark.parametrize("text, expected", [
    ("name = 'b'", ["b"]),
    ("name != 'b'", ["d", "c", "a"]),
    ("name LIKE '%'", ["d", "c", "b", "a"]),
    ("name IN ('a', 'c', 'x')", ["c", "a"]),
    ("name NOT IN ('a', 'c')", ["d", "b"]),
    ("model_type = 'sklearn'", ["b", "a"]),
    ("status = 'LOGGED_MODEL_READY'", ["b", "a"]),
    ("status = 'READY'", ["b", "a"]),
    ("status = 'PENDING'", ["d"]),
    ("attributes.status != 'FAILED'", ["d", "b", "a"]),
    ("params.depth = '3'", ["c", "a"]),
    ("params.depth = '3' AND model_type = 'torch'", ["c"]),
    ("tags.env = 'prod'", ["a"]),
    ("tags.env IN ('prod', 'dev')", ["b", "a"]),
    ("metrics.accuracy > 0.85", ["c", "a"]),
    ("metrics.accuracy <= 0.6", ["a"]),
    ("metrics.accuracy > 0.85 AND params.depth = '3'", ["c", "a"]),
    ("creation_timestamp > 0", ["d", "c", "b", "a"]),
])
def test_search_filter(api, exp_id, catalog, text, expected):
    assert names(api, exp_id, catalog["ids"], filter=text) == expected


def test_search_filter_on_ids_and_times(api, exp_id, catalog):
    ids, (run_a, _) = catalog["ids"], catalog["runs"]
    assert names(api, exp_id, ids, filter=f"source_run_id = '{run_a}'") == ["a"]
    assert names(api, exp_id, ids, filter=f"model_id = '{ids['c']}'") == ["c"]
    created = get_model(api, ids["c"])["info"]["creation_timestamp_ms"]
    assert set(names(api, exp_id, ids, filter=f"creation_timestamp_ms >= {created}")) == {"c", "d"}
    updated = get_model(api, ids["a"])["info"]["last_updated_timestamp_ms"]
    assert "a" in names(api, exp_id, ids, filter=f"last_updated_timestamp = {updated}")


def test_search_datasets_narrow_metric_filters(api, exp_id, catalog):
    ids = catalog["ids"]
    assert names(api, exp_id, ids, filter="metrics.accuracy > 0.85", datasets=[{"dataset_name": "test"}]) == ["a"]
    assert names(api, exp_id, ids, filter="metrics.accuracy > 0.7",
                 datasets=[{"dataset_name": "test", "dataset_digest": "test-digest"}]) == ["b", "a"]
    assert names(api, exp_id, ids, filter="metrics.accuracy > 0.7",
                 datasets=[{"dataset_name": "test", "dataset_digest": "other"}]) == []
    # without a metric filter: the models with any metric on the datasets
    assert names(api, exp_id, ids, datasets=[{"dataset_name": "train"}]) == ["c", "a"]


def test_search_order_by(api, exp_id, catalog):
    ids = catalog["ids"]
    assert names(api, exp_id, ids) == ["d", "c", "b", "a"]  # newest first
    assert names(api, exp_id, ids, order_by=[{"field_name": "name"}]) == ["a", "b", "c", "d"]
    assert names(api, exp_id, ids, order_by=[{"field_name": "name", "ascending": False}]) == ["d", "c", "b", "a"]
    assert names(api, exp_id, ids, order_by=[{"field_name": "creation_timestamp", "ascending": True}]) == \
        ["a", "b", "c", "d"]
    # models without the key come last, whichever the direction
    assert names(api, exp_id, ids, order_by=[{"field_name": "model_type"}, {"field_name": "name"}]) == \
        ["a", "b", "c", "d"]
    # a metric: each model's latest point, on the dataset when one is named
    by_accuracy = [{"field_name": "metrics.accuracy", "ascending": False}]
    assert names(api, exp_id, ids, order_by=by_accuracy) == ["c", "a", "b", "d"]
    on_test = [{**by_accuracy[0], "dataset_name": "test"}]
    assert names(api, exp_id, ids, order_by=on_test) == ["a", "b", "d", "c"]
    on_train = [{"field_name": "metrics.accuracy", "dataset_name": "train", "dataset_digest": "train-digest"}]
    assert names(api, exp_id, ids, order_by=on_train) == ["a", "c", "d", "b"]


def test_search_order_by_metric_takes_the_latest_point(api, exp_id, run_id):
    first, second = (create_model(api, exp_id)["info"]["model_id"] for _ in range(2))
    for model_id, points in ((first, [(1000, 0.1), (3000, 0.9)]), (second, [(2000, 0.5)])):
        for timestamp, value in points:
            assert_ok(log_metric(api, run_id, "score", value, timestamp=timestamp, model_id=model_id))
    order = [{"field_name": "metrics.score", "ascending": False}]
    assert search_ids(api, [exp_id], order_by=order) == [first, second]


def test_search_pages_by_keyset(api, exp_id):
    for i in range(7):
        create_model(api, exp_id, name=f"n{i * 2:02d}")
    order = [{"field_name": "name"}]
    seen, token, pages = [], None, 0
    while True:
        found, token = search(api, [exp_id], order_by=order, max_results=3, **({"page_token": token} if token else {}))
        seen += [m["info"]["name"] for m in found]
        pages += 1
        if pages == 1:  # a model inserted before the page boundary neither repeats nor shifts anything
            create_model(api, exp_id, name="n01")
        if not token:
            break
    assert seen == [f"n{i * 2:02d}" for i in range(7)] and pages == 3


def test_search_pages_through_metric_ranks(api, exp_id, run_id):
    """Pages ordered by a metric continue across numbers, NaN and missing values."""
    scores = {"p": 0.3, "q": "NaN", "r": None, "s": 0.7, "t": 0.5, "u": None, "v": 0.7}
    ids = {}
    for name, score in scores.items():
        time.sleep(0.002)
        ids[name] = create_model(api, exp_id, name=name)["info"]["model_id"]
        if score is not None:
            assert_ok(log_metric(api, run_id, "score", score, model_id=ids[name]))
    order = [{"field_name": "metrics.score", "ascending": False}]
    expected = names(api, exp_id, ids, order_by=order)
    # equal scores: newest first; then NaN; then no score, newest first
    assert expected == ["v", "s", "t", "p", "q", "u", "r"]
    paged, token = [], None
    while True:
        found, token = search(api, [exp_id], order_by=order, max_results=2, **({"page_token": token} if token else {}))
        paged += [m["info"]["name"] for m in found]
        if not token:
            break
    assert paged == expected


def test_search_across_experiments_and_default_page_size(api, exp_id):
    other = raw_experiment(api, unique("lm"))
    mine, theirs = create_model(api, exp_id)["info"]["model_id"], create_model(api, other)["info"]["model_id"]
    assert set(search_ids(api, [exp_id, other])) == {mine, theirs}
    assert search_ids(api, [other]) == [theirs]
    for _ in range(100):
        create_model(api, other)
    found, token = search(api, [other])
    assert len(found) == 100 and token


# ------------------------------------------------------------------ errors


def test_unknown_model_is_404_everywhere(api, run_id):
    for method, path, body in (
            ("GET", f"logged-models/{MISSING}", None),
            ("PATCH", f"logged-models/{MISSING}", {"status": "LOGGED_MODEL_READY"}),
            ("DELETE", f"logged-models/{MISSING}", None),
            ("PATCH", f"logged-models/{MISSING}/tags", {"tags": [{"key": "k", "value": "v"}]}),
            ("DELETE", f"logged-models/{MISSING}/tags/k", None),
            ("POST", f"logged-models/{MISSING}/params", {"params": [{"key": "k", "value": "v"}]}),
            ("POST", "runs/outputs", {"run_id": run_id, "models": [{"model_id": MISSING}]}),
            ("POST", "runs/log-inputs", {"run_id": run_id, "models": [{"model_id": MISSING}]})):
        body = assert_error(api.request(method, path, json=body), 404, "RESOURCE_DOES_NOT_EXIST")
        assert MISSING in body["message"], (method, path, body)
    assert run_of(api, run_id)["outputs"] == {} and run_of(api, run_id)["inputs"] == {}


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "INVALID_PARAMETER_VALUE"),
    ({"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE"),
    ({"experiment_id": "987654"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ({"name": "a/b"}, 400, "INVALID_PARAMETER_VALUE"),
    ({"name": "v1.2"}, 400, "INVALID_PARAMETER_VALUE"),
    ({"name": "x" * 501}, 400, "INVALID_PARAMETER_VALUE"),
    ({"model_type": "t" * 501}, 400, "INVALID_PARAMETER_VALUE"),
    ({"source_run_id": "r" * 33}, 400, "INVALID_PARAMETER_VALUE"),
    ({"tags": [{"key": "bad key!", "value": "v"}]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"tags": [{"key": "../x", "value": "v"}]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"tags": [{"key": "k", "value": "v" * 8001}]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"params": [{"key": "k", "value": "v" * 6001}]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"params": [{"key": "k"}]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"params": [{"key": f"k{i}", "value": "v"} for i in range(101)]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"params": "not a list"}, 400, "INVALID_PARAMETER_VALUE"),
    ({"tags": [{"key": "k", "value": {"nested": 1}}]}, 400, "INVALID_PARAMETER_VALUE"),
])
def test_create_rejects(api, exp_id, body, status, code):
    body = {"experiment_id": exp_id, **body} if "experiment_id" not in body and body else body
    assert_error(api.post("logged-models", json=body), status, code)
    assert search_ids(api, [exp_id]) == []


def test_create_in_a_deleted_experiment(api, exp_id):
    assert_ok(api.post("experiments/delete", json={"experiment_id": exp_id}))
    assert_error(api.post("logged-models", json={"experiment_id": exp_id}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("status", ["LOGGED_MODEL_PENDING", "LOGGED_MODEL_STATUS_UNSPECIFIED", "DONE", 0, 9, None])
def test_finalize_rejects_unknown_statuses(api, exp_id, status):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    assert_error(api.request("PATCH", f"logged-models/{model_id}", json={"status": status}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert get_model(api, model_id)["info"]["status"] == "LOGGED_MODEL_PENDING"


def test_tag_and_param_errors(api, exp_id):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    for path, method, body in ((f"logged-models/{model_id}/tags", "PATCH", {"tags": [{"key": "a b!", "value": "v"}]}),
                               (f"logged-models/{model_id}/tags", "PATCH", {"tags": [{"value": "v"}]}),
                               (f"logged-models/{model_id}/params", "POST", {"params": [{"key": "/x", "value": "v"}]}),
                               (f"logged-models/{model_id}/params", "POST", {"params": [{"key": "k", "value": None}]})):
        assert_error(api.request(method, path, json=body), 400, "INVALID_PARAMETER_VALUE")
    model = get_model(api, model_id)
    assert "tags" not in model["info"] and model["data"] == {}


@pytest.mark.parametrize("body", [
    {},
    {"experiment_ids": []},
    {"experiment_ids": ["x"]},
    {"filter": "name = "},
    {"filter": "nonsense = 'x'"},
    {"filter": "metrics.accuracy = 'high'"},
    {"filter": "name > 'a'"},
    {"filter": "datasets.name = 'x'"},
    {"filter": "params.depth IS NULL"},
    {"order_by": [{"field_name": "params.depth"}]},
    {"order_by": [{"field_name": "nonsense"}]},
    {"order_by": [{"ascending": True}]},
    {"order_by": [{"field_name": "metrics.acc", "dataset_digest": "d"}]},
    {"order_by": [{"field_name": "name", "dataset_name": "test"}]},
    {"datasets": [{"dataset_digest": "d"}]},
    {"max_results": 0},
    {"max_results": 50001},
    {"page_token": "not-a-token"},
])
def test_search_rejects(api, exp_id, body):
    body = body if "experiment_ids" in body or not body else {"experiment_ids": [exp_id], **body}
    assert_error(api.post("logged-models/search", json=body), 400, "INVALID_PARAMETER_VALUE")


def test_page_token_of_another_search_is_rejected(api, exp_id):
    for _ in range(3):
        create_model(api, exp_id)
    _, token = search(api, [exp_id], max_results=1)
    bad = api.post("logged-models/search", json={"experiment_ids": [exp_id], "page_token": token,
                                                 "order_by": [{"field_name": "metrics.x"}]})
    assert_error(bad, 400, "INVALID_PARAMETER_VALUE")


def test_run_link_errors(api, exp_id, run_id):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    for path, body, status, code in (
            ("runs/outputs", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE"),
            ("runs/outputs", {"run_id": run_id, "models": [{"step": 1}]}, 400, "INVALID_PARAMETER_VALUE"),
            ("runs/outputs", {"models": [{"model_id": model_id}]}, 400, "INVALID_PARAMETER_VALUE"),
            ("runs/outputs", {"run_id": "f" * 32, "models": [{"model_id": model_id}]}, 404, "RESOURCE_DOES_NOT_EXIST"),
            ("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": "x"}]}, 400,
             "INVALID_PARAMETER_VALUE"),
            ("runs/log-inputs", {"run_id": run_id, "models": [{}]}, 400, "INVALID_PARAMETER_VALUE"),
            ("runs/log-inputs", {"run_id": "f" * 32, "models": [{"model_id": model_id}]}, 404,
             "RESOURCE_DOES_NOT_EXIST")):
        assert_error(api.post(path, json=body), status, code)
    assert_ok(api.post("runs/delete", json={"run_id": run_id}))
    assert_error(api.post("runs/outputs", json={"run_id": run_id, "models": [{"model_id": model_id}]}), 400,
                 "INVALID_PARAMETER_VALUE")


def test_metric_dataset_fields_are_checked(api, exp_id, run_id):
    model_id = create_model(api, exp_id)["info"]["model_id"]
    assert_error(log_metric(api, run_id, "m", 1.0, model_id=model_id, dataset_name="n" * 501), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(log_metric(api, run_id, "m", 1.0, model_id=model_id, dataset_digest="d" * 37), 400,
                 "INVALID_PARAMETER_VALUE")
    assert "metrics" not in get_model(api, model_id)["data"]
