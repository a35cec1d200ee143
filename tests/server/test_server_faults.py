"""The database failing under a running server, on PostgreSQL and MariaDB. The shared database
services are not touched: the server reaches its database through a TCP proxy of the test's
own (tests/servers/tcp_proxy.py), which plays the faults.

- A restart (every connection dropped, new ones refused for a moment), several times under a
  load of raw HTTP requests and the official client's writes: no response is a 500 (a 503
  TEMPORARILY_UNAVAILABLE is allowed while it lasts), requests succeed again right after, and
  every write that was answered 200 is there. Then one while the server is idle: the next
  requests do not see it.
- A stall (connections accepted, nothing forwarded, like a stopped database): /ready answers
  503 within 2.5 s while it lasts and 200 after, without holding threads or connections."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from conftest import backend_uri, unique
from servers.tcp_proxy import TcpProxy

DATABASES = [pytest.param(("postgresql", 5432), id="postgresql", marks=pytest.mark.postgres),
             pytest.param(("mysql", 3306), id="mysql", marks=pytest.mark.mysql)]
RESTARTS = 8
CLIENTS = 6
BATCH = 100
WORKERS, THREADS = 2, 4
MOST_THREADS = 1 + WORKERS * (1 + THREADS)  # the master, and each worker's main thread and pool


@pytest.fixture(params=DATABASES)
def proxied(request, start_server, tmp_path):
    """(server, proxy): a server whose database connections all go through the proxy."""
    kind, port = request.param
    uri, cleanup = backend_uri(kind, tmp_path)
    proxy = TcpProxy("127.0.0.1", port)
    try:
        server = start_server({"MLFLOW_BACKEND_STORE_URI": uri.replace(f":{port}/", f":{proxy.port}/"),
                               "MLFLOW_WORKERS": str(WORKERS), "MLFLOW_THREADS": str(THREADS),
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        yield server, proxy
        server.stop()
    finally:
        proxy.close()
        cleanup()


class Load:
    """Threads sending requests until stopped; every answer is kept as (start time, what, status,
    body), and what each write answered 200 wrote."""

    def __init__(self, url: str):
        self.base = f"{url}/api/2.0/mlflow/"
        self.answers: list[tuple[float, str, int, str]] = []
        self.logged: dict[str, set[int]] = {}  # run id -> steps of metric "m" logged with a 200
        self.client_steps: list[int] = []  # steps the official client logged without an error
        self.client_errors: list[str] = []
        self.stopping = threading.Event()
        self.experiment_id = requests.post(self.base + "experiments/create", json={"name": unique()},
                                           timeout=30).json()["experiment_id"]
        self.client = mlflow.MlflowClient(url)
        self.client_run = self.client.create_run(self.experiment_id).info.run_id
        self.threads = [threading.Thread(target=self._http, daemon=True) for _ in range(CLIENTS)]
        self.threads.append(threading.Thread(target=self._official_client, daemon=True))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(120)

    def _call(self, session: requests.Session, method: str, path: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = session.request(method, self.base + path, timeout=60, **kwargs)
        self.answers.append((started, path, response.status_code, response.text[:300]))
        return response

    def _http(self) -> None:
        """Mostly batches of metrics: on PostgreSQL their points go in through the driver's own
        cursor, where a lost connection was a 500."""
        session = requests.Session()
        run_id, step = None, 0
        while not self.stopping.is_set():
            if run_id is None:
                created = self._call(session, "POST", "runs/create", json={"experiment_id": self.experiment_id})
                if created.status_code == 200:
                    run_id = created.json()["run"]["info"]["run_id"]
                    self.logged[run_id] = set()
                continue
            steps = range(step, step + BATCH)
            batch = [{"key": "m", "value": s, "timestamp": 1, "step": s} for s in steps]
            logged = self._call(session, "POST", "runs/log-batch", json={"run_id": run_id, "metrics": batch})
            if logged.status_code == 200:
                self.logged[run_id].update(steps)
            step += BATCH
            if step % (10 * BATCH) == 0:
                self._call(session, "GET", "runs/get", params={"run_id": run_id})
                self._call(session, "POST", "runs/search", json={"experiment_ids": [self.experiment_id]})
                run_id = None

    def _official_client(self) -> None:
        step = 0
        while not self.stopping.is_set():
            step += 1
            try:
                self.client.log_metric(self.client_run, "official", step, step=step)
                self.client_steps.append(step)
            except MlflowException as error:
                self.client_errors.append(f"{error.error_code}: {error.message}")


def test_a_restart_of_the_database_is_503_at_worst_and_loses_nothing(proxied, monkeypatch):
    server, proxy = proxied
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # see every error the client gets
    with Load(server.url) as load:
        time.sleep(1)
        for _ in range(RESTARTS):
            proxy.drop(refuse_for=0.3)
            time.sleep(0.8)
        back = time.monotonic()
        time.sleep(1.5)
    assert len(load.answers) >= 30 and load.client_steps, f"too little load: {len(load.answers)} answers"
    wrong = [a for a in load.answers if a[2] != 200 and (a[2] != 503 or "TEMPORARILY_UNAVAILABLE" not in a[3])]
    assert not wrong, f"{len(wrong)} answers neither 200 nor 503 TEMPORARILY_UNAVAILABLE, e.g. {wrong[:3]}\n" \
                      f"{server.log()[-2000:]}"
    # with retries off, the official client reports a 503 as "too many 503 error responses"
    assert all("too many 503 error responses" in e for e in load.client_errors), load.client_errors[:3]
    after = [a for a in load.answers if a[0] > back]
    assert after and all(a[2] == 200 for a in after), [a for a in after if a[2] != 200][:3]

    api = f"{server.url}/api/2.0/mlflow/"
    for run_id, steps in load.logged.items():
        history = requests.get(api + "metrics/get-history", params={"run_id": run_id, "metric_key": "m",
                                                                   "max_results": 25000}, timeout=30)
        assert history.status_code == 200, history.text
        assert steps <= {m["step"] for m in history.json().get("metrics", [])}  # a 503 may have written too
    history = load.client.get_metric_history(load.client_run, "official")
    assert set(load.client_steps) <= {m.step for m in history}

    # a restart while the server is idle: every pooled connection is dead, and the first requests,
    # reads (which are not run again), must not notice; each on a new connection, to reach both workers
    proxy.drop()
    time.sleep(0.2)
    for _ in range(10):
        run = requests.get(api + "runs/get", params={"run_id": load.client_run}, timeout=30)
        assert run.status_code == 200, run.text


def _threads(pid: int) -> int:
    """Threads of a process and all its descendants."""
    count = len(os.listdir(f"/proc/{pid}/task"))
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in open(f"/proc/{pid}/task/{task}/children").read().split():
            count += _threads(int(child))
    return count


def test_ready_answers_in_time_while_the_database_stalls(proxied):
    server, proxy = proxied

    def ready(_=None) -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = requests.get(f"{server.url}/ready", timeout=30, headers={"Connection": "close"})
        return response, time.monotonic() - started

    assert ready()[0].status_code == 200
    connections = proxy.open_connections()
    proxy.stall()
    try:
        with ThreadPoolExecutor(12) as pool:  # probes piling up, more than the server's threads
            assert {response.status_code for response, _ in pool.map(ready, range(12))} == {503}
        for _ in range(3):
            response, took = ready()
            assert response.status_code == 503 and took < 2.5, (response.status_code, took, response.text)
            assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
        assert _threads(server.process.pid) <= MOST_THREADS  # no thread left waiting on the database
        assert proxy.open_connections() <= connections  # each probe closed its own
    finally:
        proxy.resume()
    response, took = ready()
    assert response.status_code == 200 and took < 2.5, (response.status_code, took, response.text)
    for _ in range(20):
        assert ready()[0].status_code == 200
    assert _threads(server.process.pid) <= MOST_THREADS
    assert proxy.open_connections() <= connections + 1
