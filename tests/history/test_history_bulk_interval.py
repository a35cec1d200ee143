"""GET metrics/get-history-bulk-interval, the request behind the web UI's metric charts:
several runs at once, a step range, and up to max_results points per run sampled evenly over
the run's points in (step, timestamp, value) order, keeping the first and the last.

The official 3.17 SQL store samples with NTILE(max_results) (the first point of each of
max_results buckets) and then puts the last point in place of the last bucket's first point.
That is not exactly even (3000 points into 2500 buckets: every second point for the first
1000, then every point), so "evenly" is checked as: exactly max_results points, the first and
the last among them, and no gap wider than twice the spacing of an exactly even spread."""
from __future__ import annotations

import itertools
import math
import random

import pytest
from conftest import unique
from history_support import (
    Api,
    assert_error,
    assert_ok,
    bulk_interval,
    bulk_points,
    log_points,
    raw_experiment,
    raw_run,
)


def linear(n, step=1, first_ts=1_000):
    """n points at steps 0, step, 2*step, ...: (step, timestamp, value)."""
    return [(i * step, first_ts + i, float(i)) for i in range(n)]


@pytest.fixture(scope="module")
def runs(server):
    """Runs shared by the read-only tests of a module (logged once per backend)."""
    api = Api(server)
    exp = raw_experiment(api, unique("bulk"))
    data = {
        "linear": linear(1000),                       # steps 0..999
        "short": linear(50, step=2),                  # steps 0, 2, ..., 98
        "sparse": linear(1000, step=2, first_ts=5),   # steps 0, 2, ..., 1998
        "long": linear(3000),                         # more than the default 2500
    }
    ids = {}
    for name, points in data.items():
        ids[name] = raw_run(api, exp)
        log_points(api, ids[name], "m", points)
    ids["lacking"] = raw_run(api, exp)
    log_points(api, ids["lacking"], "other", linear(5))
    return ids, data


def assert_even_sample(got, full, k):
    """`got` is an even sample of at most k of the points `full` (in order)."""
    n = len(full)
    assert got, "no points"
    position = {p: i for i, p in enumerate(full)}
    missing = [p for p in got if p not in position]
    assert not missing, f"points that were never logged: {missing[:5]}"
    idx = [position[p] for p in got]
    assert idx == sorted(set(idx)), f"not in (step, timestamp, value) order or repeated: {idx[:20]}"
    if n <= k:
        assert idx == list(range(n)), "fewer points than max_results: all of them"
        return
    assert len(got) == k, f"{len(got)} points for max_results={k} out of {n}"
    assert idx[0] == 0 and idx[-1] == n - 1, "the first and the last point are kept"
    spacing = math.ceil((n - 1) / (k - 1))  # the gap between points of an exactly even spread
    gaps = [b - a for a, b in itertools.pairwise(idx)]
    assert max(gaps) <= 2 * spacing, f"a gap of {max(gaps)} points; evenly spread they are {spacing} apart"


# ------------------------------------------------------------------ sampling


def test_several_runs_at_once(api, runs):
    ids, data = runs
    got = bulk_points(api, [ids["linear"], ids["short"], ids["lacking"]], max_results=7)
    assert set(got) == {ids["linear"], ids["short"]}, "a run without the metric contributes nothing"
    assert_even_sample(got[ids["linear"]], data["linear"], 7)
    assert_even_sample(got[ids["short"]], data["short"], 7)
    assert got[ids["linear"]][0] == (0, 1000, 0.0) and got[ids["linear"]][-1] == (999, 1999, 999.0)
    assert got[ids["short"]][0][0] == 0 and got[ids["short"]][-1][0] == 98


@pytest.mark.parametrize("k", [2, 3, 7, 100, 333, 999, 1000, 1001, 2500])
def test_sample_keeps_first_and_last_and_spreads_evenly(api, runs, k):
    ids, data = runs
    got = bulk_points(api, [ids["linear"]], max_results=k)[ids["linear"]]
    assert_even_sample(got, data["linear"], k)


