"""Writes what a Source reads (rows of the official tables) into our schema, in bulk, resumably.

Entities go in the order their references need (experiments, runs and what hangs off them,
datasets, logged models, then inputs, traces (traces.py), then the registry), each table in batches. Each batch is
written in one transaction together with the checkpoint (a table of our own, `import_checkpoint`,
dropped at the end): the position the source reached, the tally, and the parents that were not
imported. Killed at any point, a new run resumes after the last batch committed, and writes no
row twice.

Ids stay what they were (experiment ids, run ids, logged model ids, version numbers). A parent
already in our database is never overwritten: the same id with the same identity (name) is
"already there" (an earlier import, or --merge of what came since), anything else that clashes
is a conflict; either way what hangs off it is not written. Artifact URIs are kept as they
were, but for a password in one, which is dropped as migration 0011 drops it. Rows that belong to nothing in the
source (orphans) and what this server does not keep (associations other than trace -> run,
deleted model versions, permissions on scorers or gateways) are ignored, and the report says so.

The denormalized columns (runs.params_json and tags_json, latest_metrics with its metric_json)
are computed after the rows are in, with the store's own functions (json_sql.key_value_array,
values.metric_json), so they are exactly what the store would have written. PostgreSQL gets
metric points through COPY, MySQL through multi-row INSERTs, SQLite through executemany in
large transactions (store/bulk.py for all but PostgreSQL's points). On a fresh import into
PostgreSQL (empty target, no --merge) the metrics table's keys and index are dropped before the
first point and made again after the last, before the summaries: COPY then only appends. The
checkpoint keeps the statements that make them again, written with the drop, and a resume runs them.
"""
from __future__ import annotations

import io
import json
import math
import queue
import threading

import sqlalchemy as sa

from ..artifacts.credentials import without_password
from ..store import bulk
from ..store.json_sql import key_value_array
from ..store.schema import (
    ACTIVE, LONG_TEXT, MODEL_INPUT, MODEL_OUTPUT, datasets, experiment_tags, experiments, latest_metrics,
    logged_model_metrics, logged_model_params, logged_model_tags, logged_models, metrics, model_version_tags,
    model_versions, params, registered_model_aliases, registered_model_tags, registered_models, run_input_tags,
    run_inputs, run_models, runs, tags,
)
from ..store.tracking import METRIC_COLUMNS, MODEL_METRIC_COLUMNS, RUN_NAME_TAG
from ..store.values import DOUBLE_MAX, encode_value, metric_json
from . import traces
from .progress import Progress, Tally

checkpoint_metadata = sa.MetaData()
checkpoint = sa.Table(
    "import_checkpoint", checkpoint_metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", LONG_TEXT, nullable=False),
)

NEW, PRESENT, CONFLICT, ORPHAN = "new", "present", "conflict", "orphan"
DELETED_VERSION_STAGE = "Deleted_Internal"  # the official registry keeps deleted versions so
LOGGED_MODEL_STATUSES = {0: "LOGGED_MODEL_STATUS_UNSPECIFIED", 1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY",
                         3: "LOGGED_MODEL_UPLOAD_FAILED"}
BATCH = 5_000
METRIC_BATCH = 50_000


def _text(value) -> str:
    return "" if value is None else str(value)


def _uri(value) -> str:
    """An artifact URI as our store keeps it: without a password (migration 0011), else as it was."""
    return without_password(_text(value))


def _count(tally: Tally, state: str) -> None:
    """Count a row not written, by the state of what it belongs to."""
    tally.present += state == PRESENT
    tally.skipped += state == CONFLICT
    tally.ignored += state == ORPHAN


class _CopyText(dict):
    """Text in PostgreSQL COPY's format, escaped once per distinct string (run ids, keys)."""

    def __missing__(self, text: str) -> str:
        escaped = self[text] = (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                                .replace("\r", "\\r"))
        return escaped


def _metric_copy_rows(rows: list[tuple], text: _CopyText) -> str:
    """METRIC_COLUMNS rows as COPY text: the 10-million-point path, one f-string per row."""
    return "".join(f"{text[run]}\t{text[key]}\t{step}\t{timestamp}\t{value!r}\t{'t' if is_nan else 'f'}\n"
                   for run, key, step, timestamp, value, is_nan in rows)


