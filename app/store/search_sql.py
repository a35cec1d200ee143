"""Compile parsed filters and order_by clauses into SQLAlchemy expressions.

Values always travel as bound parameters; a filter never becomes SQL text.
"""
from __future__ import annotations

import dataclasses
import functools
import operator

import sqlalchemy as sa

from ..errors import invalid
from .filters import ID_COMPARATORS, NUMERIC_COMPARATORS, SET_COMPARATORS, STRING_COMPARATORS, Clause, OrderBy
from .schema import (
    datasets, experiment_tags, experiments, latest_metrics, model_version_tags, model_versions, params,
    registered_model_tags, registered_models, run_input_tags, run_inputs, runs, tags,
)
from .values import encode_value

RUN_STRING_ATTRIBUTES = {
    "run_id": runs.c.run_uuid, "run_name": runs.c.name, "status": runs.c.status,
    "user_id": runs.c.user_id, "artifact_uri": runs.c.artifact_uri,
}
RUN_NAME_ALIASES = ("run name", "Run name", "Run Name")  # in filters only, as the official server
RUN_NUMERIC_ATTRIBUTES = {"start_time": runs.c.start_time, "end_time": runs.c.end_time,
                          "created": runs.c.start_time, "Created": runs.c.start_time}
EXPERIMENT_ORDER_COLUMNS = {
    "name": experiments.c.name, "experiment_id": experiments.c.experiment_id,
    "creation_time": experiments.c.creation_time, "last_update_time": experiments.c.last_update_time,
}
EXPERIMENT_TIMES = ("creation_time", "last_update_time")


def string_condition(column, clause: Clause, sets: bool = False, value=None):
    """`value`: the SQL to compare with, when not the clause's value itself (a parameter)."""
    op = clause.comparator
    value = clause.value if value is None else value
    if op in SET_COMPARATORS:
        if not sets:
            raise invalid(f"Invalid comparator '{op}' for '{clause.key}': IN and NOT IN compare "
                          f"run_id (runs), experiment_id (experiments) and dataset fields only")
        return column.in_(value) if op == "IN" else column.not_in(value)
    if op not in STRING_COMPARATORS:
        raise invalid(f"Invalid comparator '{op}' for '{clause.key}': use one of "
                      f"{', '.join(STRING_COMPARATORS)}")
    if not isinstance(clause.value, str):
        raise invalid(f"Expected a quoted string value for '{clause.key}', got {clause.value!r}")
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "LIKE":
        return column.like(value)
    return sa.func.lower(column).like(sa.func.lower(value))


_NUMERIC_OPERATORS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
                      "<": operator.lt, "<=": operator.le}


def numeric_condition(column, clause: Clause, value=None):
    """`value`: the SQL to compare with, when not the clause's value itself (a parameter)."""
    op = clause.comparator
    if op not in NUMERIC_COMPARATORS:
        raise invalid(f"Invalid comparator '{op}' for '{clause.key}': use one of "
                      f"{', '.join(NUMERIC_COMPARATORS)}")
    if not isinstance(clause.value, float):
        raise invalid(f"Expected a numeric value for '{clause.key}', got {clause.value!r}")
    return _NUMERIC_OPERATORS[op](column, clause.value if value is None else value)


def _key_value_condition(table, owner_column, owner, clause: Clause, value=None):
    """A key-value entity (param, tag) of the owner: compared, or tested for presence."""
    has_key = sa.exists().where(owner_column == owner, table.c.key == clause.key)
    if clause.comparator == "IS NULL":
        return ~has_key
    if clause.comparator == "IS NOT NULL":
        return has_key
    return has_key.where(string_condition(table.c.value, clause, value=value))


def _no_null_test(clause: Clause) -> None:
    if clause.comparator in ("IS NULL", "IS NOT NULL"):
        raise invalid(f"Invalid comparator '{clause.comparator}' for '{clause.key}': IS NULL and "
                      f"IS NOT NULL test params and tags only")