def test_max_results_one_is_the_last_point(api, runs):
    """One point cannot be both ends; the official server returns the last."""
    ids, data = runs
    got = bulk_points(api, [ids["linear"], ids["short"]], max_results=1)
    assert got == {ids["linear"]: [data["linear"][-1]], ids["short"]: [data["short"][-1]]}


def test_fewer_points_than_max_results_returns_them_all(api, runs):
    ids, data = runs
    for k in (50, 51, 2500, None):
        assert bulk_points(api, [ids["short"]], max_results=k) == {ids["short"]: data["short"]}


def test_default_max_results_is_2500(api, runs):
    ids, data = runs
    got = bulk_points(api, [ids["long"], ids["short"]])
    assert_even_sample(got[ids["long"]], data["long"], 2500)
    assert got[ids["short"]] == data["short"]


def test_every_run_gets_its_own_max_results(api, runs):
    ids, data = runs
    got = bulk_points(api, [ids["long"], ids["linear"], ids["sparse"]], max_results=10)
    for name in ("long", "linear", "sparse"):
        assert_even_sample(got[ids[name]], data[name], 10)


# ------------------------------------------------------------------ step range


def test_step_range_is_inclusive(api, runs):
    ids, data = runs
    inside = [p for p in data["sparse"] if 100 <= p[0] <= 300]
    assert inside[0][0] == 100 and inside[-1][0] == 300
    got = bulk_points(api, [ids["sparse"]], start_step=100, end_step=300)
    assert got == {ids["sparse"]: inside}


def test_step_range_is_sampled_within_the_range(api, runs):
    ids, data = runs
    inside = [p for p in data["sparse"] if 101 <= p[0] <= 1301]  # steps 102 .. 1300
    got = bulk_points(api, [ids["sparse"]], start_step=101, end_step=1301, max_results=10)[ids["sparse"]]
    assert_even_sample(got, inside, 10)
    assert got[0][0] == 102 and got[-1][0] == 1300


def test_step_range_across_runs(api, runs):
    ids, data = runs
    got = bulk_points(api, [ids["linear"], ids["short"], ids["sparse"]], start_step=90, end_step=95)
    assert got == {ids["linear"]: [p for p in data["linear"] if 90 <= p[0] <= 95],
                   ids["short"]: [(90, 1045, 45.0), (92, 1046, 46.0), (94, 1047, 47.0)],
                   ids["sparse"]: [(90, 50, 45.0), (92, 51, 46.0), (94, 52, 47.0)]}


def test_step_range_edges(api, runs):
    ids, data = runs
    run = ids["sparse"]
    assert bulk_points(api, [run], start_step=42, end_step=42) == {run: [(42, 26, 21.0)]}
    assert bulk_points(api, [run], start_step=43, end_step=43) == {}
    assert bulk_points(api, [run], start_step=-50, end_step=-1) == {}
    assert bulk_points(api, [run], start_step=5000, end_step=10**12) == {}
    assert bulk_points(api, [run], start_step=-10, end_step=2) == {run: data["sparse"][:2]}
    assert bulk_points(api, [run], start_step=1990, end_step=2**62) == {run: data["sparse"][-5:]}


# ------------------------------------------------------------------ what gets sampled and in which order


def test_sampled_in_step_order_not_timestamp_order(api):
    """Timestamps falling while steps rise: the sample follows the steps (get-history, by
    contrast, orders by timestamp)."""
    run = raw_run(api, raw_experiment(api, unique("bulk-order")))
    points = [(s, 10_000 - s, float(s)) for s in range(-20, 180)]
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)
    log_points(api, run, "m", shuffled)
    assert bulk_points(api, [run]) == {run: points}
    got = bulk_points(api, [run], max_results=5)[run]
    assert_even_sample(got, points, 5)
    assert got[0][0] == -20 and got[-1][0] == 179


