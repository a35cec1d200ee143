"""Assessments (feedback and expectations on traces) in SQL. (Being built.)"""
from __future__ import annotations

from .db import Database


def for_traces(conn, trace_ids: list[str]) -> dict[str, list[dict]]:
    """Each trace's assessments as the API's Assessment JSON, oldest first."""
    return {}


class AssessmentStore:
    def __init__(self, database: Database):
        self.db = database
