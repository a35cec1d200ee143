"""Parse search filters and order_by clauses into plain data (app/store/filters.py; never SQL text).

Grammar (as the official server accepts it):
    filter  := clause ("AND" clause)*
    clause  := identifier comparator value
    identifier := [entity "."] key     key may be quoted with backticks or double quotes
    value   := number | 'string' | "string" | "(" string ("," string)* [","] ")"
"""
from __future__ import annotations

import ast
import re

from ..errors import invalid
from ..store.filters import NUMERIC_COMPARATORS, SET_COMPARATORS, Clause, OrderBy

ENTITY_ALIASES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}
WORD_COMPARATORS = ("LIKE", "ILIKE", "RLIKE", "IN")  # RLIKE: trace searches only

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.`"]))
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<backtick>`[^`]*`)
      | (?P<op>[<>=!]+|\(|\)|,)
      | (?P<word>[\w.:/]+)
    )""",
    re.VERBOSE,
)


def admitted(scope: Clause | None, ids: list) -> list:
    """The experiment ids a scope clause (IN or NOT IN a tuple of ids) keeps; all without one."""
    if scope is None:
        return ids
    named = {str(i) for i in scope.value}
    return [i for i in ids if (str(i) in named) == (scope.comparator == "IN")]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            rest = text[pos:].strip()
            if rest[:1] in ("'", '"', "`"):
                raise invalid(f"Invalid filter: unbalanced quote at '{rest[:40]}'")
            if tokens and tokens[-1][0] == "word" and not text[pos - 1].isspace():
                key = tokens[-1][1] + rest.split()[0]
                raise invalid(f"Invalid filter: '{key[:60]}' contains a character that needs quoting: "
                              f"write the key in backticks, e.g. params.`my-key`")
            raise invalid(f"Invalid filter: unexpected text at '{rest[:40]}'")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    """The text between the quotes, taken literally (as the official server: no escapes)."""
    return token[1:-1]


def _unquote_listed(token: str, text: str) -> str:
    """A string in an IN list: a Python literal, escapes and all, as the official server reads
    its lists ('a\\'b' is a'b; 'a''b', two literals side by side, is ab)."""
    try:
        return ast.literal_eval(token)
    except (ValueError, SyntaxError):
        raise invalid(f"Invalid filter '{text}': cannot read the string {token[:40]} in an IN list") from None


def _identifier(kind: str, token: str, context: str, aliases: dict) -> tuple[str, str]:
    """'metrics.acc' / 'name' / '`a b`' -> (entity, key); a key without a prefix is an attribute."""
    if kind in ("backtick", "string"):
        return "attribute", _unquote(token)
    if kind != "word":
        raise invalid(f"Invalid {context}: expected an identifier, got '{token}'")
    entity, dot, key = token.partition(".")
    if not dot:
        return "attribute", token
    return _entity(entity, context, aliases), key


EXPERIMENT_ENTITY_ALIASES = {"attribute": "attribute", "tag": "tag", "tags": "tag"}


def _entity(name: str, context: str, aliases: dict) -> str:
    if name not in aliases:
        raise invalid(f"Invalid {context}: unknown entity type '{name}'. Valid entity types are "
                      f"{', '.join(aliases)}.")
    return aliases[name]


def _read_identifier(tokens, i, context, aliases):
    """An identifier at tokens[i]: entity.key, a quoted key after 'entity.', or a quoted
    entity before '.key'. Returns (entity, key, next i)."""
    kind, token = tokens[i]
    following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
    if kind == "word" and token.endswith(".") and following[0] in ("backtick", "string"):
        return _entity(token[:-1], context, aliases), _unquote(following[1]), i + 2
    if kind == "backtick" and following[0] == "word" and following[1].startswith(".") and len(following[1]) > 1:
        return _entity(_unquote(token), context, aliases), following[1][1:], i + 2
    if kind == "backtick" and following == ("word", ".") and i + 2 < len(tokens) and tokens[i + 2][0] == "backtick":
        return _entity(_unquote(token), context, aliases), _unquote(tokens[i + 2][1]), i + 3
    entity, key = _identifier(kind, token, context, aliases)
    if key == "":
        raise invalid(f"Invalid {context}: empty key in '{token}'")
    return entity, key, i + 1


def parse_filter(text: str | None, aliases: dict = ENTITY_ALIASES) -> list[Clause]:
    """Clauses of a filter; `aliases` names the entity prefixes allowed (runs: all of
    ENTITY_ALIASES, experiments: EXPERIMENT_ENTITY_ALIASES). A bare key is an attribute."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    clauses, i = [], 0
    while True:
        if i >= len(tokens):
            raise invalid(f"Invalid filter '{text}': expected a condition after AND")
        entity, key, i = _read_identifier(tokens, i, "filter", aliases)
        if i >= len(tokens):
            raise invalid(f"Invalid filter '{text}': expected a comparator after '{key}'")
        kind, token = tokens[i]
        comparator = token.upper()
        words = [t.upper() for _, t in tokens[i:i + 3]]
        if kind == "word" and words[:3] == ["IS", "NOT", "NULL"]:
            clauses.append(Clause(entity, key, "IS NOT NULL", None))
            i += 3
        elif kind == "word" and words[:2] == ["IS", "NULL"]:
            clauses.append(Clause(entity, key, "IS NULL", None))
            i += 2
        else:
            if kind == "word" and words[:2] == ["NOT", "IN"]:
                comparator, i = "NOT IN", i + 1
            elif not (kind == "op" and token in NUMERIC_COMPARATORS) and comparator not in WORD_COMPARATORS:
                raise invalid(f"Invalid filter '{text}': '{token}' is not a comparator (use =, !=, <, <=, "
                              f">, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL)")
            value, i = _read_value(tokens, i + 1, comparator, text)
            clauses.append(Clause(entity, key, comparator, value))
        if i == len(tokens):
            return clauses
        if tokens[i][1].upper() != "AND":
            raise invalid(f"Invalid filter '{text}': expected AND, got '{tokens[i][1]}' "
                          f"(only AND is supported between conditions)")
        i += 1