def _metric_condition(clause: Clause, run_id, experiment_id, value):
    _no_null_test(clause)
    metric = latest_metrics.c
    condition = numeric_condition(metric.value, clause, value)
    # NaN equals nothing and differs from everything, as in the official server
    condition = (sa.or_(condition, metric.is_nan == sa.true()) if clause.comparator == "!="
                 else sa.and_(metric.is_nan == sa.false(), condition))
    # The run's experiment, though implied by the run, lets the database range-scan the
    # (experiment, key, is_nan, value) index for the runs that match, rather than every run's
    # value of this key in every experiment, when matching first is the better plan.
    return sa.exists().where(metric.run_uuid == run_id, metric.experiment_id == experiment_id,
                             metric.key == clause.key, condition)


def _filter_value(clause: Clause):
    """A run filter clause's value as its statement's parameter takes it."""
    if clause.entity == "metric" and isinstance(clause.value, float):  # compare as stored: infinities clamped
        return encode_value(clause.value)[0]
    return list(clause.value) if isinstance(clause.value, tuple) else clause.value


def filter_shape(clauses: list[Clause]) -> tuple:
    """What run_filter's conditions depend on, but for the clauses' values: searches of one shape
    can share a statement (run with filter_parameters)."""
    return tuple((c.entity, c.key, c.comparator, type(c.value)) for c in clauses)


def filter_parameters(clauses: list[Clause]) -> dict:
    """The values of run_filter's parameters for these clauses."""
    return {f"f{i}": _filter_value(clause) for i, clause in enumerate(clauses)}


def run_filter(clauses: list[Clause], run_id=runs.c.run_uuid, experiment_id=runs.c.experiment_id) -> list:
    """Conditions on runs; those on related rows are correlated with `run_id` and `experiment_id`,
    the run's columns in the table the query is driven from, so they can be checked before the
    runs row is read. The clauses' values are parameters named f0, f1, ... (filter_parameters)."""
    conditions = []
    for i, clause in enumerate(clauses):
        value = sa.bindparam(f"f{i}", _filter_value(clause), expanding=clause.comparator in SET_COMPARATORS)
        if clause.entity == "metric":
            conditions.append(_metric_condition(clause, run_id, experiment_id, value))
        elif clause.entity in ("param", "tag"):
            table = params if clause.entity == "param" else tags
            conditions.append(_key_value_condition(table, table.c.run_uuid, run_id, clause, value))
        elif clause.entity == "attribute":
            _no_null_test(clause)
            key = "run_name" if clause.key in RUN_NAME_ALIASES else clause.key
            if key in RUN_STRING_ATTRIBUTES:
                conditions.append(string_condition(RUN_STRING_ATTRIBUTES[key], clause, key == "run_id", value))
            elif key in RUN_NUMERIC_ATTRIBUTES:
                conditions.append(numeric_condition(RUN_NUMERIC_ATTRIBUTES[key], clause, value))
            else:
                raise invalid(f"Invalid attribute key '{clause.key}' specified. Valid keys are "
                              f"{', '.join([*RUN_STRING_ATTRIBUTES, *RUN_NUMERIC_ATTRIBUTES])}")
        else:
            _no_null_test(clause)
            conditions.append(_dataset_condition(clause, run_id, value))
    return conditions


def _dataset_condition(clause: Clause, run_id, value):
    """dataset.name / dataset.digest of a run's input datasets, dataset.context of its input tags."""
    linked = run_inputs.c.run_uuid == run_id
    if clause.key == "context":
        return sa.exists().where(
            run_input_tags.c.run_uuid == run_id, run_input_tags.c.key == "mlflow.data.context",
            string_condition(run_input_tags.c.value, clause, True, value))
    column = {"name": datasets.c.name, "digest": datasets.c.digest}.get(clause.key)
    if column is None:
        raise invalid(f"Invalid dataset key '{clause.key}': use dataset.name, dataset.digest or dataset.context")
    return sa.exists().where(linked, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid,
                             string_condition(column, clause, True, value))


