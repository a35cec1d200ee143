"""Assessment routes (v3 traces/{trace_id}/assessments). (Being built.)"""
from __future__ import annotations

from ..services.assessments import AssessmentService
from .api import Route


def routes(service: AssessmentService) -> list[Route]:
    return []
