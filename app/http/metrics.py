"""Prometheus metrics at /metrics, with MLFLOW_EXPOSE_PROMETHEUS (docs/metrics.md lists them).

The server (app/server.py, app/factory.py) imports this module only when that option is set, so
without it no prometheus_client is imported and no hook runs. With basic-auth, only admins may
read /metrics, as on the official server (its basic-auth refuses routes no permission covers).

Across gunicorn workers, with prometheus_client's multiprocess mode: each worker writes its
counters, histograms and gauges to memory-mapped files of its own in the directory, and the
worker that answers a scrape adds up every worker's files. prometheus_client chooses that mode
when it is first imported, from PROMETHEUS_MULTIPROC_DIR: `prepare` sets it in the gunicorn
master, before any worker is forked and before anything imports prometheus_client, and removes
the files a previous server left there. Counters of a worker that exited stay (a counter never
goes down); its pool gauges go with it (`worker_exited`, gunicorn's child_exit hook).

In each worker (`install`):
- an after_request hook, registered before the security and auth hooks so that it runs after
  theirs and sees the final status (after_request hooks run in reverse), counts each request
  and observes its latency under (method, the route's template, status); the clock starts as
  the request enters the Flask app (a WSGI wrapper).
  Each label set's children are looked up once and kept, so a request costs a dict lookup and
  three writes to the mapped file. /health, /version and /metrics are left out, as the
  official server leaves them out;
- a thread reads the database pools' use every POOL_SECONDS into gauges (nothing per request);
- the experiment, run and trace counts are three GROUP BY queries made when a scrape asks for
  them, at most once per COUNT_SECONDS in each worker, whatever the scrape rate;
- the artifact routes (app/http/artifacts.py) add the bytes they take in and send out through
  app.extensions["artifact_bytes"].
Metric names are the official server's where it has them (prometheus_flask_exporter with the
"mlflow" prefix); the route label is ours, added to them.
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from pathlib import Path
from time import perf_counter

from flask import Flask, Response, request

from .. import MLFLOW_API_VERSION
from ..errors import MlflowError
from ..options import Settings
from ..store import counts
from ..store.db import Database
from ..store.schema import ACTIVE, DELETED
from .access import ADMIN_ONLY
from .api import add_view

log = logging.getLogger(__name__)

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
POOL_SECONDS = 1.0
COUNT_SECONDS = 15.0
# prometheus_client's default latency buckets, with two below 5 ms, where most API calls end
BUCKETS = (.001, .0025, .005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))  # others: "other"
METRIC_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")  # prometheus_client's, by pid
UNMATCHED = "unmatched"  # the route of a request that matched none (a 404)
_STARTED = "mlflow_server.started"  # the environ key of the request's start


def prepare(directory: str) -> None:
    """In the gunicorn master, before the workers: the directory, without the metric files of
    a previous run, named in PROMETHEUS_MULTIPROC_DIR for the workers. Raises OSError, and
    ValueError for a directory with other *.db files (a scrape reads every *.db file there;
    they are not removed, as they might be a database)."""
    os.makedirs(directory, exist_ok=True)
    found = list(Path(directory).glob("*.db"))
    if others := sorted(path.name for path in found if not METRIC_FILE.fullmatch(path.name)):
        raise ValueError(f"it holds other files than metrics ({', '.join(others[:3])}): "
                         "give the metrics a directory of their own")
    for stale in found:
        stale.unlink()
    os.environ[DIRECTORY_VARIABLE] = os.path.abspath(directory)


def worker_exited(server, worker) -> None:
    """gunicorn's child_exit hook: the worker's live gauges (its pools) go."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def install(app: Flask, settings: Settings, databases: dict[str, Database], prefix: str) -> None:
    """In a worker: the request hooks, the pool sampler, artifact byte counters and /metrics.
    databases: the app's, by URI."""
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector

    answered = Counter("mlflow_http_request_total", "Total number of HTTP requests",
                       ("method", "route", "status"), registry=None)
    failures = Counter("mlflow_http_request_exceptions_total",
                       "Total number of HTTP requests answered 500 (an unexpected error)",
                       ("method", "route", "status"), registry=None)
    latency = Histogram("mlflow_http_request_duration_seconds", "HTTP request duration in seconds",
                        ("method", "route", "status", "mlflow_version"), buckets=BUCKETS, registry=None)
    series: dict[tuple, tuple] = {}  # (method, route, status) -> its children
    # where the official server has /metrics, and under the static prefix as every other route
    paths = dict.fromkeys(("/metrics", f"{prefix}/metrics"))
    uncounted = frozenset(("health", "version", *(f"metrics {path}" for path in paths)))  # endpoints

    def children(method: str, route: str, status: int) -> tuple:
        labels = (method, route, str(status))
        return (answered.labels(*labels), latency.labels(*labels, MLFLOW_API_VERSION),
                failures.labels(*labels) if status == 500 else None)

    wsgi_app = app.wsgi_app

    def timed(environ, start_response):
        environ[_STARTED] = perf_counter()
        return wsgi_app(environ, start_response)
    app.wsgi_app = timed

    @app.after_request
    def record(response: Response) -> Response:
        current = request._get_current_object()  # once: each look through the proxy costs
        rule = current.url_rule
        if rule is not None and rule.endpoint in uncounted:
            return response
        method = current.method
        key = (method if method in METHODS else "other", rule.rule if rule else UNMATCHED, response.status_code)
        found = series.get(key)
        if found is None:
            found = series[key] = children(*key)
        found[0].inc()
        found[1].observe(perf_counter() - current.environ[_STARTED])
        if found[2] is not None:
            found[2].inc()
        return response

    upload = Counter("mlflow_artifact_upload_bytes_total", "Bytes of artifacts uploaded through the server",
                     registry=None)
    download = Counter("mlflow_artifact_download_bytes_total", "Bytes of artifacts downloaded through the server",
                       registry=None)
    byte_counters = {"upload": upload, "download": download}
    app.extensions["artifact_bytes"] = lambda direction, size: byte_counters[direction].inc(size)

    _start_pool_sampler(_database_names(settings, databases))

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    if not settings.artifacts_only:
        registry.register(_Counts(databases[settings.backend_store_uri]))

    def scrape():  # in the format the scraper asks for, of the metrics it names (name[]), as officially
        encode, content_type = choose_encoder(request.headers.get("Accept"))
        names = request.args.getlist("name[]")
        return Response(encode(registry.restricted_registry(names) if names else registry), content_type=content_type)

    for path in paths:
        add_view(app, path, f"metrics {path}", scrape, ["GET"], ADMIN_ONLY)


def _database_names(settings: Settings, databases: dict[str, Database]) -> dict[str, Database]:
    """The databases by the role that names them in the pool gauges: backend, registry or auth
    (the first of these that a database serves), and backend_replica for a read replica."""
    roles = (("backend", settings.backend_store_uri), ("registry", settings.registry_store_uri),
             ("auth", settings.auth_database_uri))
    named: dict[str, Database] = {}
    for role, uri in roles:
        if uri in databases and databases[uri] not in named.values():
            named[role] = databases[uri]
            if databases[uri].replica is not None:
                named[f"{role}_replica"] = databases[uri].replica
    return named


def _start_pool_sampler(databases: dict[str, Database]) -> None:
    """A thread that sets the pool gauges of this worker every POOL_SECONDS (QueuePool, the
    default; other pool classes have no size to report and are left out)."""
    from prometheus_client import Gauge
    from sqlalchemy.pool import QueuePool

    def gauge(name: str, text: str) -> Gauge:  # one series per worker (pid), gone when it exits
        return Gauge(name, text, ("database",), multiprocess_mode="liveall", registry=None)

    size = gauge("mlflow_db_pool_size", "Connections the pool keeps open (pool size)")
    checked_out = gauge("mlflow_db_pool_checked_out", "Connections in use by requests")
    overflow = gauge("mlflow_db_pool_overflow", "Connections open beyond the pool size")
    pools = [(name, database.engine.pool) for name, database in databases.items()
             if isinstance(database.engine.pool, QueuePool)]

    def sample():
        while True:
            for name, pool in pools:
                size.labels(name).set(pool.size())
                checked_out.labels(name).set(pool.checkedout())
                overflow.labels(name).set(max(0, pool.overflow()))
            time.sleep(POOL_SECONDS)

    if pools:
        threading.Thread(target=sample, name="metrics-pool-sampler", daemon=True).start()


class _Counts:
    """A collector of the experiment, run and trace counts by lifecycle stage (a trace's is its
    experiment's), read from the database at most once per COUNT_SECONDS; while the database
    does not answer they are left out."""

    def __init__(self, database: Database):
        self.database = database
        self.lock = threading.Lock()
        self.read_at = -math.inf
        self.counts: dict | None = None

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        with self.lock:  # concurrent scrapes of a worker wait for one read
            if time.monotonic() - self.read_at >= COUNT_SECONDS:
                self.read_at = time.monotonic()
                try:
                    self.counts = counts.by_lifecycle_stage(self.database)
                except MlflowError as error:
                    log.warning("/metrics: no experiment, run and trace counts: %s", error.message)
                    self.counts = None
            found = self.counts
        for name, text in (("experiments", "Experiments by lifecycle stage"), ("runs", "Runs by lifecycle stage"),
                           ("traces", "Traces by the lifecycle stage of their experiment")):
            if found is not None:
                family = GaugeMetricFamily(f"mlflow_{name}", text, labels=("lifecycle_stage",))
                for stage, count in {ACTIVE: 0, DELETED: 0, **found[name]}.items():
                    family.add_metric((stage,), count)
                yield family
