"""Runs as the REST API's JSON, read by id or as a page of a search.

A run's row carries its params and tags as JSON arrays, and each latest metric its JSON
object, so a run is read in one statement: its metrics concatenated per run, its logged
models and datasets read only for the runs that have them.
"""
from __future__ import annotations

import functools

import orjson
import sqlalchemy as sa

from . import inputs, search_sql
from .db import fetch_tuples, plan_for_lookups_by_run, prefer_index_lookups
from .filters import Clause, OrderBy
from .in_list import in_list
from .json_sql import json_array
from .pages import decode_keyset_token, encode_keyset_token
from .schema import MODEL_OUTPUT, VIEW_STAGES, latest_metrics, run_inputs, run_models, runs

_RUN_ROW = (runs.c.run_uuid, runs.c.experiment_id, runs.c.name, runs.c.user_id, runs.c.status, runs.c.start_time,
            runs.c.end_time, runs.c.artifact_uri, runs.c.lifecycle_stage, runs.c.params_json, runs.c.tags_json)


def _run_columns(run_id: sa.ColumnElement) -> tuple:
    """What other tables hold of the run whose id is `run_id`: its metrics as a JSON array, and
    whether it used or made logged models and used datasets (those are read only for the runs
    that did)."""
    return (sa.select(json_array(latest_metrics.c.metric_json)).where(latest_metrics.c.run_uuid == run_id)
            .scalar_subquery(),
            sa.exists().where(run_models.c.run_uuid == run_id).label("has_models"),
            sa.exists().where(run_inputs.c.run_uuid == run_id).label("has_datasets"))


_RUN_COLUMNS = (*_RUN_ROW, *_run_columns(runs.c.run_uuid))
# A search page's rows are read from a subquery named "page" (see _page_query). Its columns are
# named here once, as SQL: columns of a new subquery, and expressions on them, would be built
# anew for every search (a millisecond, a tenth of a search on SQLite).
_PAGE_COLUMNS = (*(sa.literal_column(f"page.{column.name}") for column in _RUN_ROW),
                 *_run_columns(sa.literal_column("page.run_uuid")))


@functools.cache
def _page_key(position: int) -> sa.ColumnElement:
    return sa.literal_column(f"page.k{position}")


_RUN_MODELS = (sa.select(run_models.c.run_uuid, run_models.c.direction, run_models.c.model_id, run_models.c.step)
               .where(in_list(run_models.c.run_uuid, "ids")))
_DATA_FIELDS = ("params", "tags", "metrics")  # JSON arrays of _RUN_COLUMNS
_RUNS_BY_ID = sa.select(*_RUN_COLUMNS).where(in_list(runs.c.run_uuid, "ids"))


def runs_by_id(conn, run_ids: list[str]) -> list[dict]:
    """Full run JSON for run_ids, in that order (missing runs left out)."""
    if not run_ids:
        return []
    return runs_json(conn, fetch_tuples(conn, _RUNS_BY_ID, {"ids": run_ids}), run_ids)


def runs_json(conn, info_rows: list[tuple], order: list[str] | None = None) -> list[dict]:
    """Run JSON from rows of _RUN_COLUMNS, with the logged models and datasets of the runs
    that have them; in the rows' order, or in `order` (run ids) when given."""
    by_id, with_models, with_datasets = {}, [], []
    for (run_id, experiment_id, name, user_id, status, start_time, end_time, uri, stage, *json_arrays,
         has_models, has_datasets) in info_rows:
        info = {"run_uuid": run_id, "run_id": run_id, "experiment_id": str(experiment_id),
                "run_name": name, "user_id": user_id, "status": status, "start_time": start_time,
                "artifact_uri": uri, "lifecycle_stage": stage}
        if end_time is not None:
            info["end_time"] = end_time
        # JSON as written with the rows, passed on as it is
        data = {field: orjson.Fragment(text) for field, text in zip(_DATA_FIELDS, json_arrays) if text}
        by_id[run_id] = {"info": info, "data": data, "inputs": {}, "outputs": {}}
        if has_models:
            with_models.append(run_id)
        if has_datasets:
            with_datasets.append(run_id)
    if with_models or with_datasets:
        prefer_index_lookups(conn)
    if with_models:
        for run_id, direction, model_id, step in fetch_tuples(conn, _RUN_MODELS, {"ids": with_models}):
            run = by_id[run_id]
            if direction == MODEL_OUTPUT:
                run["outputs"].setdefault("model_outputs", []).append({"model_id": model_id, "step": step})
            else:
                run["inputs"].setdefault("model_inputs", []).append({"model_id": model_id})
    if with_datasets:
        for run_id, entries in inputs.dataset_inputs(conn, with_datasets).items():
            by_id[run_id]["inputs"]["dataset_inputs"] = entries
    return [by_id[run_id] for run_id in order if run_id in by_id] if order else list(by_id.values())


