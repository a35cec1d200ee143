"""Compile parsed filters and order_by clauses into SQLAlchemy expressions.

Values always travel as bound parameters; a filter never becomes SQL text.
"""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from ..errors import invalid
from ..services.search import NUMERIC_COMPARATORS, SET_COMPARATORS, STRING_COMPARATORS, Clause, OrderBy
from .schema import (
    datasets, experiment_tags, experiments, latest_metrics, params, run_input_tags, run_inputs, runs, tags,
)
from .values import encode_value

RUN_STRING_ATTRIBUTES = {
    "run_id": runs.c.run_uuid, "run_uuid": runs.c.run_uuid, "run_name": runs.c.name,
    "status": runs.c.status, "user_id": runs.c.user_id, "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
}
RUN_NUMERIC_ATTRIBUTES = {"start_time": runs.c.start_time, "end_time": runs.c.end_time,
                          "created": runs.c.start_time, "Created": runs.c.start_time}
EXPERIMENT_STRING_ATTRIBUTES = {"name": experiments.c.name}
EXPERIMENT_NUMERIC_ATTRIBUTES = {
    "creation_time": experiments.c.creation_time, "last_update_time": experiments.c.last_update_time,
    "experiment_id": experiments.c.experiment_id,
}


def string_condition(column, clause: Clause):
    op, value = clause.comparator, clause.value
    if op in SET_COMPARATORS:
        if not isinstance(value, tuple):
            raise invalid(f"{op} needs a list of strings for '{clause.key}'")
        return column.in_(value) if op == "IN" else column.not_in(value)
    if op not in STRING_COMPARATORS:
        raise invalid(f"Invalid comparator '{op}' for '{clause.key}': use one of "
                      f"{', '.join(STRING_COMPARATORS)}")
    if not isinstance(value, str):
        raise invalid(f"Expected a quoted string value for '{clause.key}', got {value!r}")
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "LIKE":
        return column.like(value)
    return sa.func.lower(column).like(sa.func.lower(value))


def numeric_condition(column, clause: Clause):
    op, value = clause.comparator, clause.value
    if op not in NUMERIC_COMPARATORS:
        raise invalid(f"Invalid comparator '{op}' for '{clause.key}': use one of "
                      f"{', '.join(NUMERIC_COMPARATORS)}")
    if isinstance(value, str) or isinstance(value, tuple):
        raise invalid(f"Expected a numeric value for '{clause.key}', got {value!r}")
    return {"=": column == value, "!=": column != value, ">": column > value, ">=": column >= value,
            "<": column < value, "<=": column <= value}[op]


def _key_value_condition(table, owner_column, owner, key, condition):
    return sa.exists().where(owner_column == owner, table.c.key == key, condition)


def run_filter(clauses: list[Clause]) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "metric":
            if isinstance(clause.value, float):  # compare as stored: infinities are clamped
                clause = dataclasses.replace(clause, value=encode_value(clause.value)[0])
            condition = numeric_condition(latest_metrics.c.value, clause)
            conditions.append(_key_value_condition(
                latest_metrics, latest_metrics.c.run_uuid, runs.c.run_uuid, clause.key,
                sa.and_(condition, latest_metrics.c.is_nan == sa.false())))
        elif clause.entity == "param":
            conditions.append(_key_value_condition(
                params, params.c.run_uuid, runs.c.run_uuid, clause.key, string_condition(params.c.value, clause)))
        elif clause.entity == "tag":
            conditions.append(_key_value_condition(
                tags, tags.c.run_uuid, runs.c.run_uuid, clause.key, string_condition(tags.c.value, clause)))
        elif clause.entity == "attribute":
            if clause.key in RUN_STRING_ATTRIBUTES:
                conditions.append(string_condition(RUN_STRING_ATTRIBUTES[clause.key], clause))
            elif clause.key in RUN_NUMERIC_ATTRIBUTES:
                conditions.append(numeric_condition(RUN_NUMERIC_ATTRIBUTES[clause.key], clause))
            else:
                raise invalid(f"Invalid attribute key '{clause.key}' specified. Valid keys are "
                              f"{sorted(set(RUN_STRING_ATTRIBUTES) | set(RUN_NUMERIC_ATTRIBUTES))}")
        elif clause.entity == "dataset":
            conditions.append(_dataset_condition(clause))
        else:
            raise invalid(f"Filtering on {clause.entity}s is not supported")
    return conditions


