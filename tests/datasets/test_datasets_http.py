"""runs/log-inputs over raw HTTP: the proto-JSON shape runs/get and runs/search give back,
deduplication per experiment by (name, digest), the length limits, missing fields, deleted and
missing runs, concurrent logging of one dataset."""
from __future__ import annotations

import concurrent.futures

import pytest
import requests
from conftest import unique
from datasets_support import (
    assert_error,
    assert_ok,
    dataset,
    dataset_input,
    inputs_of,
    log_inputs,
    raw_experiment,
    raw_get_run,
    raw_inputs,
    raw_run,
)

CONTEXT = "mlflow.data.context"


@pytest.fixture
def exp_id(api):
    return raw_experiment(api, unique("dsh"))


@pytest.fixture
def run_id(api, exp_id):
    return raw_run(api, exp_id)


def test_round_trip_wire_format(api, run_id):
    ds = dataset("wire", "0123abcd", source_type="http", source='{"url": "https://x/y.csv"}',
                 schema='{"mlflow_colspec": [{"type": "double", "name": "x"}]}', profile='{"num_rows": 10}')
    assert assert_ok(log_inputs(api, run_id, dataset_input(ds, {CONTEXT: "training", "a": "1"}))) == {}
    run = raw_get_run(api, run_id)
    [item] = run["inputs"]["dataset_inputs"]
    assert item["dataset"] == ds
    assert sorted((t["key"], t["value"]) for t in item["tags"]) == [("a", "1"), (CONTEXT, "training")]


def test_schema_and_profile_are_optional(api, run_id):
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("bare", schema=None, profile=None))))
    [got] = raw_inputs(api, run_id)
    assert (got["name"], got["digest"], got["source_type"]) == ("bare", "d1", "local")
    assert not got.get("schema") and not got.get("profile") and got["tags"] == {}


def test_run_without_inputs(api, run_id):
    assert raw_inputs(api, run_id) == []


def test_empty_datasets_list_is_accepted(api, run_id):
    assert_ok(api.post("runs/log-inputs", json={"run_id": run_id, "datasets": []}))
    assert_ok(api.post("runs/log-inputs", json={"run_id": run_id}))
    assert raw_inputs(api, run_id) == []


def test_several_inputs_in_one_request_deduplicated_by_name_and_digest(api, run_id):
    resp = log_inputs(api, run_id,
                      dataset_input(dataset("a", "1", source="first"), {CONTEXT: "training"}),
                      dataset_input(dataset("a", "1", source="second"), {CONTEXT: "eval"}),
                      dataset_input(dataset("a", "2")),
                      dataset_input(dataset("b", "1")))
    assert_ok(resp)
    got = raw_inputs(api, run_id)
    assert [(g["name"], g["digest"]) for g in got] == [("a", "1"), ("a", "2"), ("b", "1")]
    assert got[0]["source"] == "first" and got[0]["tags"] == {CONTEXT: "training"}


def test_relogging_an_input_changes_nothing(api, run_id):
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("x", profile="p1"), {CONTEXT: "training"})))
    before = raw_inputs(api, run_id)
    for _ in range(2):
        assert_ok(log_inputs(api, run_id, dataset_input(dataset("x", profile="p2"), {CONTEXT: "eval", "z": "1"})))
    assert raw_inputs(api, run_id) == before
    assert before[0]["profile"] == "p1" and before[0]["tags"] == {CONTEXT: "training"}


def test_dataset_is_shared_within_an_experiment(api, exp_id):
    """One dataset per (experiment, name, digest): a second run logging the same name and
    digest is linked to the dataset stored first (its source/profile are not stored again);
    another experiment stores its own."""
    first, second = raw_run(api, exp_id), raw_run(api, exp_id)
    assert_ok(log_inputs(api, first, dataset_input(dataset("s", "dg", source="S1", profile="P1"),
                                                   {CONTEXT: "training"})))
    assert_ok(log_inputs(api, second, dataset_input(dataset("s", "dg", source="S2", profile="P2"),
                                                    {CONTEXT: "eval"})))
    [a], [b] = raw_inputs(api, first), raw_inputs(api, second)
    assert (a["source"], a["profile"], a["tags"]) == ("S1", "P1", {CONTEXT: "training"})
    assert (b["source"], b["profile"], b["tags"]) == ("S1", "P1", {CONTEXT: "eval"})

    other = raw_run(api, raw_experiment(api, unique("dsh-other")))
    assert_ok(log_inputs(api, other, dataset_input(dataset("s", "dg", source="S2", profile="P2"))))
    [c] = raw_inputs(api, other)
    assert (c["source"], c["profile"], c["tags"]) == ("S2", "P2", {})


