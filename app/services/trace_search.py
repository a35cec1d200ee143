"""Trace search: the filter grammar of mlflow.search_traces, order_by and page sizes.

A filter is read by the tokenizer of app/services/search.py (clauses joined by AND), then each
clause is judged as the official SearchTraceUtils judges it:

    key (prefix trace., attribute. or none)        comparators
    timestamp_ms, execution_time_ms, end_time_ms   = != > >= < <= (a number)
    status, request_id, client_request_id          = != LIKE ILIKE RLIKE IN NOT IN
    tag.<key>, metadata.<key>                      = != LIKE ILIKE RLIKE IS NULL IS NOT NULL
    span.name, span.type, span.status,
    span.attributes.<key>                          = != LIKE ILIKE RLIKE IN NOT IN
    span.content, text                             LIKE ILIKE
    feedback.<name>, expectation.<name>            = != LIKE ILIKE RLIKE (a quoted string),
                                                   > >= < <= (a number), IS NULL IS NOT NULL
    prompt ("name/version"), issue.id              =

Some keys name something else, whatever their prefix but span's, as officially: name is the
tag mlflow.traceName (so is tag.name), run_id the metadata mlflow.sourceRun, text span.content,
prompt a linked prompt version, timestamp / execution_time / end_time the keys with _ms. A
run_id "=" (or mlflow.sourceRun's) also finds the traces linked to the run. order_by takes the
attributes, name, run_id, experiment_id, tag.<key> and metadata.<key>. Anything else is a 400
saying why.

Where the official server answers nothing or fails, this one answers what was asked: "=", IN and
a pattern from the value's start on span.attributes (officially only LIKE '%...%' matches, which
it does here too), order_by end_time_ms, an unprefixed text. Traces of deleted experiments are
not searched (officially they are).
"""
from __future__ import annotations

import re

from ..errors import invalid
from ..store import trace_filter as tf
from ..store.filters import Clause
from ..store.trace_filter import TraceClause, TraceOrder
from ..store.trace_search_sql import TraceSearchStore
from . import validation as v
from .search import parse_filter, parse_order_by
from .traces import LINKED_PROMPTS, SOURCE_RUN, info_v2
from .tracking import searched_experiment_id

TRACE_NAME = "mlflow.traceName"
# metadata the official server keeps in several columns: compared whole, never sorted by
RESERVED_METADATA = ("mlflow.trace.tokenUsage", "mlflow.trace.cost")
DEFAULT_RESULTS, MAX_RESULTS = 100, 500  # as the official SearchTraces and SearchTracesV3

_ENTITIES = {
    "attribute": tf.ATTRIBUTE, "attributes": tf.ATTRIBUTE, "trace": tf.ATTRIBUTE,
    "tag": tf.TAG, "tags": tf.TAG, "metadata": tf.METADATA, "request_metadata": tf.METADATA,
    "span": tf.SPAN, "feedback": tf.FEEDBACK, "expectation": tf.EXPECTATION, "issue": tf.ISSUE,
    "span.attributes": tf.SPAN_ATTRIBUTE,  # span.attributes.`a quoted key`
}
_FILTER_KEYS = ("request_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms", "end_time",
                "end_time_ms", "status", "client_request_id", "name", "run_id", "prompt", "text")
_ORDER_KEYS = ("experiment_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms", "end_time",
               "end_time_ms", "status", "request_id", "name", "run_id")
# keys that name something else, whatever their prefix but span's: (kind, or None to keep it; key)
_RENAMED = {"name": (tf.TAG, TRACE_NAME), "prompt": (tf.PROMPT, LINKED_PROMPTS),
            "run_id": (tf.METADATA, SOURCE_RUN), "text": (tf.SPAN, "content"),
            "timestamp": (None, "timestamp_ms"), "execution_time": (None, "execution_time_ms"),
            "end_time": (None, "end_time_ms")}

NUMERIC = ("=", "!=", ">", ">=", "<", "<=")
STRINGS = ("=", "!=", "LIKE", "ILIKE", "RLIKE")
SETS = ("IN", "NOT IN")
PRESENCE = ("IS NULL", "IS NOT NULL")
_COMPARATORS = {
    "numeric": NUMERIC, "string": (*STRINGS, *SETS), tf.TAG: (*STRINGS, *PRESENCE),
    tf.METADATA: (*STRINGS, *PRESENCE), tf.SPAN: (*STRINGS, *SETS), tf.SPAN_ATTRIBUTE: (*STRINGS, *SETS),
    "content": ("LIKE", "ILIKE"), "assessment": (*STRINGS, ">", ">=", "<", "<=", *PRESENCE),
    tf.PROMPT: ("=",), tf.ISSUE: ("=",),
}


