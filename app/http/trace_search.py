"""Trace search routes: v3 traces/search and the 2.x client's GET /api/2.0/mlflow/traces. (Being built.)"""
from __future__ import annotations

from ..services.trace_search import TraceSearchService
from .api import Route


def routes(service: TraceSearchService) -> list[Route]:
    return []
