"""Trace into a tracking server through the official client (3.x), as a GenAI team would.

Run with the Python of a venv holding the official mlflow 3.x:
    python populate_traces.py <tracking uri>      (a file:// URI: a file store, which links no traces to runs)
Makes an experiment "traced" with traces of nested spans (inputs, outputs, attributes, an
event, token usage), a trace raising an error, a trace made inside a run and one linked to a
run afterwards, tags, a session, a feedback and an expectation; and an experiment
"traced-deleted" with a trace, then deleted. Prints the ids as JSON on its last line.
"""
import json
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
experiment = mlflow.set_experiment("traced").experiment_id


@mlflow.trace(span_type="CHAIN")
def answer(question):
    mlflow.update_current_trace(tags={"env": "prod"}, metadata={"mlflow.trace.session": "session-1"})
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question, "k": 2})
        span.set_outputs([{"doc": "a"}, {"doc": "b"}])
        span.set_attribute("top_k", 2)
        span.add_event(mlflow.entities.SpanEvent("cache-miss", attributes={"key": question, "size": 3}))
    with mlflow.start_span("generate", span_type="LLM") as span:
        span.set_inputs({"messages": [{"role": "user", "content": question}]})
        span.set_outputs("Paris, élégamment")
        span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12})
    return f"answer to {question}"


@mlflow.trace(name="failing")
def fail(x):
    raise ValueError(f"boom {x}")


answer("capital of France?")
plain = mlflow.get_last_active_trace_id()
try:
    fail(1)
except ValueError:
    pass
failed = mlflow.get_last_active_trace_id()
with mlflow.start_run(run_name="traced-run") as run:
    answer("inside a run")
    in_run = mlflow.get_last_active_trace_id()
mlflow.flush_trace_async_logging()  # the traces are stored before they are tagged, assessed, linked
linked_run = client.create_run(experiment, run_name="linked-later").info.run_id
if not uri.startswith("file:"):  # the file store links no traces to runs
    client.link_traces_to_run([plain], linked_run)

client.set_trace_tag(plain, "reviewed", "yes")
mlflow.log_feedback(trace_id=plain, name="helpful", value=True, rationale="to the point",
                    source=AssessmentSource(source_type="HUMAN", source_id="ana@example.com"))
mlflow.log_expectation(trace_id=plain, name="expected_answer", value={"answer": "Paris", "confidence": 0.9},
                       source=AssessmentSource(source_type="HUMAN", source_id="ana@example.com"))
mlflow.log_feedback(trace_id=failed, name="score", value=0.25,
                    source=AssessmentSource(source_type="CODE", source_id="scorer"))

gone = mlflow.set_experiment("traced-deleted").experiment_id
answer("in an experiment deleted later")
in_gone = mlflow.get_last_active_trace_id()
mlflow.flush_trace_async_logging()  # the spans are in before the experiment goes
client.delete_experiment(gone)
print(json.dumps({"experiment": experiment, "deleted_experiment": gone, "plain": plain, "failed": failed,
                  "in_run": in_run, "run": run.info.run_id, "linked_run": linked_run, "in_deleted": in_gone}))