class TraceSearchService:
    def __init__(self, store: TraceSearchStore):
        self.store = store

    def search(self, experiment_ids: list, filter_text: str | None, order_by: list[str] | None,
               max_results: int | None, page_token: str | None) -> tuple[list[dict], str | None]:
        """A page of TraceInfoV3 JSON of the experiments' traces, and the next page's token."""
        max_results = v.check_max_results(max_results, DEFAULT_RESULTS, MAX_RESULTS)
        clauses, order = parse_trace_filter(filter_text), parse_trace_order(order_by)
        ids = sorted({searched_experiment_id(e) for e in experiment_ids})
        return self.store.search(ids, clauses, order, max_results, page_token)

    def search_v2(self, experiment_ids: list, filter_text: str | None, order_by: list[str] | None,
                  max_results: int | None, page_token: str | None) -> tuple[list[dict], str | None]:
        """The 2.x client's search: the same page as v2 TraceInfo JSON."""
        if not experiment_ids:
            raise invalid("Missing value for required parameter 'experiment_ids'.")
        infos, token = self.search(experiment_ids, filter_text, order_by, max_results, page_token)
        return [info_v2(info) for info in infos], token


# ---------------------------------------------------------------- the grammar

def parse_trace_filter(text: str | None) -> list[TraceClause]:
    return [_clause(clause) for clause in parse_filter(text, _ENTITIES)]


def _clause(clause: Clause) -> TraceClause:
    kind, key, op, value = clause.entity, clause.key, clause.comparator, clause.value
    if kind == tf.ATTRIBUTE and key not in _FILTER_KEYS:
        raise invalid(f"Invalid attribute key '{key}' specified. Valid keys are {', '.join(_FILTER_KEYS)}")
    if kind == tf.SPAN and key.startswith("attributes."):
        kind, key = tf.SPAN_ATTRIBUTE, key[len("attributes."):].strip("`")
        if not key:
            raise invalid("Span attribute name cannot be empty after 'attributes.'")
    kind, key = _renamed(kind, key)
    if kind == tf.ATTRIBUTE:
        _check_comparator(op, "numeric" if key in tf.NUMERIC_KEYS else "string", key)
        value = _attribute_value(key, value)
    elif kind in (tf.FEEDBACK, tf.EXPECTATION):
        _check_comparator(op, "assessment", f"{kind}.{key}")
        value = _assessment_value(kind, op, value)
    else:
        if kind == tf.SPAN and key not in tf.SPAN_KEYS:
            raise invalid(f"Invalid span attribute '{key}'. Supported attributes: name, type, status, content, "
                          f"attributes.<attribute_name>.")
        if kind == tf.ISSUE and key != "id":
            raise invalid(f"Invalid issue attribute '{key}'. Supported attributes: id")
        group = "content" if (kind, key) == (tf.SPAN, "content") else kind
        _check_comparator(op, group, f"{'span' if kind == tf.SPAN_ATTRIBUTE else kind}.{key}")
        if op not in PRESENCE and not isinstance(value, (str, tuple)):
            raise invalid(f"Expected a quoted string value for {kind} (e.g. 'my-value'). Got value {_shown(value)}")
    if kind == tf.METADATA and key in RESERVED_METADATA and op not in ("=", "!=", *PRESENCE):
        raise invalid(f"Comparator '{op}' is not supported for reserved metadata '{key}'. Only '=', '!=', "
                      f"'IS NULL', and 'IS NOT NULL' are supported.")
    if op == "RLIKE":
        _check_pattern(value)
    if kind == tf.METADATA and key == SOURCE_RUN and op == "=":
        return TraceClause(tf.RUN, key, op, value)
    if kind == tf.PROMPT and value.count("/") != 1:
        raise invalid(f"Invalid prompts filter value '{value}'. Expected format: prompt = \"name/version\"")
    return TraceClause(kind, key, op, value)


