"""Trace search in SQL: a page of trace infos, found by keyset, with the search's filter compiled
to SQLAlchemy expressions (values always bound parameters, never SQL text). One statement per
page reads its traces' info columns and whether each has assessments, which are then read for
those that have some; it checks that a single experiment searched is active too.

The page is read from trace_info alone, in the experiment's (experiment_id, request_time,
trace_id) index order by default: each condition on a tag, metadata entry, run link, span or
assessment is an EXISTS correlated with the trace's id, which the child tables' primary keys
(trace_id first) or ix_assessments_trace answer with a lookup. So the newest matching traces are
found without reading the others, and time grows with the traces read, not those stored.

span.attributes.<key> and text (span.content) are a LIKE over spans.content, the span as OTLP
proto3 JSON: no index helps them, and each reads the spans of every trace it looks at.
"""
from __future__ import annotations

import contextlib
import functools
import json
import re

import sqlalchemy as sa

from ..errors import invalid
from .db import Database, fetch_tuples, first_line
from .in_list import in_list
from .pages import decode_keyset_token, encode_keyset_token
from .schema import assessments, experiments, spans, trace_info, trace_metadata, trace_runs, trace_tags
from .search_sql import after, after_parameters, after_shape, order_clauses
from .trace_filter import (
    ATTRIBUTE, EXPECTATION, FEEDBACK, ISSUE, METADATA, PROMPT, RUN, SPAN, SPAN_ATTRIBUTE, TAG, TraceClause,
    TraceOrder,
)
from .traces import INFO_COLUMNS, page_infos_json

T = trace_info.c
_END_TIME = T.request_time + sa.func.coalesce(T.execution_duration, 0)
_ATTRIBUTES = {"timestamp_ms": T.request_time, "execution_time_ms": T.execution_duration, "end_time_ms": _END_TIME,
               "status": T.state, "request_id": T.trace_id, "client_request_id": T.client_request_id,
               "experiment_id": T.experiment_id}
_SPAN_COLUMNS = {"name": spans.c.name, "type": spans.c.span_type, "status": spans.c.status,
                 "content": spans.c.content}
_KEY_VALUES = {TAG: trace_tags, METADATA: trace_metadata}
_NOT_NUMBERS = ("true", "false", "null", "nan", "infinity", "-infinity")
_LITERAL = (PROMPT, SPAN_ATTRIBUTE)


class TraceSearchStore:
    def __init__(self, database: Database):
        self.db = database

    def search(self, experiment_ids: list[int], clauses: list[TraceClause], order: list[TraceOrder],
               max_results: int, page_token: str | None) -> tuple[list[dict], str | None]:
        """A page of TraceInfoV3 JSON of the traces of the active experiments among
        experiment_ids, and the next page's token (None after the last page)."""
        keys, source = trace_order(tuple(order))
        search = ("traces", experiment_ids, clauses, order)
        last = decode_keyset_token(page_token, search, keys) if page_token else None
        with self.db.read() as conn, _exists_as_lookups(conn), _regex_errors_are_400():
            if len(experiment_ids) == 1:  # the page's statement checks that the experiment is active
                active = experiment_ids
            else:
                active = [row[0] for row in conn.execute(
                    sa.select(experiments.c.experiment_id).where(
                        experiments.c.experiment_id.in_(experiment_ids), experiments.c.lifecycle_stage == "active"))]
                if not active:
                    return [], None
            if conn.dialect.name == "sqlite" and any(c.comparator == "RLIKE" for c in clauses):
                _sqlite_regexp(conn)
            page = _Page(conn, clauses, order, keys, source, last, max_results)
            if len(active) > 1 and _by_time(keys):  # each experiment's newest (or oldest) by its index
                rows = _merged([row for e in active for row in page.rows([e])], keys)[:max_results + 1]
            else:
                rows = page.rows(active)
            token = None
            if len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_keyset_token(search, list(rows[-1][_KEYS_AT:]))
            return page_infos_json(conn, rows), token


