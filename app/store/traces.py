"""The trace store: trace info, tags, metadata, run links and spans in SQL. (Being built.)"""
from __future__ import annotations

from .db import Database


class TraceStore:
    def __init__(self, database: Database):
        self.db = database

    def infos(self, trace_ids: list[str]) -> list[dict]:
        """The TraceInfoV3 JSON of each trace that exists, in the order of trace_ids."""
        return []
