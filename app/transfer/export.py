"""`db export`: our data into an empty official MLflow database (schema of MLflow 3.17.2).

How it works. The target must be at OFFICIAL_HEAD (created by the official `mlflow db upgrade`
or by starting the official server on it once) and hold no data; a lone "Default" experiment 0,
which the official server creates at its first start, is replaced by ours. Its tables are
reflected, and each entity of ours is read in a stream (server-side cursors) and written in
batches, shaped as the official store writes it (mlflow/store/*/dbmodels/models.py):

- runs get the official's constant columns (source_type UNKNOWN, empty source_name, ...);
- metrics and latest metrics are copied as stored: our encoding (NaN as value 0 + is_nan,
  +-inf as +-DOUBLE_MAX) is the official one, and so is the rule for a key's latest point
  (highest step, timestamp, value); a logged model's metric has no is_nan there (NaN is 0);
- run inputs become `inputs` rows (DATASET -> RUN; a model a run used RUN_INPUT -> MODEL_INPUT,
  one it logged RUN_OUTPUT -> MODEL_OUTPUT), with an input_uuid derived from the pair, so that
  `input_tags` find it without a lookup;
- a logged model's status is the enum's number; its tags, params and metrics carry the
  experiment id;
- registry rows are keyed by (workspace 'default', model name) instead of our surrogate id; a
  version's model_id has no column there. When a model's highest version number was deleted, a
  placeholder row at stage Deleted_Internal keeps it (as the official delete does), so the
  official server does not give that number out again.

Ids stay the same. Everything is written in one transaction per database (nothing half-done
when it fails), with PostgreSQL's COPY or executemany in batches elsewhere. Afterwards every
entity is counted in the target and compared with what was read.
"""
from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa

from ..store import schema as ours
from ..store.db import make_engine, schema_revisions

OFFICIAL_HEAD = "dc11669786a5"  # the newest alembic revision of mlflow 3.17.2's migrations
OFFICIAL_VERSION = "3.17.2"
WORKSPACE = "default"
DELETED_INTERNAL = "Deleted_Internal"
BATCH = 10_000
INT32_MAX = 2**31 - 1  # the official experiment_id is an INTEGER (64-bit only on SQLite)
_INPUT_NAMESPACE = uuid.UUID("6f1b6c1e-4d4a-4f0e-9a53-0c1d2b3a4e5f")
_MODEL_STATUS = {"LOGGED_MODEL_STATUS_UNSPECIFIED": 0, "LOGGED_MODEL_PENDING": 1, "LOGGED_MODEL_READY": 2,
                 "LOGGED_MODEL_UPLOAD_FAILED": 3}


class ExportError(Exception):
    """A refusal meant for the user: one line saying what to do."""


@dataclass
class Entity:
    """One thing counted: rows read from `query` (in our tracking or registry database), turned
    into official rows by `shape`, written into `table`; `written` counts them back there."""
    name: str
    table: str
    query: sa.Select
    shape: Callable[[dict], dict]
    registry: bool = False
    written: Callable[[sa.Table], sa.ColumnElement] | None = None  # which target rows are this entity's
    read: int = 0
    wrote: int = 0


def input_uuid(run_uuid: str, other: str, kind: str) -> str:
    """The official inputs row id of a (run, dataset or model) link: derived, so stable."""
    return uuid.uuid5(_INPUT_NAMESPACE, f"{kind}/{run_uuid}/{other}").hex


def _same(row: dict) -> dict:
    return row