# A page's rows: INFO_COLUMNS, whether the trace has assessments, then the sort key values.
_KEYS_AT = len(INFO_COLUMNS) + 1
_ACTIVE = sa.exists().where(experiments.c.experiment_id == sa.bindparam("e"),
                            experiments.c.lifecycle_stage == "active")

# Statements by the search's shape (the filter's kinds, keys and comparators, the order, one
# experiment or several, where the page starts), its values being parameters: building a
# statement and SQLAlchemy's cache key for it was a sixth of a search's CPU. At most 256.
_STATEMENTS: dict[tuple, sa.Select] = {}


def _statement(shape: tuple, build) -> sa.Select:
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = build()
        if len(_STATEMENTS) >= 256:  # rarely: many shapes; start afresh
            _STATEMENTS.clear()
        _STATEMENTS[shape] = statement
    return statement


class _Page:
    """The statements of one search's pages, per experiment or for several at once."""

    def __init__(self, conn, clauses: list[TraceClause], order: list[TraceOrder], keys, source, last,
                 max_results: int):
        self.conn, self.keys, self.source, self.last, self.max_results = conn, keys, source, last, max_results
        self.dialect = conn.dialect.name
        self.clauses = clauses
        self.shape = (self.dialect, filter_shape(clauses), tuple(order),
                      None if last is None else after_shape(last))
        self.parameters = {**filter_parameters(clauses), **({} if last is None else after_parameters(last)),
                           "limit": max_results + 1}

    def _conditions(self, one: bool) -> list:
        conditions = [T.experiment_id == sa.bindparam("e"), _ACTIVE] if one else [
            in_list(T.experiment_id, "experiment_ids")]
        conditions += trace_filter(self.clauses, self.dialect)
        if self.last is not None:
            conditions.append(after(self.keys, self.last, bound=True))
        return conditions

    def rows(self, experiment_ids: list[int]) -> list[tuple]:
        """Up to max_results + 1 matching traces of the experiments (rows as _KEYS_AT says)."""
        one = len(experiment_ids) == 1
        parameters = {**self.parameters, **({"e": experiment_ids[0]} if one else {"experiment_ids": experiment_ids})}
        bounded = False
        if self.dialect == "mysql" and _newest_first(self.keys):
            # MariaDB and MySQL read an index in one direction only: for request_time DESC then
            # trace_id ASC (the official order) they sorted every matching trace (30 ms at 50,000);
            # the (max_results + 1)th newest's time as a bound, which the index finds alone,
            # leaves them a page and its ties to sort. A statement of its own: as a subquery,
            # MariaDB did not range-scan by its value.
            statement = _statement((*self.shape, one, "bound"), lambda: (
                sa.select(T.request_time).where(*self._conditions(one)).order_by(T.request_time.desc())
                .offset(sa.bindparam("offset")).limit(1)))
            bound = self.conn.execute(statement, {**parameters, "offset": self.max_results}).scalar()
            if bound is not None:
                bounded, parameters["bound"] = True, bound
        statement = _statement((*self.shape, one, bounded), lambda: self._statement(one, bounded))
        return fetch_tuples(self.conn, statement, parameters)

    def _statement(self, one: bool, bounded: bool) -> sa.Select:
        """The page in a subquery, then whether each of its traces has assessments: looked up for
        the page's traces only. bounded: request_time no older than the parameter "bound"."""
        conditions = self._conditions(one)
        if bounded:
            conditions.append(T.request_time >= sa.bindparam("bound"))
        page = (sa.select(*INFO_COLUMNS, *(e.label(f"k{i}") for i, (e, _) in enumerate(self.keys)))
                .select_from(self.source).where(*conditions).order_by(*order_clauses(self.keys))
                .limit(sa.bindparam("limit")).subquery("page"))
        columns = list(page.c)
        assessed = sa.exists().where(assessments.c.trace_id == page.c.trace_id).label("assessed")
        page_keys = [(column, ascending) for column, (_, ascending) in zip(columns[len(INFO_COLUMNS):], self.keys)]
        return (sa.select(*columns[:len(INFO_COLUMNS)], assessed, *columns[len(INFO_COLUMNS):])
                .order_by(*order_clauses(page_keys)))


