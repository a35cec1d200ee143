"""JSON built by the database: a group's key-value rows as one JSON array text.

A search returns every param and tag of up to thousands of runs. Each run keeps them as JSON
arrays built by the database (runs.params_json, runs.tags_json, rewritten whenever they are
written), which the response carries as they are (orjson.Fragment): reading a page then costs
neither aggregating rows nor turning every row into a Python dict and serialising it again.
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