def insert(conn, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows that cannot be there yet (metric points through COPY on PostgreSQL)."""
    if not rows:
        return
    if table is metrics and conn.dialect.name == "postgresql":
        text = _metric_copy_rows(rows, _CopyText())
        with conn.connection.dbapi_connection.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            cursor.copy_expert(f"COPY {table.name} ({names}) FROM STDIN", io.StringIO(text))
        return
    bulk.insert_ignore(conn, table, columns, rows)


class Writer:
    """Writer(engine, registry_engine, replace_default).run(source, progress) -> {entity: Tally}; notes
    in .notes (conflicts). finish() drops the checkpoint."""

    def __init__(self, engine: sa.Engine, registry_engine: sa.Engine, replace_default: bool, fresh: bool = False):
        self.engine = engine
        self.registry_engine = registry_engine
        self.dialect = engine.dialect.name
        self.replace_default = replace_default  # the target holds only the server's own empty Default
        self.fresh = fresh  # the target was empty and not merged into: no one else writes metrics
        self.notes: list[str] = []
        self._ids: dict[str, dict] = {}  # kind -> {id: state}, loaded on demand
        self._skips: dict[str, dict] = {}  # kind -> {id: state other than NEW}, kept in the checkpoint
        self._changed: set[str] = set()  # kinds whose skips the batch changed
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------ checkpoint

    @staticmethod
    def resuming(engine: sa.Engine) -> bool:
        return sa.inspect(engine).has_table(checkpoint.name)

    def _load_checkpoint(self) -> dict:
        checkpoint_metadata.create_all(self.engine)
        with self.engine.connect() as conn:
            saved = {name: json.loads(value) for name, value in conn.execute(sa.select(checkpoint))}
        for name, value in saved.items():
            if name.startswith("skip:"):
                self._skips[name[5:]] = value
            if name == "notes":
                self.notes = value
        return saved

    def _save(self, conn, name: str, value) -> None:
        conn.execute(checkpoint.delete().where(checkpoint.c.name == name))
        conn.execute(checkpoint.insert().values(name=name, value=json.dumps(value)))

    def finish(self) -> None:
        checkpoint.drop(self.engine, checkfirst=True)

    # ------------------------------------------------------------ states of parents

    def _skip(self, kind: str, key, state: str, note: str | None = None) -> None:
        self._skips.setdefault(kind, {})[str(key)] = state
        self._changed.add(kind)
        self._ids.get(kind, {})[str(key)] = state
        if note:
            self.notes.append(note)

    def _state(self, kind: str, key) -> str:
        """NEW (imported), PRESENT, CONFLICT, or ORPHAN when the source has no such parent."""
        if kind not in self._ids:
            table, column = _PARENTS[kind]
            skips = self._skips.get(kind, {})
            self._ids[kind] = {str(k): skips.get(str(k), NEW) for k in self._column(table, column)}
        return self._ids[kind].get(str(key), ORPHAN)

    def _column(self, table: str, column: str) -> list:
        return [row[column] for batch, _ in self.source.rows(table, size=50_000) for row in batch]

    def _child(self, tally: Tally, kind: str, key) -> bool:
        """Whether a row hanging off parent `key` is to be written; counts it otherwise."""
        state = self._state(kind, key)
        if state == NEW:
            return True
        _count(tally, state)
        return False

    # ------------------------------------------------------------ running

    def run(self, source, progress: Progress) -> dict[str, Tally]:
        self.source = source
        saved = self._load_checkpoint()
        if self.fresh and not saved:
            with self.engine.begin() as conn:
                self._save(conn, "fresh", True)
            saved["fresh"] = True
        have = source.tables()
        tallies: dict[str, Tally] = {}
        for entity, table, handler, size in STEPS:
            state = saved.get(f"step:{entity}", {})
            tally = tallies[entity] = Tally(**state.get("tally", {}))
            total = 0 if state.get("done") or table not in have else source.count(table)
            if not total:
                continue
            if table == "metrics" and saved.get("fresh") and "position" not in state:
                self._unindex_metrics()
            progress.start(entity, total)
            progress.advance(tally.read)
            for batch, position in _prefetched(source.rows(table, state.get("position"), size)):
                with self.engine.begin() as conn:
                    if self.dialect == "postgresql":  # a batch lost in a crash is done again anyway
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    handler(self, conn, batch, tally)
                    tally.read += len(batch)
                    self._save(conn, f"step:{entity}", {"position": position, "tally": vars(tally)})
                    for kind in self._changed:
                        self._save(conn, f"skip:{kind}", self._skips[kind])
                    self._changed.clear()
                    self._save(conn, "notes", self.notes)
                progress.advance(len(batch))
            with self.engine.begin() as conn:
                self._save(conn, f"step:{entity}", {"done": True, "tally": vars(tally)})
            progress.done()
        self._reindex_metrics(progress)
        self._denormalize(progress)
        traces.summarize(self.engine, [k for k, state in self._ids_of("traces").items() if state == NEW], progress)
        return tallies

    def _unindex_metrics(self) -> None:
        """Before the first point of a fresh import into PostgreSQL: the metrics table's primary
        key, foreign key and index dropped, so that COPY only appends, and the statements that
        make them again kept in the checkpoint, in the same transaction."""
        if self.dialect != "postgresql":
            return
        with self.engine.begin() as conn:
            if conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM metrics)").scalar():
                return
            constraints = conn.exec_driver_sql(
                "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'metrics'::regclass ORDER BY contype DESC").all()  # p before f
            indexes = conn.exec_driver_sql(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'metrics'::regclass AND indexrelid NOT IN (SELECT conindid FROM pg_constraint)").all()
            for name, _ in indexes:
                conn.exec_driver_sql(f"DROP INDEX {name}")
            for name, _ in constraints:
                conn.exec_driver_sql(f"ALTER TABLE metrics DROP CONSTRAINT {name}")
            self._save(conn, "metrics rebuild", [f"ALTER TABLE metrics ADD CONSTRAINT {name} {definition}"
                                                 for name, definition in constraints]
                       + [definition for _, definition in indexes])

    def _reindex_metrics(self, progress: Progress) -> None:
        """The metrics table's keys and index made again, in one transaction with the checkpoint
        forgetting them (a resume after a kill does it again), with memory enough to sort. Then
        VACUUM ANALYZE, so that the summaries read the points from the index alone."""
        with self.engine.begin() as conn:
            statements = conn.execute(sa.select(checkpoint.c.value)
                                      .where(checkpoint.c.name == "metrics rebuild")).scalar()
            if statements is None:
                return
            statements = json.loads(statements)
            progress.start("metric keys and index", len(statements) + 1)
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
            for statement in statements:
                conn.exec_driver_sql(statement)
                progress.advance(1)
            conn.execute(checkpoint.delete().where(checkpoint.c.name == "metrics rebuild"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE metrics")
        progress.advance(1)
        progress.done()

    def _registry(self, conn):
        """The connection registry rows go through: the batch's own when it is the same database."""
        if self.registry_engine is self.engine:
            return _Same(conn)
        return self.registry_engine.begin()

    # ------------------------------------------------------------ experiments and runs

    def _experiments(self, conn, rows, tally):
        ids = [r["experiment_id"] for r in rows]
        names = [r["name"] for r in rows]
        if 0 in ids:
            if self.replace_default:
                conn.execute(experiments.delete().where(experiments.c.experiment_id == 0))
            if self.dialect == "mysql":  # let an explicit 0 into the AUTO_INCREMENT column
                conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
        by_id = dict(conn.execute(sa.select(experiments.c.experiment_id, experiments.c.name)
                                  .where(experiments.c.experiment_id.in_(ids))).all())
        by_name = dict(conn.execute(sa.select(experiments.c.name, experiments.c.experiment_id)
                                    .where(experiments.c.name.in_(names))).all())
        new = []
        for r in rows:
            eid, name = r["experiment_id"], r["name"]
            if by_id.get(eid) == name:
                self._skip("experiments", eid, PRESENT)
                tally.present += 1
            elif eid in by_id or name in by_name:
                self._skip("experiments", eid, CONFLICT, f"experiment {eid} '{name}': its id or name is taken "
                                                         "by another experiment here; not imported")
                tally.skipped += 1
            else:
                created = r.get("creation_time") or 0
                new.append((eid, name, _uri(r.get("artifact_location")), r.get("lifecycle_stage") or ACTIVE,
                            created, r.get("last_update_time") or created))
        insert(conn, experiments, ("experiment_id", "name", "artifact_location", "lifecycle_stage",
                                   "creation_time", "last_update_time"), new)
        tally.written += len(new)

    def _key_values(self, conn, rows, tally, kind, id_column, table, key="key", value="value", owner=None):
        owner = owner or id_column
        new = [(r[id_column], r[key], _text(r[value])) for r in rows if self._child(tally, kind, r[id_column])]
        insert(conn, table, (owner, "key", "value"), new)
        tally.written += len(new)

    def _experiment_tags(self, conn, rows, tally):
        self._key_values(conn, rows, tally, "experiments", "experiment_id", experiment_tags)

    def _new_parents(self, conn, rows, tally, kind: str, table: sa.Table, key: str, parent: str,
                     column: str | None = None) -> list[dict]:
        """The rows of parents (runs, datasets, logged models, traces) to write: those of an
        experiment imported or already there, and not here yet. The others are counted and
        remembered. column: our name of the source's key column, when it differs."""
        wanted = []
        for r in rows:
            state = self._state("experiments", r[parent])
            if state in (NEW, PRESENT):
                wanted.append(r)
            else:
                self._skip(kind, r[key], state)
                _count(tally, state)
        ours = table.c[column or key]
        there = set(conn.execute(sa.select(ours).where(ours.in_([r[key] for r in wanted]))).scalars())
        for r in wanted:
            if r[key] in there:
                self._skip(kind, r[key], PRESENT)
                tally.present += 1
        tally.written += len(wanted) - len(there)
        return [r for r in wanted if r[key] not in there]

    def _runs(self, conn, rows, tally):
        new = self._new_parents(conn, rows, tally, "runs", runs, "run_uuid", "experiment_id")
        insert(conn, runs, ("run_uuid", "experiment_id", "name", "user_id", "status", "start_time", "end_time",
                            "lifecycle_stage", "artifact_uri", "deleted_time"), [
            (r["run_uuid"], r["experiment_id"], _text(r.get("name")), _text(r.get("user_id")),
             r.get("status") or "SCHEDULED", r.get("start_time") or 0, r.get("end_time"),
             r.get("lifecycle_stage") or ACTIVE, _uri(r.get("artifact_uri")), r.get("deleted_time"))
            for r in new])

    def _params(self, conn, rows, tally):
        self._key_values(conn, rows, tally, "runs", "run_uuid", params)

    def _tags(self, conn, rows, tally):
        self._key_values(conn, rows, tally, "runs", "run_uuid", tags)

    def _metrics(self, conn, rows, tally):
        states = self._ids_of("runs")
        new = []
        for r in rows:
            run_id, value = r["run_uuid"], r["value"]
            state = states.get(run_id, ORPHAN)
            if state != NEW:
                _count(tally, state)
                continue
            if r.get("is_nan") or value is None:
                value, is_nan = 0.0, True
            elif -DOUBLE_MAX < value < DOUBLE_MAX:  # finite: as encode_value would, without the call
                is_nan = False
            else:
                value, is_nan = encode_value(value)
            new.append((run_id, r["key"], r.get("step") or 0, r.get("timestamp") or 0, value, is_nan))
        insert(conn, metrics, METRIC_COLUMNS, new)
        tally.written += len(new)

    # ------------------------------------------------------------ datasets, logged models, inputs

    def _datasets(self, conn, rows, tally):
        new = self._new_parents(conn, rows, tally, "datasets", datasets, "dataset_uuid", "experiment_id")
        insert(conn, datasets, ("dataset_uuid", "experiment_id", "name", "digest", "source_type", "source",
                                "schema", "profile"), [
            (r["dataset_uuid"], r["experiment_id"], r["name"], r["digest"], r["dataset_source_type"],
             r["dataset_source"], r.get("dataset_schema"), r.get("dataset_profile")) for r in new])

    def _logged_models(self, conn, rows, tally):
        new = self._new_parents(conn, rows, tally, "logged_models", logged_models, "model_id", "experiment_id")
        insert(conn, logged_models, ("model_id", "experiment_id", "name", "artifact_location",
                                     "creation_timestamp_ms", "last_updated_timestamp_ms", "status",
                                     "lifecycle_stage", "model_type", "source_run_id", "status_message"), [
            (r["model_id"], r["experiment_id"], r["name"], _uri(r["artifact_location"]), r["creation_timestamp_ms"],
             r["last_updated_timestamp_ms"], LOGGED_MODEL_STATUSES.get(r["status"], r["status"]),
             r.get("lifecycle_stage") or ACTIVE, r.get("model_type"), r.get("source_run_id"),
             r.get("status_message")) for r in new])

    def _logged_model_tags(self, conn, rows, tally):
        self._key_values(conn, rows, tally, "logged_models", "model_id", logged_model_tags, "tag_key", "tag_value")

    def _logged_model_params(self, conn, rows, tally):
        self._key_values(conn, rows, tally, "logged_models", "model_id", logged_model_params, "param_key",
                         "param_value")

    def _logged_model_metrics(self, conn, rows, tally):
        new = []
        for r in rows:
            if self._child(tally, "logged_models", r["model_id"]):
                value = r["metric_value"]
                new.append((r["model_id"], r["metric_name"], r["run_id"], r["metric_timestamp_ms"], r["metric_step"],
                            *encode_value(math.nan if value is None else value), r.get("dataset_name"),
                            r.get("dataset_digest")))
        insert(conn, logged_model_metrics, MODEL_METRIC_COLUMNS, new)
        tally.written += len(new)

    def _input_link(self, r) -> tuple[str, str] | None:
        """(state, what) of an official inputs row: a dataset a run used, or a model a run used or logged."""
        kinds = (r["source_type"], r["destination_type"])
        if kinds == ("DATASET", "RUN"):
            states = {self._state("runs", r["destination_id"]), self._state("datasets", r["source_id"])}
        elif kinds in (("RUN_INPUT", "MODEL_INPUT"), ("RUN_OUTPUT", "MODEL_OUTPUT")):
            states = {self._state("runs", r["source_id"]), self._state("logged_models", r["destination_id"])}
        else:
            return ORPHAN  # links of traces, evaluation datasets, ...: not kept here
        for state in (CONFLICT, ORPHAN, PRESENT):
            if state in states:
                return state
        return NEW

    def _inputs(self, conn, rows, tally):
        datasets_used, models_used = [], []
        for r in rows:
            state = self._input_link(r)
            if state != NEW:
                _count(tally, state)
            elif r["source_type"] == "DATASET":
                datasets_used.append((r["destination_id"], r["source_id"]))
            else:
                direction = MODEL_INPUT if r["source_type"] == "RUN_INPUT" else MODEL_OUTPUT
                models_used.append((r["source_id"], r["destination_id"], direction, r.get("step") or 0))
        insert(conn, run_inputs, ("run_uuid", "dataset_uuid"), datasets_used)
        insert(conn, run_models, ("run_uuid", "model_id", "direction", "step"), models_used)
        tally.written += len(datasets_used) + len(models_used)

    def _input_tags(self, conn, rows, tally):
        if "input_links" not in self._cache:
            self._cache["input_links"] = {
                r["input_uuid"]: (self._input_link(r), r["destination_id"], r["source_id"])
                for batch, _ in self.source.rows("inputs", size=50_000) for r in batch}
        links = self._cache["input_links"]
        new = []
        for r in rows:
            state, run_id, dataset_uuid = links.get(r["input_uuid"], (ORPHAN, None, None))
            if state == NEW:
                new.append((run_id, dataset_uuid, r["name"], _text(r["value"])))
            else:
                _count(tally, state)
        insert(conn, run_input_tags, ("run_uuid", "dataset_uuid", "key", "value"), new)
        tally.written += len(new)

    # ------------------------------------------------------------ registry

    def _versions(self) -> dict[str, dict[int, str]]:
        """Every model version of the source: {name: {version: current_stage}}."""
        if "versions" not in self._cache:
            found: dict[str, dict[int, str]] = {}
            for batch, _ in self.source.rows("model_versions", size=50_000):
                for r in batch:
                    found.setdefault(r["name"], {})[r["version"]] = r.get("current_stage")
            self._cache["versions"] = found
        return self._cache["versions"]

    def _model_ids(self, rconn, names) -> dict[str, int]:
        return dict(rconn.execute(sa.select(registered_models.c.name, registered_models.c.id)
                                  .where(registered_models.c.name.in_(list(set(names))))).all())

    def _registered_models(self, conn, rows, tally):
        with self._registry(conn) as rconn:
            there = dict(rconn.execute(sa.select(registered_models.c.name, registered_models.c.creation_time)
                                       .where(registered_models.c.name.in_([r["name"] for r in rows]))).all())
            new = []
            for r in rows:
                name, created = r["name"], r.get("creation_time") or 0
                if name in there:
                    same = there[name] == created
                    self._skip("registered_models", name, PRESENT if same else CONFLICT,
                               None if same else f"registered model '{name}': the name is taken here; not imported")
                    tally.present += same
                    tally.skipped += not same
                    continue
                new.append({"name": name, "creation_time": created,
                            "last_updated_time": r.get("last_updated_time") or created,
                            "description": r.get("description"),
                            "last_version": max(self._versions().get(name, {0: None}))})
            if new:
                rconn.execute(registered_models.insert(), new)
            tally.written += len(new)

    def _version_state(self, tally, name, version) -> bool:
        """Whether a row of version `version` of model `name` is to be written; counts it otherwise."""
        stage = self._versions().get(name, {}).get(version, DELETED_VERSION_STAGE)
        if stage == DELETED_VERSION_STAGE:
            tally.ignored += 1
            return False
        return self._child(tally, "registered_models", name)

    def _model_versions(self, conn, rows, tally):
        fields = ("creation_time", "last_updated_time", "description", "user_id", "current_stage", "source",
                  "storage_location", "run_id", "run_link", "status", "status_message")
        with self._registry(conn) as rconn:
            wanted = [r for r in rows if self._version_state(tally, r["name"], r["version"])]
            ids = self._model_ids(rconn, [r["name"] for r in wanted])
            new = [{**{f: r.get(f) for f in fields}, "registered_model_id": ids[r["name"]], "version": r["version"],
                    "current_stage": r.get("current_stage") or "None", "source": _uri(r.get("source")),
                    "storage_location": r.get("storage_location") and _uri(r["storage_location"]),
                    "status": r.get("status") or "READY",
                    "last_updated_time": r.get("last_updated_time") or r.get("creation_time") or 0,
                    "creation_time": r.get("creation_time") or 0} for r in wanted]
            if new:
                rconn.execute(model_versions.insert(), new)
            tally.written += len(new)

    def _registered_model_tags(self, conn, rows, tally):
        with self._registry(conn) as rconn:
            wanted = [r for r in rows if self._child(tally, "registered_models", r["name"])]
            ids = self._model_ids(rconn, [r["name"] for r in wanted])
            insert(rconn, registered_model_tags, ("registered_model_id", "key", "value"),
                   [(ids[r["name"]], r["key"], _text(r["value"])) for r in wanted])
            tally.written += len(wanted)

    def _model_version_tags(self, conn, rows, tally):
        with self._registry(conn) as rconn:
            wanted = [r for r in rows if self._version_state(tally, r["name"], r["version"])]
            ids = self._model_ids(rconn, [r["name"] for r in wanted])
            insert(rconn, model_version_tags, ("registered_model_id", "version", "key", "value"),
                   [(ids[r["name"]], r["version"], r["key"], _text(r["value"])) for r in wanted])
            tally.written += len(wanted)

    def _aliases(self, conn, rows, tally):
        with self._registry(conn) as rconn:
            wanted = [r for r in rows if self._version_state(tally, r["name"], r["version"])]
            ids = self._model_ids(rconn, [r["name"] for r in wanted])
            insert(rconn, registered_model_aliases, ("registered_model_id", "alias", "version"),
                   [(ids[r["name"]], r["alias"], r["version"]) for r in wanted])
            tally.written += len(wanted)

    # ------------------------------------------------------------ after the rows

    def _denormalize(self, progress: Progress) -> None:
        """params_json, tags_json, names from mlflow.runName where the source had none, and
        latest_metrics of the imported runs, a few hundred runs per transaction; then the
        experiment id sequence on PostgreSQL. Safe to run again (a resume after a kill)."""
        run_ids = [k for k, state in self._ids_of("runs").items() if state == NEW]
        progress.start("run summaries", len(run_ids))
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start:start + 500]
            with self.engine.begin() as conn:
                self._summarize(conn, chunk)
            progress.advance(len(chunk))
        progress.done()
        if self.dialect == "postgresql":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                                     "GREATEST((SELECT MAX(experiment_id) FROM experiments), 1))")

    def _ids_of(self, kind: str) -> dict:
        self._state(kind, None)
        return self._ids[kind]

    def _summarize(self, conn, run_ids: list[str]) -> None:
        for table, column in ((params, runs.c.params_json), (tags, runs.c.tags_json)):
            conn.execute(runs.update().where(runs.c.run_uuid.in_(run_ids)).values({
                column: sa.select(key_value_array(table.c.key, table.c.value))
                .where(table.c.run_uuid == runs.c.run_uuid).scalar_subquery()}))
        run_name = sa.select(tags.c.value).where(tags.c.run_uuid == runs.c.run_uuid, tags.c.key == RUN_NAME_TAG)
        conn.execute(runs.update().where(runs.c.run_uuid.in_(run_ids), runs.c.name == "", sa.exists(run_name))
                     .values(name=run_name.scalar_subquery()))
        m = metrics.c
        ranked = sa.select(
            m.run_uuid, m.key, m.value, m.is_nan, m.timestamp, m.step,
            sa.func.row_number().over(partition_by=(m.run_uuid, m.key),
                                      order_by=(m.step.desc(), m.timestamp.desc(), m.value.desc())).label("rank"),
            sa.func.count().over(partition_by=(m.run_uuid, m.key)).label("points"),
        ).where(m.run_uuid.in_(run_ids)).subquery()
        latest = sa.select(ranked.c.run_uuid, ranked.c.key, ranked.c.value, ranked.c.is_nan, ranked.c.timestamp,
                           ranked.c.step, ranked.c.points, runs.c.experiment_id).join(
            runs, runs.c.run_uuid == ranked.c.run_uuid).where(ranked.c.rank == 1)
        rows = [{"run_uuid": run_id, "key": key, "value": value, "is_nan": bool(is_nan), "timestamp": timestamp,
                 "step": step, "experiment_id": experiment_id, "points": points, "stride": None,
                 "metric_json": metric_json(key, value, bool(is_nan), timestamp, step)}
                for run_id, key, value, is_nan, timestamp, step, points, experiment_id in conn.execute(latest)]
        conn.execute(latest_metrics.delete().where(latest_metrics.c.run_uuid.in_(run_ids)))
        if rows:
            conn.execute(latest_metrics.insert(), rows)