def _by_time(keys) -> bool:
    """Whether the order is by time and trace id alone, which each experiment's index follows."""
    return keys[0][0] is T.request_time and all(e is T.request_time or e is T.trace_id for e, _ in keys)


def _merged(rows: list[tuple], keys) -> list[tuple]:
    """Page rows in the order of keys (time and trace id: no NULLs, ids compare alike in Python)."""
    for position in reversed(range(len(keys))):  # stable sorts, the last key first
        rows.sort(key=lambda row: row[_KEYS_AT + position], reverse=not keys[position][1])
    return rows


# ---------------------------------------------------------------- order

@functools.lru_cache(maxsize=256)
def trace_order(order: tuple[TraceOrder, ...]) -> tuple[tuple[tuple, ...], sa.FromClause]:
    """The sort keys, (expression, ascending), and the FROM clause they read. As officially: a
    missing tag or metadata entry, or a trace still in progress (no execution time), sorts last
    either way; then timestamp_ms DESC and request_id unless the order names them, so that every
    trace has a distinct position."""
    keys, source, named = [], trace_info, set()
    for position, item in enumerate(order):
        if item.kind == ATTRIBUTE:
            value = _ATTRIBUTES[item.key]
            named.add(item.key)
            nullable = isinstance(value, sa.Column) and value.nullable
        else:
            table = _KEY_VALUES[item.kind].alias(f"o{position}")
            source = source.outerjoin(table, sa.and_(table.c.trace_id == T.trace_id, table.c.key == item.key))
            value, nullable = table.c.value, True
        if nullable:
            keys.append((sa.case((value.is_(None), 1), else_=0), True))
        keys.append((value, item.ascending))
    if "timestamp_ms" not in named:
        keys.append((T.request_time, False))
    if "request_id" not in named:
        keys.append((T.trace_id, True))
    return tuple(keys), source


def _newest_first(keys) -> bool:
    """Whether the order starts as the official default: request_time DESC, then trace_id."""
    (first, ascending), (second, second_ascending) = keys[:2]
    return first is T.request_time and not ascending and second is T.trace_id and second_ascending


@contextlib.contextmanager
def _regex_errors_are_400():
    """A pattern the database's regular expressions refuse (their syntax differs from Python's,
    which the service checked) is the client's error: PostgreSQL's SQLSTATE 2201B, MariaDB's
    1139, MySQL's 3685-3699 (ICU)."""
    try:
        yield
    except sa.exc.DBAPIError as error:
        args = getattr(error.orig, "args", ())
        code = getattr(error.orig, "pgcode", None) or (args[0] if args else None)
        if code in ("2201B", 1139) or (isinstance(code, int) and 3685 <= code <= 3699):
            raise invalid(f"Invalid regular expression: {first_line(error.orig)}") from None
        raise


@contextlib.contextmanager
def _exists_as_lookups(conn):
    """On MariaDB, the search's EXISTS conditions stay lookups by trace id. Otherwise MariaDB turns
    them into semi-joins and reads every matching child row first (every valid "score" feedback
    of the whole database) when the page needs a few hundred lookups: 100 ms instead of 7 for a
    feedback filter over 50,000 traces."""
    mariadb = conn.dialect.name == "mysql" and conn.dialect.is_mariadb
    if mariadb:
        conn.exec_driver_sql("SET SESSION optimizer_switch = 'exists_to_in=off'")
    try:
        yield
    finally:
        if mariadb:
            conn.exec_driver_sql("SET SESSION optimizer_switch = 'exists_to_in=default'")


# ---------------------------------------------------------------- filter

def filter_shape(clauses: list[TraceClause]) -> tuple:
    """What trace_filter's SQL depends on: searches of one shape share a statement, run with
    filter_parameters. The values of _LITERAL clauses are in their SQL (patterns made of them)."""
    return tuple((c.kind, c.key, c.comparator, c.value if c.kind in _LITERAL else None) for c in clauses)


