"""The trace store: trace info, tags, metadata, run links and spans in SQL.

A trace's tags and metadata are rows (which filters read) and also JSON arrays of
{"key", "value"} in trace_info.tags_json and metadata_json, rewritten by the database from the
rows in the transaction that changed them (as runs keep tags_json), so that a page of trace
infos is one statement. Each span keeps `content`, its JSON exactly as traces/get returns it:
reading a trace splices those texts into the answer without parsing them.

Methods take and return plain values shaped like the REST API's JSON (TraceInfoV3: times as
proto Timestamp/Duration text); the rules (what a client may send, what a root span implies)
are the service's.
"""
from __future__ import annotations

import functools

import orjson
import sqlalchemy as sa

from ..errors import invalid, not_found
from . import assessments as assessment_store
from . import bulk
from .db import Database, fetch_tuples
from .in_list import in_list
from .json_sql import key_value_array
from .proto_time import duration_json, timestamp_json
from .schema import experiments, runs, spans, trace_info, trace_metadata, trace_runs, trace_tags
from .trace_rows import delete_trace_rows, lock_trace, trace_not_found
from .tracking import active_experiment_location

ARTIFACT_LOCATION = "mlflow.artifactLocation"
SPANS_LOCATION, TRACKING_STORE = "mlflow.trace.spansLocation", "TRACKING_STORE"
INFO_FINALIZED = "mlflow.trace.infoFinalized"  # metadata of a trace StartTrace stored: its times are final
SPAN_COLUMNS = ("trace_id", "span_id", "parent_span_id", "name", "span_type", "status", "start_ns", "end_ns",
                "content")

INFO_COLUMNS = (trace_info.c.trace_id, trace_info.c.experiment_id, trace_info.c.request_time,
                 trace_info.c.execution_duration, trace_info.c.state, trace_info.c.client_request_id,
                 trace_info.c.request_preview, trace_info.c.response_preview, trace_info.c.tags_json,
                 trace_info.c.metadata_json)
_INFOS_BY_ID = sa.select(*INFO_COLUMNS).where(in_list(trace_info.c.trace_id, "ids"))
# root span first, then by start time, as the official server orders a trace's spans
_SPAN_CONTENTS = (sa.select(spans.c.content).where(spans.c.trace_id == sa.bindparam("trace_id"))
                  .order_by(spans.c.parent_span_id.is_not(None), spans.c.start_ns, spans.c.span_id))
_SPAN_TRACE_COLUMNS = ("trace_id", "experiment_id", "request_time", "execution_duration", "state", "request_preview",
                       "response_preview")
_LOCKED_TRACES = (sa.select(trace_info.c.trace_id, trace_info.c.request_time, trace_info.c.execution_duration,
                            trace_info.c.state, trace_info.c.request_preview, trace_info.c.response_preview,
                            trace_info.c.metadata_json, trace_info.c.tags_json, trace_info.c.experiment_id)
                  .where(in_list(trace_info.c.trace_id, "ids")).order_by(trace_info.c.trace_id).with_for_update())
_TRACE_EXPERIMENT_LOCATION = (sa.select(experiments.c.artifact_location)
                              .join(trace_info, trace_info.c.experiment_id == experiments.c.experiment_id)
                              .where(trace_info.c.trace_id == sa.bindparam("trace_id")))
_RUN_EXPERIMENT = sa.select(runs.c.experiment_id).where(runs.c.run_uuid == sa.bindparam("run_id"))
_KEY_VALUE_TABLES = ((trace_tags, trace_info.c.tags_json), (trace_metadata, trace_info.c.metadata_json))


def _key_values(text: str | None) -> dict:
    return {item["key"]: item["value"] for item in orjson.loads(text)} if text else {}


