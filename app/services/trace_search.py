"""Trace search: the filter grammar of mlflow.search_traces, order_by and page tokens. (Being built.)"""
from __future__ import annotations

from ..store.trace_search_sql import TraceSearchStore
from ..store.traces import TraceStore


class TraceSearchService:
    def __init__(self, store: TraceSearchStore, traces: TraceStore):
        self.store = store
        self.traces = traces
