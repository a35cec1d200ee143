"""JSON built by the database: a group's key-value rows as one JSON array text.

A search returns every param and tag of up to thousands of runs. Aggregating them to JSON in
the database, in C, and handing the text on to the response as it is (orjson.Fragment) costs
a fraction of turning every row into a Python dict and serialising it again.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class key_value_array(FunctionElement):
    """`[{"key": k, "value": v}, ...]` of the key and value columns of the rows in a group."""

    type = sa.Text()
    name = "key_value_array"
    inherit_cache = True


@compiles(key_value_array, "sqlite")
def _sqlite(element, compiler, **kw):
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_group_array(json_object('key', {key}, 'value', {value}))"


@compiles(key_value_array, "postgresql")
def _postgresql(element, compiler, **kw):
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(json_agg(json_build_object('key', {key}, 'value', {value})) AS TEXT)"


@compiles(key_value_array, "mysql")
def _mysql(element, compiler, **kw):
    # MySQL and MariaDB cut the array at group_concat_max_len: db.py raises it per connection.
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"JSON_ARRAYAGG(JSON_OBJECT('key', {key}, 'value', {value}))"