def _dataset_condition(clause: Clause):
    """dataset.name / dataset.digest of a run's input datasets, dataset.context of its input tags."""
    linked = run_inputs.c.run_uuid == runs.c.run_uuid
    if clause.key == "context":
        return sa.exists().where(
            run_input_tags.c.run_uuid == runs.c.run_uuid, run_input_tags.c.key == "mlflow.data.context",
            string_condition(run_input_tags.c.value, clause))
    column = {"name": datasets.c.name, "digest": datasets.c.digest}.get(clause.key)
    if column is None:
        raise invalid(f"Invalid dataset key '{clause.key}': use dataset.name, dataset.digest or dataset.context")
    return sa.exists().where(linked, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid,
                             string_condition(column, clause))


def experiment_filter(clauses: list[Clause]) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "tag":
            conditions.append(_key_value_condition(
                experiment_tags, experiment_tags.c.experiment_id, experiments.c.experiment_id, clause.key,
                string_condition(experiment_tags.c.value, clause)))
        elif clause.entity == "attribute" and clause.key in EXPERIMENT_STRING_ATTRIBUTES:
            conditions.append(string_condition(EXPERIMENT_STRING_ATTRIBUTES[clause.key], clause))
        elif clause.entity == "attribute" and clause.key in EXPERIMENT_NUMERIC_ATTRIBUTES:
            conditions.append(numeric_condition(EXPERIMENT_NUMERIC_ATTRIBUTES[clause.key], clause))
        else:
            raise invalid(f"Invalid filter key '{clause.key}' for experiments: use name, creation_time, "
                          f"last_update_time or tags.<key>")
    return conditions


def _nulls_last(expression, ascending: bool) -> list[tuple]:
    return [(sa.case((expression.is_(None), 1), else_=0), True), (expression, ascending)]


def run_order(order_by: list[OrderBy]) -> tuple[list[tuple], sa.FromClause]:
    """The sort keys of a run search as (expression, ascending), and the FROM clause they need
    (runs, outer-joined once to each metric, param or tag sorted on). Runs without a key come
    last (metrics: numbers, then NaN, then missing), then start_time DESC, then run id, so
    that every run has a distinct position."""
    keys, source, has_start_time = [], runs, False
    for position, item in enumerate(order_by):
        if item.entity in ("metric", "param", "tag"):
            table = {"metric": latest_metrics, "param": params, "tag": tags}[item.entity].alias(f"o{position}")
            source = source.outerjoin(table, sa.and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == item.key))
            value = table.c.value
            if item.entity == "metric":
                keys += [(sa.case((value.is_(None), 2), (table.c.is_nan == sa.true(), 1), else_=0), True),
                         (value, item.ascending)]
            else:
                keys += _nulls_last(value, item.ascending)
        elif item.entity == "attribute":
            column = RUN_STRING_ATTRIBUTES.get(item.key)
            if column is None:
                column = RUN_NUMERIC_ATTRIBUTES.get(item.key)
            if column is None:
                raise invalid(f"Invalid order_by attribute '{item.key}'")
            has_start_time |= column is runs.c.start_time
            keys += _nulls_last(column, item.ascending)
        else:
            raise invalid(f"Ordering by {item.entity}s is not supported")
    if not has_start_time:
        keys.append((runs.c.start_time, False))
    keys.append((runs.c.run_uuid, True))
    return keys, source


def order_clauses(keys: list[tuple]) -> list:
    return [expression.asc() if ascending else expression.desc() for expression, ascending in keys]


def after(keys: list[tuple], values: list):
    """Rows that sort strictly after the row whose sort key values are `values` (keyset
    paging: a page starts where the last one ended, whatever was inserted meanwhile)."""
    alternatives = []
    for i, ((expression, ascending), value) in enumerate(zip(keys, values)):
        if value is None:  # within its rank a missing value ties with all the others
            continue
        same_before = [e.is_not_distinct_from(v) for (e, _), v in zip(keys[:i], values[:i])]
        if isinstance(value, bool):  # SQL has no portable < on booleans: false sorts before true
            later = expression == sa.true() if ascending and not value else (
                expression == sa.false() if not ascending and value else sa.false())
        else:
            later = expression > value if ascending else expression < value
        alternatives.append(sa.and_(*same_before, later))
    return sa.or_(*alternatives) if alternatives else sa.false()


def experiment_order(order_by: list[OrderBy]) -> list:
    columns = {"name": experiments.c.name, **EXPERIMENT_NUMERIC_ATTRIBUTES}
    terms = []
    for item in order_by:
        column = columns.get(item.key) if item.entity == "attribute" else None
        if column is None:
            raise invalid(f"Invalid order_by key '{item.key}' for experiments: use name, experiment_id, "
                          f"creation_time or last_update_time")
        terms.append(column.asc() if item.ascending else column.desc())
    if not order_by:
        terms.append(experiments.c.creation_time.desc())
    terms.append(experiments.c.experiment_id.asc())
    return terms
