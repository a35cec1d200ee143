"""search_runs as a user calls it: MlflowClient.search_runs and the pandas
mlflow.search_runs, with filters, ordering, view types, paging, several experiments."""
from __future__ import annotations

import base64
import json
import math
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

from conftest import unique
from tracking_helpers import assert_error, assert_ok


@pytest.fixture(scope="module")
def data(server):
    """Experiment A: runs r1..r4 active, r5 deleted. Experiment B: r6."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        return _build_data(MlflowClient(server.url))


def _build_data(c):
    a = c.create_experiment(unique("searchA"))
    b = c.create_experiment(unique("searchB"))
    specs = {
        "r1": dict(exp=a, name="alpha", start=1000, status="FINISHED",
                   params={"p": "x", "model": "cnn", "my param": "v1"},
                   metrics={"m": 0.9, "acc": 0.5, "a.b": 1.0}, tags={"t": "y", "tag with space": "s"}),
        "r2": dict(exp=a, name="beta", start=2000, status="FAILED",
                   params={"p": "y", "model": "CNN-large"}, metrics={"m": 0.2}, tags={"t": "z"}),
        "r3": dict(exp=a, name="gamma", start=3000, status="RUNNING",
                   params={"p": "x", "model": "rnn"}, metrics={"m": 0.7}, tags={}),
        "r4": dict(exp=a, name="delta", start=4000, status="FINISHED",
                   params={}, metrics={"acc": 0.8}, tags={"t": "y"}),
        "r5": dict(exp=a, name="deleted-one", start=5000, status="FINISHED",
                   params={"p": "x"}, metrics={"m": 1.0}, tags={}),
        "r6": dict(exp=b, name="other", start=6000, status="FINISHED",
                   params={"p": "x"}, metrics={"m": 0.6}, tags={}),
    }
    ids = {}
    for label, spec in specs.items():
        run = c.create_run(spec["exp"], start_time=spec["start"], run_name=spec["name"])
        run_id = run.info.run_id
        c.log_batch(run_id,
                    metrics=[Metric(k, v, spec["start"] + 1, 0) for k, v in spec["metrics"].items()],
                    params=[Param(k, v) for k, v in spec["params"].items()],
                    tags=[RunTag(k, v) for k, v in spec["tags"].items()])
        if spec["status"] != "RUNNING":
            c.set_terminated(run_id, status=spec["status"], end_time=spec["start"] + 500)
        ids[label] = run_id
    c.delete_run(ids["r5"])
    label_of = {v: k for k, v in ids.items()}
    return SimpleNamespace(a=a, b=b, ids=ids, label_of=label_of,
                           names={a: c.get_experiment(a).name, b: c.get_experiment(b).name})


def labels(data, runs):
    return [data.label_of[r.info.run_id] for r in runs]


def search(client, data, flt="", exps=None, **kw):
    return labels(data, client.search_runs(exps or [data.a], flt, **kw))


FILTER_CASES = [
    ("", {"r1", "r2", "r3", "r4"}),
    ("metrics.m > 0.5", {"r1", "r3"}),
    ("metrics.m <= 0.2", {"r2"}),
    ("metrics.m = 0.9", {"r1"}),
    ("metrics.m != 0.9", {"r2", "r3"}),
    ("metrics.acc >= 0.5", {"r1", "r4"}),
    ("params.p = 'x'", {"r1", "r3"}),
    ('params.p = "x"', {"r1", "r3"}),
    ("params.p != 'x'", {"r2"}),
    ("tags.t != 'y'", {"r2"}),
    ("tags.t = 'y'", {"r1", "r4"}),
    ("attributes.status = 'FINISHED'", {"r1", "r4"}),
    ("attributes.status != 'FINISHED'", {"r2", "r3"}),
    ("status = 'FAILED'", {"r2"}),
    ("attributes.run_name = 'alpha'", {"r1"}),
    ("attributes.run_name LIKE '%ta'", {"r2", "r4"}),
    ("tags.mlflow.runName = 'gamma'", {"r3"}),
    ("tags.`mlflow.runName` = 'gamma'", {"r3"}),
    ("params.model LIKE 'cnn%'", {"r1"}),
    ("params.model LIKE 'CNN%'", {"r2"}),
    ("params.model ILIKE 'cnn%'", {"r1", "r2"}),
    ("params.model LIKE '%n%'", {"r1", "r3"}),
    ("params.`my param` = 'v1'", {"r1"}),
    ("metrics.`a.b` >= 1", {"r1"}),
    ("tags.`tag with space` = 's'", {"r1"}),
    ("attributes.start_time >= 3000", {"r3", "r4"}),
    ("attributes.start_time < 2000", {"r1"}),
    ("attributes.end_time = 1500", {"r1"}),
    ("metrics.m > 0.1 AND params.p = 'x' AND attributes.status != 'RUNNING'", {"r1"}),
    ("metrics.m > 0.5 and params.model = 'rnn'", {"r3"}),
    ("metrics.nope > 0", set()),
    ("params.p = 'no-such-value'", set()),
]


@pytest.mark.parametrize("flt, expected", [
    pytest.param(f, e, id=f or "(no filter)") for f, e in FILTER_CASES])
def test_filters(client, data, flt, expected):
    found = search(client, data, flt)
    assert len(found) == len(set(found))
    assert set(found) == expected, flt


def test_filter_run_id_in(client, data):
    r1, r4 = data.ids["r1"], data.ids["r4"]
    assert set(search(client, data, f"attributes.run_id IN ('{r1}', '{r4}')")) == {"r1", "r4"}
    assert set(search(client, data, f"attributes.run_id = '{r1}'")) == {"r1"}
    assert set(search(client, data, f"attributes.run_id NOT IN ('{r1}', '{r4}')")) == {"r2", "r3"}
    # a deleted run is only found when deleted runs are asked for
    r5 = data.ids["r5"]
    assert search(client, data, f"attributes.run_id IN ('{r5}')") == []
    assert search(client, data, f"attributes.run_id IN ('{r5}')", run_view_type=ViewType.ALL) == ["r5"]


ORDER_CASES = [
    (None, ["r4", "r3", "r2", "r1"]),  # newest start_time first
    (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4"]),
    (["start_time DESC"], ["r4", "r3", "r2", "r1"]),
    (["metrics.m DESC"], ["r1", "r3", "r2", "r4"]),  # runs without the metric last
    (["metrics.m ASC"], ["r2", "r3", "r1", "r4"]),  # ... in both directions
    (["metrics.m"], ["r2", "r3", "r1", "r4"]),
    (["params.p ASC"], ["r3", "r1", "r2", "r4"]),  # ties broken by start_time DESC
    (["params.p DESC", "attributes.start_time ASC"], ["r2", "r1", "r3", "r4"]),
    (["attributes.run_name ASC"], ["r1", "r2", "r4", "r3"]),
    (["tags.t DESC"], ["r2", "r4", "r1", "r3"]),
    (["metrics.`a.b` DESC"], ["r1", "r4", "r3", "r2"]),
]


@pytest.mark.parametrize("order_by, expected", [
    pytest.param(o, e, id=" + ".join(o) if o else "default") for o, e in ORDER_CASES])
def test_order_by(client, data, order_by, expected):
    assert search(client, data, order_by=order_by) == expected


def test_order_by_metric_with_special_values(client):
    """Real values (infinities included) first, then NaN, then runs without the metric."""
    exp = client.create_experiment(unique("nanorder"))
    values = {"one": 1.0, "nan": float("nan"), "three": 3.0, "pinf": float("inf"),
              "ninf": float("-inf"), "missing": None}
    ids = {}
    for i, (name, value) in enumerate(values.items()):
        run = client.create_run(exp, start_time=1000 + i, run_name=name)
        if value is not None:
            client.log_metric(run.info.run_id, "v", value, timestamp=1, step=0)
        ids[run.info.run_id] = name
    def order(direction):
        return [ids[r.info.run_id] for r in client.search_runs([exp], order_by=[f"metrics.v {direction}"])]
    assert order("DESC") == ["pinf", "three", "one", "ninf", "nan", "missing"]
    assert order("ASC") == ["ninf", "one", "three", "pinf", "nan", "missing"]


def test_view_types(client, data):
    assert set(search(client, data, run_view_type=ViewType.ACTIVE_ONLY)) == {"r1", "r2", "r3", "r4"}
    assert search(client, data, run_view_type=ViewType.DELETED_ONLY) == ["r5"]
    assert set(search(client, data, run_view_type=ViewType.ALL)) == {"r1", "r2", "r3", "r4", "r5"}
    assert set(search(client, data, "metrics.m >= 0.9", run_view_type=ViewType.ALL)) == {"r1", "r5"}


def test_several_experiments(client, data):
    assert set(search(client, data, "params.p = 'x'", exps=[data.a, data.b])) == {"r1", "r3", "r6"}
    assert search(client, data, "metrics.m > 0.5", exps=[data.a, data.b],
                  order_by=["metrics.m ASC"]) == ["r6", "r3", "r1"]
    assert search(client, data, exps=[data.b]) == ["r6"]


def test_max_results_limits(client, data):
    assert search(client, data, max_results=2) == ["r4", "r3"]
    page = client.search_runs([data.a], max_results=2)
    assert page.token
    rest = client.search_runs([data.a], max_results=2, page_token=page.token)
    assert labels(data, rest) == ["r2", "r1"]
    last = client.search_runs([data.a], max_results=10)
    assert len(last) == 4 and not last.token


def test_run_contents_in_search_results(client, data):
    [run] = client.search_runs([data.a], "attributes.run_name = 'alpha'")
    assert run.info.run_id == data.ids["r1"]
    assert run.info.status == "FINISHED"
    assert run.info.start_time == 1000 and run.info.end_time == 1500
    assert run.data.params == {"p": "x", "model": "cnn", "my param": "v1"}
    assert run.data.metrics == {"m": 0.9, "acc": 0.5, "a.b": 1.0}
    assert run.data.tags["t"] == "y" and run.data.tags["mlflow.runName"] == "alpha"


def test_fluent_search_runs_dataframe(client, data):
    df = mlflow.search_runs(experiment_ids=[data.a], filter_string="params.p = 'x'",
                            order_by=["metrics.m DESC"])
    assert isinstance(df, pd.DataFrame)
    for column in ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                   "metrics.m", "metrics.acc", "params.p", "params.model", "tags.t", "tags.mlflow.runName"]:
        assert column in df.columns, (column, list(df.columns))
    assert list(df["run_id"]) == [data.ids["r1"], data.ids["r3"]]
    assert list(df["experiment_id"]) == [data.a, data.a]
    assert list(df["status"]) == ["FINISHED", "RUNNING"]
    assert list(df["metrics.m"]) == [0.9, 0.7]
    assert list(df["params.model"]) == ["cnn", "rnn"]
    assert list(df["tags.mlflow.runName"]) == ["alpha", "gamma"]
    assert df["artifact_uri"].iloc[0].endswith(f"/{data.ids['r1']}/artifacts")
    assert df["start_time"].iloc[0] == pd.Timestamp(1000, unit="ms", tz="UTC")
    assert df["end_time"].iloc[0] == pd.Timestamp(1500, unit="ms", tz="UTC")
    assert pd.isna(df["end_time"].iloc[1])  # r3 still running
    assert pd.isna(df["tags.t"].iloc[1])
    assert math.isnan(df.set_index("run_id").loc[data.ids["r3"], "metrics.acc"])


def test_fluent_search_runs_by_experiment_name_and_list_output(client, data):
    df = mlflow.search_runs(experiment_names=[data.names[data.a], data.names[data.b]],
                            filter_string="metrics.m > 0.5")
    assert set(df["run_id"]) == {data.ids["r1"], data.ids["r3"], data.ids["r6"]}
    runs = mlflow.search_runs(experiment_ids=[data.a], output_format="list",
                              order_by=["attributes.start_time ASC"])
    assert [r.info.run_id for r in runs] == [data.ids[k] for k in ("r1", "r2", "r3", "r4")]
    empty = mlflow.search_runs(experiment_ids=[data.a], filter_string="params.p = 'none'")
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0
    deleted = mlflow.search_runs(experiment_ids=[data.a], run_view_type=ViewType.DELETED_ONLY)
    assert list(deleted["run_id"]) == [data.ids["r5"]]


# ------------------------------------------------------------------ paging over many runs


@pytest.fixture(scope="module")
def many(server):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        return _build_many(MlflowClient(server.url))


def _build_many(c):
    exp = c.create_experiment(unique("many"))
    ids = []
    for i in range(50):
        run = c.create_run(exp, start_time=10_000 + i)
        if i % 2 == 0:  # half of the runs have a metric with many ties
            c.log_metric(run.info.run_id, "k", float(i % 3), timestamp=1, step=0)
        ids.append(run.info.run_id)
    return exp, ids


def _all_pages(client, exp, page_size, **kw):
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs([exp], max_results=page_size, page_token=token, **kw)
        assert len(page) <= page_size
        seen.extend(r.info.run_id for r in page)
        pages += 1
        token = page.token
        if not token:
            return seen, pages
        assert pages <= 60, "paging does not terminate"


def test_paging_over_50_runs(client, many):
    exp, ids = many
    seen, pages = _all_pages(client, exp, 7)
    assert pages == 8
    assert seen == list(reversed(ids))  # default order: start_time DESC, none missing or repeated


def test_paging_with_ties_is_stable(client, many):
    exp, ids = many
    seen, _ = _all_pages(client, exp, 6, order_by=["metrics.k DESC"])
    assert len(seen) == len(set(seen)) == 50
    assert set(seen) == set(ids)
    with_metric = [ids[i] for i in range(50) if i % 2 == 0]
    assert set(seen[:25]) == set(with_metric)  # runs without the metric come last
    values = [float(ids.index(r) % 3) for r in seen[:25]]
    assert values == sorted(values, reverse=True)
    # a filtered, paged search also covers everything exactly once
    seen, _ = _all_pages(client, exp, 4, filter_string="metrics.k >= 1")
    expected = {ids[i] for i in range(50) if i % 2 == 0 and i % 3 >= 1}
    assert len(seen) == len(set(seen)) and set(seen) == expected


# ------------------------------------------------------------------ raw HTTP


def test_raw_search_shape_and_token(api, data):
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [data.a], "max_results": 3,
                                                   "order_by": ["attributes.start_time ASC"]}))
    assert [r["info"]["run_id"] for r in body["runs"]] == [data.ids[k] for k in ("r1", "r2", "r3")]
    assert isinstance(body["next_page_token"], str) and body["next_page_token"]
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [data.a], "max_results": 3,
                                                   "order_by": ["attributes.start_time ASC"],
                                                   "page_token": body["next_page_token"]}))
    assert [r["info"]["run_id"] for r in body["runs"]] == [data.ids["r4"]]
    assert "next_page_token" not in body or not body["next_page_token"]
    empty = assert_ok(api.post("runs/search", json={"experiment_ids": [data.a], "filter": "params.p = 'zzz'"}))
    assert not empty.get("runs")
    assert not empty.get("next_page_token")


def test_raw_search_run_view_type_names(api, data):
    def found(view):
        body = assert_ok(api.post("runs/search", json={"experiment_ids": [data.a], "run_view_type": view}))
        return {data.label_of[r["info"]["run_id"]] for r in body.get("runs", [])}
    assert found("ACTIVE_ONLY") == {"r1", "r2", "r3", "r4"}
    assert found("DELETED_ONLY") == {"r5"}
    assert found("ALL") == {"r1", "r2", "r3", "r4", "r5"}


@pytest.mark.parametrize("flt", [
    "metrics.x >>> 1",
    "foo.bar = 1",
    "params.p = 'x",
    "params.p = x'",
    "metrics.m = 'abc'",
    "metrics.m",
    "params.p > 'x'",
    "attributes.status >",
    "metrics.m > 1 OR metrics.m < 0",
    "attributes.nonexistent = 'x'",
    "(metrics.m > 1",
])
def test_invalid_filter_rejected(api, data, flt):
    resp = api.post("runs/search", json={"experiment_ids": [data.a], "filter": flt})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("order_by", ["metrics.m SIDEWAYS", "foo.bar ASC", "metrics.m DESC extra", ""])
def test_invalid_order_by_rejected(api, data, order_by):
    resp = api.post("runs/search", json={"experiment_ids": [data.a], "order_by": [order_by]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_invalid_max_results_and_token_rejected(api, data):
    for body in [{"max_results": 0}, {"max_results": 50001}, {"max_results": -1},
                 {"page_token": "not-a-token"}]:
        resp = api.post("runs/search", json={"experiment_ids": [data.a], **body})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def _edited(token: str, change) -> str:
    """The token with its JSON content changed as a client could change it."""
    content = json.loads(base64.urlsafe_b64decode(token))
    change(content)
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode()


def test_a_token_serves_only_its_own_search(api, data):
    """A page token names the search that made it: offered to another search (here with as
    many sort keys, of other types), or edited, it is a 400, never a 500 or a wrong page."""
    by_metric = {"experiment_ids": [data.a], "order_by": ["metrics.m DESC"], "max_results": 1}
    first = api.post("runs/search", json=by_metric)
    assert_ok(first)
    token = first.json()["next_page_token"]
    for other in ({"order_by": ["params.p DESC"]}, {"order_by": ["metrics.m ASC"]},
                  {"order_by": ["metrics.m DESC"], "filter": "metrics.m > 0"},
                  {"order_by": ["metrics.m DESC"], "experiment_ids": [data.a, data.b]},
                  {"order_by": ["metrics.m DESC"], "run_view_type": "ALL"}):
        resp = api.post("runs/search", json={**by_metric, **other, "page_token": token})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert "does not belong to this search" in resp.json()["message"]

    def wrong_types(content):
        content["after"] = [str(value) for value in content["after"]]
    def unstorable(text):  # values of the right types that no database takes
        def change(content):
            content["after"] = [text if isinstance(value, str) else 2 ** 63 if type(value) is int else value
                                for value in content["after"]]
        return change
    for edit in (wrong_types, lambda content: content["after"].pop(),
                 lambda content: content.update(after=[None] * len(content["after"])),
                 unstorable("a\0b"), unstorable("\ud800")):
        resp = api.post("runs/search", json={**by_metric, "page_token": _edited(token, edit)})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")

    second = api.post("runs/search", json={**by_metric, "page_token": token, "max_results": 10})
    assert_ok(second)
    assert [data.label_of[r["info"]["run_id"]] for r in second.json()["runs"]] == ["r3", "r2", "r4"]