def entities() -> list[Entity]:
    """Our entities in the order the target's foreign keys need them."""
    t, rm = ours, ours.registered_models
    no_source = {"source_type": "UNKNOWN", "source_name": "", "entry_point_name": "", "source_version": ""}
    runs = t.runs
    model_rows = sa.select(t.run_models.c.run_uuid, t.run_models.c.model_id, t.run_models.c.direction,
                           t.run_models.c.step)
    lm_experiment = t.logged_models.c.experiment_id

    def by_model(table):  # a logged model's rows, with its experiment
        return sa.select(*table.c, lm_experiment).join(t.logged_models,
                                                        t.logged_models.c.model_id == table.c.model_id)

    def by_name(table, *columns):  # a registry row, with its model's name
        return sa.select(rm.c.name, *columns).join(rm, rm.c.id == table.c.registered_model_id)

    return [
        Entity("experiments", "experiments", sa.select(t.experiments), lambda r: {**r, "workspace": WORKSPACE}),
        Entity("experiment tags", "experiment_tags", sa.select(t.experiment_tags), _same),
        Entity("runs", "runs", sa.select(*[c for c in runs.c if c.name not in ("params_json", "tags_json")]),
               lambda r: {**r, **no_source}),
        Entity("params", "params", sa.select(t.params), _same),
        Entity("tags", "tags", sa.select(t.tags), _same),
        Entity("metrics", "metrics", sa.select(t.metrics), _same),
        Entity("latest metrics", "latest_metrics",
               sa.select(*[t.latest_metrics.c[n] for n in ("run_uuid", "key", "value", "timestamp", "step", "is_nan")]),
               _same),
        Entity("datasets", "datasets", sa.select(t.datasets), lambda r: {
            "dataset_uuid": r["dataset_uuid"], "experiment_id": r["experiment_id"], "name": r["name"],
            "digest": r["digest"], "dataset_source_type": r["source_type"], "dataset_source": r["source"],
            "dataset_schema": r["schema"], "dataset_profile": r["profile"]}),
        Entity("dataset inputs", "inputs", sa.select(t.run_inputs), lambda r: {
            "input_uuid": input_uuid(r["run_uuid"], r["dataset_uuid"], "DATASET"), "source_type": "DATASET",
            "source_id": r["dataset_uuid"], "destination_type": "RUN", "destination_id": r["run_uuid"], "step": 0},
            written=lambda x: x.c.source_type == "DATASET"),
        Entity("dataset input tags", "input_tags", sa.select(t.run_input_tags), lambda r: {
            "input_uuid": input_uuid(r["run_uuid"], r["dataset_uuid"], "DATASET"), "name": r["key"],
            "value": r["value"]}),
        Entity("logged models", "logged_models", sa.select(t.logged_models),
               lambda r: {**r, "status": _MODEL_STATUS.get(r["status"], 0)}),
        Entity("logged model tags", "logged_model_tags", by_model(t.logged_model_tags), lambda r: {
            "model_id": r["model_id"], "experiment_id": r["experiment_id"], "tag_key": r["key"],
            "tag_value": r["value"]}),
        Entity("logged model params", "logged_model_params", by_model(t.logged_model_params), lambda r: {
            "model_id": r["model_id"], "experiment_id": r["experiment_id"], "param_key": r["key"],
            "param_value": r["value"]}),
        Entity("logged model metrics", "logged_model_metrics", by_model(t.logged_model_metrics), lambda r: {
            "model_id": r["model_id"], "metric_name": r["key"], "metric_timestamp_ms": r["timestamp"],
            "metric_step": r["step"], "metric_value": r["value"], "experiment_id": r["experiment_id"],
            "run_id": r["run_uuid"], "dataset_uuid": None, "dataset_name": r["dataset_name"],
            "dataset_digest": r["dataset_digest"]}),
        Entity("model inputs/outputs", "inputs", model_rows, _model_link,
               written=lambda x: x.c.source_type.in_(["RUN_INPUT", "RUN_OUTPUT"])),
        Entity("registered models", "registered_models",
               sa.select(rm.c.name, rm.c.creation_time, rm.c.last_updated_time, rm.c.description),
               lambda r: {**r, "workspace": WORKSPACE}, registry=True),
        Entity("registered model tags", "registered_model_tags",
               by_name(t.registered_model_tags, t.registered_model_tags.c.key, t.registered_model_tags.c.value),
               lambda r: {**r, "workspace": WORKSPACE}, registry=True),
        Entity("model versions", "model_versions",
               by_name(t.model_versions, *[c for c in t.model_versions.c
                                           if c.name not in ("registered_model_id", "model_id")]),
               lambda r: {**r, "workspace": WORKSPACE}, registry=True,
               written=lambda x: x.c.current_stage != DELETED_INTERNAL),
        Entity("model version tags", "model_version_tags",
               by_name(t.model_version_tags, t.model_version_tags.c.version, t.model_version_tags.c.key,
                       t.model_version_tags.c.value),
               lambda r: {**r, "workspace": WORKSPACE}, registry=True),
        Entity("aliases", "registered_model_aliases",
               by_name(t.registered_model_aliases, t.registered_model_aliases.c.alias,
                       t.registered_model_aliases.c.version),
               lambda r: {**r, "workspace": WORKSPACE}, registry=True),
    ]


def _model_link(r: dict) -> dict:
    kind = "RUN_INPUT" if r["direction"] == ours.MODEL_INPUT else "RUN_OUTPUT"
    return {"input_uuid": input_uuid(r["run_uuid"], r["model_id"], kind), "source_type": kind,
            "source_id": r["run_uuid"], "destination_type": "MODEL_INPUT" if kind == "RUN_INPUT" else "MODEL_OUTPUT",
            "destination_id": r["model_id"], "step": r["step"] if kind == "RUN_OUTPUT" else 0}


def _deleted_last_versions(registry: sa.Connection) -> list[dict]:
    """A placeholder version per model whose highest number was deleted (see the docstring)."""
    rm, mv = ours.registered_models, ours.model_versions
    present = sa.select(sa.func.max(mv.c.version)).where(mv.c.registered_model_id == rm.c.id).scalar_subquery()
    rows = registry.execute(sa.select(rm.c.name, rm.c.last_version, rm.c.last_updated_time)
                            .where(rm.c.last_version > sa.func.coalesce(present, 0))).all()
    return [{"workspace": WORKSPACE, "name": name, "version": version, "creation_time": time,
             "last_updated_time": time, "current_stage": DELETED_INTERNAL, "source": "REDACTED-SOURCE-PATH",
             "run_id": "REDACTED-RUN-ID", "run_link": "REDACTED-RUN-LINK", "status": "READY"}
            for name, version, time in rows]