def test_several_values_at_one_step_are_separate_points(api):
    """Sampling is over points, not steps: values logged at one step (log_metric's default
    step=0) are sampled like any other points, ordered by timestamp, then value."""
    run = raw_run(api, raw_experiment(api, unique("bulk-same-step")))
    same_step = [(0, 1_000 + i, float(i % 7)) for i in range(3000)]
    log_points(api, run, "m", same_step)
    got = bulk_points(api, [run], max_results=10)[run]
    assert_even_sample(got, same_step, 10)

    mixed = [(1, 5, 3.0), (1, 5, 1.0), (1, 1, 2.0), (2, 0, 9.0), (0, 9, 0.0), (1, 5, -4.0)]
    log_points(api, run, "mixed", mixed)
    assert bulk_points(api, [run], "mixed") == {run: sorted(mixed)}


# Points logged in step order at a fixed spacing (the usual case) are sampled by arithmetic,
# without reading every step; any other order is sampled by reading the steps. Both must give
# the same points.
SERIES = [(3 + 7 * i, 50_000 + i, float(i % 13)) for i in range(1200)]  # steps 3, 10, ..., 8396


def log_in_chunks(api, run, chunks):
    for chunk in chunks:
        log_points(api, run, "m", chunk)


@pytest.fixture(scope="module")
def series_runs(server):
    """{name: (run_id, points)}: the same kinds of data logged in order and out of order."""
    api = Api(server)
    exp = raw_experiment(api, unique("bulk-series"))
    chunks = [SERIES[i:i + 100] for i in range(0, 1199, 100)]
    changed = [(10 * i, i, 1.0) for i in range(100)] + [(1000 + 5 * i, 100 + i, 2.0) for i in range(100)]
    logged = {
        "in order": (SERIES, chunks + [SERIES[-1:]]),  # the last point alone, as log_metric sends it
        "shuffled": (SERIES, [chunks[i] for i in random.Random(3).sample(range(12), 12)] + [SERIES[-1:]]),
        "retried batch": (SERIES, chunks[:5] + [chunks[4]] + chunks[5:] + [SERIES[-1:]]),
        "stride changes": (changed, [changed[:100], changed[100:]]),
        "stride changes, shuffled": (changed, [changed[100:], changed[:100]]),
        "one point at a time": (SERIES[:40], [[p] for p in SERIES[:40]]),
        "one point at a time, shuffled": (SERIES[:40], [[p] for p in reversed(SERIES[:40])]),
        "single point": (SERIES[:1], [SERIES[:1]]),
    }
    runs = {}
    for name, (points, chunks) in logged.items():
        runs[name] = raw_run(api, exp)
        log_in_chunks(api, runs[name], chunks)
    return {name: (runs[name], points) for name, (points, _) in logged.items()}


SERIES_REQUESTS = [
    {"max_results": k} for k in (1, 2, 3, 7, 100, 999, 1199, 1200, 2500)
] + [
    {"max_results": k, "start_step": start, "end_step": end}
    for k in (1, 5, 100)
    for start, end in ((3, 8396), (0, 10_000), (4, 8395), (700, 701), (703, 703), (1000, 2000),
                       (-50, 3), (8396, 9000), (9000, 9999), (-10, 2))
]


@pytest.mark.parametrize("request_params", SERIES_REQUESTS, ids=lambda p: "-".join(map(str, p.values())))
def test_evenly_spaced_points_sample_as_any_order(api, series_runs, request_params):
    ids = {name: run for name, (run, _) in series_runs.items()}
    got = bulk_points(api, list(ids.values()), **request_params)
    samples = {name: got.get(run, []) for name, run in ids.items()}
    for name, (_, points) in series_runs.items():
        low, high = request_params.get("start_step", -10**9), request_params.get("end_step", 10**9)
        in_range = [p for p in points if low <= p[0] <= high]
        if request_params["max_results"] == 1 or not in_range:
            assert samples[name] == in_range[-1:], name
        else:
            assert_even_sample(samples[name], in_range, request_params["max_results"])
    assert samples["in order"] == samples["shuffled"] == samples["retried batch"]
    assert samples["stride changes"] == samples["stride changes, shuffled"]
    assert samples["one point at a time"] == samples["one point at a time, shuffled"]


