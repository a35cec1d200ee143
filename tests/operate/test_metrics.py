"""Prometheus metrics (MLFLOW_EXPOSE_PROMETHEUS): a server of two gunicorn workers driven by the
official client and plain HTTP, then /metrics read as Prometheus reads it. Every scrape, whichever
worker answers it, adds up the requests of both; latencies are per route template and status;
artifact bytes match the files sent; the experiment, run and trace counts match the API's. A worker
that dies takes its pool gauges along and leaves its counts. Without the option /metrics is a
404; with basic-auth only admins read it."""
from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import BACKENDS, started_server, unique

RUNS_GET = "/api/2.0/mlflow/runs/get"
ARTIFACT = "/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>"
SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_env(tmp: Path) -> dict:
    return {"MLFLOW_EXPOSE_PROMETHEUS": str(tmp / "prometheus"), "MLFLOW_WORKERS": "2"}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """The module's server, with metrics on."""
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    with started_server(request.param, tmp, metrics_env(tmp)) as srv:
        srv.metrics_dir = tmp / "prometheus"
        yield srv


class Scrape:
    """One read of /metrics: its samples, summed over those whose labels include the given."""

    def __init__(self, url: str, **kw):
        response = requests.get(f"{url}/metrics", timeout=30, **kw)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")  # what Prometheus reads
        self.samples = []
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, labels, value = SAMPLE.match(line).groups()
                self.samples.append((name, dict(LABEL.findall(labels or "")), float(value)))

    def total(self, name: str, **labels) -> float:
        return sum(value for n, found, value in self.samples
                   if n == name and all(found.get(k) == v for k, v in labels.items()))

    def labels(self, name: str, label: str) -> set[str]:
        return {found[label] for n, found, _ in self.samples if n == name and label in found}


def send(url: str, count: int) -> None:
    """count GETs of the URL, each on a connection of its own, 8 at a time (spread over workers)."""
    def get(_):
        return requests.get(url, timeout=30, headers={"Connection": "close"}).status_code
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, range(count)))


def pids_that_counted(directory: Path, route: str) -> set[str]:
    """The workers whose counter file (prometheus_client's, one per process) has the route."""
    return {path.stem.split("_")[-1] for path in directory.glob("counter_*.db") if route.encode() in path.read_bytes()}


def test_requests_are_counted_per_route_and_status_across_workers(server):
    run_id = requests.post(f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"},
                           timeout=30).json()["run"]["info"]["run_id"]
    before = Scrape(server.url)
    found, missing = 0, 0
    while len(pids_that_counted(server.metrics_dir, RUNS_GET)) < 2 or found < 100:  # both workers served some
        assert found < 1000, "the requests all went to one worker"
        send(f"{server.url}{RUNS_GET}?run_id={run_id}", 50)
        send(f"{server.url}{RUNS_GET}?run_id=no-such-run", 10)
        found, missing = found + 50, missing + 10
    for _ in range(6):  # answered by one worker or the other: each adds up both
        after = Scrape(server.url, headers={"Connection": "close"})
        for status, sent in (("200", found), ("404", missing)):
            labels = {"method": "GET", "route": RUNS_GET, "status": status}
            assert after.total("mlflow_http_request_total", **labels) - \
                before.total("mlflow_http_request_total", **labels) == sent
            assert after.total("mlflow_http_request_duration_seconds_count", **labels) - \
                before.total("mlflow_http_request_duration_seconds_count", **labels) == sent
            assert after.total("mlflow_http_request_duration_seconds_bucket", le="+Inf", **labels) == \
                after.total("mlflow_http_request_duration_seconds_count", **labels)
            assert after.total("mlflow_http_request_duration_seconds_sum", **labels) > 0
    routes = after.labels("mlflow_http_request_total", "route")
    assert RUNS_GET in routes
    assert all(route.startswith("/") or route == "unmatched" for route in routes)
    assert not any(run_id in route or "no-such-run" in route for route in routes)  # templates, never paths
    assert after.labels("mlflow_http_request_duration_seconds_count", "mlflow_version")  # as the official
    assert not routes & {"/health", "/metrics"}  # left out, as officially
    assert len(after.labels("mlflow_db_pool_size", "pid")) == 2
    assert after.total("mlflow_db_pool_size", database="backend") == 2 * 5  # the default pool, per worker


