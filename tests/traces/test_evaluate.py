"""mlflow.genai.evaluate end to end with the official client and code scorers (no LLM): the
evaluation run, its traces linked to it, each trace carrying the scorers' feedback and the
dataset's expectations, the aggregated metrics on the run; then evaluating those traces again
from the DataFrame search_traces returns."""
from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import Expectation, Feedback
from mlflow.genai.scorers import scorer

from conftest import unique


@pytest.fixture
def exp_id(client, monkeypatch):
    monkeypatch.setenv("MLFLOW_GENAI_EVAL_MAX_WORKERS", "2")  # a 2-core machine
    return mlflow.set_experiment(unique("evaluate")).experiment_id


@scorer
def exact(outputs, expectations):
    return outputs == expectations["expected"]


@scorer
def length(outputs):
    return float(len(outputs))


@scorer
def mentions_a(inputs, outputs):
    return Feedback(value="yes" if "A" in outputs else "no", rationale=f"looked for A in {inputs['question']!r}")


def shout(question):
    return question.upper()


DATA = [{"inputs": {"question": "abc"}, "expectations": {"expected": "ABC"}},
        {"inputs": {"question": "xyz"}, "expectations": {"expected": "nope"}},
        {"inputs": {"question": "a b"}, "expectations": {"expected": "A B"}}]


def _scores(trace) -> dict:
    """{assessment name: (kind, value)} of a trace's assessments."""
    return {a.name: (type(a).__name__, a.value) for a in trace.info.assessments}


def test_evaluate_with_predict_fn_and_code_scorers(exp_id):
    result = mlflow.genai.evaluate(data=DATA, predict_fn=shout, scorers=[exact, length, mentions_a])

    run = mlflow.get_run(result.run_id)
    assert run.info.experiment_id == exp_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.data.metrics == pytest.approx({"exact/mean": 2 / 3, "length/mean": 3.0, "mentions_a/mean": 2 / 3})  # "yes" counts as 1
    assert result.metrics == pytest.approx(run.data.metrics)

    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert len(traces) == 3
    by_question = {t.data.spans[0].inputs["question"]: t for t in traces}
    assert set(by_question) == {"abc", "xyz", "a b"}
    for question, trace in by_question.items():
        assert trace.info.experiment_id == exp_id
        expected = next(row["expectations"]["expected"] for row in DATA if row["inputs"]["question"] == question)
        assert _scores(trace) == {
            "exact": ("Feedback", shout(question) == expected),
            "length": ("Feedback", float(len(question))),
            "mentions_a": ("Feedback", "yes" if "A" in shout(question) else "no"),
            "expected": ("Expectation", expected),
        }
        for assessment in trace.info.assessments:
            assert assessment.run_id == result.run_id
            assert assessment.source.source_type == ("HUMAN" if isinstance(assessment, Expectation) else "CODE")
        rationale = next(a.rationale for a in trace.info.assessments if a.name == "mentions_a")
        assert rationale == f"looked for A in {question!r}"
        # the same, read one trace at a time
        assert _scores(mlflow.get_trace(trace.info.trace_id)) == _scores(trace)

    table = result.tables["eval_results"]
    assert sorted(table["exact/value"].tolist()) == [False, True, True]


def test_evaluate_existing_traces(exp_id):
    first = mlflow.genai.evaluate(data=DATA, predict_fn=shout, scorers=[exact])
    traces = mlflow.search_traces(run_id=first.run_id)
    assert len(traces) == 3

    again = mlflow.genai.evaluate(data=traces, scorers=[length])
    assert again.run_id != first.run_id
    assert mlflow.get_run(again.run_id).data.metrics == {"length/mean": 3.0}
    relinked = mlflow.search_traces(run_id=again.run_id, return_type="list")
    assert {t.info.trace_id for t in relinked} == set(traces["trace_id"])
    for trace in relinked:
        names = sorted(a.name for a in trace.info.assessments)
        assert names == ["exact", "expected", "length"]  # the first evaluation's kept, the new one added
        new = next(a for a in trace.info.assessments if a.name == "length")
        assert new.run_id == again.run_id


@scorer
def fragile(outputs):
    if "X" in outputs:
        raise ValueError("cannot judge X")
    return 1.0


@scorer
def two_checks(outputs):
    return [Feedback(name="short", value=len(outputs) < 3), Feedback(name="loud", value=outputs.isupper())]


def test_scorer_errors_and_several_feedbacks_per_scorer(exp_id):
    result = mlflow.genai.evaluate(data=DATA[:2], predict_fn=shout, scorers=[fragile, two_checks])
    assert mlflow.get_run(result.run_id).data.metrics == {"fragile/mean": 1.0, "short/mean": 0.0, "loud/mean": 1.0}
    traces = {t.data.spans[0].inputs["question"]: t for t in mlflow.search_traces(run_id=result.run_id,
                                                                                  return_type="list")}
    failed = next(a for a in traces["xyz"].info.assessments if a.name == "fragile")
    assert failed.value is None
    assert failed.error.error_code == "SCORER_ERROR" and failed.error.error_message == "cannot judge X"
    assert "ValueError" in failed.error.stack_trace
    assert _scores(traces["abc"]) == {"fragile": ("Feedback", 1.0), "short": ("Feedback", False),
                                      "loud": ("Feedback", True), "expected": ("Expectation", "ABC")}