def _renamed(kind: str, key: str) -> tuple[str, str]:
    if kind in (tf.SPAN, tf.SPAN_ATTRIBUTE) or key.lower() not in _RENAMED:
        return kind, key
    renamed, key = _RENAMED[key.lower()]
    return renamed or kind, key


def _check_comparator(op: str, group: str, what: str) -> None:
    allowed = _COMPARATORS[group]
    if op not in allowed:
        raise invalid(f"Invalid comparator '{op}' for '{what}': use one of {', '.join(allowed)}")


def _attribute_value(key: str, value):
    if key not in tf.NUMERIC_KEYS:
        if not isinstance(value, (str, tuple)):
            raise invalid(f"Only the {', '.join(tf.NUMERIC_KEYS)} attributes support comparison with numeric "
                          f"values.")
        return value
    if isinstance(value, str):  # a quoted number, as the official server takes it
        try:
            value = float(value)
        except ValueError:
            raise invalid(f"Expected a numeric value for attribute '{key}'. Got value '{value}'") from None
    value = _in_range(value, key)
    return int(value) if value.is_integer() else value


def _in_range(value: float, what: str) -> float:
    """A number the databases compare with a 64-bit column (SQLite's driver and MySQL's refuse
    larger integers and infinities)."""
    if not -2 ** 63 <= value < 2 ** 63:
        raise invalid(f"Invalid value {_shown(value)} for '{what}': out of range")
    return value


def _assessment_value(kind: str, op: str, value):
    """Numbers with > >= < <=, quoted strings with the others, as the official grammar."""
    if op in PRESENCE:
        return None
    numeric = op in (">", ">=", "<", "<=")
    if numeric == isinstance(value, str):
        expected = (f"a numeric value for {kind} when using comparator '{op}'" if numeric
                    else f"a quoted string value for {kind} (e.g. 'my-value')")
        raise invalid(f"Expected {expected}. Got value {_shown(value)}")
    return _in_range(value, f"{kind} value") if numeric else value


def _check_pattern(value) -> None:
    """A regular expression that fails in Python would fail in the database too. Groups starting
    "(?" other than "(?:" (inline flags, Python's named groups, lookarounds) are refused: each
    database reads them differently, or not at all."""
    for pattern in value if isinstance(value, tuple) else (value,):
        try:
            re.compile(pattern)
        except re.error as error:
            raise invalid(f"Invalid regular expression '{pattern}': {error}") from None
        if _special_group(pattern):
            raise invalid(f"Invalid regular expression '{pattern}': groups starting '(?' other than '(?:' "
                          f"(inline flags, named groups, lookarounds) are not supported")


def _special_group(pattern: str) -> bool:
    """Whether the pattern opens a group with "(?" but not "(?:" outside a character class."""
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + pattern.startswith("^", i + 1)
            i += pattern.startswith("]", i)  # a leading "]" is one of the class's characters
            continue
        elif c == "(" and pattern.startswith("?", i + 1) and not pattern.startswith("?:", i + 1):
            return True
        i += 1
    return False


def _shown(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def parse_trace_order(items: list[str] | None) -> list[TraceOrder]:
    """order_by: trace attributes (_ORDER_KEYS, and name and run_id, which are a tag and a
    metadata entry), tag.<key> and metadata.<key>, each at most once."""
    order, seen = [], set()
    for item in parse_order_by(items, _ENTITIES):
        kind, key = item.entity, item.key
        if kind == tf.ATTRIBUTE and key not in _ORDER_KEYS:
            raise invalid(f"Invalid attribute key '{key}' specified. Valid keys are {', '.join(_ORDER_KEYS)}")
        kind, key = _renamed(kind, key)
        if kind not in (tf.ATTRIBUTE, tf.TAG, tf.METADATA):
            raise invalid(f"Invalid order_by entity '{item.entity}' with key '{item.key}': order by trace "
                          f"attributes, tag.<key> or metadata.<key>")
        if kind == tf.METADATA and key in RESERVED_METADATA:
            raise invalid(f"Ordering by reserved metadata '{key}' is not supported because it is represented by "
                          f"multiple columns.")
        if (kind, key) in seen:
            raise invalid(f"`order_by` contains duplicate fields: {items}")
        seen.add((kind, key))
        order.append(TraceOrder(kind, key, item.ascending))
    return order