def filter_parameters(clauses: list[TraceClause]) -> dict:
    """The values of trace_filter's parameters: clause i's value as f<i> (and as JSON text, f<i>j,
    for an assessment's = and !=)."""
    parameters = {}
    for i, clause in enumerate(clauses):
        value = clause.value
        parameters[f"f{i}"] = list(value) if isinstance(value, tuple) else value
        if clause.kind in (FEEDBACK, EXPECTATION) and clause.comparator in ("=", "!="):
            parameters[f"f{i}j"] = json.dumps(value)
    return parameters


def trace_filter(clauses: list[TraceClause], dialect: str) -> list:
    """Conditions on trace_info rows, with the parameters of filter_parameters; all span clauses
    hold for one span of the trace."""
    values = [c.value if c.kind in _LITERAL else sa.bindparam(f"f{i}", expanding=isinstance(c.value, tuple))
              for i, c in enumerate(clauses)]
    on_span = [_span_condition(c, value) for c, value in zip(clauses, values) if c.kind in (SPAN, SPAN_ATTRIBUTE)]
    conditions = [_condition(c, value, dialect) for c, value in zip(clauses, values)
                  if c.kind not in (SPAN, SPAN_ATTRIBUTE)]
    if on_span:
        conditions.append(sa.exists().where(spans.c.trace_id == T.trace_id, *on_span))
    return conditions


def _condition(clause: TraceClause, value, dialect: str):
    kind, key = clause.kind, clause.key
    if kind == ATTRIBUTE:
        return compare(_ATTRIBUTES[key], clause.comparator, value)
    if kind in _KEY_VALUES:
        table = _KEY_VALUES[kind]
        present = sa.exists().where(table.c.trace_id == T.trace_id, table.c.key == key)
        if clause.comparator in ("IS NULL", "IS NOT NULL"):
            return ~present if clause.comparator == "IS NULL" else present
        return present.where(compare(table.c.value, clause.comparator, value))
    if kind == RUN:
        return sa.exists().where(trace_runs.c.trace_id == T.trace_id, trace_runs.c.run_id == value)
    if kind == PROMPT:
        # the mlflow.linkedPrompts tag (key): a JSON list of {"name": ..., "version": ...}
        name, version = value.split("/")
        linked = json.dumps({"name": name, "version": version})[1:-1]
        return sa.exists().where(trace_tags.c.trace_id == T.trace_id, trace_tags.c.key == key,
                                 trace_tags.c.value.like(f"%{_escape_like(linked)}%", escape="\\"))
    if kind == ISSUE:
        return sa.exists().where(assessments.c.trace_id == T.trace_id, assessments.c.kind == "issue",
                                 assessments.c.name == value)
    assert kind in (FEEDBACK, EXPECTATION), kind
    return _assessment_condition(clause, value, dialect)


def _assessment_condition(clause: TraceClause, value, dialect: str):
    """Valid feedback or expectations of that name; a value is the JSON text of the assessment's
    value: "=" matches it as JSON (a string quoted, true, 0.5) or as it is written."""
    a = assessments.c
    found = sa.exists().where(a.trace_id == T.trace_id, a.kind == clause.kind, a.name == clause.key,
                              a.valid == sa.true())
    op = clause.comparator
    if op in ("IS NULL", "IS NOT NULL"):
        return ~found if op == "IS NULL" else found
    if op in ("=", "!="):
        same = sa.or_(a.value == value, a.value == sa.bindparam(f"{value.key}j"))
        return found.where(~same if op == "!=" else same)
    if op in (">", ">=", "<", "<="):
        return found.where(compare(_json_number(a.value, dialect), op, value))
    return found.where(compare(a.value, op, value))


def _json_number(column, dialect: str):
    """The number a JSON value's text holds; NULL for other JSON (strings, booleans, lists...)."""
    number = sa.type_coerce(column, sa.Float) + 0.0 if dialect == "mysql" else sa.cast(column, sa.Float)
    return sa.case((sa.func.lower(column).in_(_NOT_NUMBERS), sa.null()),
                   (sa.func.substr(column, 1, 1).in_(['"', "[", "{"]), sa.null()), else_=number)