def _read_value(tokens, i, comparator, text):
    """The value after a comparator: (value, next i)."""
    if i >= len(tokens):
        raise invalid(f"Invalid filter '{text}': expected a value after '{comparator}'")
    if comparator in SET_COMPARATORS:
        values, i = _read_tuple(tokens, i, text)
        return tuple(values), i
    kind, token = tokens[i]
    if kind == "number":
        return float(token), i + 1
    if kind == "string":
        return _unquote(token), i + 1
    raise invalid(f"Invalid filter '{text}': expected a number or a quoted string after '{comparator}', "
                  f"got '{token}'")


def _read_tuple(tokens, i, text):
    if tokens[i][1] != "(":
        raise invalid(f"Invalid filter '{text}': IN needs a parenthesised list such as ('a', 'b')")
    values, i = [], i + 1
    while i < len(tokens):
        kind, token = tokens[i]
        if kind != "string":
            raise invalid(f"Invalid filter '{text}': IN lists hold quoted strings, got '{token}'")
        values.append(_unquote_listed(token, text))
        i += 1
        if tokens[i:i + 2] == [("op", ","), ("op", ")")]:  # a trailing comma, as in ('a',)
            i += 1
        if i < len(tokens) and tokens[i][1] == ")":
            return values, i + 1
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
            continue
        break
    raise invalid(f"Invalid filter '{text}': unclosed IN list (expected ',' or ')' after each string)")


def parse_order_by(items: list[str] | None, aliases: dict = ENTITY_ALIASES) -> list[OrderBy]:
    result = []
    for item in items or []:
        tokens = _tokens(item)
        if not tokens:
            raise invalid("Invalid order_by clause: empty")
        entity, key, i = _read_identifier(tokens, 0, f"order_by clause '{item}'", aliases)
        ascending = True
        if i < len(tokens):
            direction = tokens[i][1].upper()
            if direction not in ("ASC", "DESC") or i + 1 != len(tokens):
                raise invalid(f"Invalid order_by clause '{item}': expected ASC or DESC after the key")
            ascending = direction == "ASC"
        result.append(OrderBy(entity, key, ascending))
    return result
