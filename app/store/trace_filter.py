"""A trace search as plain data: what the service parses a filter and order_by into and the store
compiles to SQL (app/store/trace_search_sql.py)."""
from __future__ import annotations

from dataclasses import dataclass

# TraceClause.kind, and what its key names:
ATTRIBUTE = "attribute"  # a trace attribute: NUMERIC_KEYS, status, request_id, client_request_id
TAG, METADATA = "tag", "metadata"  # a tag's or metadata entry's key
RUN = "run"  # the traces of a run (its mlflow.sourceRun metadata or a link): key unused, value the run id
PROMPT = "prompt"  # traces linked to a prompt version: key the tag listing them, value "name/version"
SPAN = "span"  # one of SPAN_KEYS; all span clauses of a filter must hold for one span
SPAN_ATTRIBUTE = "span_attribute"  # a span attribute's name (a span clause too)
FEEDBACK, EXPECTATION = "feedback", "expectation"  # an assessment's name
ISSUE = "issue"  # traces referencing an issue: value the issue id

NUMERIC_KEYS = ("timestamp_ms", "execution_time_ms", "end_time_ms")
SPAN_KEYS = ("name", "type", "status", "content")


@dataclass(frozen=True)
class TraceClause:
    kind: str
    key: str
    comparator: str  # upper case: =, !=, <, LIKE, ILIKE, RLIKE, IN, NOT IN, IS NULL, IS NOT NULL, ...
    value: object  # str, int or float, a tuple of str (IN, NOT IN), None (IS NULL, IS NOT NULL)


@dataclass(frozen=True)
class TraceOrder:
    kind: str  # ATTRIBUTE (NUMERIC_KEYS, status, request_id, experiment_id), TAG or METADATA
    key: str
    ascending: bool
