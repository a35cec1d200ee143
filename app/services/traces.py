"""Tracing rules: starting, ending and reading traces, spans, tags and links. (Being built.)"""
from __future__ import annotations

from ..store.traces import TraceStore
from .tracking import TrackingService


class TraceService:
    def __init__(self, store: TraceStore, tracking: TrackingService):
        self.store = store
        self.tracking = tracking
