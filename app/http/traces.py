"""Trace routes: the v3 API (start, get, batch get, tags, deletion, links) and the 2.x client's
(start, end, info). Spans arrive over OTLP (otlp.py); search is trace_search.py's.

StartTraceV3 names its experiment deep in the body (trace.trace_info.trace_location.
mlflow_experiment.experiment_id); its access names that dotted path, which the guard follows.
"""
from __future__ import annotations

import orjson

from ..services.traces import TraceService
from .access import DELETE, EXPERIMENT, RUN, SIGNED_IN, TRACE, TRACES, UPDATE, Access, Need, on
from .api import BOOL, ENUM, INT, STR, TAG, VALUE, Route, page
from .assessments import ASSESSMENT

TRACE_EXPERIMENT = "trace.trace_info.trace_location.mlflow_experiment.experiment_id"
TRACE_INFO = {"trace_id": STR, "client_request_id": STR,
              "trace_location": {"type": ENUM, "mlflow_experiment": {"experiment_id": STR}},
              "request_preview": STR, "response_preview": STR, "request_time": STR, "execution_duration": STR,
              "state": ENUM, "trace_metadata": VALUE, "tags": VALUE, "assessments": [ASSESSMENT]}
TRACE_IDS = {"trace_ids": [STR], "experiment_ids": [STR]}
V2_TRACE = {"experiment_id": STR, "timestamp_ms": INT, "request_metadata": [TAG], "tags": [TAG]}
DELETE_TRACES = {"experiment_id": STR, "max_timestamp_millis": INT, "max_traces": INT, "request_ids": [STR],
                 "trace_ids": [STR]}
BOTH = ("2.0", "3.0")


def routes(service: TraceService) -> list[Route]:
    s = service

    def trace_artifact(r):
        return orjson.Fragment(s.trace_data(r.get("request_id")))

    read_trace, edit_trace = on(TRACE, "trace_id"), on(TRACE, "trace_id", UPDATE)
    read_traces = Access(SIGNED_IN, (Need(TRACES, "trace_ids"),))
    return [
        # v3
        Route("POST", "/mlflow/traces", {"trace": {"trace_info": TRACE_INFO}},
              lambda r: {"trace": {"trace_info": s.start_v3(r.get("trace"))}},
              on(EXPERIMENT, TRACE_EXPERIMENT, UPDATE), versions=("3.0",)),
        Route("GET", "/mlflow/traces/{trace_id}", {"trace_id": STR},
              lambda r: {"trace": {"trace_info": s.get_info(r.get("trace_id"))}}, read_trace, versions=("3.0",)),
        Route("GET", "/mlflow/traces/get", {"trace_id": STR, "allow_partial": BOOL},
              lambda r: {"trace": s.get_trace(r.get("trace_id"), r.get("allow_partial"))}, read_trace,
              versions=("3.0",)),
        Route("GET", "/mlflow/traces/batchGet", TRACE_IDS,
              lambda r: page("traces", s.batch_get(r.get("trace_ids"), r.get("experiment_ids")), None),
              read_traces, versions=("3.0",)),
        *(Route(method, "/mlflow/traces/batchGetInfos", TRACE_IDS,
                lambda r: page("trace_infos", s.batch_get_infos(r.get("trace_ids"), r.get("experiment_ids")), None),
                read_traces, versions=("3.0",))
          for method in ("POST", "GET")),
        Route("PATCH", "/mlflow/traces/{trace_id}/tags", {"key": STR, "value": STR},
              lambda r: s.set_tag(r.get("trace_id"), r.get("key"), r.get("value")), edit_trace, versions=BOTH),
        Route("DELETE", "/mlflow/traces/{trace_id}/tags", {"key": STR},
              lambda r: s.delete_tag(r.get("trace_id"), r.get("key")), edit_trace, versions=BOTH),
        Route("POST", "/mlflow/traces/delete-traces", DELETE_TRACES,
              lambda r: {"traces_deleted": s.delete_traces(
                  r.get("experiment_id"), r.get("max_timestamp_millis"), r.get("max_traces"),
                  r.get("request_ids") or r.get("trace_ids"))},
              on(EXPERIMENT, "experiment_id", DELETE), versions=BOTH),
        Route("POST", "/mlflow/traces/link-to-run", {"trace_ids": [STR], "run_id": STR},
              lambda r: s.link_to_run(r.get("trace_ids"), r.get("run_id")),
              on(RUN, "run_id", UPDATE, Need(TRACES, "trace_ids"))),
        Route("POST", "/mlflow/traces/link-prompts",
              {"trace_id": STR, "prompt_versions": [{"name": STR, "version": STR}]},
              lambda r: s.link_prompts(r.get("trace_id"), r.get("prompt_versions")), edit_trace),
        # the 2.x client's
        Route("POST", "/mlflow/traces", V2_TRACE,
              lambda r: {"trace_info": s.start_v2(r.get("experiment_id"), r.get("timestamp_ms"),
                                                  r.get("request_metadata"), r.get("tags"))},
              on(EXPERIMENT, "experiment_id", UPDATE)),
        Route("PATCH", "/mlflow/traces/{request_id}", {**V2_TRACE, "status": ENUM},
              lambda r: {"trace_info": s.end_v2(r.get("request_id"), r.get("timestamp_ms"), r.get("status"),
                                                r.get("request_metadata"), r.get("tags"))},
              on(TRACE, "request_id", UPDATE)),
        Route("GET", "/mlflow/traces/{request_id}/info", {},
              lambda r: {"trace_info": s.get_info_v2(r.get("request_id"))}, on(TRACE, "request_id")),
        # the official UI's: the trace's traces.json
        Route("GET", "/mlflow/get-trace-artifact", {"request_id": STR}, trace_artifact, on(TRACE, "request_id")),
    ]