def _prefetched(batches):
    """The batches of an iterator, the next one read in a thread while this one is written: the
    source's database (or files) and ours work at the same time."""
    ahead: queue.Queue = queue.Queue(maxsize=2)
    done = object()

    def read():
        try:
            for item in batches:
                ahead.put(item)
            ahead.put(done)
        except BaseException as error:  # handed to the writing thread
            ahead.put(error)

    threading.Thread(target=read, daemon=True).start()
    while (item := ahead.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


class _Same:
    """A context manager that hands back a connection already in a transaction."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        return False


# kind -> (source table, its key column)
_PARENTS = {
    "experiments": ("experiments", "experiment_id"),
    "runs": ("runs", "run_uuid"),
    "datasets": ("datasets", "dataset_uuid"),
    "logged_models": ("logged_models", "model_id"),
    "registered_models": ("registered_models", "name"),
    "traces": ("trace_info", "request_id"),
}

# (entity shown, official table, handler, batch size), in the order references need
STEPS = [
    ("experiments", "experiments", Writer._experiments, BATCH),
    ("experiment tags", "experiment_tags", Writer._experiment_tags, BATCH),
    ("runs", "runs", Writer._runs, BATCH),
    ("params", "params", Writer._params, BATCH),
    ("tags", "tags", Writer._tags, BATCH),
    ("metrics", "metrics", Writer._metrics, METRIC_BATCH),
    ("datasets", "datasets", Writer._datasets, BATCH),
    ("logged models", "logged_models", Writer._logged_models, BATCH),
    ("logged model tags", "logged_model_tags", Writer._logged_model_tags, BATCH),
    ("logged model params", "logged_model_params", Writer._logged_model_params, BATCH),
    ("logged model metrics", "logged_model_metrics", Writer._logged_model_metrics, BATCH),
    ("inputs", "inputs", Writer._inputs, BATCH),
    ("input tags", "input_tags", Writer._input_tags, BATCH),
    ("traces", "trace_info", traces.write_traces, BATCH),
    ("trace tags", "trace_tags", traces.write_trace_tags, BATCH),
    ("trace metadata", "trace_request_metadata", traces.write_trace_metadata, BATCH),
    ("trace run links", "entity_associations", traces.write_trace_links, BATCH),
    ("spans", "spans", traces.write_spans, traces.SPAN_BATCH),
    ("assessments", "assessments", traces.write_assessments, BATCH),
    ("registered models", "registered_models", Writer._registered_models, BATCH),
    ("model versions", "model_versions", Writer._model_versions, BATCH),
    ("registered model tags", "registered_model_tags", Writer._registered_model_tags, BATCH),
    ("model version tags", "model_version_tags", Writer._model_version_tags, BATCH),
    ("aliases", "registered_model_aliases", Writer._aliases, BATCH),
]
