"""Assessments as a user records them on traces with the official client: feedback of every
value type (with rationale, source, error, on a span), expectations of JSON values, updates,
overrides and deletion; they come back from get_assessment, get_trace and search_traces. And
what a raw HTTP client sees: the official JSON, 404 for a missing trace or assessment, 400 for
bad input with nothing stored."""
from __future__ import annotations

import mlflow
import pytest
import requests
from mlflow.entities import AssessmentError, AssessmentSource, AssessmentSourceType, Expectation, Feedback

from api_checks import assert_error, assert_ok
from conftest import unique


@pytest.fixture
def exp_id(client):
    return mlflow.set_experiment(unique("assess")).experiment_id


def make_trace(question: str = "hi") -> tuple[str, str]:
    """A trace made by an @mlflow.trace function, and the id of its span."""
    span_ids = []

    @mlflow.trace
    def answer(q):
        span_ids.append(mlflow.get_current_active_span().span_id)
        return q.upper()

    answer(question)
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id(), span_ids[0]


def by_id(assessments) -> dict:
    return {a.assessment_id: a for a in assessments}


FEEDBACK_VALUES = [True, 0.75, 3, "good", {"score": 4, "labels": ["a", "b"], "ok": False}, ["x", "y"]]


def test_feedback_of_each_value_type_round_trips(exp_id):
    trace_id, _ = make_trace()
    source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="ann@example.com")
    logged = [mlflow.log_feedback(trace_id=trace_id, name=f"f{i}", value=value, source=source,
                                  rationale=f"because {i}", metadata={"batch": "7"})
              for i, value in enumerate(FEEDBACK_VALUES)]
    for feedback, value in zip(logged, FEEDBACK_VALUES):
        assert feedback.assessment_id.startswith("a-") and len(feedback.assessment_id) == 34
        got = mlflow.get_assessment(trace_id, feedback.assessment_id)
        assert isinstance(got, Feedback)
        assert got.value == value
        assert got.trace_id == trace_id
        assert got.rationale == feedback.rationale
        assert got.source == source
        assert got.metadata == {"batch": "7"}
        assert got.valid is True
        assert got.create_time_ms == feedback.create_time_ms
    on_trace = by_id(mlflow.get_trace(trace_id).info.assessments)
    assert set(on_trace) == {f.assessment_id for f in logged}
    assert [on_trace[f.assessment_id].value for f in logged] == FEEDBACK_VALUES


def test_feedback_with_an_error_on_a_span(exp_id):
    trace_id, span_id = make_trace()
    error = AssessmentError(error_code="RATE_LIMIT_EXCEEDED", error_message="judge busy", stack_trace="Traceback...")
    failed = mlflow.log_feedback(trace_id=trace_id, name="faithfulness", error=error, span_id=span_id,
                                 source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, "gpt-judge"))
    got = mlflow.get_assessment(trace_id, failed.assessment_id)
    assert got.value is None
    assert got.error == error
    assert got.span_id == span_id
    assert got.source.source_type == "LLM_JUDGE" and got.source.source_id == "gpt-judge"
    from_exception = mlflow.log_feedback(trace_id=trace_id, name="crash", error=ValueError("boom"))
    got = mlflow.get_assessment(trace_id, from_exception.assessment_id)
    assert got.error.error_code == "ValueError" and got.error.error_message == "boom"
    assert got.source.source_type == "CODE"


EXPECTATIONS = {"answer": "Paris", "count": 42, "flag": False, "facts": ["a", "b"],
                "message": {"role": "assistant", "tool_calls": [{"id": "1", "args": {"x": 1.5}}]}}


def test_expectations_of_json_values(exp_id):
    trace_id, _ = make_trace()
    ids = {name: mlflow.log_expectation(trace_id=trace_id, name=name, value=value).assessment_id
           for name, value in EXPECTATIONS.items()}
    for name, value in EXPECTATIONS.items():
        got = mlflow.get_assessment(trace_id, ids[name])
        assert isinstance(got, Expectation)
        assert got.name == name and got.value == value
        assert got.source.source_type == "HUMAN"
    on_trace = {a.name: a.value for a in mlflow.get_trace(trace_id).info.assessments}
    assert on_trace == EXPECTATIONS