def check_target(target: sa.Engine, tables: dict[str, sa.Table], uri: str) -> bool:
    """Refuse a target that is not an empty official database at OFFICIAL_HEAD; True when it
    holds the official server's Default experiment 0 alone (to be replaced)."""
    upgrade = f"create it with the official `mlflow db upgrade {uri}` of mlflow {OFFICIAL_VERSION}"
    if "alembic_version" not in tables or "experiments" not in tables:
        raise ExportError(f"{uri} holds no official MLflow schema: {upgrade}")
    with target.connect() as conn:
        revisions = conn.execute(sa.select(tables["alembic_version"].c.version_num)).scalars().all()
        if revisions != [OFFICIAL_HEAD]:
            found = ", ".join(revisions) or "none"
            raise ExportError(f"{uri} is at schema revision {found}, the export writes revision {OFFICIAL_HEAD} "
                              f"(mlflow {OFFICIAL_VERSION}): give an empty database and {upgrade}")
        experiments = tables["experiments"]
        default_only = conn.execute(sa.select(experiments.c.experiment_id)).scalars().all() == [0]
        for name in sorted({e.table for e in entities()}):
            count = conn.execute(sa.select(sa.func.count()).select_from(tables[name])).scalar()
            if count and not (name == "experiments" and default_only):
                raise ExportError(f"{uri} is not empty ({count} rows in {name}): export only into an "
                                  f"empty database; {upgrade}")
    return default_only


class _Null(float):
    """NULL in COPY's CSV: the csv module writes a float unquoted, by repr, and this one as
    nothing; an unquoted empty field is NULL, a quoted one ("") an empty string."""

    def __repr__(self) -> str:
        return ""


_NULL = _Null()


def _write(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(
        [_NULL if v is None else v for v in r.values()] for r in rows)
    buffer.seek(0)
    quote = conn.dialect.identifier_preparer
    with conn.connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {quote.format_table(table)} ({', '.join(map(quote.quote, columns))}) "
                           "FROM STDIN WITH (FORMAT csv)", buffer)


def _batches(conn: sa.Connection, query: sa.Select) -> Iterable[list[dict]]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for part in result.mappings().partitions(BATCH):
        yield [dict(row) for row in part]


def export(tracking_url: str, registry_url: str, target_url: str, target_name: str, progress) -> list[Entity]:
    """Write everything of ours into the target; returns the entities with read and written
    counts. `progress` is an app.transfer.progress.Progress. Raises ExportError for a refused
    target or our schema out of date."""
    engines = {"tracking": make_engine(tracking_url)}
    engines["registry"] = engines["tracking"] if registry_url == tracking_url else make_engine(registry_url)
    target = make_engine(target_url)
    try:
        for engine in dict.fromkeys(engines.values()):
            current, head = schema_revisions(engine)
            if current is None:
                raise ExportError(f"{engine.url.render_as_string(hide_password=True)} holds no data of this "
                                  "server: check --backend-store-uri and --registry-store-uri")
            if current != head:
                raise ExportError(f"our database is at schema revision {current}, not {head}: "
                                  "run `python -m app db upgrade` first")
        meta = sa.MetaData()
        meta.reflect(target)
        replace_default = check_target(target, meta.tables, target_name)
        if target.dialect.name != "sqlite":
            with engines["tracking"].connect() as conn:
                largest = conn.execute(sa.select(sa.func.max(ours.experiments.c.experiment_id))).scalar() or 0
            if largest > INT32_MAX:
                raise ExportError(f"experiment id {largest} (from an imported file store) does not fit the official "
                                  f"schema's 32-bit experiment ids on {target.dialect.name}: export into SQLite, "
                                  "whose integers have 64 bits")
        todo = entities()
        with target.begin() as out, engines["tracking"].connect() as tracking, \
                engines["registry"].connect() as registry:
            if out.dialect.name == "mysql":  # experiment 0 is an id, not "the next one"
                out.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
            if replace_default:
                out.execute(sa.delete(meta.tables["experiments"]))
            for entity in todo:
                table, source = meta.tables[entity.table], registry if entity.registry else tracking
                progress.start(entity.name, source.execute(sa.select(sa.func.count())
                                                            .select_from(entity.query.subquery())).scalar())
                for rows in _batches(source, entity.query):
                    _write(out, table, [entity.shape(r) for r in rows])
                    entity.read += len(rows)
                    progress.advance(len(rows))
                progress.done()
                if entity.table == "model_versions":
                    _write(out, table, _deleted_last_versions(registry))
            if out.dialect.name == "postgresql":  # the official server's next experiment follows ours
                out.exec_driver_sql("SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                                    "COALESCE(MAX(experiment_id), 0) + 1, false) FROM experiments")
        with target.connect() as conn:
            for entity in todo:
                table = meta.tables[entity.table]
                query = sa.select(sa.func.count()).select_from(table)
                entity.wrote = conn.execute(query if entity.written is None
                                            else query.where(entity.written(table))).scalar()
        return todo
    finally:
        for engine in {*engines.values(), target}:
            engine.dispose()