def _span_condition(clause: TraceClause, value):
    if clause.kind == SPAN:
        return compare(_SPAN_COLUMNS[clause.key], clause.comparator, value)
    return span_attribute_condition(clause.key, clause.comparator, value)


def span_attribute_condition(key: str, op: str, value):
    """A span attribute's value, compared in spans.content. An OTLP attribute is
    {"key": k, "value": {"string_value": v}}, where MLflow's client writes v as JSON text (a
    string "\\"gpt-4\\"", a number "3"), and other OpenTelemetry SDKs the value itself (or an
    int_value, a bool_value): "=" and IN match any of these; LIKE and ILIKE match the pattern
    from v's first character (a JSON string's quote skipped); RLIKE searches v (string values), a
    leading ^ and a trailing $ anchoring at its start and end. Values are matched as JSON escapes
    them."""
    content = spans.c.content
    head = _json({"key": key, "value": {}})[:-3]  # up to the AnyValue
    if op == "RLIKE":
        return content.regexp_match(_attribute_pattern(head, value))
    if op in ("LIKE", "ILIKE"):
        start = _escape_like(head + '{"string_value":"')
        patterns = [f"%{start}{skipped}{value}%" for skipped in ('\\\\"', "")]
        if op == "LIKE":
            return sa.or_(*(content.like(p, escape="\\") for p in patterns))
        return sa.or_(*(sa.func.lower(content).like(sa.func.lower(p), escape="\\") for p in patterns))
    values = value if isinstance(value, tuple) else (value,)
    same = sa.or_(*(content.like(f"%{_escape_like(head + form)}}}%", escape="\\")
                    for v in values for form in _any_values(v)))
    return ~same if op in ("NOT IN", "!=") else same


_IN_STRING = r'(?:[^"\\]|\\.)*'  # JSON string characters: the match stays inside v


def _attribute_pattern(head: str, pattern: str) -> str:
    """The regular expression over spans.content for `span.attributes.<key> RLIKE pattern`: the
    pattern grouped (its alternatives all after the key) and found within v, anchors at v's ends."""
    start = pattern.startswith("^")
    end = re.search(r"(?<!\\)(?:\\\\)*\$$", pattern) is not None  # an unescaped trailing $
    body = pattern[start:len(pattern) - end]
    return (re.escape(head + '{"string_value":') + r'"(?:\\")?' + ("" if start else _IN_STRING)
            + f"(?:{body})" + (r'(?:\\")?"\}' if end else ""))


def _any_values(value: str) -> list[str]:
    """The OTLP AnyValue JSON texts of an attribute that holds `value`."""
    forms = [_json({"string_value": json.dumps(value, ensure_ascii=False)}), _json({"string_value": value})]
    if re.fullmatch(r"-?\d{1,18}", value):
        forms.append(_json({"int_value": int(value)}))
    if value in ("true", "false"):
        forms.append(_json({"bool_value": value == "true"}))
    return forms


def compare(column, op: str, value):
    """column <op> value, for the comparators the grammar allows (IN and NOT IN: an expanding
    parameter); LIKE is case-sensitive on every database, ILIKE compares lower-cased text, RLIKE is
    the database's regular expression."""
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return sa.func.lower(column).like(sa.func.lower(value))
    if op == "RLIKE":
        return column.regexp_match(value)
    return {"=": column.__eq__, "!=": column.__ne__, ">": column.__gt__, ">=": column.__ge__,
            "<": column.__lt__, "<=": column.__le__}[op](value)


def _json(value) -> str:
    """JSON as spans.content holds it: compact, as the OTLP ingestion and db import write it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.lru_cache(maxsize=64)
def _regexp(pattern: str):
    return re.compile(pattern)


def _sqlite_regexp(conn) -> None:
    """SQLite's REGEXP calls a function regexp(pattern, value) that it does not define itself."""
    conn.connection.driver_connection.create_function(
        "regexp", 2, lambda pattern, text: text is not None and _regexp(pattern).search(text) is not None,
        deterministic=True)