def test_update_changes_what_it_names(exp_id):
    trace_id, span_id = make_trace()
    expectation = mlflow.log_expectation(trace_id=trace_id, name="expected", value="hi", span_id=span_id,
                                         metadata={"a": "1"})
    updated = mlflow.update_assessment(trace_id, expectation.assessment_id,
                                       Expectation(name="expected_answer", value={"text": "hi!"},
                                                   metadata={"b": "2"}))
    assert updated.name == "expected_answer" and updated.value == {"text": "hi!"}
    got = mlflow.get_assessment(trace_id, expectation.assessment_id)
    assert got.name == "expected_answer" and got.value == {"text": "hi!"}
    assert got.metadata == {"a": "1", "b": "2"}  # merged
    assert got.span_id == span_id and got.source == expectation.source  # never change
    assert got.create_time_ms == expectation.create_time_ms
    assert got.last_update_time_ms >= expectation.last_update_time_ms

    feedback = mlflow.log_feedback(trace_id=trace_id, name="quality", value=0.2, rationale="meh")
    mlflow.update_assessment(trace_id, feedback.assessment_id,
                             Feedback(name="quality", value=0.9, rationale="better on a second look"))
    got = mlflow.get_assessment(trace_id, feedback.assessment_id)
    assert got.value == 0.9 and got.rationale == "better on a second look"
    with pytest.raises(mlflow.exceptions.MlflowException, match="Cannot update expectation value on a Feedback"):
        mlflow.update_assessment(trace_id, feedback.assessment_id, Expectation(name="quality", value=1))
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).value == 0.9


def test_override_then_delete_restores_the_original(exp_id):
    trace_id, span_id = make_trace()
    judged = mlflow.log_feedback(trace_id=trace_id, name="relevance", value=0.6, span_id=span_id,
                                 source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, "gpt-4"))
    human = mlflow.override_feedback(trace_id=trace_id, assessment_id=judged.assessment_id, value=0.9,
                                     rationale="fully relevant",
                                     source=AssessmentSource(AssessmentSourceType.HUMAN, "expert"))
    assert human.overrides == judged.assessment_id and human.valid is True
    assert human.span_id == span_id
    on_trace = by_id(mlflow.get_trace(trace_id).info.assessments)
    assert on_trace[judged.assessment_id].valid is False
    assert on_trace[judged.assessment_id].value == 0.6  # otherwise unchanged
    assert on_trace[human.assessment_id].overrides == judged.assessment_id

    mlflow.delete_assessment(trace_id, human.assessment_id)
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found") as error:
        mlflow.get_assessment(trace_id, human.assessment_id)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is True
    assert [a.assessment_id for a in mlflow.get_trace(trace_id).info.assessments] == [judged.assessment_id]

    # overridden twice: valid again only once neither override is left
    overrides = [mlflow.override_feedback(trace_id=trace_id, assessment_id=judged.assessment_id, value=v).assessment_id
                 for v in (0.1, 0.2)]
    mlflow.delete_assessment(trace_id, overrides[0])
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is False
    mlflow.delete_assessment(trace_id, overrides[1])
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is True


def test_search_traces_carries_each_traces_assessments(exp_id):
    first, _ = make_trace("one")
    second, _ = make_trace("two")
    third, _ = make_trace("three")
    mlflow.log_feedback(trace_id=first, name="good", value=True)
    mlflow.log_expectation(trace_id=first, name="expected", value="ONE")
    mlflow.log_feedback(trace_id=second, name="good", value=False)
    found = {t.info.trace_id: t.info.assessments for t in mlflow.search_traces(locations=[exp_id], return_type="list")}
    assert set(found) == {first, second, third}
    assert sorted((a.name, a.value) for a in found[first]) == [("expected", "ONE"), ("good", True)]
    assert [(a.name, a.value) for a in found[second]] == [("good", False)]
    assert found[third] == []


def v3(server, path: str) -> str:
    return f"{server.url}/api/3.0/mlflow/traces/{path}"


def test_raw_json_is_the_official_servers(server, exp_id):
    trace_id, _ = make_trace()
    created = assert_ok(requests.post(v3(server, f"{trace_id}/assessments"), json={"assessment": {
        "assessment_name": "n", "source": {"source_type": "CODE"}, "create_time": "2025-01-31T12:00:00Z",
        "feedback": {"value": {"k": [1, "a"]}}, "metadata": {"m": "v"}}}))["assessment"]
    assert created == {
        "assessment_id": created["assessment_id"], "assessment_name": "n", "trace_id": trace_id,
        "source": {"source_type": "CODE"}, "create_time": "2025-01-31T12:00:00Z",
        "last_update_time": created["last_update_time"], "feedback": {"value": {"k": [1.0, "a"]}},
        "metadata": {"m": "v"}, "valid": True}
    listed = assert_ok(requests.post(v3(server, f"{trace_id}/assessments"), json={"assessment": {
        "assessment_name": "e", "source": {"source_type": "HUMAN", "source_id": "me"},
        "expectation": {"value": ["x", 2]}}}))["assessment"]
    assert listed["expectation"] == {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                                          "value": '["x", 2.0]'}}
    scalar = assert_ok(requests.post(v3(server, f"{trace_id}/assessments"), json={"assessment": {
        "assessment_name": "e", "expectation": {"value": 7}}}))["assessment"]
    assert scalar["expectation"] == {"value": 7.0} and scalar["source"] == {"source_type": "SOURCE_TYPE_UNSPECIFIED"}
    got = assert_ok(requests.get(v3(server, f"{trace_id}/assessments/{created['assessment_id']}")))
    assert got == {"assessment": created}
    patched = assert_ok(requests.patch(v3(server, f"{trace_id}/assessments/{created['assessment_id']}"), json={
        "assessment": {"assessment_name": "renamed", "rationale": "r"}, "update_mask": "assessmentName,rationale"}))
    assert patched["assessment"]["assessment_name"] == "renamed" and patched["assessment"]["rationale"] == "r"
    assert patched["assessment"]["feedback"] == created["feedback"]
    invalidated = assert_ok(requests.patch(v3(server, f"{trace_id}/assessments/{created['assessment_id']}"), json={
        "assessment": {"valid": False}, "update_mask": "valid"}))["assessment"]
    assert invalidated["valid"] is False
    again = {"assessment": {"assessment_id": created["assessment_id"], "assessment_name": "n", "feedback": {}}}
    assert_error(requests.post(v3(server, f"{trace_id}/assessments"), json=again), 400, "RESOURCE_ALREADY_EXISTS")
    assert assert_ok(requests.delete(v3(server, f"{trace_id}/assessments/{created['assessment_id']}"))) == {}
    assert assert_ok(requests.delete(v3(server, f"{trace_id}/assessments/{created['assessment_id']}"))) == {}


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