def _experiment_id_condition(clause: Clause):
    column, op, value = experiments.c.experiment_id, clause.comparator, clause.value
    if op not in ID_COMPARATORS:
        raise invalid(f"Invalid comparator '{op}' for 'experiment_id': use {', '.join(ID_COMPARATORS)}")
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    return column.in_(value) if op == "IN" else column.not_in(value)


def experiment_filter(clauses: list[Clause]) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "tag":
            conditions.append(_key_value_condition(
                experiment_tags, experiment_tags.c.experiment_id, experiments.c.experiment_id, clause))
            continue
        _no_null_test(clause)
        if clause.key == "name":
            conditions.append(string_condition(experiments.c.name, clause))
        elif clause.key == "experiment_id":  # the service made the ids numbers
            conditions.append(_experiment_id_condition(clause))
        elif clause.key in EXPERIMENT_TIMES:
            if isinstance(clause.value, float) and not clause.value.is_integer():
                raise invalid(f"Expected an integer (milliseconds) for '{clause.key}', got {clause.value}")
            conditions.append(numeric_condition(EXPERIMENT_ORDER_COLUMNS[clause.key], clause))
        else:
            raise invalid(f"Invalid attribute key '{clause.key}' for experiments: use name, experiment_id, "
                          f"creation_time, last_update_time or tags.<key>")
    return conditions


@dataclasses.dataclass(frozen=True)
class Tier:
    """The runs whose first sort key has one rank (value, NaN, missing): their rank, the FROM
    clause, the conditions that select them and the run and experiment id columns of the table
    that drives it."""
    rank: int | None
    source: sa.FromClause
    where: tuple
    run_id: sa.ColumnElement = runs.c.run_uuid
    experiment_id: sa.ColumnElement = runs.c.experiment_id


@dataclasses.dataclass(frozen=True)
class RunOrder:
    """How to sort a run search. `keys` are (expression, ascending); when the first key is a
    metric, param, tag or nullable attribute, keys[0] is its rank and the runs are read tier
    by tier, so that within a tier the database can follow an index on the sort value
    instead of sorting every run."""
    keys: tuple[tuple, ...]
    tiers: tuple[Tier, ...]


@functools.cache
def _order_alias(entity: str, position: int) -> sa.Alias:
    """The table of the position-th sort key, aliased; made once (building an alias's columns
    is a good part of building a search query)."""
    alias = {"metric": latest_metrics, "param": params, "tag": tags}[entity].alias(f"o{position}")
    alias.c  # noqa: B018 (fills the column collection now, not in concurrent requests)
    return alias


def run_order(order_by: list[OrderBy]) -> RunOrder:
    """Runs without a key come last (metrics: numbers, then NaN, then missing), then
    start_time DESC, then run id, so that every run has a distinct position."""
    return _run_order(tuple(order_by))


