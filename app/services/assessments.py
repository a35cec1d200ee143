"""Assessment rules: what a create or an update may carry, turned into the store's columns.

As the official server: the id is the client's if it sent one, else `a-` and 32 hex digits; the
times are the client's (an assessment made offline keeps its time), else now; a new assessment
is valid; the run it came from is its metadata's mlflow.assessment.sourceRunId; an expectation
is created without a rationale. An update changes the fields its update_mask names (proto field names, in
snake_case or the camelCase of the JSON field mask): a value only of its own kind, the feedback's
error with its value; metadata is merged into the stored one; the source, span and times of
creation never change. Unlike the official server, an unknown source type, an empty name, an
unknown update_mask path or a malformed time is a 400, not ignored or a 500; `valid` may be
updated (the official store fails on it).
"""
from __future__ import annotations

import json
import re
import uuid

from ..errors import invalid
from ..store.assessments import EXPECTATION, FEEDBACK, ISSUE, JSON_FORMAT, AssessmentStore
from ..store.proto_time import timestamp_ms
from .tracking import now_ms

SOURCE_TYPES = ("SOURCE_TYPE_UNSPECIFIED", "HUMAN", "LLM_JUDGE", "CODE")  # by proto number
SOURCE_RUN_ID = "mlflow.assessment.sourceRunId"
MAX_STACK_TRACE = 10_000  # as the official client cuts it: the last characters, marked
TRUNCATED = "[Stack trace is truncated]\n...\n"
# the columns' sizes; TEXT holds 65,535 bytes on MySQL, and so here on every database
MAX_ID, MAX_NAME, MAX_SOURCE_ID, MAX_RUN_ID, MAX_TEXT_BYTES = 50, 250, 250, 32, 65_535
UPDATABLE = ("assessment_name", "expectation", "feedback", "rationale", "metadata", "valid")


def _required(value, name: str):
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{name}'. "
                      "See the API docs for more information about request parameters.")
    return value


def _at_most(value: str | None, size: int, name: str) -> str | None:
    if value is not None and len(value) > size:
        raise invalid(f"'{name}' exceeds the maximum length of {size} characters")
    return value


