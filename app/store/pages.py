"""Keyset page tokens: the sort key values of the last row of a page and a fingerprint of the
search that made it, opaque to clients."""
from __future__ import annotations

import base64
import hashlib
import json
import re

import sqlalchemy as sa

from ..errors import invalid

_UNSTORABLE = re.compile("[\0\ud800-\udfff]")


def _fingerprint(search) -> str:
    """search: a value whose repr names the search (its parameters but the page size)."""
    return hashlib.sha256(repr(search).encode()).hexdigest()[:16]


def encode_keyset_token(search, values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps({"search": _fingerprint(search), "after": values}).encode()).decode()


def decode_keyset_token(token: str, search, keys: list[tuple]) -> list:
    """The sort key values of a token of this search, one per (expression, ascending) of keys.
    Any other token is a 400: from another search or edited, its values could have other types
    than the keys', which databases reject or compare differently."""
    try:
        content = json.loads(base64.urlsafe_b64decode(token.encode()))
        values = content["after"]
        if content["search"] != _fingerprint(search) or not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
        if not all(_fits(value, expression) for value, (expression, _) in zip(values, keys)):
            raise ValueError
        return values
    except (ValueError, KeyError, TypeError):
        raise invalid(f"Invalid page token '{token[:60]}': it does not belong to this search") from None


def _fits(value, expression) -> bool:
    if value is None:  # a column read through an outer join; computed keys (ranks) are never NULL
        return isinstance(expression, sa.ColumnClause)
    wanted = expression.type.python_type
    if wanted is bool or isinstance(value, bool):
        return wanted is bool and isinstance(value, bool)
    if wanted is float:
        return isinstance(value, (int, float))
    if wanted is int:  # what a 64-bit column holds
        return isinstance(value, int) and -2 ** 63 <= value < 2 ** 63
    if wanted is str:  # what every database takes: no NUL, no unpaired surrogate
        return isinstance(value, str) and not _UNSTORABLE.search(value)
    return isinstance(value, wanted)
