"""MLflow 3 logged models: created by log_model, finalized when their artifacts are uploaded,
with tags, params and the metrics runs log for them (rows of logged_model_metrics, written
by the tracking store's log_batch). Deleting one only marks it deleted."""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ..errors import invalid, not_found
from . import search_sql
from .db import Database, fetch_tuples
from .filters import Clause
from .in_list import in_list
from .pages import decode_keyset_token, encode_keyset_token
from .schema import logged_model_metrics, logged_model_params, logged_model_tags, logged_models
from .tracking import (
    ACTIVE, DELETED, active_experiment_location, check_logged_models, insert_params, logged_model_not_found,
)
from .upsert import upsert
from .values import encode_value, wire_value

PENDING = "LOGGED_MODEL_PENDING"


@dataclass(frozen=True)
class ModelOrder:
    key: str  # an attribute, or the metric's key when metric is set
    ascending: bool = True
    metric: bool = False
    dataset_name: str | None = None  # metrics logged for this dataset only
    dataset_digest: str | None = None


_m = logged_models.c
STRING_ATTRIBUTES = {"name": _m.name, "model_id": _m.model_id, "status": _m.status, "model_type": _m.model_type,
                     "source_run_id": _m.source_run_id}
NUMERIC_ATTRIBUTES = {
    "creation_timestamp_ms": _m.creation_timestamp_ms, "creation_timestamp": _m.creation_timestamp_ms,
    "creation_time": _m.creation_timestamp_ms, "last_updated_timestamp_ms": _m.last_updated_timestamp_ms,
    "last_updated_timestamp": _m.last_updated_timestamp_ms,
}
ATTRIBUTES = {**STRING_ATTRIBUTES, **NUMERIC_ATTRIBUTES}
_MODEL_COLUMNS = (_m.model_id, _m.experiment_id, _m.name, _m.artifact_location, _m.creation_timestamp_ms,
                  _m.last_updated_timestamp_ms, _m.status, _m.model_type, _m.source_run_id, _m.status_message)
_MODELS_BY_ID = sa.select(*_MODEL_COLUMNS).where(in_list(_m.model_id, "ids"))
_TAG, _PARAM, _METRIC = 0, 1, 2


def _model_data_query():
    """Tags, params and metric points of the models in :ids as one UNION ALL of (model_id, kind,
    key, text value, number value, is_nan, timestamp, step, run id, dataset name, dataset digest)."""
    no_text, no_number = sa.cast(sa.null(), sa.String), sa.cast(sa.null(), sa.Double)
    no_flag, no_int = sa.cast(sa.null(), sa.Boolean), sa.cast(sa.null(), sa.BigInteger)
    m = logged_model_metrics.c
    return sa.union_all(
        *(sa.select(t.c.model_id, sa.literal(kind), t.c.key, t.c.value, no_number, no_flag, no_int, no_int,
                    no_text, no_text, no_text).where(in_list(t.c.model_id, "ids"))
          for kind, t in ((_TAG, logged_model_tags), (_PARAM, logged_model_params))),
        sa.select(m.model_id, sa.literal(_METRIC), m.key, no_text, m.value, m.is_nan, m.timestamp, m.step,
                  m.run_uuid, m.dataset_name, m.dataset_digest).where(in_list(m.model_id, "ids")),
    )


_MODEL_DATA = _model_data_query()


def _models_json(conn, rows: list[tuple]) -> list[dict]:
    """LoggedModel JSON for rows of _MODEL_COLUMNS, in their order."""
    by_id = {}
    for model_id, experiment_id, name, uri, created, updated, status, model_type, run_id, message in rows:
        info = {"model_id": model_id, "experiment_id": str(experiment_id), "name": name, "artifact_uri": uri,
                "creation_timestamp_ms": created, "last_updated_timestamp_ms": updated, "status": status}
        for field, value in (("model_type", model_type), ("source_run_id", run_id), ("status_message", message)):
            if value:
                info[field] = value
        by_id[model_id] = {"info": info, "data": {}}
    if not by_id:
        return []
    data_rows = fetch_tuples(conn, _MODEL_DATA, {"ids": list(by_id)})
    for model_id, kind, key, text, number, is_nan, timestamp, step, run_id, dataset_name, dataset_digest in data_rows:
        model = by_id[model_id]
        if kind == _TAG:
            model["info"].setdefault("tags", []).append({"key": key, "value": text})
        elif kind == _PARAM:
            model["data"].setdefault("params", []).append({"key": key, "value": text})
        else:
            metric = {"key": key, "value": wire_value(number, is_nan), "timestamp": timestamp, "step": step,
                      "run_id": run_id, "model_id": model_id}
            if dataset_name:
                metric["dataset_name"] = dataset_name
            if dataset_digest:
                metric["dataset_digest"] = dataset_digest
            model["data"].setdefault("metrics", []).append(metric)
    return list(by_id.values())


