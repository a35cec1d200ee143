"""gc's SQL: find runs, logged models and experiments by id, by experiment or by lifecycle
stage, and delete one for good, in one transaction with every row that belongs to it.

Each delete first reads the stage of what it deletes with the row locked (FOR UPDATE on
PostgreSQL and MySQL; an SQLite write transaction holds the database's lock) and deletes
nothing when it is no longer in the deleted stage (restored since gc looked): it returns False.
A run or logged model deleted as part of its experiment checks the experiment's stage instead.
Rows go children first, by explicit DELETE statements rather than ON DELETE CASCADE, so that
what goes is written here, whatever the database enforces:
- a run: its params, tags, metrics, latest metrics, inputs (and their tags), run_models;
- a logged model: its tags, params, metrics and run_models rows;
- an experiment: all of the above for each of its runs and logged models, its datasets (and
  any run inputs naming them), its traces (their tags, metadata, run links, spans and
  assessments) and its tags.
A logged model's metrics that a deleted run logged stay with the model (as the official store
keeps them); registry rows are never touched (model versions keep their source URIs).
"""
from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from .db import Database
from .schema import (
    DELETED, datasets, experiment_tags, experiments, latest_metrics, logged_model_metrics, logged_model_params,
    logged_model_tags, logged_models, metrics, params, run_input_tags, run_inputs, run_models, runs, tags, trace_info,
)
from .trace_rows import delete_trace_rows

RUN, MODEL, EXPERIMENT = "run", "logged model", "experiment"
CHUNK = 500  # ids per DELETE statement


class Entity(NamedTuple):
    kind: str  # RUN, MODEL or EXPERIMENT
    id: str
    experiment_id: str
    stage: str
    deleted_at: int | None  # ms: a run's deleted_time, the others' last update (when they were deleted)
    artifact_uri: str


# kind -> (table, id column, column of the deletion time, artifact root column)
_COLUMNS = {
    RUN: (runs, runs.c.run_uuid, runs.c.deleted_time, runs.c.artifact_uri),
    MODEL: (logged_models, logged_models.c.model_id, logged_models.c.last_updated_timestamp_ms,
            logged_models.c.artifact_location),
    EXPERIMENT: (experiments, experiments.c.experiment_id, experiments.c.last_update_time,
                 experiments.c.artifact_location),
}


class GcStore:
    def __init__(self, db: Database):
        self.db = db

    def find(self, kind: str, *, ids: list | None = None, experiment_ids: list[int] | None = None,
             deleted: bool = False) -> list[Entity]:
        """The entities of a kind with the given ids, in the given experiments, and/or in the
        deleted stage, in id order."""
        table, id_column, time_column, uri_column = _COLUMNS[kind]
        query = sa.select(id_column, table.c.experiment_id, table.c.lifecycle_stage, time_column,
                          uri_column).order_by(id_column)
        if ids is not None:
            query = query.where(id_column.in_(ids))
        if experiment_ids is not None:
            query = query.where(table.c.experiment_id.in_(experiment_ids))
        if deleted:
            query = query.where(table.c.lifecycle_stage == DELETED)
        with self.db.read() as conn:
            return [Entity(kind, str(row[0]), str(row[1]), row[2], row[3], row[4]) for row in conn.execute(query)]

    def trace_counts(self, experiment_ids: list[int]) -> dict[str, int]:
        """How many traces each of the experiments holds (those with none left out)."""
        column = trace_info.c.experiment_id
        query = sa.select(column, sa.func.count()).where(column.in_(experiment_ids)).group_by(column)
        with self.db.read() as conn:
            return {str(experiment_id): count for experiment_id, count in conn.execute(query)}

    def delete(self, entity: Entity, within_experiment: bool = False) -> bool:
        """Delete the entity and all its rows in one transaction; False (and nothing deleted)
        when it, or with within_experiment its experiment, is no longer in the deleted stage."""
        checked = EXPERIMENT if within_experiment else entity.kind
        checked_id = entity.experiment_id if within_experiment else entity.id

        def work(conn):
            table, id_column, _, _ = _COLUMNS[checked]
            key = int(checked_id) if checked == EXPERIMENT else checked_id
            stage = conn.execute(sa.select(table.c.lifecycle_stage).where(id_column == key)
                                 .with_for_update()).scalar()
            if stage != DELETED:
                return False
            if entity.kind == RUN:
                _delete_runs(conn, [entity.id])
            elif entity.kind == MODEL:
                _delete_models(conn, [entity.id])
            else:
                _delete_experiment(conn, int(entity.id))
            return True
        return self.db.write(work)


# Children are deleted by lists of ids read first, not by subqueries: MariaDB runs a DELETE
# with an IN (SELECT ...) as a scan of the whole table (every metric point of every run).
def _delete_runs(conn: sa.Connection, run_ids: list[str]) -> None:
    for table in (run_input_tags, run_inputs, run_models, latest_metrics, metrics, params, tags, runs):
        _delete_in(conn, table, table.c.run_uuid, run_ids)


def _delete_models(conn: sa.Connection, model_ids: list[str]) -> None:
    for table in (run_models, logged_model_tags, logged_model_params, logged_model_metrics, logged_models):
        _delete_in(conn, table, table.c.model_id, model_ids)


def _delete_experiment(conn: sa.Connection, experiment_id: int) -> None:
    """Whatever of the experiment is left (gc deletes its runs and logged models one by one
    first), its datasets with any run inputs naming them, its traces, its tags and itself."""
    def ids(column):
        return list(conn.execute(sa.select(column).where(column.table.c.experiment_id == experiment_id)).scalars())
    _delete_runs(conn, ids(runs.c.run_uuid))
    _delete_models(conn, ids(logged_models.c.model_id))
    dataset_ids = ids(datasets.c.dataset_uuid)
    for table in (run_input_tags, run_inputs, datasets):
        _delete_in(conn, table, table.c.dataset_uuid, dataset_ids)
    delete_trace_rows(conn, ids(trace_info.c.trace_id))
    for table in (experiment_tags, experiments):
        conn.execute(table.delete().where(table.c.experiment_id == experiment_id))


def _delete_in(conn: sa.Connection, table: sa.Table, column, values: list) -> None:
    for start in range(0, len(values), CHUNK):
        conn.execute(table.delete().where(column.in_(values[start:start + CHUNK])))