def test_evenly_spaced_points_then_one_out_of_order(api):
    """A point logged below the last step after an evenly spaced series: it is sampled in its
    place, as if the run had logged everything at once."""
    exp = raw_experiment(api, unique("bulk-series-late"))
    late, at_once = raw_run(api, exp), raw_run(api, exp)
    points = [(2 * i, 1_000 + i, float(i)) for i in range(500)]
    log_points(api, late, "m", points)
    log_points(api, late, "m", [(501, 5_000, -1.0)])  # between steps 500 and 502
    log_points(api, late, "m", [(1000 + 2 * i, 6_000 + i, 0.5) for i in range(100)])
    everything = sorted(points + [(501, 5_000, -1.0)] + [(1000 + 2 * i, 6_000 + i, 0.5) for i in range(100)])
    log_points(api, at_once, "m", everything)
    for k in (3, 50, 600, 601):
        got = bulk_points(api, [late, at_once], max_results=k)
        assert got[late] == got[at_once]
        assert_even_sample(got[late], everything, k)


def test_evenly_spaced_keys_logged_together(api):
    """Batches that carry two keys at different spacings, in order and shuffled."""
    exp = raw_experiment(api, unique("bulk-series-keys"))
    in_order, shuffled = raw_run(api, exp), raw_run(api, exp)
    batches = [[{"key": "m", "value": float(s), "timestamp": s, "step": s} for s in range(first, first + 100)]
               + [{"key": "n", "value": -s, "timestamp": s, "step": 3 * s} for s in range(first, first + 100)]
               for first in range(0, 600, 100)]
    for run, order in ((in_order, batches), (shuffled, batches[::-1])):
        for metrics in order:
            assert_ok(api.post("runs/log-batch", json={"run_id": run, "metrics": metrics}))
    for key, step in (("m", 1), ("n", 3)):
        got = bulk_points(api, [in_order, shuffled], metric_key=key, max_results=50)
        assert got[in_order] == got[shuffled]
        assert_even_sample(got[in_order], [(step * s, s, float(s) if key == "m" else -s) for s in range(600)], 50)


def test_far_apart_steps_in_one_batch(api):
    """Two close steps and one 10**15 steps later: sampled like any points (and the server
    does not build anything the size of the gap)."""
    run = raw_run(api, raw_experiment(api, unique("bulk-series-far")))
    points = [(0, 1, 0.0), (1, 2, 1.0), (10**15, 3, 2.0)]
    log_points(api, run, "m", points)
    assert bulk_points(api, [run], max_results=2) == {run: [points[0], points[2]]}
    assert bulk_points(api, [run]) == {run: points}


def test_extreme_steps(api):
    """Steps at the ends of the 64-bit range, alone and in batches, after and before other
    points: accepted, and sampled like any points."""
    run = raw_run(api, raw_experiment(api, unique("bulk-series-extreme")))
    low, high = -2**63, 2**63 - 1
    batches = [[(high, 1, 1.0)], [(-2**62, 2, 2.0)], [(low, 3, 3.0), (high - 1, 4, 4.0)], [(0, 5, 5.0)]]
    for batch in batches:
        log_points(api, run, "m", batch)
    everything = sorted(p for batch in batches for p in batch)
    assert bulk_points(api, [run]) == {run: everything}
    assert bulk_points(api, [run], max_results=2) == {run: [everything[0], everything[-1]]}


def test_nan_values(api):
    run = raw_run(api, raw_experiment(api, unique("bulk-nan")))
    nan = float("nan")
    points = [(s, 100 + s, nan if s in (0, 7, 499) else float(s)) for s in range(500)]
    log_points(api, run, "m", points)
    body = assert_ok(bulk_interval(api, [run], max_results=3))
    wire = [(m["step"], m["value"]) for m in body["metrics"]]
    assert [s for s, _ in wire] == [0, wire[1][0], 499] and 0 < wire[1][0] < 499
    assert wire[0][1] == "NaN" and wire[2][1] == "NaN", "NaN travels as the proto3 JSON string 'NaN'"
    got = bulk_points(api, [run])[run]
    assert [s for s, _, _ in got] == list(range(500))
    assert [s for s, _, v in got if math.isnan(v)] == [0, 7, 499]
    assert all(v == s for s, _, v in got if s not in (0, 7, 499))