# ---------------------------------------------------------------- search

def _on_datasets(datasets: list[tuple[str, str | None]]) -> list:
    """Conditions on logged_model_metrics rows: logged for one of the (name, digest or None) datasets."""
    if not datasets:
        return []
    m = logged_model_metrics.c
    return [sa.or_(*(sa.and_(m.dataset_name == name, *([m.dataset_digest == digest] if digest else []))
                     for name, digest in datasets))]


def _metric_condition(clause: Clause, datasets: list):
    """Some point of the metric (any step, run or listed dataset) compares true."""
    m = logged_model_metrics.c
    if isinstance(clause.value, float):  # compare as stored: infinities are clamped
        clause = dataclasses.replace(clause, value=encode_value(clause.value)[0])
    condition = search_sql.numeric_condition(m.value, clause)
    is_nan = m.is_nan == sa.true()
    # NaN equals nothing and differs from everything, as for runs
    condition = sa.or_(condition, is_nan) if clause.comparator == "!=" else sa.and_(condition, ~is_nan)
    return sa.exists().where(m.model_id == _m.model_id, m.key == clause.key, condition, *_on_datasets(datasets))


def _filter(clauses: list[Clause], datasets: list) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "metric":
            conditions.append(_metric_condition(clause, datasets))
        elif clause.entity in ("param", "tag"):
            table = logged_model_params if clause.entity == "param" else logged_model_tags
            conditions.append(sa.exists().where(table.c.model_id == _m.model_id, table.c.key == clause.key,
                                                search_sql.string_condition(table.c.value, clause, sets=True)))
        elif clause.key in STRING_ATTRIBUTES:
            conditions.append(search_sql.string_condition(STRING_ATTRIBUTES[clause.key], clause, sets=True))
        elif clause.key in NUMERIC_ATTRIBUTES:
            conditions.append(search_sql.numeric_condition(NUMERIC_ATTRIBUTES[clause.key], clause))
        else:
            raise invalid(f"Invalid attribute key '{clause.key}' for logged models. Valid keys are "
                          f"{', '.join(ATTRIBUTES)}")
    if datasets and not any(clause.entity == "metric" for clause in clauses):
        m = logged_model_metrics.c
        conditions.append(sa.exists().where(m.model_id == _m.model_id, *_on_datasets(datasets)))
    return conditions


def _latest_metric(item: ModelOrder, name: str):
    """(model_id, value, is_nan) of each model's latest point of a metric (by timestamp, then
    step), among the points logged for the order's dataset when it names one."""
    m = logged_model_metrics.c
    where = [m.key == item.key]
    if item.dataset_name:
        where.append(m.dataset_name == item.dataset_name)
    if item.dataset_digest:
        where.append(m.dataset_digest == item.dataset_digest)
    latest_first = sa.func.row_number().over(partition_by=m.model_id,
                                             order_by=(m.timestamp.desc(), m.step.desc(), m.run_uuid))
    ranked = sa.select(m.model_id, m.value, m.is_nan, latest_first.label("n")).where(*where).subquery()
    return sa.select(ranked.c.model_id, ranked.c.value, ranked.c.is_nan).where(ranked.c.n == 1).subquery(name)


def _order(order_by: list[ModelOrder]) -> tuple[list[tuple], sa.FromClause]:
    """Sort keys as (expression, ascending) and the FROM clause they need. Models without the
    key come last (metrics: numbers, then NaN, then missing); then creation time, newest first,
    and model id, so that every model has a distinct position."""
    keys, source = [], logged_models
    for position, item in enumerate(order_by):
        if item.metric:
            latest = _latest_metric(item, f"o{position}")
            source = source.outerjoin(latest, latest.c.model_id == _m.model_id)
            keys += [(sa.case((latest.c.value.is_(None), 2), (latest.c.is_nan == sa.true(), 1), else_=0), True),
                     (latest.c.value, item.ascending)]
            continue
        column = ATTRIBUTES.get(item.key)
        if column is None:
            raise invalid(f"Invalid order_by field '{item.key}' for logged models. Valid fields are metrics.<key>, "
                          f"{', '.join(ATTRIBUTES)}")
        if column.nullable:
            keys.append((sa.case((column.is_(None), 1), else_=0), True))
        keys.append((column, item.ascending))
    columns = [expression for expression, _ in keys]
    if not any(column is _m.creation_timestamp_ms for column in columns):
        keys.append((_m.creation_timestamp_ms, False))
    if not any(column is _m.model_id for column in columns):
        keys.append((_m.model_id, True))
    return keys, source


