"""StartTraceV3 and the OTLP export of the same trace sent at the same time, as the 3.x client's
async trace logging sends them (from two threads, in either order): nothing either request
carried is lost, and the trace info's JSON says what its tag and metadata rows say."""
from __future__ import annotations

import random
import threading
import time

import requests

from api_checks import assert_ok, raw_experiment
from conftest import unique
from traces_support import EXPERIMENT_HEADER, otlp_request, otlp_span, random_ids

TRACES = 100
SPAN_START_NS = 1_767_323_040_000_000_000  # spans say 5 s before StartTrace's request_time


def _start_body(trace_id: str, experiment_id: str, n: int) -> dict:
    return {"trace": {"trace_info": {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": "2026-01-02T03:04:05.678Z", "execution_duration": "1.250s", "state": "OK",
        "trace_metadata": {"race.n": str(n), "mlflow.user": "ann"},
        "tags": {"mlflow.traceName": f"answer-{n}", "shared": "same", "from_start": str(n)},
        "request_preview": '{"q": 1}', "response_preview": '"a"'}}}


def _otlp_body(trace_bytes: bytes, root_bytes: bytes, n: int) -> bytes:
    root = otlp_span(trace_bytes, root_bytes, name=f"answer-{n}", start_ns=SPAN_START_NS,
                     end_ns=SPAN_START_NS + 9_000_000_000, mlflow__spanInputs='"span in"',
                     mlflow__traceTag__shared="same", mlflow__traceTag__from_otlp=str(n))
    child = otlp_span(trace_bytes, random_ids()[1], root_bytes, name="child", start_ns=SPAN_START_NS + 1_000_000,
                      end_ns=SPAN_START_NS + 2_000_000)
    return otlp_request(root, child, resource={"service.name": "race-agent"}).SerializeToString()


def _race(url: str, experiment_id: str, bodies: list[tuple[str, dict, bytes]]) -> None:
    """For each trace in turn: its StartTraceV3 and its export released together from two threads
    (each with a kept-alive connection), one of them a random fraction of a millisecond or two late."""
    barrier, failures = threading.Barrier(2), []

    def send(which: int):
        with requests.Session() as session:
            for trace_id, start, otlp in bodies:
                barrier.wait()
                time.sleep(random.random() * 0.002)
                if which == 0:
                    response = session.post(f"{url}/api/3.0/mlflow/traces", json=start, timeout=60)
                else:
                    response = session.post(f"{url}/v1/traces", data=otlp, timeout=60, headers={
                        "Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: experiment_id})
                if response.status_code != 200:
                    failures.append(f"{trace_id} {response.url}: {response.status_code} {response.text[:300]}")

    threads = [threading.Thread(target=send, args=(which,)) for which in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def _search(url: str, experiment_id: str, filter_string: str) -> list[dict]:
    return assert_ok(requests.post(f"{url}/api/3.0/mlflow/traces/search", timeout=30, json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}],
        "filter": filter_string, "max_results": 500})).get("traces", [])


def _quoted(key: str) -> str:
    return f"`{key}`" if "." in key else key


def test_start_trace_and_span_export_at_once_lose_nothing(server, api):
    experiment_id = raw_experiment(api, unique("trace-races"))
    traces = []
    for n in range(TRACES):
        trace_bytes, root_bytes = random_ids()
        trace_id = f"tr-{trace_bytes.hex()}"
        traces.append((trace_id, _start_body(trace_id, experiment_id, n), _otlp_body(trace_bytes, root_bytes, n)))
    _race(server.url, experiment_id, traces)

    # the rows of the tag both requests carry: every trace
    assert len(_search(server.url, experiment_id, "tag.shared = 'same'")) == TRACES
    for n, (trace_id, _, _) in enumerate(traces):
        info = assert_ok(requests.get(f"{server.url}/api/3.0/mlflow/traces/{trace_id}", timeout=30))["trace"][
            "trace_info"]
        tags = {"mlflow.traceName": f"answer-{n}", "shared": "same", "from_start": str(n), "from_otlp": str(n),
                "service.name": "race-agent", "mlflow.trace.spansLocation": "TRACKING_STORE",
                "mlflow.artifactLocation": f"mlflow-artifacts:/{experiment_id}/traces/{trace_id}/artifacts"}
        metadata = {"race.n": str(n), "mlflow.user": "ann", "mlflow.trace.infoFinalized": "true"}
        # StartTrace's times, state and previews, whichever request came first
        assert (info["tags"], info["trace_metadata"]) == (tags, metadata), trace_id
        assert (info["request_time"], info["execution_duration"], info["state"]) == (
            "2026-01-02T03:04:05.678Z", "1.250s", "OK"), trace_id
        assert (info["request_preview"], info["response_preview"]) == ('{"q": 1}', '"a"'), trace_id
        # the rows say the same: a search on every tag and metadata value finds it, with that info
        conditions = [f"tag.{_quoted(k)} = '{v}'" for k, v in tags.items()]
        conditions += [f"metadata.{_quoted(k)} = '{v}'" for k, v in metadata.items()
                       if not k.startswith("mlflow.trace.")]  # the server's own are not searchable
        assert _search(server.url, experiment_id, " AND ".join(conditions)) == [info], trace_id
        spans = assert_ok(requests.get(f"{server.url}/api/3.0/mlflow/traces/get", timeout=30,
                                       params={"trace_id": trace_id}))["trace"]["spans"]
        assert [s["name"] for s in spans] == [f"answer-{n}", "child"], trace_id