def test_response_shape(api, runs):
    ids, _ = runs
    body = assert_ok(bulk_interval(api, [ids["linear"]], max_results=2))
    assert body == {"metrics": [
        {"key": "m", "value": 0.0, "timestamp": 1000, "step": 0, "run_id": ids["linear"]},
        {"key": "m", "value": 999.0, "timestamp": 1999, "step": 999, "run_id": ids["linear"]},
    ]}


def test_ajax_api_prefix(api, runs):
    """The web UI calls it under /ajax-api."""
    ids, _ = runs
    resp = bulk_interval(api, [ids["short"]], prefix="/ajax-api/", max_results=3)
    got = [m["step"] for m in assert_ok(resp)["metrics"]]
    assert got[0] == 0 and got[-1] == 98 and len(got) == 3


# ------------------------------------------------------------------ runs


def test_run_lacking_the_metric(api, runs):
    ids, _ = runs
    body = assert_ok(bulk_interval(api, [ids["lacking"]]))
    assert not body.get("metrics")
    assert bulk_points(api, [ids["lacking"]], "other") == {ids["lacking"]: linear(5)}


def test_unknown_run_is_404(api, runs):
    """The official server answers an empty 200 for a run that does not exist."""
    ids, _ = runs
    assert_error(bulk_interval(api, ["f" * 32]), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(bulk_interval(api, [ids["short"], "f" * 32]), 404, "RESOURCE_DOES_NOT_EXIST")


def test_deleted_run_still_has_its_history(api):
    run = raw_run(api, raw_experiment(api, unique("bulk-deleted")))
    log_points(api, run, "m", linear(10))
    assert_ok(api.post("runs/delete", json={"run_id": run}))
    assert bulk_points(api, [run]) == {run: linear(10)}


def test_one_hundred_runs_at_once(api, runs):
    ids, _ = runs
    run_ids = [ids["short"]] + [ids["lacking"]] * 98 + [ids["linear"]]
    got = bulk_points(api, run_ids, max_results=4)
    assert got[ids["short"]][0][0] == 0 and got[ids["short"]][-1][0] == 98
    assert got[ids["linear"]][0][0] == 0 and got[ids["linear"]][-1][0] == 999


# ------------------------------------------------------------------ bad requests


@pytest.mark.parametrize("params", [
    {"start_step": 5}, {"end_step": 5}, {"start_step": 0}, {"end_step": 0},
], ids=["start-only", "end-only", "start-0-only", "end-0-only"])
def test_only_one_end_of_the_range_is_400(api, runs, params):
    ids, _ = runs
    assert_error(bulk_interval(api, [ids["linear"]], **params), 400, "INVALID_PARAMETER_VALUE")


def test_start_after_end_is_400(api, runs):
    ids, _ = runs
    assert_error(bulk_interval(api, [ids["linear"]], start_step=10, end_step=5), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("max_results", [0, -1, 2501, 10**6, "abc", "1.5"])
def test_max_results_out_of_range_is_400(api, runs, max_results):
    ids, _ = runs
    assert_error(bulk_interval(api, [ids["linear"]], max_results=max_results), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("params", [{"start_step": "x", "end_step": 5}, {"start_step": 0, "end_step": "y"}])
def test_non_integer_steps_are_400(api, runs, params):
    ids, _ = runs
    assert_error(bulk_interval(api, [ids["linear"]], **params), 400, "INVALID_PARAMETER_VALUE")


def test_more_than_100_runs_is_400(api, runs):
    ids, _ = runs
    assert_error(bulk_interval(api, [ids["linear"]] * 101), 400, "INVALID_PARAMETER_VALUE")


def test_missing_run_ids_or_metric_key_is_400(api, runs):
    ids, _ = runs
    assert_error(bulk_interval(api, []), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk_interval(api, [ids["linear"]], metric_key=None), 400, "INVALID_PARAMETER_VALUE")
