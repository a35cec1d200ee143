"""JSON built by the database: a group's rows as one JSON array text.

A search returns every param, tag and latest metric of up to thousands of runs. Each run keeps
its params and tags as JSON arrays built by the database (runs.params_json, runs.tags_json,
rewritten whenever they are written), and each latest metric its JSON object
(latest_metrics.metric_json, written with it), which a page's runs concatenate as they are
read; the response carries that text as it is (orjson.Fragment): reading a page then costs
neither turning every row into a Python dict nor serialising it again.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


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


class json_array(FunctionElement):
    """`[a, b, ...]` of the JSON texts of a column in a group's rows; NULL when there are none."""

    type = sa.Text()
    name = "json_array"
    inherit_cache = True


@compiles(json_array)
def _json_array(element, compiler, **kw):
    # SQLite and PostgreSQL: '[' || NULL is NULL
    (text,) = (compiler.process(c, **kw) for c in element.clauses)
    function = "string_agg" if compiler.dialect.name == "postgresql" else "group_concat"
    return f"'[' || {function}({text}, ',') || ']'"


@compiles(json_array, "mysql")
def _json_array_mysql(element, compiler, **kw):
    # GROUP_CONCAT stops at group_concat_max_len: db.py raises it per connection.
    (text,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CONCAT('[', GROUP_CONCAT({text} SEPARATOR ','), ']')"
