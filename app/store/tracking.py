"""The tracking store: experiments, runs, params, tags and metrics in SQL.

Methods take and return plain Python values shaped like the REST API's JSON (proto3
field names, ids as strings), so the HTTP layer serialises them without per-row objects.
Rules about what a client may send live in app/services; this module keeps the data
consistent under concurrent writers.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import already_exists, invalid, not_found
from . import bulk, inputs, run_reads, search_sql
from .db import Database, fetch_tuples
from .filters import Clause, OrderBy
from .json_sql import key_value_array
from .pages import decode_keyset_token, encode_keyset_token
from .sampling import Sampler, series
from .schema import (
    ACTIVE, DELETED, MODEL_INPUT, MODEL_OUTPUT, VIEW_STAGES, experiment_tags, experiments, latest_metrics,
    logged_model_metrics, logged_models, metrics, params, run_models, runs, tags,
)
from .upsert import dialect_insert, upsert
from .values import encode_value, metric_json, wire_value

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
RUN_NAME_TAG = "mlflow.runName"
METRIC_COLUMNS = ("run_uuid", "key", "step", "timestamp", "value", "is_nan")
MODEL_METRIC_COLUMNS = ("model_id", "key", "run_uuid", "timestamp", "step", "value", "is_nan", "dataset_name",
                        "dataset_digest")


def _raise_latest(dialect: str):
    """Upsert of latest_metrics that takes a new point only when it is later, by
    (step, timestamp, value), and keeps (points, stride) while a batch's points, themselves
    evenly spaced, continue the stored ones at the same spacing. One statement: no
    read-then-write race, no lock upgrade."""
    current = latest_metrics.c
    columns = ("metric_json", "is_nan", "value", "timestamp", "step")  # the order matters on MySQL (below)
    statement, new = dialect_insert(dialect, latest_metrics)
    later = sa.or_(new.step > current.step, sa.and_(new.step == current.step, sa.or_(
        new.timestamp > current.timestamp,
        sa.and_(new.timestamp == current.timestamp, new.value > current.value))))
    # Constants inline: PyMySQL's executemany cannot bind parameters after VALUES.
    zero, one = sa.literal_column("0"), sa.literal_column("1")
    gap = new.step - new.stride * (new.points - one) - current.step  # the batch's first step - the last one
    # A stored or new stride means steps within +-2**61 (_series), so gap cannot overflow; the
    # first branch keeps it from being computed otherwise.
    stride = sa.case((sa.or_(current.stride.is_(None), new.stride.is_(None)), sa.null()),
                     (sa.and_(gap > zero, sa.or_(current.points == one, gap == current.stride),
                              sa.or_(new.stride == zero, new.stride == gap)), gap))
    series = [("stride", stride), ("points", current.points + new.points)]
    if dialect == "mysql":
        # MySQL assigns left to right, each assignment seeing the ones before it: the series
        # first, from the stored step; in this order `later` still holds for every column
        # whenever it held for the first.
        return statement.on_duplicate_key_update(series + [(c, sa.func.IF(later, new[c], current[c]))
                                                           for c in columns])
    return statement.on_conflict_do_update(
        index_elements=["run_uuid", "key"],
        set_=dict(series) | {c: sa.case((later, new[c]), else_=current[c]) for c in columns},
        where=sa.or_(later, current.stride.is_not(None)))


_KEY_VALUES_JSON = {params: runs.c.params_json, tags: runs.c.tags_json}
_HISTORY_KEYS = [(metrics.c.timestamp, True), (metrics.c.step, True), (metrics.c.value, True),
                 (metrics.c.is_nan, True)]
_RUN_STATE = sa.select(runs.c.lifecycle_stage, runs.c.experiment_id).where(runs.c.run_uuid == sa.bindparam("run_id"))
_LOCKED_RUN_STATE = _RUN_STATE.with_for_update()


_EXPERIMENT_STAGE = sa.select(experiments.c.lifecycle_stage, experiments.c.artifact_location).where(
    experiments.c.experiment_id == sa.bindparam("experiment_id"))


def active_experiment_location(conn, experiment_id: int) -> str:
    """The artifact location of an experiment that new runs and models may join."""
    row = conn.execute(_EXPERIMENT_STAGE, {"experiment_id": experiment_id}).first()
    if row is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    if row.lifecycle_stage != ACTIVE:
        raise invalid(f"The experiment {experiment_id} must be in the 'active' state. "
                      f"Current state is {row.lifecycle_stage}.")
    return row.artifact_location


def logged_model_not_found(model_id: str):
    return not_found(f"Logged model with ID '{model_id}' not found.")


def check_logged_models(conn, model_ids) -> None:
    """404 for the first of model_ids that names no logged model, or a deleted one."""
    wanted = set(model_ids)
    found = set(conn.execute(sa.select(logged_models.c.model_id).where(
        logged_models.c.model_id.in_(wanted), logged_models.c.lifecycle_stage == ACTIVE)).scalars())
    if wanted - found:
        raise logged_model_not_found(min(wanted - found))


def _refresh_key_values_json(conn, run_id: str, table: sa.Table) -> None:
    """Rewrite the run's params_json or tags_json from its rows in `table` (params or tags). The
    caller locked the run's row before writing those rows (_check_active(lock=True)), so a
    concurrent writer of the same run waits and then sees these rows when it rewrites."""
    conn.execute(runs.update().where(runs.c.run_uuid == run_id).values({
        _KEY_VALUES_JSON[table]: sa.select(key_value_array(table.c.key, table.c.value))
        .where(table.c.run_uuid == run_id).scalar_subquery()}))


def insert_params(conn, table: sa.Table, column: str, owner_id: str, pairs: list[tuple[str, str]],
                  owner_name: str) -> None:
    """Params of a run or a logged model (their id in `column`); a logged param never changes value."""
    bulk.insert_ignore(conn, table, (column, "key", "value"), [(owner_id, k, v) for k, v in pairs])
    wanted = dict(pairs)
    stored = conn.execute(sa.select(table.c.key, table.c.value).where(
        table.c[column] == owner_id, table.c.key.in_(list(wanted)))).all()
    for key, value in stored:
        if value != wanted[key]:
            raise invalid(
                f"Changing param values is not allowed. Param with key='{key}' was already logged "
                f"with value='{value}' for {owner_name} ID='{owner_id}'. Attempted logging new value "
                f"'{wanted[key]}'.")


class TrackingStore:
    def __init__(self, database: Database):
        self.db = database
        self.dialect = database.dialect
        self._raise_latest = _raise_latest(self.dialect)  # built once: it runs on every metric
        self._sampler = Sampler(self.dialect)

    # ------------------------------------------------------------ experiments

    def ensure_default_experiment(self, artifact_location: str, now: int) -> None:
        def work(conn):
            if conn.execute(sa.select(experiments.c.experiment_id).where(
                    experiments.c.experiment_id == DEFAULT_EXPERIMENT_ID)).first():
                return
            if self.dialect == "mysql":  # let an explicit 0 into the AUTO_INCREMENT column
                conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
            conn.execute(experiments.insert().values(
                experiment_id=DEFAULT_EXPERIMENT_ID, name=DEFAULT_EXPERIMENT_NAME,
                artifact_location=artifact_location, lifecycle_stage=ACTIVE,
                creation_time=now, last_update_time=now))
        try:
            self.db.write(work)
        except IntegrityError:  # replicas starting together: another one made it first, found now
            self.db.write(work)

    def create_experiment(self, name: str, artifact_root: str, artifact_location: str | None,
                          tag_pairs: list[tuple[str, str]], now: int) -> str:
        def work(conn):
            existing = conn.execute(sa.select(experiments.c.lifecycle_stage).where(
                experiments.c.name == name)).first()
            if existing:
                raise self._name_taken(name, existing.lifecycle_stage)
            try:
                experiment_id = conn.execute(experiments.insert().values(
                    name=name, artifact_location=artifact_location or "", lifecycle_stage=ACTIVE,
                    creation_time=now, last_update_time=now)).inserted_primary_key[0]
            except IntegrityError:  # a concurrent create of the same name won
                raise self._name_taken(name, ACTIVE) from None
            if not artifact_location:
                conn.execute(experiments.update().where(experiments.c.experiment_id == experiment_id)
                             .values(artifact_location=f"{artifact_root.rstrip('/')}/{experiment_id}"))
            if tag_pairs:
                conn.execute(experiment_tags.insert(), [
                    {"experiment_id": experiment_id, "key": k, "value": v} for k, v in dict(tag_pairs).items()])
            return str(experiment_id)
        return self.db.write(work)

    @staticmethod
    def _name_taken(name: str, stage: str):
        if stage == DELETED:
            return already_exists(
                f"Experiment '{name}' already exists in deleted state. You can restore the experiment, "
                f"or permanently delete the experiment to free the name.")
        return already_exists(f"Experiment '{name}' already exists.")

    def _experiment_rows(self, conn, where, order=None, limit=None) -> list[dict]:
        query = sa.select(experiments).where(*where)
        if order is not None:
            query = query.order_by(*order).limit(limit)
        rows = conn.execute(query).all()
        if not rows:
            return []
        ids = [r.experiment_id for r in rows]
        tag_map: dict[int, list] = {}
        for t in conn.execute(sa.select(experiment_tags).where(experiment_tags.c.experiment_id.in_(ids))):
            tag_map.setdefault(t.experiment_id, []).append({"key": t.key, "value": t.value})
        result = []
        for r in rows:
            item = {"experiment_id": str(r.experiment_id), "name": r.name,
                    "artifact_location": r.artifact_location, "lifecycle_stage": r.lifecycle_stage,
                    "last_update_time": r.last_update_time, "creation_time": r.creation_time}
            if r.experiment_id in tag_map:
                item["tags"] = tag_map[r.experiment_id]
            result.append(item)
        return result

    def get_experiment(self, experiment_id: int) -> dict:
        with self.db.read() as conn:
            found = self._experiment_rows(conn, [experiments.c.experiment_id == experiment_id])
        if not found:
            raise not_found(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_experiment_by_name(self, name: str) -> dict:
        with self.db.read() as conn:
            found = self._experiment_rows(conn, [experiments.c.name == name])
        if not found:
            raise not_found(f"Could not find experiment with name '{name}'")
        return found[0]

    def _experiment_stage(self, conn, experiment_id: int) -> str:
        stage = conn.execute(sa.select(experiments.c.lifecycle_stage).where(
            experiments.c.experiment_id == experiment_id)).scalar()
        if stage is None:
            raise not_found(f"No Experiment with id={experiment_id} exists")
        return stage

    def rename_experiment(self, experiment_id: int, new_name: str, now: int) -> None:
        def work(conn):
            if self._experiment_stage(conn, experiment_id) != ACTIVE:
                raise invalid("Cannot rename a non-active experiment.")
            clash = conn.execute(sa.select(experiments.c.lifecycle_stage).where(
                experiments.c.name == new_name, experiments.c.experiment_id != experiment_id)).first()
            if clash:
                raise self._name_taken(new_name, clash.lifecycle_stage)
            try:
                conn.execute(experiments.update().where(experiments.c.experiment_id == experiment_id)
                             .values(name=new_name, last_update_time=now))
            except IntegrityError:
                raise self._name_taken(new_name, ACTIVE) from None
        self.db.write(work)

    def set_experiment_lifecycle(self, experiment_id: int, stage: str, now: int) -> None:
        """Delete or restore an experiment together with its runs."""
        def work(conn):
            current = self._experiment_stage(conn, experiment_id)
            if stage == DELETED and experiment_id == DEFAULT_EXPERIMENT_ID:
                raise invalid("Cannot delete the default experiment '0'. This is an internally "
                              "reserved experiment.")
            if stage == ACTIVE and current == ACTIVE:
                raise invalid(f"Cannot restore an active experiment. Experiment id={experiment_id}")
            conn.execute(experiments.update().where(experiments.c.experiment_id == experiment_id)
                         .values(lifecycle_stage=stage, last_update_time=now))
            other = ACTIVE if stage == DELETED else DELETED
            conn.execute(runs.update().where(runs.c.experiment_id == experiment_id,
                                             runs.c.lifecycle_stage == other)
                         .values(lifecycle_stage=stage, deleted_time=now if stage == DELETED else None))
        self.db.write(work)

    def set_experiment_tag(self, experiment_id: int, key: str, value: str | None) -> None:
        """Set a tag, or delete it when value is None."""
        def work(conn):
            if self._experiment_stage(conn, experiment_id) != ACTIVE:
                raise invalid(f"The experiment {experiment_id} must be in the 'active' state.")
            if value is None:
                deleted = conn.execute(experiment_tags.delete().where(
                    experiment_tags.c.experiment_id == experiment_id, experiment_tags.c.key == key))
                if deleted.rowcount == 0:
                    raise not_found(f"No tag with name: {key} in experiment with id {experiment_id}")
                return
            conn.execute(upsert(self.dialect, experiment_tags, ["experiment_id", "key"], ["value"]),
                         {"experiment_id": experiment_id, "key": key, "value": value})
        self.db.write(work)

    def search_experiments(self, view_type: str, clauses: list[Clause], order_by: list[OrderBy],
                           max_results: int, page_token: str | None) -> tuple[list[dict], str | None]:
        keys = search_sql.experiment_order(order_by)
        where = [experiments.c.lifecycle_stage.in_(VIEW_STAGES[view_type]),
                 *search_sql.experiment_filter(clauses)]
        search = ("experiments", view_type, clauses, order_by)
        if page_token:
            where.append(search_sql.after(keys, decode_keyset_token(page_token, search, keys)))
        with self.db.read() as conn:
            found = self._experiment_rows(conn, where, search_sql.order_clauses(keys), max_results + 1)
        token = None
        if len(found) > max_results:
            found = found[:max_results]
            last = found[-1]
            token = encode_keyset_token(search, [int(last[column.name]) if column.name == "experiment_id"
                                                 else last[column.name] for column, _ in keys])
        return found, token

    # ------------------------------------------------------------ runs

    def create_run(self, experiment_id: int, user_id: str, start_time: int, run_name: str,
                   tag_pairs: list[tuple[str, str]]) -> dict:
        run_id = uuid.uuid4().hex

        def work(conn):
            artifact_location = active_experiment_location(conn, experiment_id)
            conn.execute(runs.insert().values(
                run_uuid=run_id, experiment_id=experiment_id, name=run_name, user_id=user_id,
                status="RUNNING", start_time=start_time, end_time=None, lifecycle_stage=ACTIVE,
                artifact_uri=f"{artifact_location.rstrip('/')}/{run_id}/artifacts"))
            all_tags = dict(tag_pairs)
            all_tags[RUN_NAME_TAG] = run_name
            conn.execute(tags.insert(), [{"run_uuid": run_id, "key": k, "value": v} for k, v in all_tags.items()])
            _refresh_key_values_json(conn, run_id, tags)
            return run_reads.runs_by_id(conn, [run_id])[0]
        return self.db.write(work)

    def _run_state(self, conn, run_id: str, lock: bool = False):
        """The run's (lifecycle_stage, experiment_id); 404 when there is no such run."""
        state = conn.execute(_LOCKED_RUN_STATE if lock else _RUN_STATE, {"run_id": run_id}).first()
        if state is None:
            raise not_found(f"Run with id={run_id} not found")
        return state

    def _check_active(self, conn, run_id: str, lock: bool = False) -> int:
        """The experiment id of the run, which must be active. lock: hold the run's row until the
        transaction ends (before writing params or tags)."""
        stage, experiment_id = self._run_state(conn, run_id, lock)
        if stage != ACTIVE:
            raise invalid(f"The run {run_id} must be in the 'active' state. Current state is {stage}.")
        return experiment_id

    def search_runs(self, experiment_ids: list[int], clauses: list[Clause], view_type: str,
                    max_results: int, order_by: list[OrderBy], page_token: str | None):
        with self.db.read() as conn:
            return run_reads.search_page(conn, experiment_ids, clauses, view_type, max_results, order_by, page_token)

    def search_datasets(self, experiment_ids: list[int], limit: int) -> list[dict]:
        with self.db.read() as conn:
            return inputs.dataset_summaries(conn, experiment_ids, limit)

    def get_run(self, run_id: str) -> dict:
        with self.db.read() as conn:
            found = run_reads.runs_by_id(conn, [run_id])
        if not found:
            raise not_found(f"Run with id={run_id} not found")
        return found[0]

    def update_run(self, run_id: str, status: str | None, end_time: int | None, run_name: str | None) -> dict:
        def work(conn):
            self._check_active(conn, run_id, lock=bool(run_name))
            values = {}
            if status is not None:
                values["status"] = status
            if end_time is not None:
                values["end_time"] = end_time
            if run_name:
                self._set_tags(conn, run_id, {RUN_NAME_TAG: run_name})
            if values:
                conn.execute(runs.update().where(runs.c.run_uuid == run_id).values(**values))
            return run_reads.runs_by_id(conn, [run_id])[0]["info"]
        return self.db.write(work)

    def set_run_lifecycle(self, run_id: str, stage: str, now: int) -> None:
        def work(conn):
            current = self._run_state(conn, run_id).lifecycle_stage
            if stage == ACTIVE and current == ACTIVE:
                return
            conn.execute(runs.update().where(runs.c.run_uuid == run_id).values(
                lifecycle_stage=stage, deleted_time=now if stage == DELETED else None))
        self.db.write(work)

    def log_batch(self, run_id: str, metric_rows: list[tuple], param_pairs: list[tuple[str, str]],
                  tag_pairs: list[tuple[str, str]], model_metric_rows: list[tuple] = ()) -> None:
        """Metrics (key, value, timestamp, step), params and tags in one transaction: all or nothing.
        model_metric_rows (model_id, key, value, timestamp, step, dataset_name, dataset_digest) are
        metric points that the run also logs for a logged model."""
        def work(conn):
            experiment_id = self._check_active(conn, run_id, lock=bool(param_pairs or tag_pairs))
            if param_pairs:
                insert_params(conn, params, "run_uuid", run_id, param_pairs, "run")
                _refresh_key_values_json(conn, run_id, params)
            if tag_pairs:
                self._set_tags(conn, run_id, dict(tag_pairs))
            if metric_rows:
                self._log_metrics(conn, experiment_id, run_id, metric_rows)
            if model_metric_rows:
                check_logged_models(conn, (row[0] for row in model_metric_rows))
                bulk.insert_ignore(conn, logged_model_metrics, MODEL_METRIC_COLUMNS, [
                    (model_id, key, run_id, timestamp, step, *encode_value(value), dataset_name, dataset_digest)
                    for model_id, key, value, timestamp, step, dataset_name, dataset_digest in model_metric_rows])
        self.db.write(work)

    def _set_tags(self, conn, run_id: str, values: dict[str, str]) -> None:
        """Set tags of a run whose row the transaction locked (_check_active(lock=True))."""
        conn.execute(upsert(self.dialect, tags, ["run_uuid", "key"], ["value"]),
                     [{"run_uuid": run_id, "key": k, "value": v} for k, v in values.items()])
        _refresh_key_values_json(conn, run_id, tags)
        if RUN_NAME_TAG in values:
            conn.execute(runs.update().where(runs.c.run_uuid == run_id).values(name=values[RUN_NAME_TAG]))

    def _log_metrics(self, conn, experiment_id: int, run_id: str, rows: list[tuple]) -> None:
        encoded, latest, steps = [], {}, {}
        for key, value, timestamp, step in rows:
            stored, is_nan = encode_value(value)
            encoded.append((run_id, key, step, timestamp, stored, is_nan))
            candidate = (step, timestamp, stored, is_nan)
            if key not in latest or candidate[:3] > latest[key][:3]:
                latest[key] = candidate
            steps.setdefault(key, []).append(step)
        bulk.insert_ignore(conn, metrics, METRIC_COLUMNS, encoded)
        # sorted, so that concurrent batches lock their rows in the same order
        conn.execute(self._raise_latest, [
            {"run_uuid": run_id, "experiment_id": experiment_id, "key": k, "step": s, "timestamp": t, "value": v,
             "is_nan": n, "metric_json": metric_json(k, v, n, t, s),
             **dict(zip(("points", "stride"), series(steps[k])))}
            for k, (s, t, v, n) in sorted(latest.items())])

    def log_inputs(self, run_id: str, items: list[tuple[dict, list]], model_ids: list[str]) -> None:
        """Datasets (with their input tags) and logged models a run used."""
        def work(conn):
            experiment_id = self._check_active(conn, run_id)
            if items:
                inputs.log_dataset_inputs(conn, experiment_id, run_id, items)
            if model_ids:
                self._link_models(conn, run_id, MODEL_INPUT, [(model_id, 0) for model_id in model_ids])
        self.db.write(work)

    def log_outputs(self, run_id: str, outputs: list[tuple[str, int]]) -> None:
        """Logged models a run produced, as (model_id, step)."""
        def work(conn):
            self._check_active(conn, run_id)
            self._link_models(conn, run_id, MODEL_OUTPUT, outputs)
        self.db.write(work)

    @staticmethod
    def _link_models(conn, run_id: str, direction: str, pairs: list[tuple[str, int]]) -> None:
        check_logged_models(conn, (model_id for model_id, _ in pairs))
        bulk.insert_ignore(conn, run_models, ("run_uuid", "model_id", "direction", "step"),
                           [(run_id, model_id, direction, step) for model_id, step in pairs])

    def delete_tag(self, run_id: str, key: str) -> None:
        def work(conn):
            self._check_active(conn, run_id, lock=True)
            deleted = conn.execute(tags.delete().where(tags.c.run_uuid == run_id, tags.c.key == key))
            if deleted.rowcount == 0:
                raise not_found(f"No tag with name: {key} in run with id {run_id}")
            _refresh_key_values_json(conn, run_id, tags)
        self.db.write(work)

    def metric_history(self, run_id: str, key: str, max_results: int | None,
                       page_token: str | None) -> tuple[list[dict], str | None]:
        """A metric's points in (timestamp, step, value) order, the primary key's order; pages
        continue after the last point returned (keyset), never re-reading earlier rows."""
        where = [metrics.c.run_uuid == run_id, metrics.c.key == key]
        search = ("history", run_id, key)
        if page_token:
            where.append(search_sql.after(_HISTORY_KEYS, decode_keyset_token(page_token, search, _HISTORY_KEYS)))
        query = (sa.select(metrics.c.value, metrics.c.is_nan, metrics.c.timestamp, metrics.c.step).where(*where)
                 .order_by(*search_sql.order_clauses(_HISTORY_KEYS)))
        if max_results is not None:
            query = query.limit(max_results + 1)
        with self.db.read() as conn:
            self._run_state(conn, run_id)
            rows = fetch_tuples(conn, query)
        token = None
        if max_results is not None and len(rows) > max_results:
            rows = rows[:max_results]
            value, is_nan, timestamp, step = rows[-1]
            token = encode_keyset_token(search, [timestamp, step, value, bool(is_nan)])
        return [{"key": key, "value": wire_value(v, n), "timestamp": t, "step": s} for v, n, t, s in rows], token

    def sampled_history(self, run_ids: list[str], key: str, start_step: int | None, end_step: int | None,
                        max_results: int) -> list[dict]:
        """Up to max_results points of each run, evenly spread over its points in step order,
        first and last always included."""
        result = []
        with self.db.read() as conn:
            for run_id in run_ids:
                self._run_state(conn, run_id)
            m = latest_metrics.c
            known = {run_id: (step, points, stride) for run_id, step, points, stride in conn.execute(
                sa.select(m.run_uuid, m.step, m.points, m.stride).where(m.run_uuid.in_(run_ids), m.key == key))}
            for run_id in run_ids:
                if run_id in known:
                    rows = self._sampler.sample(conn, run_id, key, *known[run_id], start_step, end_step, max_results)
                    result += [{"key": key, "value": wire_value(v, n), "timestamp": t, "step": s, "run_id": run_id}
                               for v, n, t, s in rows]
        return result