def _info_json(row, its_assessments: list[dict] | None) -> dict:
    """TraceInfoV3 JSON of a row that starts with INFO_COLUMNS."""
    (trace_id, experiment_id, request_time, duration, state, client_request_id, request_preview, response_preview,
     tags_json, metadata_json, *_) = row
    info = {"trace_id": trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": str(experiment_id)}},
            "request_time": timestamp_json(request_time), "state": state,
            "trace_metadata": _key_values(metadata_json), "tags": _key_values(tags_json)}
    if duration is not None:
        info["execution_duration"] = duration_json(duration)
    if client_request_id is not None:
        info["client_request_id"] = client_request_id
    if request_preview is not None:
        info["request_preview"] = request_preview
    if response_preview is not None:
        info["response_preview"] = response_preview
    if its_assessments:
        info["assessments"] = its_assessments
    return info


def infos_json(conn, trace_ids: list[str]) -> list[dict]:
    """TraceInfoV3 JSON of each of trace_ids that exists, in that order."""
    if not trace_ids:
        return []
    rows = fetch_tuples(conn, _INFOS_BY_ID, {"ids": list(dict.fromkeys(trace_ids))})
    found = assessment_store.for_traces(conn, [row[0] for row in rows])
    by_id = {row[0]: _info_json(row, found.get(row[0])) for row in rows}
    return [by_id[trace_id] for trace_id in dict.fromkeys(trace_ids) if trace_id in by_id]


def page_infos_json(conn, rows: list[tuple]) -> list[dict]:
    """TraceInfoV3 JSON of rows of INFO_COLUMNS and then whether the trace has assessments (a
    search's page), in their order; assessments are read for the traces that have some."""
    found = assessment_store.for_traces(conn, [row[0] for row in rows if row[len(INFO_COLUMNS)]])
    return [_info_json(row, found.get(row[0])) for row in rows]


# the statements that rewrite tags_json and metadata_json of the traces bound as "ids"
_REFRESH_JSON = {table: trace_info.update().where(in_list(trace_info.c.trace_id, "ids")).values({
    column: sa.select(key_value_array(table.c.key, table.c.value))
    .where(table.c.trace_id == trace_info.c.trace_id).scalar_subquery()}) for table, column in _KEY_VALUE_TABLES}


def refresh_key_values_json(conn, trace_ids: list[str], tables=(trace_tags, trace_metadata)) -> None:
    """Rewrite tags_json and metadata_json (or those of `tables`) of trace_ids from their rows.
    The caller has locked (or just created) the traces' rows, so concurrent writers of a trace
    take turns."""
    for table in tables:
        conn.execute(_REFRESH_JSON[table], {"ids": trace_ids})


def _marks(dialect: sa.Dialect, count: int) -> str:
    """`count` placeholders of the driver's paramstyle (sqlite3's qmark, the others' format)."""
    return ", ".join(["?" if dialect.name == "sqlite" else "%s"] * count)


@functools.cache
def _upsert_sql(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> str:
    """INSERT of `columns` overwriting the non-key columns of an existing row, in the driver's
    form: `VALUES %s` for psycopg2's execute_values, one row of placeholders otherwise."""
    quote = dialect.identifier_preparer.quote  # `key` is reserved in MySQL
    keys = [c.name for c in table.primary_key]
    names = ", ".join(quote(c) for c in columns)
    updated = [quote(c) for c in columns if c not in keys]
    if dialect.name == "mysql":
        return (f"INSERT INTO {table.name} ({names}) VALUES ({_marks(dialect, len(columns))}) "
                f"ON DUPLICATE KEY UPDATE {', '.join(f'{c} = VALUES({c})' for c in updated)}")
    values = "%s" if dialect.name == "postgresql" else f"({_marks(dialect, len(columns))})"
    return (f"INSERT INTO {table.name} ({names}) VALUES {values} ON CONFLICT ({', '.join(quote(k) for k in keys)}) "
            f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in updated)}")


