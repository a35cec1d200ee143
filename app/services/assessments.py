"""Assessment rules: create, get, update (update_mask), delete. (Being built.)"""
from __future__ import annotations

from ..store.assessments import AssessmentStore


class AssessmentService:
    def __init__(self, store: AssessmentStore):
        self.store = store