def _text(text: str | None, name: str) -> str | None:
    """A TEXT column's value (rationale, the error's and the metadata's JSON), refused when too big."""
    if text is not None and len(text) > MAX_TEXT_BYTES // 4 and len(text.encode()) > MAX_TEXT_BYTES:
        raise invalid(f"'{name}' exceeds the maximum size of {MAX_TEXT_BYTES} bytes")
    return text


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _loads(text: str, name: str):
    """JSON text of serialized_value, refused unless it is JSON that can be stored and sent back."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
        json.dumps(value, ensure_ascii=False).encode()  # unpaired surrogates cannot be sent back
        return value
    except (ValueError, RecursionError, UnicodeEncodeError) as error:
        raise invalid(f"Invalid value for parameter '{name}': expected JSON text ({error})") from None


def _feedback(feedback: dict) -> tuple[str, str | None]:
    """The value and error columns of a feedback."""
    error = feedback.get("error")
    if error is None:
        return json.dumps(feedback.get("value")), None
    trace = error.get("stack_trace")
    if trace and len(trace) > MAX_STACK_TRACE:
        trace = TRUNCATED + trace[len(TRUNCATED) - MAX_STACK_TRACE:]
    return json.dumps(feedback.get("value")), _text(json.dumps({
        "error_code": _required(error.get("error_code"), "assessment.feedback.error.error_code"),
        "error_message": error.get("error_message") or None, "stack_trace": trace or None}),
        "assessment.feedback.error")


def _expectation(expectation: dict) -> str:
    """The value column of an expectation: a value, or the JSON text of serialized_value."""
    if "value" in expectation and "serialized_value" in expectation:
        raise invalid("An expectation has either `value` or `serialized_value`, not both.")
    serialized = expectation.get("serialized_value")
    if serialized is None:
        value = expectation.get("value")
    else:
        serialization_format = serialized.get("serialization_format")
        if serialization_format != JSON_FORMAT:
            raise invalid(f"Unknown serialization format: {serialization_format}. Only JSON_FORMAT is supported.")
        value = _loads(_required(serialized.get("value"), "assessment.expectation.serialized_value.value"),
                       "assessment.expectation.serialized_value.value")
    if value is None:
        raise invalid("The `value` field must be specified.")
    return json.dumps(value)


def _metadata(metadata) -> dict | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(type(v) is str for v in metadata.values()):
        raise invalid("Invalid value for parameter 'assessment.metadata': expected an object of strings")
    return metadata


def _kind_and_value(assessment: dict) -> tuple[str, str, str | None]:
    """The kind, value and error columns of the one value an assessment carries."""
    kinds = [kind for kind in (FEEDBACK, EXPECTATION, ISSUE) if kind in assessment]
    if len(kinds) != 1:
        raise invalid("Exactly one of `expectation`, `feedback`, or `issue` should be specified.")
    kind = kinds[0]
    if kind == FEEDBACK:
        return (kind, *_feedback(assessment[kind]))
    if kind == EXPECTATION:
        return kind, _expectation(assessment[kind]), None
    name = _required(assessment[kind].get("issue_name"), "assessment.issue.issue_name")
    return kind, json.dumps({"issue_name": name}), None


def _source_type(source: dict) -> str:
    given = source.get("source_type", "SOURCE_TYPE_UNSPECIFIED")
    if given.isascii() and given.isdigit() and int(given) < len(SOURCE_TYPES):
        return SOURCE_TYPES[int(given)]
    if given not in SOURCE_TYPES:
        raise invalid(f"Invalid assessment source type: {given}. Valid source types: {list(SOURCE_TYPES)}")
    return given


class AssessmentService:
    def __init__(self, store: AssessmentStore):
        self.store = store

    def create(self, trace_id: str, assessment: dict | None) -> dict:
        return self.insert(self.row(trace_id, assessment))

    def insert(self, row: dict) -> dict:
        """Store an assessment row that row() made."""
        return self.store.create(row)

    def row(self, trace_id: str, assessment: dict | None) -> dict:
        """The assessment's row, checked (400 for what cannot be stored)."""
        assessment = _required(assessment, "assessment")
        kind, value, error = _kind_and_value(assessment)
        source = assessment.get("source", {})
        metadata = _metadata(assessment.get("metadata"))
        now = now_ms()
        times = {field: timestamp_ms(assessment[field], f"assessment.{field}") if field in assessment else now
                 for field in ("create_time", "last_update_time")}
        return {
            "assessment_id": _at_most(assessment.get("assessment_id"), MAX_ID, "assessment.assessment_id")
            or f"a-{uuid.uuid4().hex}",
            "trace_id": trace_id,
            "name": _at_most(_required(assessment.get("assessment_name"), "assessment.assessment_name"),
                             MAX_NAME, "assessment.assessment_name"),
            "kind": kind, "value": value, "error": error,
            "rationale": None if kind == EXPECTATION else _text(assessment.get("rationale") or None,
                                                                "assessment.rationale"),
            "source_type": _source_type(source),
            "source_id": _at_most(source.get("source_id") or None, MAX_SOURCE_ID, "assessment.source.source_id"),
            "span_id": _at_most(assessment.get("span_id") or None, MAX_ID, "assessment.span_id"),
            "run_id": _at_most((metadata or {}).get(SOURCE_RUN_ID) or None, MAX_RUN_ID,
                               f"assessment.metadata.{SOURCE_RUN_ID}"),
            "overrides": _at_most(assessment.get("overrides") or None, MAX_ID, "assessment.overrides"),
            "valid": True,
            "metadata": _text(json.dumps(metadata), "assessment.metadata") if metadata else None,
            "create_time": times["create_time"], "last_update_time": times["last_update_time"],
        }

    def get(self, trace_id: str, assessment_id: str) -> dict:
        return self.store.get(trace_id, assessment_id)

    def update(self, trace_id: str, assessment_id: str, assessment: dict | None, update_mask: str | None) -> dict:
        assessment = _required(assessment, "assessment")
        paths = _paths(_required(update_mask, "update_mask"))
        if "expectation" in paths and "feedback" in paths:
            raise invalid("Cannot specify both `expectation` and `feedback` parameters.")
        values: dict = {"last_update_time": now_ms()}
        kind = None
        if "assessment_name" in paths:
            values["name"] = _at_most(_required(assessment.get("assessment_name"), "assessment.assessment_name"),
                                      MAX_NAME, "assessment.assessment_name")
        if "feedback" in paths:
            kind = FEEDBACK
            values["value"], values["error"] = _feedback(assessment.get("feedback", {}))
        if "expectation" in paths:
            kind = EXPECTATION
            values["value"] = _expectation(assessment.get("expectation", {}))
        if "rationale" in paths:
            values["rationale"] = _text(assessment.get("rationale") or None, "assessment.rationale")
        if "valid" in paths:
            values["valid"] = assessment.get("valid", False)
        metadata = _metadata(assessment.get("metadata")) if "metadata" in paths else None
        return self.store.update(trace_id, assessment_id, kind, values, metadata)

    def delete(self, trace_id: str, assessment_id: str) -> None:
        self.store.delete(trace_id, assessment_id)


def _paths(update_mask: str) -> set[str]:
    """The fields a FieldMask names, as proto field names (its JSON form is camelCase)."""
    paths = {re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), path.strip()) for path in update_mask.split(",")}
    unknown = sorted(paths - set(UPDATABLE))
    if unknown:
        raise invalid(f"Invalid update_mask path '{unknown[0]}': expected any of {', '.join(UPDATABLE)}")
    return paths
