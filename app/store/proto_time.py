"""Proto3 JSON times as the REST API writes them and milliseconds as the tables keep them:
google.protobuf.Timestamp ("2025-01-31T12:00:00.500Z") and Duration ("1.5s")."""
from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal, DecimalException

from ..errors import invalid

MAX_DURATION_MS = 315_576_000_000_000  # proto Duration's bound, 10,000 years
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def timestamp_json(ms: int) -> str:
    """Milliseconds since the epoch as proto3 JSON writes a google.protobuf.Timestamp (RFC 3339,
    UTC, fractional seconds only when there are some)."""
    seconds, millis = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def timestamp_ms(text: str, name: str) -> int:
    """A proto3 JSON Timestamp (RFC 3339) as milliseconds since the epoch (sub-millisecond
    digits dropped, as Timestamp.ToMilliseconds does)."""
    match = _RFC3339.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        date, clock, fraction, zone = match.groups()
        moment = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:
        raise invalid(f"Invalid value {text!r} for parameter '{name}': expected an RFC 3339 timestamp, "
                      "e.g. 2025-01-31T12:00:00.000Z") from None
    return int(moment.timestamp()) * 1000 + int((fraction or "0").ljust(9, "0")[:3])


def duration_json(ms: int) -> str:
    """Milliseconds as a proto Duration's JSON ("0.773s", "2s", "-1.500s")."""
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    seconds, millis = divmod(ms, 1000)
    return f"{sign}{seconds}.{millis:03d}s" if millis else f"{sign}{seconds}s"


def duration_ms(text: str, name: str) -> int:
    """A proto Duration's JSON ("1.5s") as milliseconds (truncated, as Duration.ToMilliseconds);
    proto's range is +-10,000 years."""
    try:
        if not text.endswith("s"):
            raise ValueError
        ms = int(Decimal(text[:-1]) * 1000)
        if abs(ms) > MAX_DURATION_MS:
            raise ValueError
        return ms
    except (DecimalException, ValueError, OverflowError):  # decimal.Overflow for "1e999999s"
        raise invalid(f"Invalid value '{text}' for '{name}': expected a duration such as '1.5s'") from None
