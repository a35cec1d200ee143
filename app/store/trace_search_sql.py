"""Trace search in SQL. (Being built.)"""
from __future__ import annotations

from .db import Database


class TraceSearchStore:
    def __init__(self, database: Database):
        self.db = database