# Searches repeat their order (a UI refreshing, a client paging), and building it is a good part
# of building a search query: it is built once and reused, as SQLAlchemy expressions are
# immutable. Errors are not cached: they are raised again.
@functools.lru_cache(maxsize=256)
def _run_order(order_by: tuple[OrderBy, ...]) -> RunOrder:
    _no_duplicates([(item.entity, "start_time" if item.key in ("created", "Created") else item.key)
                    for item in order_by])
    keys, joins, tiers, has_start_time = [], [], None, False
    for position, item in enumerate(order_by):
        if item.entity in ("metric", "param", "tag"):
            table = _order_alias(item.entity, position)
            on = sa.and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == item.key)
            value, missing = table.c.value, table.c.run_uuid.is_(None)
            if item.entity == "metric":
                is_nan = table.c.is_nan == sa.true()
                rank = sa.case((missing, 2), (is_nan, 1), else_=0)
                ranked = [(0, [table.c.is_nan == sa.false()]), (1, [is_nan])]
            else:
                rank, ranked = sa.case((missing, 1), else_=0), [(0, [])]
            keys += [(rank, True), (value, item.ascending)]
            if position == 0:  # ranked tiers join the table, the last one holds the runs without it
                driving = [table.c.run_uuid, *([table.c.experiment_id] if item.entity == "metric" else [])]
                tiers = [(r, sa.join(runs, table, on), where, *driving) for r, where in ranked]
                tiers.append((len(ranked), sa.outerjoin(runs, table, on), [missing], runs.c.run_uuid))
            else:
                joins.append((table, on))
        elif item.entity == "attribute":
            column = RUN_STRING_ATTRIBUTES.get(item.key)
            if column is None:
                column = RUN_NUMERIC_ATTRIBUTES.get(item.key)
            if column is None:
                raise invalid(f"Invalid order_by attribute '{item.key}'")
            has_start_time |= column is runs.c.start_time
            if column.nullable:
                keys.append((sa.case((column.is_(None), 1), else_=0), True))
                if position == 0:
                    tiers = [(0, runs, [column.is_not(None)]), (1, runs, [column.is_(None)])]
            keys.append((column, item.ascending))
        else:
            raise invalid(f"Ordering by {item.entity}s is not supported")
    if not has_start_time:
        keys.append((runs.c.start_time, False))
    keys.append((runs.c.run_uuid, True))
    tiers = tiers or [(None, runs, [])]
    for table, on in joins:
        tiers = [(rank, source.outerjoin(table, on), *rest) for rank, source, *rest in tiers]
    return RunOrder(tuple(keys), tuple(Tier(rank, source, tuple(where), *rest)
                                       for rank, source, where, *rest in tiers))


def order_clauses(keys: list[tuple]) -> list:
    return [expression.asc() if ascending else expression.desc() for expression, ascending in keys]


def _after_bound(value) -> bool:
    """Whether after() makes `value` a parameter (a missing value or a boolean shapes the SQL)."""
    return value is not None and not isinstance(value, bool)


def after_shape(values: list) -> tuple:
    """What after(keys, values, bound=True) depends on, but for the values it binds."""
    return tuple("bound" if _after_bound(value) else value for value in values)


def after_parameters(values: list) -> dict:
    """The values of after(keys, values, bound=True)'s parameters."""
    return {f"a{i}": value for i, value in enumerate(values) if _after_bound(value)}


def after(keys: list[tuple], values: list, bound: bool = False):
    """Rows that sort strictly after the row whose sort key values are `values` (keyset
    paging: a page starts where the last one ended, whatever was inserted meanwhile). With
    `bound`, the values are parameters named a0, a1, ... (after_parameters)."""
    values = [sa.bindparam(f"a{i}", value) if bound and _after_bound(value) else value
              for i, value in enumerate(values)]
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
    if not alternatives:
        return sa.false()
    condition = sa.or_(*alternatives)
    expression, ascending = keys[0]
    if values[0] is not None and not isinstance(values[0], bool):
        # Implied by the alternatives, but a range the database can seek an index to.
        condition = sa.and_(expression >= values[0] if ascending else expression <= values[0], condition)
    return condition


def _no_duplicates(keys: list) -> None:
    repeated = sorted({f"{entity}.{key}" for entity, key in keys if keys.count((entity, key)) > 1})
    if repeated:
        raise invalid(f"order_by contains duplicate fields: {', '.join(repeated)}")


def experiment_order(order_by: list[OrderBy]) -> list[tuple]:
    """Sort keys of an experiment search as (column, ascending), as the official server sorts:
    creation_time DESC then experiment_id ASC by default; otherwise experiment_id, DESC unless
    given, last, so that every experiment has a distinct position."""
    _no_duplicates([(item.entity, item.key) for item in order_by])
    keys = []
    for item in order_by:
        column = EXPERIMENT_ORDER_COLUMNS.get(item.key) if item.entity == "attribute" else None
        if column is None:
            raise invalid(f"Invalid order_by key '{item.key}' for experiments: use name, experiment_id, "
                          f"creation_time or last_update_time")
        keys.append((column, item.ascending))
    if not order_by:
        return [(experiments.c.creation_time, False), (experiments.c.experiment_id, True)]
    if not any(column is experiments.c.experiment_id for column, _ in keys):
        keys.append((experiments.c.experiment_id, False))
    return keys


