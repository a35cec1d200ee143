"""Property-based: random runs/search filters over a fixed set of 60 runs either give exactly
what a plain Python evaluation gives, or are refused with a 400.

`matches` below is that evaluation, written from the documented semantics of the official server.
Every example is also checked against the official client library's own in-memory evaluator
(mlflow.utils.search_utils.SearchUtils.filter, 3.17.2): a filter it accepts must give the same
runs as `matches`, and a filter it refuses must be one the generator meant to be invalid. So the
expectations here are the official ones, not only ours.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.search_utils import SearchUtils

from conftest import unique
from search_support import Rest, run_ids, search_body, seed_run

SETTINGS = dict(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

NAN, INF = float("nan"), float("inf")
NAMES = ["alpha", "Alpha", "beta", "gamma_1", "de%lta", "x_y", "eps"]
USERS = ["ann", "Ann", "bob", "carl"]
STATUSES = ["FINISHED", "FAILED", "KILLED", "RUNNING"]
P1 = ["x", "X", "y", "xy", "x_y", "10", "9", "100", ""]
P2 = ["a b", "a", "b%c", "0.1"]
T1 = ["Yes", "yes", "no", "yes%", ""]
M1 = [-2, -0.5, 0, 0.5, 1, 1.5, 2, 10, NAN, INF, -INF]
STRING_PATTERNS = ["x%", "%y", "_", "%", "x_y", "%a%", "b%", "%s", "Y%", "1%", "%0", "_e%"]


def _make_runs(rng: random.Random) -> list[dict]:
    runs = []
    for i in range(60):
        status = rng.choice(STATUSES)
        start = rng.randrange(1000, 1050)
        spec = dict(name=f"{rng.choice(NAMES)}{rng.choice(['', '-1', '-2'])}", start=start,
                    status=status, end=None if status == "RUNNING" else start + rng.randrange(0, 50),
                    user=rng.choice(USERS), params={}, metrics={}, tags={})
        if rng.random() < 0.7:
            spec["params"]["p1"] = rng.choice(P1)
        if rng.random() < 0.5:
            spec["params"]["p2"] = rng.choice(P2)
        if rng.random() < 0.3:
            spec["params"]["my key"] = rng.choice(["v1", "v2"])
        if rng.random() < 0.7:
            spec["metrics"]["m1"] = rng.choice(M1)
        if rng.random() < 0.4:
            spec["metrics"]["m2"] = rng.randrange(6)
        if rng.random() < 0.3:
            spec["metrics"]["a.b"] = rng.choice([0, 1])
        if rng.random() < 0.6:
            spec["tags"]["t1"] = rng.choice(T1)
        if rng.random() < 0.3:
            spec["tags"]["t.dot"] = rng.choice(["1", "2"])
        runs.append(spec)
    return runs


@pytest.fixture(scope="module")
def pdata(server):
    rest = Rest(server)
    exp = rest.experiment(unique("prop"))
    specs = _make_runs(random.Random(20261122))
    ids = [seed_run(rest, exp, **spec) for spec in specs]
    runs = [SimpleNamespace(id=run_id, **spec) for run_id, spec in zip(ids, specs)]
    for run in runs:
        run.tags = {**run.tags, "mlflow.runName": run.name}
    official_runs = [
        Run(RunInfo(r.id, exp, r.user, r.status, r.start, r.end, "active", run_name=r.name),
            RunData(metrics=[Metric(k, float(v), 1, 0) for k, v in r.metrics.items()],
                    params=[Param(k, v) for k, v in r.params.items()],
                    tags=[RunTag(k, v) for k, v in r.tags.items()]))
        for r in runs]
    return SimpleNamespace(rest=rest, server=server, exp=exp, runs=runs, official_runs=official_runs)


# ------------------------------------------------------------------ the Python evaluation


def _like(value: str, pattern: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _compare(lhs, op: str, rhs) -> bool:
    if lhs is None:  # a run without the key matches nothing
        return False
    if isinstance(lhs, float) and math.isnan(lhs):  # NaN is only ever unequal
        return op == "!="
    return {"=": lambda: lhs == rhs, "!=": lambda: lhs != rhs, "<": lambda: lhs < rhs,
            "<=": lambda: lhs <= rhs, ">": lambda: lhs > rhs, ">=": lambda: lhs >= rhs,
            "LIKE": lambda: _like(lhs, rhs, False), "ILIKE": lambda: _like(lhs, rhs, True),
            "IN": lambda: lhs in rhs, "NOT IN": lambda: lhs not in rhs}[op]()


@dataclass
class Clause:
    text: str
    kind: str  # metric, param, tag, attribute
    key: str
    op: str
    value: object = None

    def matches(self, run) -> bool:
        if self.kind == "metric":
            lhs = run.metrics.get(self.key)
            lhs = None if lhs is None else float(lhs)
        elif self.kind == "param":
            lhs = run.params.get(self.key)
        elif self.kind == "tag":
            lhs = run.tags.get(self.key)
        else:
            lhs = {"run_id": run.id, "run_name": run.name, "status": run.status, "user_id": run.user,
                   "start_time": run.start, "end_time": run.end}[self.key]
        return _compare(lhs, self.op, self.value)


@dataclass
class Filter:
    clauses: list = field(default_factory=list)
    joiners: list = field(default_factory=list)

    @property
    def text(self) -> str:
        out = self.clauses[0].text
        for joiner, clause in zip(self.joiners, self.clauses[1:]):
            out += joiner + clause.text
        return out

    def expected(self, runs) -> set[str]:
        return {r.id for r in runs if all(c.matches(r) for c in self.clauses)}


# ---------------------------------------------------------------------- filter generation


def _quote_key(draw, key: str, plain_ok: bool = True) -> str:
    forms = ["`{}`", '"{}"'] + (["{}"] if plain_ok else [])
    return draw(st.sampled_from(forms)).format(key)


def _quote_value(draw, value: str) -> str:
    return draw(st.sampled_from(["'{}'", '"{}"'])).format(value)


def _number(draw, value: float) -> str:
    """A number as the filter writes it: 1, 1.0, 1e0, 0.5, .5, 5e-1, -2 ..."""
    if value == int(value):
        forms = [str(int(value)), f"{value:.1f}", f"{int(value)}e0"]
    else:
        forms = [repr(value), f"{round(value * 10)}e-1"]
        if 0 < value < 1:
            forms.append(repr(value)[1:])  # .5
    return draw(st.sampled_from(forms))


def _cmp(draw, ops):
    op = draw(st.sampled_from(ops))
    return op, (draw(st.sampled_from([op, op.lower()])) if op.isalpha() else op)


NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="]
STRING_OPS = ["=", "!=", "LIKE", "ILIKE"]


@st.composite
def metric_clause(draw):
    key = draw(st.sampled_from(["m1", "m1", "m2", "a.b", "missing"]))
    prefix = draw(st.sampled_from(["metrics.", "metric."]))
    op, op_text = _cmp(draw, NUMERIC_OPS)
    value = float(draw(st.sampled_from([-2, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 5, 10, 100])))
    text = f"{prefix}{_quote_key(draw, key)} {op_text} {_number(draw, value)}"
    return Clause(text, "metric", key, op, value)


@st.composite
def string_clause(draw):
    kind, key, choices = draw(st.sampled_from([
        ("param", "p1", P1), ("param", "p2", P2), ("param", "my key", ["v1", "v2"]),
        ("param", "p1", P1), ("param", "missing", ["x"]), ("tag", "t1", T1), ("tag", "t1", T1), ("tag", "t.dot", ["1", "2"]),
        ("attribute", "status", STATUSES + ["finished"]), ("attribute", "user_id", USERS),
        ("attribute", "run_name", [f"{n}{s}" for n in NAMES for s in ("", "-1")]),
    ]))
    op, op_text = _cmp(draw, STRING_OPS)
    value = draw(st.sampled_from(choices + STRING_PATTERNS if op in ("LIKE", "ILIKE") else choices))
    if kind == "param":
        prefix = draw(st.sampled_from(["params.", "param.", "parameter.", "parameters."]))
        key_text = _quote_key(draw, key, plain_ok=" " not in key)
    elif kind == "tag":
        prefix = draw(st.sampled_from(["tags.", "tag."]))
        key_text = _quote_key(draw, key)
    elif key == "run_name":
        prefix, key_text = draw(st.sampled_from([
            ("attributes.", "run_name"), ("", "run_name"), ("tags.", "mlflow.runName"),
            ("tags.", "`mlflow.runName`")]))
    else:
        prefix = draw(st.sampled_from(["attributes.", "attribute.", "attr.", "run.", ""]))
        key_text = key
    return Clause(f"{prefix}{key_text} {op_text} {_quote_value(draw, value)}", kind, key, op, value)


@st.composite
def run_id_clause(draw, run_ids_):
    op, op_text = _cmp(draw, ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"])
    prefix = draw(st.sampled_from(["attributes.", "run."]))
    if op in ("IN", "NOT IN"):
        values = draw(st.lists(st.sampled_from(run_ids_ + ["0" * 32]), min_size=1, max_size=3))
        quoted = ", ".join(_quote_value(draw, v) for v in values)
        return Clause(f"{prefix}run_id {op_text} ({quoted})", "attribute", "run_id", op, tuple(values))
    value = draw(st.sampled_from(run_ids_))
    if op in ("LIKE", "ILIKE"):
        value = draw(st.sampled_from([value[:6] + "%", "%" + value[-5:], value.upper()]))
    return Clause(f"{prefix}run_id {op_text} {_quote_value(draw, value)}", "attribute", "run_id", op, value)


@st.composite
def time_clause(draw, times):
    key = draw(st.sampled_from(["start_time", "end_time"]))
    prefix = draw(st.sampled_from(["attributes.", ""]))
    op, op_text = _cmp(draw, NUMERIC_OPS)
    value = draw(st.sampled_from(times)) + draw(st.sampled_from([-1, 0, 0, 1]))
    text_value = str(value)
    if draw(st.booleans()):
        value += 0.5
        text_value = f"{value}"
    return Clause(f"{prefix}{key} {op_text} {text_value}", "attribute", key, op, value)


@st.composite
def valid_filter(draw, runs):
    run_ids_ = [r.id for r in runs]
    times = sorted({r.start for r in runs} | {r.end for r in runs if r.end is not None})
    clauses = draw(st.lists(st.one_of(metric_clause(), string_clause(), run_id_clause(run_ids_),
                                      time_clause(times)), min_size=1, max_size=3))
    joiners = [draw(st.sampled_from([" AND ", " and ", "  AND\n", " And "])) for _ in clauses[1:]]
    return Filter(clauses, joiners)


INVALID_CLAUSES = [
    # comparators of the wrong type
    "metrics.m1 LIKE '1%'", "metrics.m1 ILIKE '1'", "params.p1 > 'x'", "params.p1 <= 'x'",
    "tags.t1 < 'z'", "attributes.status >= 'A'", "attributes.run_name < 'b'", "start_time LIKE '1%'",
    "attributes.end_time ILIKE '1'",
    # IN and NOT IN outside run_id
    "params.p1 IN ('x')", "params.p1 NOT IN ('x', 'y')", "tags.t1 IN ('no')", "attributes.status IN ('FAILED')",
    "attributes.user_id NOT IN ('ann')", "metrics.m1 IN (1)", "start_time IN (1000)",
    # values of the wrong type
    "metrics.m1 = '1'", "metrics.m1 > 'x'", "params.p1 = 10", "tags.t1 = 1.5", "attributes.status = 0",
    "attributes.start_time > '1000'", "end_time = 'x'",
    # entity types and attribute keys
    "foo.p1 = 'x'", "PARAMS.p1 = 'x'", "Tags.t1 = 'x'", "METRIC.m1 > 0", "attributes.lifecycle_stage = 'active'",
    "attributes.run_uuid = 'x'", "attributes.experiment_id = '1'", "attributes.name = 'x'",
    # IS NULL outside params and tags
    "metrics.m1 IS NULL", "attributes.status IS NOT NULL",
    # comparators that do not exist
    "metrics.m1 >>> 1", "metrics.m1 == 1", "metrics.m1 => 1", "metrics.m1 <> 1", "params.p1 NOT LIKE 'x'",
    # structure
    "params.p1 = 'x", 'params.p1 = "x', "params.`p1 = 'x'", "params.p1 = 'x' 'y'", "params.p1 LIKE",
    "metrics.m1", "(metrics.m1 > 0)", "metrics.m1 > 0 OR metrics.m1 < 0", "attributes.run_id IN ()",
    "attributes.run_id IN 'x'", "params.p1 = x",
]


@st.composite
def invalid_filter(draw, runs):
    """A valid filter with one invalid clause put in somewhere."""
    base = draw(valid_filter(runs))
    bad = draw(st.sampled_from(INVALID_CLAUSES))
    position = draw(st.integers(0, len(base.clauses)))
    clauses = base.clauses[:position] + [Clause(bad, "invalid", "", "")] + base.clauses[position:]
    return Filter(clauses, [" AND "] * (len(clauses) - 1)), bad


# ----------------------------------------------------------------------------- the tests


def _official_python(pdata, text):
    """The official client library's evaluation: a set of run ids, or None when it refuses."""
    try:
        return {r.info.run_id for r in SearchUtils.filter(pdata.official_runs, text)}
    except MlflowException as error:
        assert error.error_code == "INVALID_PARAMETER_VALUE", error
        return None


