"""runs/search order_by on every kind of key, both directions, several keys, missing values, ties;
and search_experiments ordering. Expected orders are the official server's (3.17.2):

- metrics sort numerically; NaN comes after every number and runs without the metric come
  last, in both directions;
- params, tags and string attributes sort as strings, byte by byte ('B' < 'a', '10' < '9');
  runs without the key come last, in both directions; a NULL end_time too;
- after the order_by keys, ties are broken by start_time DESC (unless start_time is one of the
  keys) and then by run_id ASC, whatever the direction of the keys.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from conftest import unique
from search_support import Rest, assert_invalid, run_ids, search_body, seed_run

NAN, INF = float("nan"), float("inf")
TIES = ("r07", "r08", "r09")  # same start_time, grp, acc: only run_id orders them

RUNS = {
    "r01": dict(name="alpha", start=1000, status="FINISHED", end=1100, user="ann",
                params={"lr": "0.1", "n": "10", "grp": "a"},
                metrics={"acc": 0.5, "loss": 2.0, "val acc": 0.1},
                tags={"t": "Yes", "team.name": "x"}),
    "r02": dict(name="Bravo", start=2000, status="FAILED", end=2100, user="bob",
                params={"lr": "0.01", "n": "9", "grp": "b", "k-dash": "1"},
                metrics={"acc": 0.9, "loss": NAN}, tags={"t": "no"}),
    "r03": dict(name="charlie", start=3000, status="RUNNING", user="ann",
                params={"n": "100", "grp": "a"}, metrics={"acc": -INF, "loss": 1.0}, tags={"t": "yes"}),
    "r04": dict(name="delta", start=4000, status="KILLED", end=4100, user="Zed",
                params={"lr": "1e-3", "grp": "b"}, metrics={"acc": INF}, tags={"t": ""}),
    "r05": dict(name="echo", start=5000, status="FINISHED", end=5100, user="bob",
                params={"grp": "a"}, metrics={"acc": 0.5, "loss": -3}),
    "r06": dict(name="foxtrot", start=6000, status="FINISHED", end=6100, user="carl",
                params={"lr": "0.1", "n": "10"}, metrics={"acc": 0.0}, tags={"t": "Yes"}),
    **{label: dict(name=name, start=7000, status="FINISHED", end=7100, user="dan",
                   params={"grp": "c"}, metrics={"acc": 0.7})
       for label, name in zip(TIES, ("golf", "hotel", "india"))},
}


@pytest.fixture(scope="module")
def o(server):
    rest = Rest(server)
    exp = rest.experiment(unique("order"))
    ids = {label: seed_run(rest, exp, **spec) for label, spec in RUNS.items()}
    return SimpleNamespace(rest=rest, server=server, exp=exp, ids=ids,
                           label_of={v: k for k, v in ids.items()})


def ordered(o, order_by, flt=None):
    response = o.rest.post("runs/search", search_body([o.exp], flt, order_by))
    return [o.label_of[r] for r in run_ids(response)]


def expand(o, labels):
    """'T' stands for the three tied runs, in run_id order."""
    ties = sorted(TIES, key=lambda label: o.ids[label])
    out = []
    for label in labels:
        out.extend(ties if label == "T" else [label])
    return out


ORDER_CASES = [
    # metrics: numeric, infinities at the ends, NaN after numbers, missing last
    (["metrics.acc ASC"], "r03 r06 r05 r01 T r02 r04"),
    (["metrics.acc DESC"], "r04 r02 T r05 r01 r06 r03"),
    (["metrics.loss ASC"], "r05 r03 r01 r02 T r06 r04"),
    (["metrics.loss DESC"], "r01 r03 r05 r02 T r06 r04"),
    (["metrics.`val acc` DESC"], "r01 T r06 r05 r04 r03 r02"),
    (['metrics."val acc" ASC'], "r01 T r06 r05 r04 r03 r02"),
    # params: strings, missing last in both directions
    (["params.lr ASC"], "r02 r06 r01 r04 T r05 r03"),
    (["params.lr DESC"], "r04 r06 r01 r02 T r05 r03"),
    (["params.n ASC"], "r06 r01 r03 r02 T r05 r04"),
    (["params.n DESC"], "r02 r03 r06 r01 T r05 r04"),
    (["params.`k-dash` DESC"], "r02 T r06 r05 r04 r03 r01"),
    (["param.n"], "r06 r01 r03 r02 T r05 r04"),
    # tags: byte order, the empty string first, missing last
    (["tags.t ASC"], "r04 r06 r01 r02 r03 T r05"),
    (["tags.t DESC"], "r03 r02 r06 r01 r04 T r05"),
    (["tags.`team.name` ASC"], "r01 T r06 r05 r04 r03 r02"),
    (["tags.team.name DESC"], "r01 T r06 r05 r04 r03 r02"),
    # attributes
    (["attributes.run_name ASC"], "r02 r01 r03 r04 r05 r06 r07 r08 r09"),
    (["attributes.run_name DESC"], "r09 r08 r07 r06 r05 r04 r03 r01 r02"),
    (["run_name"], "r02 r01 r03 r04 r05 r06 r07 r08 r09"),
    (["tags.`mlflow.runName` ASC"], "r02 r01 r03 r04 r05 r06 r07 r08 r09"),
    (["attributes.status ASC"], "r02 T r06 r05 r01 r04 r03"),
    (["status DESC"], "r03 r04 T r06 r05 r01 r02"),
    (["attributes.user_id ASC"], "r04 r03 r01 r05 r02 r06 T"),
    (["attributes.user_id DESC"], "T r06 r05 r02 r03 r01 r04"),
    (["attributes.end_time ASC"], "r01 r02 r04 r05 r06 T r03"),
    (["attributes.end_time DESC"], "T r06 r05 r04 r02 r01 r03"),
    (["attributes.start_time ASC"], "r01 r02 r03 r04 r05 r06 T"),
    (["attributes.start_time DESC"], "T r06 r05 r04 r03 r02 r01"),
    (["created ASC"], "r01 r02 r03 r04 r05 r06 T"),
    (["Created DESC"], "T r06 r05 r04 r03 r02 r01"),
    (["attr.start_time"], "r01 r02 r03 r04 r05 r06 T"),
    # direction words in any case, and no direction meaning ASC
    (["metrics.acc asc"], "r03 r06 r05 r01 T r02 r04"),
    (["metrics.acc Desc"], "r04 r02 T r05 r01 r06 r03"),
    (["metrics.acc"], "r03 r06 r05 r01 T r02 r04"),
    # several keys
    (["params.grp ASC", "metrics.acc DESC"], "r05 r01 r03 r04 r02 T r06"),
    (["params.grp DESC", "attributes.start_time ASC"], "T r02 r04 r01 r03 r05 r06"),
    (["tags.t ASC", "metrics.loss DESC"], "r04 r01 r06 r02 r03 r05 T"),
    (["attributes.status ASC", "attributes.run_name DESC"], "r02 r09 r08 r07 r06 r05 r01 r04 r03"),
    (["metrics.acc DESC", "attributes.run_name DESC"], "r04 r02 r09 r08 r07 r05 r01 r06 r03"),
    (["params.grp", "tags.t DESC", "metrics.loss"], "r03 r01 r05 r02 r04 T r06"),
]


@pytest.mark.parametrize("order_by, expected", [
    pytest.param(ob, exp, id=" + ".join(ob)) for ob, exp in ORDER_CASES])
def test_order_by(o, order_by, expected):
    assert ordered(o, order_by) == expand(o, expected.split())


def test_default_order_is_start_time_desc_then_run_id(o):
    assert ordered(o, None) == expand(o, "T r06 r05 r04 r03 r02 r01".split())
    assert ordered(o, []) == ordered(o, None)


def test_run_id_and_artifact_uri_order(o):
    by_id = sorted(o.ids, key=lambda label: o.ids[label])
    assert ordered(o, ["attributes.run_id ASC"]) == by_id
    assert ordered(o, ["attributes.run_id DESC"]) == by_id[::-1]
    response = o.rest.post("runs/search", search_body([o.exp], None, ["attributes.artifact_uri DESC"]))
    uris = [r["info"]["artifact_uri"] for r in response.json()["runs"]]
    assert uris == sorted(uris, reverse=True) and len(uris) == len(RUNS)


def test_order_with_filter(o):
    assert ordered(o, ["metrics.acc ASC"], "params.grp = 'a'") == ["r03", "r05", "r01"]
    assert ordered(o, ["params.lr DESC"], "metrics.acc >= 0.5") == expand(o, "r04 r01 r02 T r05".split())
    assert ordered(o, ["tags.t ASC"], "attributes.status = 'FINISHED'") == expand(o, "r06 r01 T r05".split())


def test_order_is_the_same_through_the_official_client(client, o):
    """The client sends order_by as a repeated field; the answer keeps the order."""
    runs = client.search_runs([o.exp], order_by=["metrics.loss DESC", "attributes.run_name ASC"])
    assert [o.label_of[r.info.run_id] for r in runs] == \
        ["r01", "r03", "r05", "r02", "r04", "r06", "r07", "r08", "r09"]


@pytest.mark.parametrize("order_by, needles", [pytest.param(ob, n, id=" + ".join(ob)) for ob, n in [
    (["attributes.lifecycle_stage ASC"], ["lifecycle_stage"]),
    (["attributes.experiment_id ASC"], ["experiment_id"]),
    (["attributes.`Run name` ASC"], ["Run name"]),  # a filter alias, not an order_by key
    (["PARAMS.lr"], ["PARAMS"]),
    (["params.k-dash DESC"], ["k-dash"]),
    (["metrics.acc DESC,params.lr"], [",", "ASC or DESC"]),
    (["metrics.acc ASC DESC"], ["DESC"]),
    (["datasets.name ASC"], ["datasets", "dataset"]),
    # the same key twice: the official server fails with a 500 (an uncaught exception),
    # we say what is wrong with a 400
    (["metrics.acc DESC", "metrics.acc ASC"], ["duplicate", "twice", "more than once"]),
    (["start_time DESC", "created ASC"], ["duplicate", "twice", "more than once"]),
]])
def test_invalid_order_by_is_400_saying_why(o, order_by, needles):
    """Refused with 400, as the official server does."""
    response = o.rest.post("runs/search", search_body([o.exp], None, order_by))
    assert_invalid(response, o.server, *needles, echo=order_by[0] if len(order_by) == 1 else "")


# ------------------------------------------------------------ search_experiments ordering


@pytest.fixture(scope="module")
def exps(server):
    """Eleven experiments (so their ids cross from one digit to two); the third renamed last."""
    rest = Rest(server)
    prefix = unique("ordx")
    names = ["Kilo", "alpha", "bravo", "Zulu", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    ids = []
    for name in names:
        ids.append(rest.experiment(f"{prefix}-{name}"))
        time.sleep(0.003)  # distinct creation times
    time.sleep(0.01)
    rest.ok("experiments/update", {"experiment_id": ids[2], "new_name": f"{prefix}-bravo2"})
    names[2] = "bravo2"
    return SimpleNamespace(rest=rest, server=server, prefix=prefix, ids=ids,
                           name_of=dict(zip(ids, names)))


def experiment_order(exps, order_by=None, **extra):
    body = {"max_results": 1000, "filter": f"name LIKE '{exps.prefix}-%'", **extra}
    if order_by is not None:
        body["order_by"] = order_by
    response = exps.rest.post("experiments/search", body)
    assert response.status_code == 200, response.text
    return [exps.name_of[e["experiment_id"]] for e in response.json().get("experiments", [])]


def test_experiment_order_by_name(exps):
    by_bytes = ["Kilo", "Zulu", "alpha", "bravo2", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    assert experiment_order(exps, ["name ASC"]) == by_bytes
    assert experiment_order(exps, ["name"]) == by_bytes
    assert experiment_order(exps, ["attribute.name DESC"]) == by_bytes[::-1]


def test_experiment_order_by_id_is_numeric(exps):
    ids = sorted(exps.ids, key=int)
    assert experiment_order(exps, ["experiment_id ASC"]) == [exps.name_of[i] for i in ids]
    assert experiment_order(exps, ["experiment_id DESC"]) == [exps.name_of[i] for i in ids[::-1]]


def test_experiment_order_by_times(exps):
    created = [exps.name_of[i] for i in exps.ids]
    assert experiment_order(exps) == created[::-1]  # default: newest first
    assert experiment_order(exps, ["creation_time ASC"]) == created
    assert experiment_order(exps, ["creation_time DESC", "name ASC"]) == created[::-1]
    # renaming updates last_update_time
    assert experiment_order(exps, ["last_update_time DESC"])[0] == "bravo2"


def test_experiments_tied_on_the_order_by_key_come_highest_id_first(exps):
    """The official server's tie-break: experiment_id DESC after an order_by that does not
    name it (ASC after the default order). Ties come from creating experiments concurrently,
    in bursts until some share a creation time."""
    prefix = unique("tie")
    with ThreadPoolExecutor(8) as pool:
        for burst in range(20):
            list(pool.map(lambda i: exps.rest.experiment(f"{prefix}-{burst}-{i}"), range(16)))
            found = exps.rest.ok("experiments/search", {"filter": f"name LIKE '{prefix}-%'",
                                                       "order_by": ["creation_time ASC"]})["experiments"]
            times = [e["creation_time"] for e in found]
            if len(set(times)) < len(times):
                break
        else:
            pytest.fail("no two experiments created in the same millisecond")
    ids = [e["experiment_id"] for e in found]
    assert ids == [e["experiment_id"] for e in sorted(found, key=lambda e: (e["creation_time"],
                                                                            -int(e["experiment_id"])))]
    default = exps.rest.ok("experiments/search", {"filter": f"name LIKE '{prefix}-%'"})["experiments"]
    assert [e["experiment_id"] for e in default] == \
        [e["experiment_id"] for e in sorted(found, key=lambda e: (-e["creation_time"], int(e["experiment_id"])))]


@pytest.mark.parametrize("order_by, needles", [pytest.param(ob, n, id=ob[0]) for ob, n in [
    (["tags.team ASC"], ["tag", "team"]),
    (["attributes.name ASC"], ["attributes"]),
    (["lifecycle_stage ASC"], ["lifecycle_stage"]),
    (["name SIDEWAYS"], ["SIDEWAYS", "ASC or DESC"]),
    (["artifact_location"], ["artifact_location"]),
]])
def test_invalid_experiment_order_by_is_400_saying_why(exps, order_by, needles):
    response = exps.rest.post("experiments/search", {"max_results": 10, "order_by": order_by})
    assert_invalid(response, exps.server, *needles, echo=order_by[0])