def _upsert_rows(conn, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows (tuples in `columns` order, no key twice), overwriting the other columns of
    those whose primary key exists: one statement at the driver level, as bulk.insert_ignore."""
    if not rows:
        return
    sql = _upsert_sql(conn.dialect, table, columns)
    if conn.dialect.name == "postgresql":
        from psycopg2.extras import execute_values
        with conn.connection.dbapi_connection.cursor() as cursor:
            execute_values(cursor, sql, rows, page_size=len(rows))
    else:  # PyMySQL turns executemany of this form into one multi-row INSERT
        conn.exec_driver_sql(sql, rows)


def _upsert_key_values(conn, table: sa.Table, rows: list[tuple[str, str, str]]) -> None:
    """Tags or metadata (trace_id, key, value), overwriting the values of keys a trace has."""
    _upsert_rows(conn, table, ("trace_id", "key", "value"), rows)


def _pairs_json(pairs: dict) -> str | None:
    """Tags or metadata as tags_json / metadata_json hold them (as key_value_array writes them)."""
    return orjson.dumps([{"key": k, "value": v} for k, v in pairs.items()]).decode() if pairs else None


@functools.cache
def _insert_if_absent_sql(dialect: sa.Dialect, columns: tuple[str, ...]) -> str:
    """INSERT of a trace_info row that does nothing (rowcount 0) when the trace exists."""
    names, marks = ", ".join(columns), _marks(dialect, len(columns))
    if dialect.name == "mysql":
        return f"INSERT IGNORE INTO trace_info ({names}) VALUES ({marks})"
    return f"INSERT INTO trace_info ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"


@functools.cache
def _update_sql(dialect: sa.Dialect, columns: tuple[str, ...]) -> str:
    """UPDATE of `columns` of one trace_info row, its trace_id bound last."""
    mark = _marks(dialect, 1)
    return f"UPDATE trace_info SET {', '.join(f'{c} = {mark}' for c in columns)} WHERE trace_id = {mark}"


def _update_info(conn, trace_id: str, values: dict) -> int:
    """Set the trace's columns in `values`; the number of rows changed (0: no such trace)."""
    return conn.exec_driver_sql(_update_sql(conn.dialect, tuple(values)), (*values.values(), trace_id)).rowcount


def elsewhere(trace_id: str):
    """A write naming a stored trace in another experiment than its own: traces do not move."""
    return invalid(f"Trace with ID '{trace_id}' belongs to another experiment; a trace cannot be moved.")


def _artifact_location(experiment_location: str, trace_id: str) -> str:
    return f"{experiment_location.rstrip('/')}/traces/{trace_id}/artifacts"


def _runs_in(conn, run_ids: list[str], experiment_id: int) -> list[str]:
    """Those of run_ids that are runs of the experiment (a trace links only to its own)."""
    return [r for r in run_ids if conn.execute(_RUN_EXPERIMENT, {"run_id": r}).scalar() == experiment_id]


def _check_run_in(conn, run_id: str, experiment_id: int) -> None:
    found = conn.execute(_RUN_EXPERIMENT, {"run_id": run_id}).first()
    if found is None:
        raise not_found(f"Run with id={run_id} not found")
    if found.experiment_id != experiment_id:
        raise invalid(f"Run '{run_id}' is not in experiment {experiment_id}: traces link only to runs of "
                      "their own experiment.")


class TraceStore:
    def __init__(self, database: Database):
        self.db = database

    # ------------------------------------------------------------ reads

    def infos(self, trace_ids: list[str]) -> list[dict]:
        """The TraceInfoV3 JSON of each trace that exists, in the order of trace_ids."""
        with self.db.read() as conn:
            return infos_json(conn, trace_ids)

    def info(self, trace_id: str) -> dict:
        found = self.infos([trace_id])
        if not found:
            raise trace_not_found(trace_id)
        return found[0]

    def artifact_location(self, trace_id: str) -> str:
        """The trace's artifact location, derived from its experiment's."""
        with self.db.read() as conn:
            location = conn.execute(_TRACE_EXPERIMENT_LOCATION, {"trace_id": trace_id}).scalar()
        if location is None:
            raise trace_not_found(trace_id)
        return _artifact_location(location, trace_id)

    def trace(self, trace_id: str) -> tuple[dict, list[str]]:
        """A trace's info and its spans' stored JSON texts (root first, then by start time)."""
        with self.db.read() as conn:
            found = infos_json(conn, [trace_id])
            if not found:
                raise trace_not_found(trace_id)
            contents = [row[0] for row in fetch_tuples(conn, _SPAN_CONTENTS, {"trace_id": trace_id})]
        return found[0], contents

    def traces(self, trace_ids: list[str]) -> list[tuple[dict, list[str]]]:
        """(info, span texts) of each of trace_ids that exists, in that order."""
        with self.db.read() as conn:
            infos = infos_json(conn, trace_ids)
            by_trace: dict[str, list] = {info["trace_id"]: [] for info in infos}
            if by_trace:
                rows = fetch_tuples(conn, sa.select(spans.c.trace_id, spans.c.content)
                                    .where(in_list(spans.c.trace_id, "ids"))
                                    .order_by(spans.c.trace_id, spans.c.parent_span_id.is_not(None),
                                              spans.c.start_ns, spans.c.span_id), {"ids": list(by_trace)})
                for trace_id, content in rows:
                    by_trace[trace_id].append(content)
        return [(info, by_trace[info["trace_id"]]) for info in infos]

    # ------------------------------------------------------------ writes

    def start(self, info: dict, tags: dict, metadata: dict, run_ids: list[str]) -> dict:
        """Store a trace's info (columns of trace_info in `info`, with trace_id and
        experiment_id), tags, metadata and run links; a trace whose spans arrived first (even
        concurrently) is merged: its row takes these values (previews only when given), its
        tags and metadata these over its own. The experiment must be active, and a stored trace
        must be in it (traces do not move); run_ids not of that experiment are not linked.
        Returns the stored TraceInfoV3 JSON."""
        trace_id, experiment_id = info["trace_id"], info["experiment_id"]
        merged = {k: v for k, v in info.items() if v is not None or k not in ("request_preview", "response_preview")}

        def work(conn):
            location = active_experiment_location(conn, experiment_id)
            all_tags = {**tags, ARTIFACT_LOCATION: _artifact_location(location, trace_id)}
            row = {**info, "tags_json": _pairs_json(all_tags), "metadata_json": _pairs_json(metadata)}
            created = conn.exec_driver_sql(_insert_if_absent_sql(conn.dialect, tuple(row)),
                                           tuple(row.values())).rowcount == 1
            # else made by an OTLP export (maybe a concurrent one): lock its row and merge
            if not created and conn.execute(trace_info.update().where(
                    trace_info.c.trace_id == trace_id, trace_info.c.experiment_id == experiment_id)
                    .values(merged)).rowcount == 0:
                raise elsewhere(trace_id)
            _upsert_key_values(conn, trace_tags, [(trace_id, k, v) for k, v in all_tags.items()])
            _upsert_key_values(conn, trace_metadata, [(trace_id, k, v) for k, v in metadata.items()])
            bulk.insert_ignore(conn, trace_runs, ("trace_id", "run_id"),
                               [(trace_id, r) for r in _runs_in(conn, run_ids, experiment_id)])
            if created:  # what was sent is what is stored
                return _info_json(tuple(row[c.name] if c.name in row else None for c in INFO_COLUMNS), None)
            refresh_key_values_json(conn, [trace_id])
            return infos_json(conn, [trace_id])[0]
        return self.db.write(work)

    def end_v2(self, trace_id: str, values: dict, tags: dict, metadata: dict) -> dict:
        """The 2.x client's EndTrace: the row's state and duration (in `values`), tags and
        metadata added."""
        def work(conn):
            lock_trace(conn, trace_id)
            _update_info(conn, trace_id, values)
            _upsert_key_values(conn, trace_tags, [(trace_id, k, v) for k, v in tags.items()])
            _upsert_key_values(conn, trace_metadata, [(trace_id, k, v) for k, v in metadata.items()])
            refresh_key_values_json(conn, [trace_id])
            return infos_json(conn, [trace_id])[0]
        return self.db.write(work)

    def log_spans(self, experiment_id: int, traces: list[dict], span_rows: list[tuple],
                  run_id: str | None) -> None:
        """Store the spans of an OTLP export in one transaction. traces: per trace, what its spans
        say of it: {"trace_id", "request_time", "end_time" (or None), "state" (from the root
        span, or None), "request_preview", "response_preview", "tags"}. A trace not stored yet
        is created from that (in experiment_id, which must be active); a stored one (which must be in
        experiment_id: a 400 otherwise, nothing stored) keeps what its
        StartTrace set (mlflow.trace.infoFinalized) and otherwise widens its times to its spans',
        takes the root span's state while in progress, and previews it has none of. A span sent
        again replaces the stored one. With run_id (a run of experiment_id: else 404 or 400,
        nothing stored), traces whose root span came are linked to it."""
        traces = sorted(traces, key=lambda t: t["trace_id"])  # rows locked in one order: no deadlocks
        trace_ids = [t["trace_id"] for t in traces]

        def work(conn):
            if run_id:
                _check_run_in(conn, run_id, experiment_id)
            stored = {row.trace_id: row for row in conn.execute(_LOCKED_TRACES, {"ids": trace_ids})}
            if any(row.experiment_id != experiment_id for row in stored.values()):
                raise elsewhere(next(i for i, row in stored.items() if row.experiment_id != experiment_id))
            new = [t for t in traces if t["trace_id"] not in stored]
            if new:  # made from their spans; a concurrent StartTrace's row wins
                location = active_experiment_location(conn, experiment_id)
                bulk.insert_ignore(conn, trace_info, _SPAN_TRACE_COLUMNS, [(
                    t["trace_id"], experiment_id, t["request_time"],
                    None if t["end_time"] is None else t["end_time"] - t["request_time"],
                    t["state"] or "IN_PROGRESS", t["request_preview"], t["response_preview"]) for t in new])
                bulk.insert_ignore(conn, trace_tags, ("trace_id", "key", "value"), [
                    (t["trace_id"], ARTIFACT_LOCATION, _artifact_location(location, t["trace_id"])) for t in new])
            tag_rows, retagged = [], []
            for t in traces:
                row, wanted = stored.get(t["trace_id"]), {**t["tags"], SPANS_LOCATION: TRACKING_STORE}
                tags = None if row is None else _key_values(row.tags_json)
                if tags is None or not wanted.items() <= tags.items():
                    tag_rows += [(t["trace_id"], k, v) for k, v in wanted.items()]
                if row is None:  # its tags_json from the rows: a concurrent StartTrace's may be there
                    retagged.append(t["trace_id"])
                    continue
                values = _widened(row, t)
                if not wanted.items() <= tags.items():  # locked, so its tags_json is its rows'
                    values["tags_json"] = _pairs_json({**tags, **wanted})
                if values:
                    _update_info(conn, t["trace_id"], values)
            _upsert_key_values(conn, trace_tags, tag_rows)
            if retagged:
                refresh_key_values_json(conn, retagged, (trace_tags,))
            _upsert_rows(conn, spans, SPAN_COLUMNS, span_rows)  # a span sent again replaces the stored one
            if run_id:
                bulk.insert_ignore(conn, trace_runs, ("trace_id", "run_id"),
                                   [(t["trace_id"], run_id) for t in traces if t["state"] is not None])
        self.db.write(work)

    def set_tag(self, trace_id: str, key: str, value: str) -> None:
        def work(conn):
            lock_trace(conn, trace_id)
            _upsert_key_values(conn, trace_tags, [(trace_id, key, value)])
            refresh_key_values_json(conn, [trace_id])
        self.db.write(work)

    def delete_tag(self, trace_id: str, key: str) -> None:
        def work(conn):
            lock_trace(conn, trace_id)
            deleted = conn.execute(sa.delete(trace_tags).where(trace_tags.c.trace_id == trace_id,
                                                                trace_tags.c.key == key)).rowcount
            if not deleted:
                raise not_found(f"No trace tag with key '{key}' for trace with ID '{trace_id}'")
            refresh_key_values_json(conn, [trace_id])
        self.db.write(work)

    def delete_traces(self, experiment_id: int, max_timestamp_millis: int | None, max_traces: int | None,
                      trace_ids: list[str] | None) -> int:
        """Delete the experiment's traces named by trace_ids, or its oldest up to max_traces
        whose request_time is at most max_timestamp_millis, with their tags, metadata, run
        links, spans and assessments (delete_trace_rows)."""
        def work(conn):
            query = sa.select(trace_info.c.trace_id).where(trace_info.c.experiment_id == experiment_id)
            if trace_ids is not None:
                query = query.where(trace_info.c.trace_id.in_(trace_ids))
            else:
                query = query.where(trace_info.c.request_time <= max_timestamp_millis).order_by(
                    trace_info.c.request_time, trace_info.c.trace_id)
                if max_traces:
                    query = query.limit(max_traces)
            ids = list(conn.execute(query).scalars())
            delete_trace_rows(conn, ids)
            return len(ids)
        return self.db.write(work)

    def link_to_run(self, trace_ids: list[str], run_id: str) -> None:
        """Link the traces to the run, which must exist; every trace must exist."""
        def work(conn):
            if conn.execute(sa.select(runs.c.run_uuid).where(runs.c.run_uuid == run_id)).first() is None:
                raise not_found(f"Run with id={run_id} not found")
            found = set(conn.execute(sa.select(trace_info.c.trace_id)
                                     .where(trace_info.c.trace_id.in_(trace_ids))).scalars())
            for trace_id in trace_ids:
                if trace_id not in found:
                    raise trace_not_found(trace_id)
            bulk.insert_ignore(conn, trace_runs, ("trace_id", "run_id"), [(t, run_id) for t in trace_ids])
        self.db.write(work)

    def merge_tag(self, trace_id: str, key: str, merge) -> None:
        """Set tag `key` to merge(its current value or None), the trace's row locked meanwhile."""
        def work(conn):
            lock_trace(conn, trace_id)
            current = conn.execute(sa.select(trace_tags.c.value).where(
                trace_tags.c.trace_id == trace_id, trace_tags.c.key == key)).scalar()
            _upsert_key_values(conn, trace_tags, [(trace_id, key, merge(current))])
            refresh_key_values_json(conn, [trace_id])
        self.db.write(work)


def _widened(row, trace: dict) -> dict:
    """What a stored trace's row (of _LOCKED_TRACES) takes from spans that arrived after it."""
    values = {}
    if INFO_FINALIZED not in _key_values(row.metadata_json):
        start = min(row.request_time, trace["request_time"])
        end = row.request_time + row.execution_duration if row.execution_duration is not None else None
        if trace["end_time"] is not None:
            end = max(end or trace["end_time"], trace["end_time"])
        if start != row.request_time:
            values["request_time"] = start
        if end is not None and end - start != row.execution_duration:
            values["execution_duration"] = end - start
    if row.state in ("IN_PROGRESS", "STATE_UNSPECIFIED") and trace["state"]:
        values["state"] = trace["state"]
    if row.request_preview is None and trace["request_preview"] is not None:
        values["request_preview"] = trace["request_preview"]
    if row.response_preview is None and trace["response_preview"] is not None:
        values["response_preview"] = trace["response_preview"]
    return values