def test_official_client_workflow_and_artifact_bytes(server, tmp_path, monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = mlflow.MlflowClient(server.url)
    before = Scrape(server.url)
    run = client.create_run(client.create_experiment(unique()))
    for step in range(5):
        client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    sizes = {"model.bin": 300_000, "notes.txt": 1_234}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
        client.log_artifact(run.info.run_id, str(tmp_path / name))
    client.download_artifacts(run.info.run_id, "", str(tmp_path / "back"))
    assert (tmp_path / "back" / "model.bin").read_bytes() == (tmp_path / "model.bin").read_bytes()
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST|not found"):
        client.get_run("0" * 32)

    after = Scrape(server.url)

    def delta(name: str, **labels) -> float:
        return after.total(name, **labels) - before.total(name, **labels)
    assert delta("mlflow_http_request_total", method="POST", route="/api/2.0/mlflow/runs/log-metric",
                 status="200") == 5
    assert delta("mlflow_http_request_total", method="PUT", route=ARTIFACT, status="200") == 2
    assert delta("mlflow_http_request_total", method="GET", route=ARTIFACT, status="200") == 2
    assert delta("mlflow_http_request_total", method="GET", route=RUNS_GET, status="404") == 1
    for method, route in (("POST", "/api/2.0/mlflow/runs/log-metric"), ("PUT", ARTIFACT), ("GET", ARTIFACT)):
        assert delta("mlflow_http_request_duration_seconds_bucket", method=method, route=route, status="200",
                     le="10.0") == delta("mlflow_http_request_total", method=method, route=route, status="200")
    assert delta("mlflow_artifact_upload_bytes_total") == sum(sizes.values())
    assert delta("mlflow_artifact_download_bytes_total") == sum(sizes.values())


def test_experiment_and_run_counts_by_lifecycle_stage(server):
    import mlflow
    from mlflow.entities import ViewType
    client = mlflow.MlflowClient(server.url)
    kept, dropped = client.create_experiment(unique()), client.create_experiment(unique())
    runs = [client.create_run(kept).info.run_id for _ in range(3)]
    client.delete_run(runs[0])
    client.create_run(dropped)
    client.delete_experiment(dropped)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    expected = {
        "mlflow_experiments": {stage: sum(e.lifecycle_stage == stage for e in experiments)
                               for stage in ("active", "deleted")},
        "mlflow_runs": {stage: sum(r.info.lifecycle_stage == stage for r in client.search_runs(
            [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=50000))
            for stage in ("active", "deleted")},
    }
    assert expected["mlflow_runs"]["deleted"] >= 1 and expected["mlflow_experiments"]["deleted"] >= 1
    deadline = time.monotonic() + 40  # each worker reads the counts at most every 15 s
    while True:
        scrape = Scrape(server.url)
        found = {name: {stage: scrape.total(name, lifecycle_stage=stage) for stage in ("active", "deleted")}
                 for name in expected}
        if found == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found == expected


def test_trace_counts_by_the_lifecycle_stage_of_their_experiment(server, monkeypatch):
    import mlflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    mlflow.tracing.reset()  # the exporters are made for this server
    client = mlflow.MlflowClient(server.url)

    @mlflow.trace
    def answer(question):
        with mlflow.start_span("retrieve"):
            return question

    kept, dropped = client.create_experiment(unique()), client.create_experiment(unique())
    for experiment_id, count in ((kept, 3), (dropped, 2)):
        mlflow.set_experiment(experiment_id=experiment_id)
        for i in range(count):
            answer(f"q{i}")
    mlflow.flush_trace_async_logging()

    def traces(experiment_id: str) -> int:
        return len(client.search_traces(locations=[experiment_id], max_results=500, include_spans=False))
    # the module's other tests trace nothing, in the experiments they delete neither
    expected = {"active": sum(traces(e.experiment_id) for e in client.search_experiments()), "deleted": 0}
    moved = traces(dropped)
    assert moved == 2 and expected["active"] >= 5
    client.delete_experiment(dropped)
    expected = {"active": expected["active"] - moved, "deleted": moved}
    deadline = time.monotonic() + 40  # each worker reads the counts at most every 15 s
    while True:
        scrape = Scrape(server.url)
        found = {stage: scrape.total("mlflow_traces", lifecycle_stage=stage) for stage in expected}
        if found == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found == expected


def worker_pids(server) -> set[str]:
    master = server.process.pid  # run.sh execs the server, which becomes gunicorn's master
    return set(Path(f"/proc/{master}/task/{master}/children").read_text().split())


def test_a_dead_workers_pool_gauges_go_and_its_counts_stay(start_server, tmp_path):
    server = start_server(metrics_env(tmp_path))
    send(f"{server.url}/api/2.0/mlflow/experiments/get?experiment_id=0", 40)
    workers = worker_pids(server)
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while Scrape(server.url).labels("mlflow_db_pool_size", "pid") != workers:  # sampled once a second
        assert time.monotonic() < deadline
        time.sleep(0.2)
    victim = sorted(workers)[0]
    os.kill(int(victim), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # gunicorn starts another in its place
        scrape = Scrape(server.url)
        pids = scrape.labels("mlflow_db_pool_size", "pid")
        if victim not in pids and len(pids) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert victim not in pids and len(pids) == 2 and pids == worker_pids(server)
    assert scrape.total("mlflow_http_request_total", route="/api/2.0/mlflow/experiments/get", status="200") == 40


def test_metrics_is_not_found_without_the_option(start_server):
    server = start_server()
    response = requests.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 404 and response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_only_admins_read_metrics_with_basic_auth(start_server, tmp_path):
    """As the official server: /metrics is no public route and no permission grants it, so its
    basic-auth (failing closed) lets admins alone read it."""
    admin = ("admin", "admin-password-0001")
    server = start_server({**metrics_env(tmp_path), "MLFLOW_APP_NAME": "basic-auth",
                           "MLFLOW_AUTH_ADMIN_USERNAME": admin[0], "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]})
    user = ("metrics-reader", "reader-password-0001")
    created = requests.post(f"{server.url}/api/2.0/mlflow/users/create", auth=admin, timeout=30,
                            json={"username": user[0], "password": user[1]})
    assert created.status_code == 200, created.text
    assert requests.get(f"{server.url}/metrics", timeout=30).status_code == 401
    refused = requests.get(f"{server.url}/metrics", auth=user, timeout=30)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert Scrape(server.url, auth=admin).total("mlflow_http_request_total", route="/api/2.0/mlflow/users/create",
                                                status="200") == 1
    token = requests.post(f"{server.url}/api/2.0/mlflow/users/tokens/create", auth=admin, timeout=30,
                          json={"name": "prometheus", "expires_in_days": 30}).json()["secret"]
    Scrape(server.url, headers={"Authorization": f"Bearer {token}"})  # what the Helm chart's ServiceMonitor sends


def test_start_removes_a_previous_runs_metric_files(start_server, tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"not a metric file any more")  # a previous run's
    server = start_server(metrics_env(tmp_path))
    assert not (directory / "counter_12345.db").exists()
    Scrape(server.url)


@pytest.mark.parametrize("directory, reason", [
    ("a-file/metrics", "Not a directory"),
    ("data", "it holds other files than metrics (mlflow.db)"),  # never removed: it may be a database
])
def test_an_unusable_directory_stops_start_up(start_server, tmp_path, directory, reason):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mlflow.db").write_bytes(b"the operator's")
    server = start_server({"MLFLOW_EXPOSE_PROMETHEUS": str(tmp_path / directory)}, wait=False)
    assert server.process.wait(60) == 1
    log = server.log()
    last = log.strip().splitlines()[-1]  # after the configuration's line
    assert f"cannot use {tmp_path / directory} for Prometheus metrics" in last and reason in last
    assert "Traceback" not in log
    assert (tmp_path / "data" / "mlflow.db").read_bytes() == b"the operator's"