def test_names_and_digests_compare_exactly(api, run_id):
    """Case and trailing spaces make another dataset (MySQL collations would merge them)."""
    variants = [("Train", "d"), ("train", "d"), ("train ", "d"), ("train", "D"), ("train", "d ")]
    assert_ok(log_inputs(api, run_id, *[dataset_input(dataset(n, d, source=f"{n!r}{d!r}")) for n, d in variants]))
    got = raw_inputs(api, run_id)
    assert sorted((g["name"], g["digest"]) for g in got) == sorted(variants)
    assert all(g["source"] == f"{g['name']!r}{g['digest']!r}" for g in got)


def test_search_runs_returns_inputs(api, exp_id):
    with_input, without = raw_run(api, exp_id), raw_run(api, exp_id)
    ds = dataset("searched", "s1")
    assert_ok(log_inputs(api, with_input, dataset_input(ds, {CONTEXT: "training"})))
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id]}))
    runs = {r["info"]["run_id"]: r for r in body["runs"]}
    assert inputs_of(runs[with_input]) == [{**ds, "tags": {CONTEXT: "training"}}]
    assert inputs_of(runs[without]) == []
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id],
                                                   "filter": "dataset.name = 'searched'"}))
    assert [r["info"]["run_id"] for r in body["runs"]] == [with_input]


def test_ajax_api_prefix(api, run_id):
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("ui")), prefix="/ajax-api/"))
    assert [g["name"] for g in raw_inputs(api, run_id)] == ["ui"]


def test_finished_run_accepts_inputs(api, run_id):
    assert_ok(api.post("runs/update", json={"run_id": run_id, "status": "FINISHED"}))
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("late"))))
    assert [g["name"] for g in raw_inputs(api, run_id)] == ["late"]


# ------------------------------------------------------------------ limits

AT_LIMIT = {"name": 500, "digest": 36, "source": 65535, "schema": 1048575}


@pytest.mark.parametrize("field", list(AT_LIMIT))
def test_dataset_field_at_and_over_its_limit(api, run_id, field):
    """The official limits (mlflow.utils.validation) hold in characters: exactly at the limit
    is stored intact, one more is 400 INVALID_PARAMETER_VALUE and stores nothing."""
    limit = AT_LIMIT[field]
    at = dataset(**{"name": f"at-{field}", field: "é" * limit})  # 2-byte characters
    assert_ok(log_inputs(api, run_id, dataset_input(at)))
    [got] = raw_inputs(api, run_id)
    assert got[field] == "é" * limit
    over = dataset(**{"name": f"over-{field}", field: "x" * (limit + 1)})
    assert_error(log_inputs(api, run_id, dataset_input(over)), 400, "INVALID_PARAMETER_VALUE")
    assert len(raw_inputs(api, run_id)) == 1


def test_source_type_of_36_characters(api, run_id):
    """source_type has no limit of its own in the official validation, but a 36-character
    column; 36 always fits."""
    assert_ok(log_inputs(api, run_id, dataset_input(dataset(source_type="t" * 36))))
    assert raw_inputs(api, run_id)[0]["source_type"] == "t" * 36


def test_profile_over_its_limit(api, run_id):
    over = dataset(profile="x" * (16777215 + 1))
    assert_error(log_inputs(api, run_id, dataset_input(over)), 400, "INVALID_PARAMETER_VALUE")
    assert raw_inputs(api, run_id) == []


def test_profile_at_its_limit(server, api, run_id):
    """16,777,215 characters are stored intact. MariaDB/MySQL with the default 16 MiB
    max_allowed_packet cannot carry such an INSERT (the official server answers 503 'MySQL
    server has gone away' there); then a JSON error is acceptable, provided nothing is half
    stored and the server keeps working."""
    profile = "p" * 16777215
    resp = log_inputs(api, run_id, dataset_input(dataset("big-profile", profile=profile)))
    if resp.status_code == 200 or server.backend != "mysql":
        assert_ok(resp)
        [got] = raw_inputs(api, run_id)
        assert got["profile"] == profile
    else:
        assert_error(resp, resp.status_code)
        assert raw_inputs(api, run_id) == []
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("after-big"))))
    assert "after-big" in [g["name"] for g in raw_inputs(api, run_id)]


