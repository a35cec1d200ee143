"""What `db import` reads: rows shaped as the official MLflow database's tables.

An official database (any schema revision) and an official file store (`mlruns/`) are both
read as a Source, so the writer into our schema knows one shape: each row is a dict keyed by
the official column names of the newest official revision the source holds (times in
milliseconds, a metric as value + is_nan, ...); a table or column the source's revision
lacks is simply absent.
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol

# Where a table's reading stopped: JSON-serializable, meaningful only to the Source that gave it.
Position = Any


class Source(Protocol):
    name: str  # shown in messages and logs, credentials redacted

    def tables(self) -> dict[str, set[str]]:
        """The official tables this source holds, each with the columns it has."""

    def count(self, table: str) -> int:
        """How many rows `rows(table)` yields in all (for progress and the final check)."""

    def rows(self, table: str, after: Position | None = None, size: int = 10_000
             ) -> Iterator[tuple[list[dict], Position]]:
        """The table's rows in a stable order, in batches of at most `size`, each with the
        position after it; `after` (a position given before) resumes past it."""

    def close(self) -> None:
        ...
