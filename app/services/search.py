"""Parse search filters and order_by clauses into plain data (never SQL text).

Grammar (as the official server accepts it):
    filter  := clause ("AND" clause)*
    clause  := identifier comparator value
    identifier := [entity "."] key     key may be quoted with backticks or double quotes
    value   := number | 'string' | "string" | "(" string ("," string)* ")"
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import invalid

ENTITY_ALIASES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}
NUMERIC_COMPARATORS = ("=", "!=", ">", ">=", "<", "<=")
STRING_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
SET_COMPARATORS = ("IN", "NOT IN")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.`"]))
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<backtick>`[^`]*`)
      | (?P<op>!=|>=|<=|=|>|<|\(|\)|,)
      | (?P<word>[\w.\-:/]+)
    )""",
    re.VERBOSE,
)


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


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            rest = text[pos:].strip()
            if rest[:1] in ("'", '"', "`"):
                raise invalid(f"Invalid filter: unbalanced quote at '{rest[:40]}'")
            raise invalid(f"Invalid filter: unexpected text at '{rest[:40]}'")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    quote = token[0]
    body = token[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if quote != "`" else body


def _identifier(kind: str, token: str, default_entity: str | None, context: str) -> tuple[str, str]:
    """'metrics.acc' / 'tags.`a b`' / 'name' -> (entity, key)."""
    if kind in ("backtick", "string"):
        if default_entity is None:
            raise invalid(f"Invalid {context}: expected an identifier such as metrics.<key>, got {token}")
        return default_entity, _unquote(token)
    if kind != "word":
        raise invalid(f"Invalid {context}: expected an identifier, got '{token}'")
    entity, dot, key = token.partition(".")
    if not dot:
        if default_entity is None:
            raise invalid(f"Invalid {context}: '{token}' needs a prefix such as metrics., params., "
                          f"tags. or attributes.")
        return default_entity, token
    if entity.lower() not in ENTITY_ALIASES:
        raise invalid(f"Invalid {context}: unknown entity type '{entity}' in '{token}'. Valid "
                      f"entity types are metrics, params, tags, attributes and datasets.")
    return ENTITY_ALIASES[entity.lower()], key


def _read_identifier(tokens, i, default_entity, context):
    """An identifier at tokens[i], where a quoted key may follow 'entity.': returns (entity, key, next i)."""
    kind, token = tokens[i]
    if kind == "word" and token.endswith(".") and i + 1 < len(tokens) and tokens[i + 1][0] in ("backtick", "string"):
        entity = token[:-1].lower()
        if entity not in ENTITY_ALIASES:
            raise invalid(f"Invalid {context}: unknown entity type '{token[:-1]}'")
        return ENTITY_ALIASES[entity], _unquote(tokens[i + 1][1]), i + 2
    entity, key = _identifier(kind, token, default_entity, context)
    if key == "":
        raise invalid(f"Invalid {context}: empty key in '{token}'")
    return entity, key, i + 1


def parse_filter(text: str | None, default_entity: str = "attribute") -> list[Clause]:
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    clauses, i = [], 0
    while True:
        if i >= len(tokens):
            raise invalid(f"Invalid filter '{text}': expected a condition after AND")
        entity, key, i = _read_identifier(tokens, i, default_entity, "filter")
        if i >= len(tokens):
            raise invalid(f"Invalid filter '{text}': expected a comparator after '{key}'")
        kind, token = tokens[i]
        comparator = token.upper()
        if kind == "word" and comparator == "NOT" and i + 1 < len(tokens) and tokens[i + 1][1].upper() == "IN":
            comparator, i = "NOT IN", i + 1
        elif not (kind == "op" and token in NUMERIC_COMPARATORS) and comparator not in ("LIKE", "ILIKE", "IN"):
            raise invalid(f"Invalid filter '{text}': '{token}' is not a comparator "
                          f"(use =, !=, <, <=, >, >=, LIKE, ILIKE, IN or NOT IN)")
        i += 1
        if i >= len(tokens):
            raise invalid(f"Invalid filter '{text}': expected a value after '{comparator}'")
        if comparator in SET_COMPARATORS:
            values, i = _read_tuple(tokens, i, text)
            value = tuple(values)
        else:
            kind, token = tokens[i]
            if kind == "number":
                value = float(token)
            elif kind == "string":
                value = _unquote(token)
            else:
                raise invalid(f"Invalid filter '{text}': expected a number or a quoted string, got '{token}'")
            i += 1
        clauses.append(Clause(entity, key, comparator, value))
        if i == len(tokens):
            return clauses
        if tokens[i][1].upper() != "AND":
            raise invalid(f"Invalid filter '{text}': expected AND, got '{tokens[i][1]}' "
                          f"(only AND is supported between conditions)")
        i += 1


def _read_tuple(tokens, i, text):
    if tokens[i][1] != "(":
        raise invalid(f"Invalid filter '{text}': IN needs a parenthesised list such as ('a', 'b')")
    values, i = [], i + 1
    while i < len(tokens):
        kind, token = tokens[i]
        if kind != "string":
            raise invalid(f"Invalid filter '{text}': IN lists hold quoted strings, got '{token}'")
        values.append(_unquote(token))
        i += 1
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
            continue
        if i < len(tokens) and tokens[i][1] == ")":
            return values, i + 1
        break
    raise invalid(f"Invalid filter '{text}': unclosed IN list")


def parse_order_by(items: list[str] | None, default_entity: str = "attribute") -> list[OrderBy]:
    result = []
    for item in items or []:
        tokens = _tokens(item)
        if not tokens:
            raise invalid("Invalid order_by clause: empty")
        entity, key, i = _read_identifier(tokens, 0, default_entity, f"order_by clause '{item}'")
        ascending = True
        if i < len(tokens):
            direction = tokens[i][1].upper()
            if direction not in ("ASC", "DESC") or i + 1 != len(tokens):
                raise invalid(f"Invalid order_by clause '{item}': expected ASC or DESC after the key")
            ascending = direction == "ASC"
        result.append(OrderBy(entity, key, ascending))
    return result
