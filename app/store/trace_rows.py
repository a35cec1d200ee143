"""A trace's rows as every store of trace data sees them: its trace_info row (found and
locked, or a 404) and the rows of the tables that belong to it (deleted together)."""
from __future__ import annotations

import sqlalchemy as sa

from ..errors import not_found
from .in_list import in_list
from .schema import assessments, spans, trace_info, trace_metadata, trace_runs, trace_tags

_CHILD_TABLES = (spans, trace_tags, trace_metadata, trace_runs, assessments)


def trace_not_found(trace_id: str):
    return not_found(f"Trace with ID '{trace_id}' not found.")


def trace_exists(conn, trace_id: str, lock: bool = False) -> bool:
    """Whether the trace's row exists; with lock, locked for the transaction (FOR UPDATE), so
    that a concurrent deletion of the trace waits or is seen."""
    query = sa.select(trace_info.c.trace_id).where(trace_info.c.trace_id == trace_id)
    return conn.execute(query.with_for_update() if lock else query).first() is not None


def lock_trace(conn, trace_id: str) -> None:
    """Lock the trace's row, or raise a 404 when there is none."""
    if not trace_exists(conn, trace_id, lock=True):
        raise trace_not_found(trace_id)


def delete_trace_rows(conn, trace_ids: list[str]) -> None:
    """Delete the traces and their tags, metadata, run links, spans and assessments, children
    first by explicit statements (not ON DELETE CASCADE), 500 traces a statement."""
    for start in range(0, len(trace_ids), 500):
        chunk = {"ids": trace_ids[start:start + 500]}
        for table in (*_CHILD_TABLES, trace_info):
            conn.execute(sa.delete(table).where(in_list(table.c.trace_id, "ids")), chunk)