def test_input_tag_limits(api, run_id):
    key, value = "ключ" * 63 + "abc", "значение" * 62 + "abcd"  # non-ASCII, at the limits
    assert (len(key), len(value)) == (255, 500)
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("tagged"), {key: value})))
    assert raw_inputs(api, run_id)[0]["tags"] == {key: value}
    for tags in ({"k" * 256: "v"}, {"k": "v" * 501}):
        resp = log_inputs(api, run_id, dataset_input(dataset("too-long-tag"), tags))
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert [g["name"] for g in raw_inputs(api, run_id)] == ["tagged"]


def test_an_invalid_input_rejects_the_whole_request(api, run_id):
    resp = log_inputs(api, run_id, dataset_input(dataset("fine")), dataset_input(dataset("bad", "d" * 37)))
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert raw_inputs(api, run_id) == []


# ------------------------------------------------------------------ missing fields and runs


@pytest.mark.parametrize("field", ["name", "digest", "source_type", "source"])
def test_missing_required_dataset_field_is_400(api, run_id, field):
    """Required by the proto (validate_required). The official server does not check and stores
    an empty string instead; this server refuses."""
    resp = log_inputs(api, run_id, dataset_input(dataset(**{"name": f"missing-{field}", field: None})))
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert raw_inputs(api, run_id) == []


def test_input_without_dataset_is_400(api, run_id):
    """The official server stores an all-empty dataset for {"tags": []}; this server refuses."""
    resp = api.post("runs/log-inputs", json={"run_id": run_id, "datasets": [{"tags": []}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert raw_inputs(api, run_id) == []


@pytest.mark.parametrize("tag", [{"value": "v"}, {"key": "k"}], ids=["no-key", "no-value"])
def test_input_tag_without_key_or_value_is_400(api, run_id, tag):
    """Also validate_required in the proto; the official server stores an empty string."""
    resp = log_inputs(api, run_id, dataset_input(dataset("t"), [tag]))
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert raw_inputs(api, run_id) == []


def test_missing_run_id_is_400(api):
    assert_error(api.post("runs/log-inputs", json={"datasets": [dataset_input(dataset())]}),
                 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("bad", [{"datasets": "nope"}, {"datasets": [{"dataset": "nope"}]},
                                 {"datasets": [{"dataset": dataset(), "tags": [["k", "v"]]}]}])
def test_wrong_shapes_are_400(api, run_id, bad):
    """The official server reads {"dataset": "nope"} as an empty dataset and stores it."""
    resp = api.post("runs/log-inputs", json={"run_id": run_id, **bad})
    assert_error(resp, 400)
    assert raw_inputs(api, run_id) == []


def test_unknown_run_is_404(api):
    resp = log_inputs(api, "0" * 32, dataset_input(dataset()))
    assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_deleted_run_is_400_and_restored_run_accepts(api, run_id):
    assert_ok(api.post("runs/delete", json={"run_id": run_id}))
    assert_error(log_inputs(api, run_id, dataset_input(dataset())), 400, "INVALID_PARAMETER_VALUE")
    assert_ok(api.post("runs/restore", json={"run_id": run_id}))
    assert raw_inputs(api, run_id) == []
    assert_ok(log_inputs(api, run_id, dataset_input(dataset())))
    assert len(raw_inputs(api, run_id)) == 1


def test_deleted_run_keeps_its_inputs(api, run_id):
    assert_ok(log_inputs(api, run_id, dataset_input(dataset("kept"), {CONTEXT: "training"})))
    assert_ok(api.post("runs/delete", json={"run_id": run_id}))
    assert [(g["name"], g["tags"]) for g in raw_inputs(api, run_id)] == [("kept", {CONTEXT: "training"})]


# ------------------------------------------------------------------ concurrency


def test_concurrent_runs_logging_one_new_dataset(api, exp_id):
    """Eight runs of one experiment log the same new dataset at once: every request succeeds
    (no unique-constraint error leaks out) and every run references it."""
    run_ids = [raw_run(api, exp_id) for _ in range(8)]
    body = dataset("race", "r1")

    def log(run_id):
        return [log_inputs(api, run_id, dataset_input(body, {CONTEXT: "training"})).status_code
                for _ in range(3)]

    with concurrent.futures.ThreadPoolExecutor(len(run_ids)) as pool:
        statuses = list(pool.map(log, run_ids))
    assert statuses == [[200, 200, 200]] * len(run_ids)
    for run_id in run_ids:
        assert raw_inputs(api, run_id) == [{**body, "tags": {CONTEXT: "training"}}]
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id],
                                                   "filter": "dataset.name = 'race'"}))
    assert len(body["runs"]) == len(run_ids)


