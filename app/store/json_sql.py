"""JSON built by the database: a group's rows as one JSON array text.

A search returns every param, tag and latest metric of up to thousands of runs. Each run keeps
its params and tags as JSON arrays built by the database (runs.params_json, runs.tags_json,
rewritten whenever they are written), and a page's latest metrics are aggregated per run as it
is read; the response carries that text as it is (orjson.Fragment): reading a page then costs
neither turning every row into a Python dict nor serialising it again.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .values import DOUBLE_MAX


class key_value_array(FunctionElement):
    """`[{"key": k, "value": v}, ...]` of the key and value columns of the rows in a group;
    NULL when there are none."""

    type = sa.Text()
    name = "key_value_array"
    inherit_cache = True


@compiles(key_value_array, "sqlite")
def _sqlite(element, compiler, **kw):
    # NULL for no rows, as on PostgreSQL and MySQL (SQLite's aggregate gives an empty array)
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"nullif(json_group_array(json_object('key', {key}, 'value', {value})), '[]')"


@compiles(key_value_array, "postgresql")
def _postgresql(element, compiler, **kw):
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(json_agg(json_build_object('key', {key}, 'value', {value})) AS TEXT)"


@compiles(key_value_array, "mysql")
def _mysql(element, compiler, **kw):
    # MySQL and MariaDB cut the array at group_concat_max_len: db.py raises it per connection.
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"JSON_ARRAYAGG(JSON_OBJECT('key', {key}, 'value', {value}))"


class metric_array(FunctionElement):
    """`[{"key": k, "value": v, "timestamp": t, "step": s}, ...]` of the key, value, is_nan,
    timestamp and step columns of the (latest) metric rows in a group, values in proto JSON form
    as values.wire_value gives them. PostgreSQL and MySQL only: they print a double as the
    shortest text that reads back as the same double; SQLite prints 15 digits."""

    type = sa.Text()
    name = "metric_array"
    inherit_cache = True


def _metric_object(element, compiler, quote_key: str, text: str, **kw) -> list[str]:
    """The parts of one metric's JSON object, to be concatenated; quote_key makes a JSON string
    of the key (a format with {}), text is the dialect's text type for CAST."""
    key, value, is_nan, timestamp, step = (compiler.process(c, **kw) for c in element.clauses)
    number = (f"CASE WHEN {is_nan} THEN '\"NaN\"' WHEN {value} >= {DOUBLE_MAX!r} THEN '\"Infinity\"' "
              f"WHEN {value} <= {-DOUBLE_MAX!r} THEN '\"-Infinity\"' ELSE CAST({value} AS {text}) END")
    return ["'{\"key\":'", quote_key.format(key), "',\"value\":'", number, "',\"timestamp\":'",
            f"CAST({timestamp} AS {text})", "',\"step\":'", f"CAST({step} AS {text})", "'}'"]


@compiles(metric_array, "postgresql")
def _metric_array_postgresql(element, compiler, **kw):
    parts = " || ".join(_metric_object(element, compiler, "CAST(to_json({}) AS TEXT)", "TEXT", **kw))
    return f"'[' || string_agg({parts}, ',') || ']'"


@compiles(metric_array, "mysql")
def _metric_array_mysql(element, compiler, **kw):
    # GROUP_CONCAT stops at group_concat_max_len: db.py raises it per connection.
    parts = ", ".join(_metric_object(element, compiler, "JSON_QUOTE({})", "CHAR", **kw))
    return f"CONCAT('[', GROUP_CONCAT(CONCAT({parts}) SEPARATOR ','), ']')"