# ---------------------------------------------------------------- the model registry

REGISTERED_MODEL_ORDER_COLUMNS = {
    "name": registered_models.c.name, "timestamp": registered_models.c.last_updated_time,
    "last_updated_timestamp": registered_models.c.last_updated_time,
    "creation_timestamp": registered_models.c.creation_time,
}
MODEL_VERSION_ORDER_COLUMNS = {
    "name": registered_models.c.name, "version_number": model_versions.c.version,
    "creation_timestamp": model_versions.c.creation_time, "last_updated_timestamp": model_versions.c.last_updated_time,
}
MODEL_VERSION_STRINGS = {"name": registered_models.c.name, "run_id": model_versions.c.run_id,
                         "source_path": model_versions.c.source}


def registered_model_filter(clauses: list[Clause]) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "tag":
            conditions.append(_key_value_condition(registered_model_tags, registered_model_tags.c.registered_model_id,
                                                   registered_models.c.id, clause))
            continue
        _no_null_test(clause)
        if clause.key == "name":
            conditions.append(string_condition(registered_models.c.name, clause, sets=True))
        else:
            raise invalid(f"Invalid attribute key '{clause.key}' for registered models: use name or tags.<key>")
    return conditions


def model_version_filter(clauses: list[Clause]) -> list:
    conditions = []
    for clause in clauses:
        if clause.entity == "tag":
            t = model_version_tags.c
            conditions.append(_key_value_condition(
                model_version_tags, sa.tuple_(t.registered_model_id, t.version),
                sa.tuple_(model_versions.c.registered_model_id, model_versions.c.version), clause))
            continue
        _no_null_test(clause)
        if clause.key == "version_number":
            conditions.append(numeric_condition(model_versions.c.version, _integer_value(clause)))
        elif clause.key in MODEL_VERSION_STRINGS:
            conditions.append(string_condition(MODEL_VERSION_STRINGS[clause.key], clause,
                                               sets=clause.key != "source_path"))
        else:
            raise invalid(f"Invalid attribute key '{clause.key}' for model versions: use name, version_number, "
                          f"run_id, source_path or tags.<key>")
    return conditions


def _integer_value(clause: Clause) -> Clause:
    """version_number compares with an integer, written bare or quoted."""
    value = clause.value
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not isinstance(number, (int, float)) or not float(number).is_integer():
        raise invalid(f"Invalid value {value!r} for '{clause.key}': expected an integer")
    return dataclasses.replace(clause, value=float(number))


def attribute_order(order_by: list[OrderBy], columns: dict, what: str, tiebreakers: list[tuple]) -> list[tuple]:
    """Sort keys (column, ascending) of attribute order_by clauses, then each tie-breaker not
    already sorted on, so that every row has a distinct position."""
    keys = []
    for item in order_by:
        column = columns.get(item.key) if item.entity == "attribute" else None
        if column is None:
            raise invalid(f"Invalid order_by key '{item.key}' for {what}: use {', '.join(columns)}")
        if any(existing is column for existing, _ in keys):
            raise invalid(f"order_by contains duplicate fields: {item.key}")
        keys.append((column, item.ascending))
    return keys + [(column, ascending) for column, ascending in tiebreakers
                   if not any(existing is column for existing, _ in keys)]


def registered_model_order(order_by: list[OrderBy]) -> list[tuple]:
    """Name ascending unless told otherwise (names are unique)."""
    return attribute_order(order_by, REGISTERED_MODEL_ORDER_COLUMNS, "registered models",
                           [(registered_models.c.name, True)])


def model_version_order(order_by: list[OrderBy]) -> list[tuple]:
    """Most recently updated first unless told otherwise; then name, then newest version."""
    default = [] if order_by else [(model_versions.c.last_updated_time, False)]
    return attribute_order(order_by, MODEL_VERSION_ORDER_COLUMNS, "model versions",
                           default + [(registered_models.c.name, True), (model_versions.c.version, False)])