def test_concurrent_logging_to_one_run(api, run_id):
    def log(i):
        return log_inputs(api, run_id, dataset_input(dataset("same", "s"), {CONTEXT: "training"}),
                          dataset_input(dataset(f"own-{i}", "o"))).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(log, range(16))) == [200] * 16
    names = [g["name"] for g in raw_inputs(api, run_id)]
    assert names == sorted(["same"] + [f"own-{i}" for i in range(16)])


def test_get_is_not_allowed(server):
    resp = requests.get(f"{server.url}/api/2.0/mlflow/runs/log-inputs", timeout=30)
    assert resp.status_code in (404, 405), resp.text


# ------------------------------------------------------------------ dataset filters

# r1: train-a (training); r2: Train-B (evaluation); r3: eval (evaluation) and train-a (training);
# r4: no datasets. A clause matches a run when one of its dataset inputs satisfies it.
FILTERED_RUNS = {"r1": [("train-a", "d1", "training")], "r2": [("Train-B", "d2", "evaluation")],
                 "r3": [("eval", "d3", "evaluation"), ("train-a", "d1", "training")], "r4": []}


@pytest.fixture
def filtered(api, exp_id):
    ids = {}
    for label, items in FILTERED_RUNS.items():
        ids[label] = raw_run(api, exp_id)
        if items:
            assert_ok(log_inputs(api, ids[label], *[dataset_input(dataset(name, digest), {CONTEXT: context})
                                                    for name, digest, context in items]))
    return exp_id, ids


@pytest.mark.parametrize("flt, expected", [
    ("dataset.name = 'train-a'", "r1 r3"),
    ("dataset.name != 'train-a'", "r2 r3"),
    ("dataset.name LIKE 'train%'", "r1 r3"),
    ("dataset.name ILIKE 'train%'", "r1 r2 r3"),
    ("dataset.name IN ('eval', 'Train-B')", "r2 r3"),
    ("dataset.name NOT IN ('train-a')", "r2 r3"),
    ("dataset.digest = 'd2'", "r2"),
    ("dataset.digest ILIKE 'D_'", "r1 r2 r3"),
    ("dataset.digest IN ('d1',)", "r1 r3"),
    ("dataset.digest NOT IN ('d1', 'd2')", "r3"),
    ("dataset.context = 'training'", "r1 r3"),
    ("dataset.context != 'training'", "r2 r3"),
    ("dataset.context LIKE 'eval%'", "r2 r3"),
    ("dataset.context ILIKE 'EVAL%'", "r2 r3"),
    ("dataset.context IN ('evaluation')", "r2 r3"),
    ("dataset.context NOT IN ('evaluation')", "r1 r3"),
    ("datasets.name = 'eval'", "r3"),
    ("dataset.name = 'train-a' AND dataset.context = 'evaluation'", "r3"),
    ("dataset.name = 'nothing'", ""),
])
def test_dataset_filters(api, filtered, flt, expected):
    exp_id, ids = filtered
    body = assert_ok(api.post("runs/search", json={"experiment_ids": [exp_id], "filter": flt}))
    labels = {label for label, run_id in ids.items() for run in body.get("runs", [])
              if run["info"]["run_id"] == run_id}
    assert labels == set(expected.split())


@pytest.mark.parametrize("flt, needle", [
    ("dataset.name < 'a'", "<"), ("dataset.digest >= 'a'", ">="), ("dataset.name IS NULL", "IS NULL"),
    ("dataset.context IS NOT NULL", "IS NOT NULL"), ("dataset.name = 1", "quoted"),
    ("dataset.foo = 'a'", "foo"), ("dataset.name IN ('a', 1)", "string"),
])
def test_invalid_dataset_filters(api, exp_id, flt, needle):
    resp = api.post("runs/search", json={"experiment_ids": [exp_id], "filter": flt})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert needle.lower() in resp.json()["message"].lower()