def _page_query(tier: search_sql.Tier, clauses: list[Clause], view_type: str, keys: tuple, tier_keys: tuple,
                after_values: list | None):
    """Rows of _RUN_COLUMNS and the sort keys, for a page of the runs of one tier. Parameters:
    experiment_ids, limit, those of the filter (search_sql.filter_parameters) and, with
    after_values, of the page's start (search_sql.after_parameters).

    The page is found in a subquery of its own, and what other tables hold of a run is read for
    the page's runs only: with those reads in the search's own SELECT, PostgreSQL weighed them into
    its plan and walked the sort key's index for a top 1000 instead of hashing the filter's
    matches (1.4x slower)."""
    conditions = [tier.experiment_id.in_(sa.bindparam("experiment_ids", expanding=True)),
                  runs.c.lifecycle_stage.in_(VIEW_STAGES[view_type]), *tier.where,
                  *search_sql.run_filter(clauses, tier.run_id, tier.experiment_id)]
    if after_values is not None:
        conditions.append(search_sql.after(tier_keys, after_values, bound=True))
    page = (sa.select(*_RUN_ROW, *(expression.label(f"k{i}") for i, (expression, _) in enumerate(keys)))
            .select_from(tier.source).where(*conditions).order_by(*search_sql.order_clauses(tier_keys))
            .limit(sa.bindparam("limit")).subquery("page"))
    page_keys = [(_page_key(i), ascending) for i, (_, ascending) in enumerate(keys)]
    return (sa.select(*_PAGE_COLUMNS, *(column for column, _ in page_keys)).select_from(page)
            .order_by(*search_sql.order_clauses(page_keys[len(keys) - len(tier_keys):])))


# A search's statements, by the search's shape (filter_shape, view type, order, tier, where its
# page starts), its values being parameters: searches repeat their shape with other values (a UI
# refreshing, a client paging, a threshold changed), and building a statement, with SQLAlchemy's
# cache key for a new one, was 0.65 ms of the 3.8 ms of server CPU of a top-100 search. About
# 32 KiB each, so at most 8 MiB per worker. Errors are not cached: a bad search raises again.
_SEARCH_STATEMENTS: dict[tuple, sa.Select] = {}
_SEARCH_STATEMENTS_MAX = 256


def _search_statement(shape: tuple, build) -> sa.Select:
    statement = _SEARCH_STATEMENTS.get(shape)
    if statement is None:
        statement = build()
        if len(_SEARCH_STATEMENTS) >= _SEARCH_STATEMENTS_MAX:  # rarely: many shapes; start afresh
            _SEARCH_STATEMENTS.clear()
        _SEARCH_STATEMENTS[shape] = statement
    return statement


def search_page(conn, experiment_ids: list[int], clauses: list[Clause], view_type: str, max_results: int,
                order_by: list[OrderBy], page_token: str | None) -> tuple[list[dict], str | None]:
    """A page of run JSON of a search, and the token of the next page (None after the last)."""
    order = search_sql.run_order(order_by)
    keys = order.keys
    search = ("runs", sorted(experiment_ids), clauses, view_type, order_by)
    last = decode_keyset_token(page_token, search, keys) if page_token else None
    shape = (search_sql.filter_shape(clauses), view_type, tuple(order_by))
    parameters = {"experiment_ids": experiment_ids, **search_sql.filter_parameters(clauses)}
    width, rows = len(_RUN_COLUMNS), []
    plan_for_lookups_by_run(conn)
    for index, tier in enumerate(order.tiers):  # in rank order; a page may span tiers
        tier_keys = keys if tier.rank is None else keys[1:]
        after_values = None
        if last is not None and tier.rank is None:
            after_values = last
        elif last is not None:
            if tier.rank < last[0]:
                continue
            if tier.rank == last[0]:
                after_values = last[1:]
        starts, after = None, {}
        if after_values is not None:
            starts, after = search_sql.after_shape(after_values), search_sql.after_parameters(after_values)
        statement = _search_statement((shape, index, starts), lambda: _page_query(
            tier, clauses, view_type, keys, tier_keys, after_values))
        rows += fetch_tuples(conn, statement, {**parameters, **after, "limit": max_results + 1 - len(rows)})
        if len(rows) > max_results:
            break
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_keyset_token(search, list(rows[-1][width:]))
    return runs_json(conn, [row[:width] for row in rows]), token
