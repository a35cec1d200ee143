"""Keyset page tokens: the sort key values of the last row of a page, opaque to clients."""
from __future__ import annotations

import base64
import json

from ..errors import invalid


def encode_keyset_token(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": values}).encode()).decode()


def decode_keyset_token(token: str, width: int) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        if any(v is not None and not isinstance(v, (int, float, str)) for v in values):
            raise ValueError
        return values
    except (ValueError, KeyError, TypeError):
        raise invalid(f"Invalid page token '{token[:60]}': it does not belong to this search") from None
