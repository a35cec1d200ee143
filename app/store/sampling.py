"""Bulk-interval history: up to max_results points of a run's metric, evenly spread over its
points in step order, first and last always included.

A key whose points were logged in step order at a fixed spacing (latest_metrics keeps its
points and stride, see series()) is sampled by arithmetic; any other key has its steps read in
order first. Either way only the sampled points are read in full.
"""
from __future__ import annotations

import bisect
import itertools

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from .db import fetch_tuples
from .in_list import in_list
from .schema import metrics

POINT_COLUMNS = (metrics.c.value, metrics.c.is_nan, metrics.c.timestamp, metrics.c.step)
_ORDER = ("step", "timestamp", "value", "is_nan")
_SERIES_LIMIT = 2**61


def series(steps: list[int]) -> tuple[int, int | None]:
    """(points, stride) of a batch's steps of one key: stride None unless they are evenly
    spaced, one point per step (0 for a single point), and within +-2**61, so that the
    database's 64-bit arithmetic on them never overflows."""
    steps.sort()
    if not -_SERIES_LIMIT < steps[0] <= steps[-1] < _SERIES_LIMIT:
        return len(steps), None
    if len(steps) == 1:
        return 1, 0
    stride = steps[1] - steps[0]
    if stride > 0 and all(b - a == stride for a, b in zip(steps, steps[1:])):
        return len(steps), stride
    return len(steps), None


def _evenly_spaced(count: int, wanted: int) -> list[int]:
    """1-based positions of `wanted` points spread evenly over `count`, first and last included."""
    if wanted == 1:
        return [count]
    return sorted({1 + round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


class _IntegersAsArrayText(sa.TypeDecorator):
    """A list of integers bound as PostgreSQL array text, '{1,2,3}': psycopg2 adapts a list
    element by element in Python, about 3 ms for 1000 steps."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return "{" + ",".join(map(str, value)) + "}"


def _points_at_steps(dialect: str):
    """The points of run :run_id and key :key at the steps in :steps, in (step, timestamp,
    value) order: one index descent per step. PostgreSQL, given the steps as a list, often
    reads every point of the run's key instead (30 ms against 8 ms for 1000 steps out of
    100,000); a lateral subquery that it cannot merge into a join (OFFSET 0) makes it descend."""
    where = [metrics.c.run_uuid == sa.bindparam("run_id"), metrics.c.key == sa.bindparam("key")]
    if dialect != "postgresql":
        return (sa.select(*POINT_COLUMNS).where(*where, in_list(metrics.c.step, "steps"))
                .order_by(*(metrics.c[c] for c in _ORDER)))
    steps = sa.cast(sa.bindparam("steps", type_=_IntegersAsArrayText()), ARRAY(sa.BigInteger))
    wanted = sa.func.unnest(steps).table_valued("step").render_derived(name="wanted")
    point = sa.select(*POINT_COLUMNS).where(*where, metrics.c.step == wanted.c.step).offset(0).lateral("point")
    return (sa.select(*(point.c[c.name] for c in POINT_COLUMNS)).select_from(wanted).join(point, sa.true())
            .order_by(*(point.c[c] for c in _ORDER)))


class Sampler:
    """The sample of one run's key, given what latest_metrics knows of it."""

    def __init__(self, dialect: str):
        self._points_at_steps = _points_at_steps(dialect)  # built once per store

    def sample(self, conn, run_id: str, key: str, last: int, points: int | None, stride: int | None,
               start_step: int | None, end_step: int | None, max_results: int) -> list[tuple]:
        """(value, is_nan, timestamp, step) rows of the sample, in step order."""
        where = [metrics.c.run_uuid == run_id, metrics.c.key == key]
        if start_step is not None:
            where += [metrics.c.step >= start_step, metrics.c.step <= end_step]
        if stride is None:
            steps, offsets = self._sampled_steps(conn, where, max_results)
        else:
            steps, offsets = _series_steps(last, points, stride, start_step, end_step, max_results), None
        if steps is None:  # no more points than max_results: all of them
            return fetch_tuples(conn, sa.select(*POINT_COLUMNS).where(*where).order_by(
                *(metrics.c[c] for c in _ORDER)))
        rows = fetch_tuples(conn, self._points_at_steps, {"run_id": run_id, "key": key, "steps": steps})
        if offsets is None:
            return rows
        return [row for step, group in itertools.groupby(rows, key=lambda row: row[3])
                for i, row in enumerate(group) if i in offsets[step]]

    @staticmethod
    def _sampled_steps(conn, where, max_results):
        """(steps, {step: positions wanted among the points at that step}) of any points, their
        steps read in order from the (run, key, step) index; (None, None) for all of them."""
        steps = [s for (s,) in fetch_tuples(conn, sa.select(metrics.c.step).where(*where).order_by(metrics.c.step))]
        if len(steps) <= max_results:
            return None, None
        offsets = {}
        for position in _evenly_spaced(len(steps), max_results):
            step = steps[position - 1]
            offsets.setdefault(step, []).append(position - 1 - bisect.bisect_left(steps, step))
        return list(offsets), offsets


def _series_steps(last, points, stride, start_step, end_step, max_results) -> list[int] | None:
    """The sampled steps of evenly spaced points, one per step: arithmetic on the series; None
    for all of the points in the range (no more than max_results), [] for none."""
    first = last - stride * (points - 1)
    low, high = 0, points - 1  # indexes of the first and last point in the step range
    if start_step is not None:
        if stride == 0:
            low, high = (0, 0) if start_step <= first <= end_step else (0, -1)
        else:
            low, high = max(low, -((first - start_step) // stride)), min(high, (end_step - first) // stride)
    count = high - low + 1
    if count <= 0:
        return []
    if count <= max_results:
        return None
    return [first + stride * (low + position - 1) for position in _evenly_spaced(count, max_results)]