def test_the_seeded_runs_cover_the_vocabulary(pdata):
    runs = pdata.runs
    assert len(runs) == 60
    assert any(r.end is None for r in runs) and any(r.end is not None for r in runs)
    assert any(isinstance(r.metrics.get("m1"), float) and math.isnan(r.metrics["m1"]) for r in runs)
    assert sum("p1" in r.params for r in runs) not in (0, 60)
    assert {r.status for r in runs} == set(STATUSES)


def test_valid_filters_match_a_python_evaluation(pdata):
    @settings(**SETTINGS)
    @given(valid_filter(pdata.runs))
    def check(flt):
        text = flt.text
        expected = flt.expected(pdata.runs)
        assert _official_python(pdata, text) == expected, f"the model disagrees with mlflow's own: {text!r}"
        response = pdata.rest.post("runs/search", search_body([pdata.exp], text, max_results=1000))
        found = run_ids(response)
        assert len(found) == len(set(found)), f"a run came back twice for {text!r}"
        assert set(found) == expected, (
            f"filter {text!r}: {len(set(found) - expected)} unexpected, {len(expected - set(found))} missing")

    check()


def test_invalid_filters_are_refused_with_400(pdata):
    @settings(**SETTINGS)
    @given(invalid_filter(pdata.runs))
    def check(flt_and_bad):
        flt, bad = flt_and_bad
        text = flt.text
        # (mlflow's evaluation checks comparators lazily, run by run: ask it about the bad clause alone)
        assert _official_python(pdata, bad) is None, f"mlflow's own evaluation accepts {bad!r}"
        response = pdata.rest.post("runs/search", search_body([pdata.exp], text))
        assert response.status_code == 400, f"{text!r}: {response.status_code} {response.text[:300]}"
        assert response.json().get("error_code") == "INVALID_PARAMETER_VALUE", response.text

    check()
