"""Assessments (feedback, expectations and issue references on traces) in SQL.

A row keeps what the official SQL store keeps, in the same form (so the database exports as it
is): the value as JSON text (Python's json.dumps), the feedback's error as JSON text of
{error_code, error_message, stack_trace}, the metadata as JSON text of a string map, times in
milliseconds. Rows are rendered straight into the API's Assessment JSON (proto3 names), as the
official server renders its Assessment entity: numbers as doubles, an expectation's value as
`value` when it is a number, a string or a bool and as JSON text in `serialized_value`
otherwise.

Overrides: an assessment created with `overrides` marks the one it names invalid, in the same
transaction; deleting it makes that one valid again (unless another assessment overrides it too).
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import already_exists, invalid, not_found
from .db import Database
from .in_list import in_list
from .proto_time import timestamp_json
from .schema import assessments
from .trace_rows import lock_trace, trace_exists

FEEDBACK, EXPECTATION, ISSUE = "feedback", "expectation", "issue"
JSON_FORMAT = "JSON_FORMAT"
_COLUMNS = [column for column in assessments.c]
_BY_TRACES = sa.select(*_COLUMNS).where(in_list(assessments.c.trace_id, "ids")).order_by(
    assessments.c.trace_id, assessments.c.create_time, assessments.c.assessment_id)


def _double(value):
    """A JSON scalar as a protobuf Value carries it: integers are doubles."""
    return float(value) if type(value) is int else value


def _expectation_json(value) -> dict:
    if isinstance(value, (int, float, str)):  # bool is an int
        return {"value": _double(value)}
    return {"serialized_value": {"serialization_format": JSON_FORMAT, "value": json.dumps(value)}}


def assessment_json(row) -> dict:
    """The Assessment JSON of a row (any mapping or row object with the table's columns)."""
    value = orjson.loads(row.value)
    out = {"assessment_id": row.assessment_id, "assessment_name": row.name, "trace_id": row.trace_id}
    if row.span_id is not None:
        out["span_id"] = row.span_id
    source = {"source_type": row.source_type}
    if row.source_id:
        source["source_id"] = row.source_id
    out["source"] = source
    out["create_time"] = timestamp_json(row.create_time)
    out["last_update_time"] = timestamp_json(row.last_update_time)
    if row.kind == FEEDBACK:
        feedback = {"value": value}
        if row.error is not None:
            feedback["error"] = {k: v for k, v in orjson.loads(row.error).items() if v}
        out["feedback"] = feedback
    elif row.kind == EXPECTATION:
        out["expectation"] = _expectation_json(value)
    if row.rationale:
        out["rationale"] = row.rationale
    if row.metadata:
        out["metadata"] = orjson.loads(row.metadata)
    if row.overrides:
        out["overrides"] = row.overrides
    out["valid"] = bool(row.valid)
    if row.kind == ISSUE:
        out["issue"] = value
    return out


def for_traces(conn, trace_ids: list[str]) -> dict[str, list[dict]]:
    """Each trace's assessments as the API's Assessment JSON, oldest first: one query for a page
    of traces; every id asked for is a key, with [] when the trace has none."""
    found: dict[str, list[dict]] = {trace_id: [] for trace_id in trace_ids}
    if trace_ids:
        for row in conn.execute(_BY_TRACES, {"ids": list(found)}):
            found[row.trace_id].append(assessment_json(row))
    return found


def _assessment_not_found(trace_id: str, assessment_id: str):
    return not_found(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'")


def _one(trace_id: str, assessment_id: str):
    return sa.select(*_COLUMNS).where(assessments.c.trace_id == trace_id,
                                      assessments.c.assessment_id == assessment_id)


class AssessmentStore:
    def __init__(self, database: Database):
        self.db = database

    def create(self, row: dict) -> dict:
        """Insert a complete row (every column); the trace's row is locked meanwhile, so that a
        concurrent deletion of the trace waits or is seen."""
        def work(conn):
            trace_id = row["trace_id"]
            lock_trace(conn, trace_id)
            if row["overrides"]:
                overridden = conn.execute(assessments.update().where(
                    assessments.c.trace_id == trace_id, assessments.c.assessment_id == row["overrides"],
                ).values(valid=False))
                if overridden.rowcount == 0:
                    raise _assessment_not_found(trace_id, row["overrides"])
            try:
                conn.execute(assessments.insert().values(row))
            except IntegrityError:  # the trace is locked: only a client-chosen id can collide
                raise already_exists(f"Assessment with ID '{row['assessment_id']}' already exists") from None
            return assessment_json(SimpleNamespace(**row))
        return self.db.write(work)

    def get(self, trace_id: str, assessment_id: str) -> dict:
        with self.db.read() as conn:
            return self._read(conn, trace_id, assessment_id)

    def update(self, trace_id: str, assessment_id: str, kind: str | None, values: dict,
               metadata: dict | None) -> dict:
        """Set `values` (columns) on the assessment, merge `metadata` into its metadata, and
        return it. `kind`: the kind the assessment must be, when its value changes."""
        def work(conn):
            current = conn.execute(_one(trace_id, assessment_id).with_for_update()).first()
            if current is None:
                self._missing(conn, trace_id, assessment_id)
            if kind is not None and current.kind != kind:
                raise invalid(f"Cannot update {kind} value on {_article(current.kind)} assessment.")
            changes = dict(values)
            if metadata:
                merged = {**(orjson.loads(current.metadata) if current.metadata else {}), **metadata}
                changes["metadata"] = json.dumps(merged)
            conn.execute(assessments.update().where(
                assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id,
            ).values(changes))
            return self._read(conn, trace_id, assessment_id)
        return self.db.write(work)

    def delete(self, trace_id: str, assessment_id: str) -> None:
        """Delete the assessment (nothing when there is none, as the official server) and make
        the one it overrode valid again, unless another assessment still overrides that one."""
        def work(conn):
            row = conn.execute(sa.select(assessments.c.overrides).where(
                assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id,
            ).with_for_update()).first()
            if row is None:
                return
            still_overridden = row.overrides and conn.execute(sa.select(assessments.c.assessment_id).where(
                assessments.c.trace_id == trace_id, assessments.c.overrides == row.overrides,
                assessments.c.assessment_id != assessment_id).limit(1)).first()
            if row.overrides and not still_overridden:
                conn.execute(assessments.update().where(
                    assessments.c.trace_id == trace_id, assessments.c.assessment_id == row.overrides,
                ).values(valid=True))
            conn.execute(assessments.delete().where(
                assessments.c.trace_id == trace_id, assessments.c.assessment_id == assessment_id))
        self.db.write(work)

    def _read(self, conn, trace_id: str, assessment_id: str) -> dict:
        row = conn.execute(_one(trace_id, assessment_id)).first()
        if row is None:
            self._missing(conn, trace_id, assessment_id)
        return assessment_json(row)

    @staticmethod
    def _missing(conn, trace_id: str, assessment_id: str):
        if not trace_exists(conn, trace_id):  # the official get-assessment's words
            raise not_found(f"Trace with request_id '{trace_id}' not found")
        raise _assessment_not_found(trace_id, assessment_id)


def _article(kind: str) -> str:
    return f"an {kind.capitalize()}" if kind[0] in "aeiou" else f"a {kind.capitalize()}"
