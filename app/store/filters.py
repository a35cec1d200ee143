"""A run, experiment or model search as plain data: what app/services/search.py parses a filter
and order_by into and app/store/search_sql.py compiles to SQL (traces: trace_filter.py)."""
from __future__ import annotations

from dataclasses import dataclass

NUMERIC_COMPARATORS = ("=", "!=", ">", ">=", "<", "<=")
STRING_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
SET_COMPARATORS = ("IN", "NOT IN")
ID_COMPARATORS = ("=", "!=", *SET_COMPARATORS)  # experiment ids, compared as numbers


@dataclass(frozen=True)
class Clause:
    entity: str  # metric, param, tag, attribute, dataset
    key: str
    comparator: str  # upper case: =, !=, <, LIKE, IN, NOT IN, ...
    value: object  # float for numbers, str, or tuple of str for IN


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool
