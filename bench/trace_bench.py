#!/usr/bin/env python3
"""Tracing side by side: trace ingestion, search_traces at scale and get_trace of a big trace.

    python bench/trace_bench.py --start-ours --start-official [--backend postgresql] [--quick]
    python bench/trace_bench.py --target ours=http://127.0.0.1:5555 --target official=http://127.0.0.1:5600
    .venv/bin/python bench/trace_bench.py --profile bench/results/traces-sqlite-<stamp>.json   # ours, cProfile

Traces are sent as the official client 3.17 sends them: StartTraceV3 (POST /api/3.0/mlflow/traces,
a TraceInfoV3 in JSON) and then the spans as OTLP protobuf (POST /v1/traces, header
x-mlflow-experiment-id). Their shape is the real client's: at start the bench runs the official
client once (`--capture`, in a child process) on a 10-span trace against the last server (the
official one, when started) and records what it sends; every trace of the bench is that one with
new ids and times, built with the opentelemetry-proto messages before the timing starts.

Rows: traces/s from 1 client and from --clients concurrent clients (processes, one keep-alive
session each, all released at once); seeding --search-traces root-span traces in OTLP batches
(many traces per request, the fastest route both servers take; it is an ingestion rate too);
traces/search top 100 with a filter, ordered by time, after the first --checkpoint traces and
after all of them (search time should stay flat); traces/get of a --big-spans-span trace. For
servers the bench started, the server's CPU time per trace or per request too. See bench/README.md.
"""

import argparse
import base64
import calendar
import copy
import cProfile
import json
import multiprocessing
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from types import SimpleNamespace

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from client import Client, parse_target
from report import print_table
from servers import BENCH_DIR, BenchError, interrupt_on_signals, official_server, ours_server, setup_official

TRACES_V3 = "/api/3.0/mlflow/traces"
OTLP = "/v1/traces"
CLIENT_HEADERS = {"User-Agent": "mlflow-python-client/3.17.2", "X-MLflow-Client-Version": "3.17.2"}
TRACE_ID_ATTRIBUTE = "mlflow.traceRequestId"
SIZE_STATS = "mlflow.trace.sizeStats"  # trace metadata: the client's count of the trace's spans
TAG_ATTRIBUTE = "mlflow.traceTag."  # a trace tag carried by the root span over OTLP
FILTER = "tag.env = 'prod' AND trace.status = 'OK'"
ORDER_BY = ["timestamp_ms DESC"]
ENVS = ("prod", "dev", "staging")
SEED_BATCH = 500  # traces per OTLP request while seeding
SEED_CLIENTS = 4
BASE_MS = 1_700_000_000_000  # seeded trace i starts at BASE_MS + i seconds
CPU_CALLS, CPU_SECONDS = 200, 20  # calls the server's CPU per search or get_trace is divided by, at most
RETRIES = 3  # like the official client, 5xx and 429 answers are retried
FULL = {"traces": 1000, "warmup": 20, "search_traces": 100_000, "checkpoint": 10_000, "big_spans": 1000,
        "repeats": 20, "budget": 300}
QUICK = {"traces": 200, "warmup": 5, "search_traces": 5_000, "checkpoint": 1_000, "big_spans": 1000,
         "repeats": 5, "budget": 120}


# --------------------------------------------------------------------------- the client's shape


def capture(url):
    """Child process (--capture URL): the official client logs one 10-span trace to URL; prints
    what it sent as JSON: the StartTraceV3 body, and the OTLP resource and spans (base64)."""
    os.environ.update(MLFLOW_TRACKING_URI=url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    sent = []
    original = requests.Session.request

    def record(self, method, address, *args, **kwargs):
        sent.append((address, kwargs.get("json"), kwargs.get("data")))
        return original(self, method, address, *args, **kwargs)

    requests.Session.request = record
    import mlflow

    mlflow.set_experiment(f"bench-trace-capture-{uuid.uuid4().hex[:8]}")

    @mlflow.trace(span_type="CHAIN")
    def answer(question):
        for i, kind in enumerate(("RETRIEVER", "EMBEDDING", "RERANKER", "LLM", "TOOL", "PARSER", "CHAT_MODEL",
                                  "AGENT", "LLM")):
            with mlflow.start_span(f"step-{i}", span_type=kind) as span:
                span.set_inputs({"question": question, "step": i, "context": ["doc-a", "doc-b"]})
                span.set_attribute("model", "bench-model")
                span.set_outputs({"text": f"partial answer {i}", "tokens": 42})
        return "The answer is 42."

    answer("What is the answer?")
    mlflow.flush_trace_async_logging()
    start = next((body for address, body, _ in sent if address.endswith(TRACES_V3)), None)
    exports = [data for address, _, data in sent if address.endswith(OTLP)]
    if start is None or not exports:
        raise SystemExit(f"capture: the client sent no StartTraceV3 or no OTLP request to {url}")
    resource, spans = None, []
    for data in exports:  # the client's span batches, merged: the bench sends a trace's spans at once
        request = ExportTraceServiceRequest.FromString(data)
        for resource_spans in request.resource_spans:
            resource = resource or resource_spans.resource.SerializeToString()
            spans += [s.SerializeToString() for scope in resource_spans.scope_spans for s in scope.spans]
    print(json.dumps({"start": start, "resource": base64.b64encode(resource).decode(),
                      "spans": [base64.b64encode(s).decode() for s in spans]}))


def captured_template(url):
    """What the official client sends for one trace, recorded by a child process (see capture)."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--capture", url], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"capturing the client's trace failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def iso_ms(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def epoch_ms(text):
    """Milliseconds of a protobuf JSON Timestamp ("...T01:02:03Z", 0 to 9 fraction digits)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + int((fraction + "000")[:3])


class Traces:
    """New traces shaped like the captured one: new trace and span ids, times, tags, status."""

    def __init__(self, template, experiment_id):
        self.experiment_id = experiment_id
        self.start = template["start"]["trace"]["trace_info"]
        self.resource = base64.b64decode(template["resource"])
        self.spans = [Span.FromString(base64.b64decode(s)) for s in template["spans"]]
        roots = [s for s in self.spans if not s.parent_span_id]
        if len(roots) != 1:
            raise BenchError(f"captured trace has {len(roots)} root spans")
        self.root = roots[0]
        self.children = [s for s in self.spans if s.parent_span_id]
        self.t0 = min(s.start_time_unix_nano for s in self.spans)

    def spans_of(self, start_ms, span_count, tags, ok):
        """(mlflow trace id, Span messages) of a new trace of span_count spans: the captured root and
        its children (cycled when more are asked for), all children under the root."""
        trace_id = os.urandom(16)
        mlflow_id = "tr-" + trace_id.hex()
        root_id = os.urandom(8)
        shift = start_ms * 1_000_000 - self.t0
        spans = []
        for n in range(span_count):
            span = Span()
            span.CopyFrom(self.root if n == 0 else self.children[(n - 1) % len(self.children)])
            span.trace_id = trace_id
            span.span_id = root_id if n == 0 else os.urandom(8)
            span.parent_span_id = b"" if n == 0 else root_id
            span.start_time_unix_nano += shift
            span.end_time_unix_nano += shift
            for attribute in span.attributes:
                if attribute.key == TRACE_ID_ATTRIBUTE:
                    attribute.value.string_value = mlflow_id
            if n == 0:
                span.status.code = Status.STATUS_CODE_OK if ok else Status.STATUS_CODE_ERROR
                for key, value in tags.items():
                    span.attributes.append(KeyValue(key=TAG_ATTRIBUTE + key)).value.string_value = value
            spans.append(span)
        return mlflow_id, spans

    def otlp(self, span_lists):
        """One ExportTraceServiceRequest of the spans of several traces, serialized."""
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.ParseFromString(self.resource)
        scope = resource_spans.scope_spans.add()
        for spans in span_lists:
            scope.spans.extend(spans)
        return request.SerializeToString()

    def client_trace(self, start_ms, span_count=10):
        """(trace id, StartTraceV3 body, OTLP body) of one trace, as the client sends it."""
        mlflow_id, spans = self.spans_of(start_ms, span_count, {}, True)
        info = copy.deepcopy(self.start)
        if SIZE_STATS in info.get("trace_metadata", {}):  # servers wait for this many spans
            stats = json.loads(info["trace_metadata"][SIZE_STATS])
            info["trace_metadata"][SIZE_STATS] = json.dumps({**stats, "num_spans": span_count})
        info.update(trace_id=mlflow_id, request_time=iso_ms(start_ms),
                    trace_location={"type": "MLFLOW_EXPERIMENT",
                                    "mlflow_experiment": {"experiment_id": self.experiment_id}})
        return mlflow_id, json.dumps({"trace": {"trace_info": info}}).encode(), self.otlp([spans])


# --------------------------------------------------------------------------- HTTP


def send(session, url, method, path, what, **kwargs):
    """One request; 5xx and 429 retried like the official client does. Returns (response, retries)."""
    for attempt in range(RETRIES + 1):
        try:
            response = session.request(method, url + path, timeout=300, **kwargs)
        except requests.RequestException as e:
            raise BenchError(f"{what}: {type(e).__name__}") from None
        if response.status_code == 200:
            return response, attempt
        if response.status_code < 500 and response.status_code != 429 or attempt == RETRIES:
            try:
                code = response.json().get("error_code", "")
            except ValueError:
                code = response.text[:80]
            raise BenchError(f"{what}: HTTP {response.status_code} {code}".strip())
        time.sleep(0.1 * 2 ** attempt)


def new_session():
    session = requests.Session()
    session.trust_env = False
    session.headers.update(CLIENT_HEADERS)
    return session


def log_trace(session, url, experiment_id, trace):
    """StartTraceV3, then the spans over OTLP, as the client does. Returns the retries needed."""
    _, start_body, otlp_body = trace
    _, retried = send(session, url, "POST", TRACES_V3, "StartTraceV3", data=start_body,
                      headers={"Content-Type": "application/json"})
    _, retried_too = send(session, url, "POST", OTLP, "OTLP /v1/traces", data=otlp_body,
                          headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id})
    return retried + retried_too


def ingest_worker(url, experiment_id, warmup, traces, deadline, barrier, results):
    """One client process: warm up, wait for the others, send its traces; reports (start, end,
    traces sent, retries, its CPU seconds, None) or an error last."""
    try:
        session = new_session()
        for trace in warmup:
            log_trace(session, url, experiment_id, trace)
        barrier.wait(timeout=300)
        started, cpu, sent, retries = time.time(), time.process_time(), 0, 0
        for trace in traces:
            if time.time() > deadline:
                break
            retries += log_trace(session, url, experiment_id, trace)
            sent += 1
        results.put((started, time.time(), sent, retries, time.process_time() - cpu, None))
    except Exception as e:  # reported to the parent, which puts it into the table's cell
        barrier.abort()
        results.put((0, 0, 0, 0, 0, str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"))


def ingest(url, factory, clients, count, warmup, budget, cpu_clock):
    """count traces from `clients` processes at once: (traces/s, detail, server CPU ms per trace)."""
    first = int(time.time() * 1000)
    traces = [factory.client_trace(first + i) for i in range(count + warmup * clients)]
    context = multiprocessing.get_context("spawn")  # no fork of a process holding sessions
    barrier, results = context.Barrier(clients + 1), context.Queue()
    deadline = time.time() + budget + 60  # the workers' clock starts after their start-up
    shares = [traces[warmup * clients + c::clients] for c in range(clients)]
    workers = [context.Process(target=ingest_worker, daemon=True, args=(
        url, factory.experiment_id, traces[warmup * c:warmup * (c + 1)], shares[c], deadline, barrier, results))
        for c in range(clients)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=600)
    except threading.BrokenBarrierError:
        pass  # a worker failed in its warm-up; its error is in results
    cpu = cpu_clock() if cpu_clock else None
    reports = [results.get(timeout=budget + 900) for _ in workers]
    cpu_ms = (cpu_clock() - cpu) * 1000 if cpu_clock else None
    for worker in workers:
        worker.join(timeout=30)
    errors = [r[5] for r in reports if r[5]]
    if errors:
        raise BenchError(errors[0])
    sent = sum(r[2] for r in reports)
    seconds = max(r[1] for r in reports) - min(r[0] for r in reports)
    detail = {"traces": sent, "seconds": round(seconds, 2), "retries": sum(r[3] for r in reports),
              "client_cpu_ms_per_trace": round(sum(r[4] for r in reports) * 1000 / sent, 2)}
    if sent < count:
        detail["partial"] = f"{sent} of {count} within the time budget"
    return sent / seconds, detail, cpu_ms / sent if cpu_ms is not None else None


# --------------------------------------------------------------------------- search


def seeded(i):
    """Tags and status of seeded trace i: env cycles over ENVS, every tenth trace is an error."""
    return {"env": ENVS[i % len(ENVS)]}, i % 10 != 7


def expected_top(count, limit=100):
    """Request times (ms) of the first `limit` traces the filtered search must return, newest first."""
    matching = (BASE_MS + i * 1000 for i in range(count - 1, -1, -1)
                if seeded(i)[0]["env"] == "prod" and seeded(i)[1])
    return [t for t, _ in zip(matching, range(limit))]


class Seeder:
    """Seeds root-span traces [done, upto) of one experiment in OTLP batches, several clients at once."""

    def __init__(self, url, factory):
        self.url, self.factory = url, factory
        self.done, self.seconds = 0, 0.0
        self.local = threading.local()

    def seed_batch(self, first, last):
        if not hasattr(self.local, "session"):
            self.local.session = new_session()
        span_lists = []
        for i in range(first, last):
            tags, ok = seeded(i)
            span_lists.append(self.factory.spans_of(BASE_MS + i * 1000, 1, tags, ok)[1])
        headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": self.factory.experiment_id}
        send(self.local.session, self.url, "POST", OTLP, "seeding OTLP /v1/traces", data=self.factory.otlp(span_lists),
             headers=headers)

    def seed(self, upto, deadline):
        started = time.perf_counter()
        batches = [(n, min(n + SEED_BATCH, upto)) for n in range(self.done, upto, SEED_BATCH)]

        def one(batch):
            if time.monotonic() > deadline:
                raise BenchError(f"seeding took over the time budget (at {batch[0]} traces)")
            self.seed_batch(*batch)

        with ThreadPoolExecutor(SEED_CLIENTS) as pool:
            list(pool.map(one, batches))
        self.seconds += time.perf_counter() - started
        self.done = upto


def search_top(session, url, experiment_id, expected):
    """traces/search as mlflow.search_traces sends it (which then reads the page's spans with
    batchGet, not measured); the answer is checked against the seed."""
    body = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}],
            "filter": FILTER, "max_results": len(expected), "order_by": ORDER_BY}
    response, _ = send(session, url, "POST", TRACES_V3 + "/search", "traces/search", json=body)
    infos = response.json().get("traces") or []
    got = [epoch_ms(t["request_time"]) for t in infos]
    if got != expected:
        raise BenchError(f"traces/search: wrong answer ({len(got)} traces, expected {len(expected)})")
    if any(t.get("state") != "OK" or (t.get("tags") or {}).get("env") != "prod" for t in infos):
        raise BenchError("traces/search: a trace that does not match the filter")


def timed(function, repeats, cpu_clock):
    """One untimed call, then `repeats` timed ones: (median ms, all timings, server CPU ms per call
    or None). With the server's CPU clock it calls on, up to CPU_CALLS calls or CPU_SECONDS, as the
    clock ticks in 10 ms per process."""
    function()
    cpu, times = cpu_clock() if cpu_clock else None, []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    calls, stop = repeats, time.monotonic() + CPU_SECONDS
    while cpu_clock and calls < CPU_CALLS and time.monotonic() < stop:
        function()
        calls += 1
    cpu_ms = (cpu_clock() - cpu) * 1000 / calls if cpu_clock else None
    return statistics.median(times), [round(t, 2) for t in times], cpu_ms


def measure_search(name, seeder, repeats, rows, tag, cpu_clock):
    session, expected = new_session(), expected_top(seeder.done)
    ms, times, cpu_ms = timed(lambda: search_top(session, seeder.url, seeder.factory.experiment_id, expected),
                              repeats, cpu_clock)
    rows[f"search_{tag}"][name] = {"value": ms, "detail": {"traces": seeder.done, "ms": times}}
    if cpu_ms is not None:
        rows[f"search_cpu_{tag}"][name] = {"value": cpu_ms}
    print(f"  {name} @ {seeder.done} traces: search top 100 {ms:.1f} ms", file=sys.stderr)


# --------------------------------------------------------------------------- get_trace


def measure_get_trace(name, url, factory, span_count, repeats, rows, cpu_clock):
    session = new_session()
    trace = factory.client_trace(int(time.time() * 1000), span_count)
    log_trace(session, url, factory.experiment_id, trace)
    trace_id = trace[0]

    def get():
        response, _ = send(session, url, "GET", TRACES_V3 + "/get", "traces/get",
                           params={"trace_id": trace_id, "allow_partial": "False"})
        spans = (response.json().get("trace") or {}).get("spans") or []
        if len(spans) != span_count:
            raise BenchError(f"traces/get returned {len(spans)} of {span_count} spans")

    ms, times, cpu_ms = timed(get, repeats, cpu_clock)
    rows["get_trace"][name] = {"value": ms, "detail": {"spans": span_count, "ms": times}}
    if cpu_ms is not None:
        rows["get_trace_cpu"][name] = {"value": cpu_ms}
    print(f"  {name}: traces/get of {span_count} spans {ms:.1f} ms", file=sys.stderr)


# --------------------------------------------------------------------------- main


def row_specs(sizes, clients):
    """Row key -> (label, unit, higher is better), as report.print_table takes them."""
    return {
        "ingest_1": (f"ingest x{sizes['traces']} 10-span traces, 1 client", "traces/s", True),
        "ingest_1_cpu": ("  server CPU per trace", "ms", False),
        f"ingest_{clients}": (f"ingest x{sizes['traces']} 10-span traces, {clients} clients", "traces/s", True),
        f"ingest_{clients}_cpu": ("  server CPU per trace", "ms", False),
        "seed": (f"seeding {sizes['search_traces']} traces, OTLP batches of {SEED_BATCH}", "traces/s", True),
        "search_small": (f"{sizes['checkpoint']} traces: search top 100, median", "ms", False),
        "search_cpu_small": ("  server CPU per search", "ms", False),
        "search_full": (f"{sizes['search_traces']} traces: search top 100, median", "ms", False),
        "search_cpu_full": ("  server CPU per search", "ms", False),
        "get_trace": (f"get_trace of {sizes['big_spans']} spans, median", "ms", False),
        "get_trace_cpu": ("  server CPU per get_trace", "ms", False),
    }


def run(names, urls, clocks, template, sizes, clients, rows, backends):
    """The scenarios, server after server within each, so they never compete for the CPU."""
    from scale import vacuum_analyze

    def each(what, keys, function):
        """function(name) for each server; an error goes into the cells of `keys` not yet filled."""
        for name in names:
            if any("error" in rows[key].get(name, {}) for key in keys):
                continue  # failed at an earlier size
            print(f"[{what}] {name} ...", file=sys.stderr)
            try:
                function(name)
            except BenchError as e:
                print(f"  {name}: error: {e}", file=sys.stderr)
                for key in keys:
                    rows[key].setdefault(name, {"error": str(e)})

    factories = {}
    for name in names:
        factories[name] = Traces(template, Client(urls[name]).new_experiment("traces"))

    for n in (1, clients):
        def ingestion(name, n=n):
            rate, detail, cpu = ingest(urls[name], factories[name], n, sizes["traces"], sizes["warmup"],
                                       sizes["budget"], clocks.get(name))
            rows[f"ingest_{n}"][name] = {"value": rate, "detail": detail}
            if cpu is not None:
                rows[f"ingest_{n}_cpu"][name] = {"value": cpu}
            print(f"  {name}: {rate:.1f} traces/s from {n} client(s) {detail}", file=sys.stderr)
        each(f"ingest {n}", [f"ingest_{n}", f"ingest_{n}_cpu"], ingestion)

    seeders = {name: Seeder(urls[name], Traces(template, Client(urls[name]).new_experiment("trace-search")))
               for name in names}
    for tag, count in (("small", sizes["checkpoint"]), ("full", sizes["search_traces"])):
        def search(name, tag=tag, count=count):
            seeders[name].seed(count, time.monotonic() + 10 * sizes["budget"])
            if backends.get(name, "").startswith("postgresql"):
                vacuum_analyze(backends[name])
            measure_search(name, seeders[name], sizes["repeats"], rows, tag, clocks.get(name))
        each(f"search {count}", ["seed", "search_small", "search_cpu_small", "search_full", "search_cpu_full"],
             search)
    for name in names:
        if seeders[name].done == sizes["search_traces"] and name not in rows["seed"]:
            rows["seed"][name] = {"value": seeders[name].done / seeders[name].seconds,
                                  "detail": {"seconds": round(seeders[name].seconds, 1)}}

    each("get_trace", ["get_trace", "get_trace_cpu"], lambda name: measure_get_trace(
        name, urls[name], factories[name], sizes["big_spans"], sizes["repeats"], rows, clocks.get(name)))


# --------------------------------------------------------------------------- profile


class InProcess:
    """The part of requests.Session the bench uses, over Flask's test client (for --profile); the
    CPU time of the app's side of each request (not the bench's) is counted, and profiled on demand."""

    def __init__(self, app):
        self.client = app.test_client()
        self.profiler, self.cpu = None, 0.0
        wsgi_app = app.wsgi_app

        def measured(environ, start_response):
            started = time.process_time()
            if self.profiler:
                self.profiler.enable()
            try:
                return wsgi_app(environ, start_response)
            finally:
                if self.profiler:
                    self.profiler.disable()
                self.cpu += time.process_time() - started

        app.wsgi_app = measured

    def measure(self, profiler):
        """Count the app's CPU time from now on, from zero; profile it too with a cProfile.Profile."""
        self.profiler, self.cpu = profiler, 0.0

    def request(self, method, path, timeout=None, params=None, **kwargs):
        response = self.client.open(path, method=method, query_string=params, **kwargs)
        return SimpleNamespace(status_code=response.status_code, json=response.get_json,
                               text=response.get_data(as_text=True))


def profile(results, count, top):
    """--profile: our server in-process (run with .venv), each scenario's requests under cProfile;
    prints the server's own functions (app/) by cumulative time, then all functions by own time.
    The client's trace comes from the results JSON of an earlier run."""
    sys.path.insert(0, os.path.dirname(BENCH_DIR))
    from app.factory import create_app
    from app.options import Settings
    from app.server import prepare

    with open(results) as f:
        template = json.load(f)["template"]
    data = tempfile.mkdtemp(prefix="mlflow-trace-profile-")
    try:
        app = create_app(prepare(Settings(backend_store_uri=f"sqlite:///{data}/mlflow.db",
                                          artifacts_destination=f"{data}/mlartifacts", log_level="warning")))
        session = InProcess(app)

        def new_traces(name):
            response, _ = send(session, "", "POST", "/api/2.0/mlflow/experiments/create", "experiments/create",
                               json={"name": name})
            return Traces(template, response.json()["experiment_id"])

        factory = new_traces("ingest")
        traces = iter([factory.client_trace(BASE_MS + i) for i in range(2 * count + 1)])
        seeder = Seeder("", new_traces("search"))
        seeder.local.session = session
        for first in range(0, 10 * count, SEED_BATCH):
            seeder.seed_batch(first, first + SEED_BATCH)
        seeder.done = 10 * count
        expected = expected_top(seeder.done)
        big = factory.client_trace(BASE_MS, 1000)
        log_trace(session, "", factory.experiment_id, big)

        def get_big():
            send(session, "", "GET", TRACES_V3 + "/get", "traces/get", params={"trace_id": big[0]})

        for name, function, calls in (
                ("ingest (StartTraceV3 + OTLP of 10 spans)",
                 lambda: log_trace(session, "", factory.experiment_id, next(traces)), count),
                (f"search top 100 of {seeder.done} traces",
                 lambda: search_top(session, "", seeder.factory.experiment_id, expected), count // 10),
                ("get_trace of 1000 spans", get_big, max(1, count // 50))):
            function()
            cpu = []
            for profiler in (None, cProfile.Profile()):  # first the CPU without the profiler's overhead
                session.measure(profiler)
                for _ in range(calls):
                    function()
                cpu.append(session.cpu * 1000 / calls)
            session.measure(None)
            print(f"\n=== {name}: {calls} calls, {cpu[0]:.2f} ms of server CPU each ({cpu[1]:.2f} ms under the "
                  f"profiler)")
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(f"{os.sep}app{os.sep}", top)
            stats.sort_stats("tottime").print_stats(top)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    if sys.argv[1:2] == ["--capture"]:
        return capture(sys.argv[2])
    parser = argparse.ArgumentParser(description="Tracing side by side: ingestion, search_traces, get_trace.")
    parser.add_argument("--target", action="append", default=[], type=parse_target, metavar="NAME=URL")
    parser.add_argument("--start-ours", action="store_true")
    parser.add_argument("--start-official", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="backend store of started servers (postgresql: a new database on 127.0.0.1:5432)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes of started servers")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the second ingestion row")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--profile", metavar="RESULTS_JSON",
                        help="no servers: profile ours in-process (run with .venv/bin/python) on the client's "
                             "trace recorded in the results of an earlier run")
    parser.add_argument("--profile-calls", type=int, default=500, help="ingestions profiled (searches: a tenth)")
    parser.add_argument("--profile-top", type=int, default=25, help="functions shown per profile")
    for key, value in FULL.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int, help=f"default {value} ({QUICK[key]} --quick)")
    args = parser.parse_args()
    sizes = {key: getattr(args, key) or value for key, value in (QUICK if args.quick else FULL).items()}
    if args.profile:
        return profile(args.profile, args.profile_calls, args.profile_top)

    names = (["ours"] if args.start_ours else []) + [n for n, _ in args.target]
    names += ["official"] if args.start_official else []
    if not names:
        parser.error("give --target, --start-ours or --start-official")
    from scale import create_pg_database, drop_pg_database
    databases, backends = {}, {}
    if args.backend == "postgresql":
        for name in ("ours",) * args.start_ours + ("official",) * args.start_official:
            databases[name] = f"bench_trace_{name}_{uuid.uuid4().hex[:8]}"
            # SQLAlchemy 2.1 takes postgresql:// to mean psycopg 3; the official venv has psycopg2
            backends[name] = create_pg_database(databases[name]).replace(
                "postgresql://", "postgresql+psycopg2://" if name == "official" else "postgresql://", 1)
    if args.start_official:
        setup_official()
    servers = ([ours_server(args.workers, backends.get("ours"))] if args.start_ours else [])
    servers += [official_server(args.workers, backends.get("official"))] if args.start_official else []

    specs = row_specs(sizes, args.clients)
    rows = {key: {} for key in specs}
    template = None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    interrupt_on_signals()
    try:
        for server in servers:
            server.start()
        urls = dict(args.target) | {s.name: s.url for s in servers}
        clocks = {s.name: s.cpu_seconds for s in servers}
        template = captured_template(urls[names[-1]])
        print(f"captured the client's trace: {len(template['spans'])} spans", file=sys.stderr)
        run(names, urls, clocks, template, sizes, args.clients, rows, backends)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        for server in servers:
            server.stop(keep_data=args.keep_data)
        if not args.keep_data:
            for database in databases.values():
                drop_pg_database(database)

    print(f"\nbackend {args.backend}, {args.workers} workers; filter {FILTER!r}, order_by {ORDER_BY}\n")
    print_table(names, rows, specs)
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    out = os.path.join(BENCH_DIR, "results", f"traces-{args.backend}-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"args": vars(args) | {"target": args.target}, "sizes": sizes, "databases": databases,
                   "template": template,
                   "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
                   "rows": {k: v for k, v in rows.items() if v}}, f, indent=2)
    print(f"\nresults: {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