class LoggedModelStore:
    def __init__(self, database: Database):
        self.db = database
        self.dialect = database.dialect

    def create(self, experiment_id: int, name: str, model_type: str | None, source_run_id: str | None,
               param_pairs: list[tuple[str, str]], tag_pairs: list[tuple[str, str]], now: int) -> dict:
        model_id = f"m-{uuid.uuid4().hex}"

        def work(conn):
            location = active_experiment_location(conn, experiment_id)
            conn.execute(logged_models.insert().values(
                model_id=model_id, experiment_id=experiment_id, name=name,
                artifact_location=f"{location.rstrip('/')}/models/{model_id}/artifacts",
                creation_timestamp_ms=now, last_updated_timestamp_ms=now, status=PENDING, lifecycle_stage=ACTIVE,
                model_type=model_type, source_run_id=source_run_id))
            if param_pairs:
                insert_params(conn, logged_model_params, "model_id", model_id, param_pairs, "logged model")
            if tag_pairs:
                self._set_tags(conn, model_id, tag_pairs)
            return self._models(conn, [model_id])[0]
        return self.db.write(work)

    def get(self, model_id: str, allow_deleted: bool = False) -> dict:
        with self.db.read() as conn:
            found = self._models(conn, [model_id], allow_deleted)
        if not found:
            raise logged_model_not_found(model_id)
        return found[0]

    def finalize(self, model_id: str, status: str, now: int) -> dict:
        def work(conn):
            check_logged_models(conn, [model_id])
            conn.execute(logged_models.update().where(_m.model_id == model_id)
                         .values(status=status, last_updated_timestamp_ms=now))
            return self._models(conn, [model_id])[0]
        return self.db.write(work)

    def set_tags(self, model_id: str, tag_pairs: list[tuple[str, str]]) -> None:
        def work(conn):
            check_logged_models(conn, [model_id])
            self._set_tags(conn, model_id, tag_pairs)
        self.db.write(work)

    def delete_tag(self, model_id: str, key: str) -> None:
        def work(conn):
            check_logged_models(conn, [model_id])
            deleted = conn.execute(logged_model_tags.delete().where(
                logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key))
            if deleted.rowcount == 0:
                raise not_found(f"No tag with key '{key}' on logged model '{model_id}'.")
        self.db.write(work)

    def log_params(self, model_id: str, param_pairs: list[tuple[str, str]]) -> None:
        def work(conn):
            check_logged_models(conn, [model_id])
            insert_params(conn, logged_model_params, "model_id", model_id, param_pairs, "logged model")
        self.db.write(work)

    def delete(self, model_id: str, now: int) -> None:
        def work(conn):
            check_logged_models(conn, [model_id])
            conn.execute(logged_models.update().where(_m.model_id == model_id)
                         .values(lifecycle_stage=DELETED, last_updated_timestamp_ms=now))
        self.db.write(work)

    def search(self, experiment_ids: list[int], clauses: list[Clause], datasets: list[tuple[str, str | None]],
               order_by: list[ModelOrder], max_results: int, page_token: str | None):
        keys, source = _order(order_by)
        where = [_m.experiment_id.in_(experiment_ids), _m.lifecycle_stage == ACTIVE, *_filter(clauses, datasets)]
        search = ("logged_models", sorted(experiment_ids), clauses, datasets, order_by)
        if page_token:
            where.append(search_sql.after(keys, decode_keyset_token(page_token, search, keys)))
        query = (sa.select(*_MODEL_COLUMNS, *(expression for expression, _ in keys)).select_from(source)
                 .where(*where).order_by(*search_sql.order_clauses(keys)).limit(max_results + 1))
        width = len(_MODEL_COLUMNS)
        with self.db.read() as conn:
            rows = fetch_tuples(conn, query)
            token = None
            if len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_keyset_token(search, list(rows[-1][width:]))
            return _models_json(conn, [row[:width] for row in rows]), token

    def _set_tags(self, conn, model_id: str, tag_pairs: list[tuple[str, str]]) -> None:
        conn.execute(upsert(self.dialect, logged_model_tags, ["model_id", "key"], ["value"]),
                     [{"model_id": model_id, "key": k, "value": v} for k, v in dict(tag_pairs).items()])

    @staticmethod
    def _models(conn, model_ids: list[str], allow_deleted: bool = False) -> list[dict]:
        query = _MODELS_BY_ID if allow_deleted else _MODELS_BY_ID.where(_m.lifecycle_stage == ACTIVE)
        return _models_json(conn, fetch_tuples(conn, query, {"ids": model_ids}))
