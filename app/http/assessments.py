"""Assessment routes: create, get, update and delete the assessments of a trace (API 3.0).

A feedback's or expectation's value is any JSON (google.protobuf.Value), as is the metadata
map, whose values the service checks are strings."""
from __future__ import annotations

from ..services.assessments import AssessmentService
from .access import TRACE, UPDATE, on
from .api import BOOL, ENUM, STR, VALUE, Route

ERROR = {"error_code": STR, "error_message": STR, "stack_trace": STR}
ASSESSMENT = {
    "assessment_id": STR, "assessment_name": STR, "trace_id": STR, "span_id": STR,
    "source": {"source_type": ENUM, "source_id": STR},
    "create_time": STR, "last_update_time": STR,
    "feedback": {"value": VALUE, "error": ERROR},
    "expectation": {"value": VALUE, "serialized_value": {"serialization_format": STR, "value": STR}},
    "issue": {"issue_name": STR},
    "rationale": STR, "metadata": VALUE, "overrides": STR, "valid": BOOL,
}
ONE = "/mlflow/traces/{trace_id}/assessments/{assessment_id}"


def routes(service: AssessmentService) -> list[Route]:
    s = service

    def create(r):
        return {"assessment": s.create(r["trace_id"], r.get("assessment"))}

    def get(r):
        return {"assessment": s.get(r["trace_id"], r["assessment_id"])}

    def update(r):
        return {"assessment": s.update(r["trace_id"], r["assessment_id"], r.get("assessment"), r.get("update_mask"))}

    def delete(r):
        s.delete(r["trace_id"], r["assessment_id"])

    read, edit = on(TRACE, "trace_id"), on(TRACE, "trace_id", UPDATE)
    v3 = ("3.0",)
    return [
        Route("POST", "/mlflow/traces/{trace_id}/assessments", {"assessment": ASSESSMENT}, create, edit, v3),
        Route("GET", ONE, {}, get, read, v3),
        Route("PATCH", ONE, {"assessment": ASSESSMENT, "update_mask": STR}, update, edit, v3),
        Route("DELETE", ONE, {}, delete, edit, v3),
    ]