BAD_ASSESSMENTS = [
    {},  # no feedback, expectation or issue
    {"assessment_name": "x", "feedback": {"value": 1}, "expectation": {"value": 1}},
    {"feedback": {"value": 1}},  # no name
    {"assessment_name": "x", "source": {"source_type": "ROBOT"}, "feedback": {"value": 1}},
    {"assessment_name": "x", "expectation": {}},
    {"assessment_name": "x", "expectation": {"serialized_value": {"serialization_format": "XML", "value": "<a/>"}}},
    {"assessment_name": "x", "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                                                  "value": "{not json"}}},
    {"assessment_name": "x", "feedback": {"value": 1}, "metadata": {"n": 1}},
    {"assessment_name": "x", "feedback": {"value": 1}, "create_time": "yesterday"},
    {"assessment_name": "x", "feedback": {"value": 1}, "create_time": "2025-13-01T00:00:00Z"},
    {"assessment_name": "x", "feedback": {"value": 1}, "rationale": "é" * 40_000},  # over 64 KiB
    {"assessment_name": "x", "feedback": {"value": nested(101)}},
    {"assessment_name": "x" * 251, "feedback": {"value": 1}},
    {"assessment_name": "x", "feedback": {"value": "\x00"}},
    {"assessment_name": "x", "feedback": {"value": 1}, "overrides": "a-missing"},
]


def test_bad_input_is_refused_and_nothing_is_stored(server, exp_id):
    trace_id, _ = make_trace()
    url = v3(server, f"{trace_id}/assessments")
    for body in BAD_ASSESSMENTS:
        status, code = (404, "RESOURCE_DOES_NOT_EXIST") if "overrides" in body else (400, "INVALID_PARAMETER_VALUE")
        assert_error(requests.post(url, json={"assessment": body}), status, code)
    assert_error(requests.post(url, json={}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(requests.post(url, json={"assessment": "text"}), 400, "INVALID_PARAMETER_VALUE")
    assert mlflow.get_trace(trace_id).info.assessments == []

    one = mlflow.log_feedback(trace_id=trace_id, name="f", value=1.0).assessment_id
    for body in [{"assessment": {"rationale": "r"}},  # no update_mask
                 {"assessment": {"rationale": "r"}, "update_mask": "rationale,colour"},
                 {"assessment": {"expectation": {"value": 1}}, "update_mask": "expectation"},
                 {"assessment": {"feedback": {"value": 1}, "expectation": {"value": 1}},
                  "update_mask": "feedback,expectation"}]:
        assert_error(requests.patch(f"{url}/{one}", json=body), 400, "INVALID_PARAMETER_VALUE")
    assert mlflow.get_assessment(trace_id, one).value == 1.0


def test_missing_trace_or_assessment_is_404(server, exp_id):
    trace_id, _ = make_trace()
    missing = "tr-" + "0" * 32
    body = {"assessment": {"assessment_name": "x", "feedback": {"value": 1}}}
    assert_error(requests.post(v3(server, f"{missing}/assessments"), json=body), 404, "RESOURCE_DOES_NOT_EXIST")
    for trace in (missing, trace_id):
        assert_error(requests.get(v3(server, f"{trace}/assessments/a-missing")), 404, "RESOURCE_DOES_NOT_EXIST")
        assert_error(requests.patch(v3(server, f"{trace}/assessments/a-missing"),
                                    json={"assessment": {"rationale": "r"}, "update_mask": "rationale"}),
                     404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.log_feedback(trace_id=missing, name="x", value=1)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
