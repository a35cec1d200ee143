"""MLFLOW_READ_REPLICA_BACKEND_STORE_URI against a real PostgreSQL streaming replica, started by
the test (tests/servers/pg_replica.py: initdb, pg_basebackup -R, hot standby; as root the
PostgreSQL commands run as the postgres user).

Which server answered a read is seen by pausing the replica's replay (pg_wal_replay_pause()): a
run created meanwhile is on the primary only. A client without cookies (plain HTTP) then does
not find it in a search, served by the replica, until the replica is more than MAX_LAG seconds
behind, after which reads go to the primary; it does find it by id (a read that finds nothing
on the replica asks the primary). The official clients (3.x and 2.x), which keep the server's
cookie, read their own writes at once. With the replica stopped, everything is read from the primary and /ready
says so, still 200."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import ROOT, unique
from servers.pg_replica import primary_and_replica

MAX_LAG = 5.0  # app.store.db.MAX_LAG (the test's interpreter has the official client, not the server)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster():
    with primary_and_replica() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    from conftest import Server
    srv = Server({"MLFLOW_BACKEND_STORE_URI": cluster.primary_uri,
                  "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": cluster.replica_uri,
                  "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path_factory.mktemp("artifacts"))},
                 tmp_path_factory.mktemp("server"))
    try:
        srv.wait_ready(60)
        wait_for(lambda: "replica: OK" in ready(srv).text, "the replica in use")
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def replay_paused(cluster):
    cluster.pause_replay()
    yield
    cluster.resume_replay()
    cluster.wait_replayed()


def ready(server) -> requests.Response:
    return requests.get(f"{server.url}/ready", timeout=10, headers={"Connection": "close"})


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.2)


def search(server, experiment_id: str) -> list[str]:
    """Run ids of a search by a client that keeps no cookies."""
    answer = requests.post(f"{server.url}/api/2.0/mlflow/runs/search", json={"experiment_ids": [experiment_id]},
                           timeout=10)
    answer.raise_for_status()
    return [run["info"]["run_id"] for run in answer.json().get("runs", [])]


def test_reads_without_own_writes_are_served_by_the_replica(server, cluster, replay_paused):
    api = f"{server.url}/api/2.0/mlflow"
    experiment_id = requests.post(f"{api}/experiments/create", json={"name": unique("replica")},
                                  timeout=10).json()["experiment_id"]
    run = requests.post(f"{api}/runs/create", json={"experiment_id": experiment_id}, timeout=10).json()["run"]
    written = time.monotonic()
    run_id = run["info"]["run_id"]

    assert search(server, experiment_id) == []  # the replica has not replayed the experiment's run yet
    assert time.monotonic() - written < MAX_LAG
    by_id = requests.get(f"{api}/runs/get", params={"run_id": run_id}, timeout=10)
    assert by_id.status_code == 200 and by_id.json()["run"]["info"]["run_id"] == run_id  # the primary's

    wait_for(lambda: search(server, experiment_id) == [run_id], "reads to go to the primary", MAX_LAG + 10)
    assert time.monotonic() - written >= MAX_LAG - 1  # not before the replica was too far behind
    wait_for(lambda: "replica: not used" in ready(server).text, "/ready to say so", 5)  # each worker checks on its own


OWN_WRITES = """
import sys, mlflow, requests
client = mlflow.MlflowClient(sys.argv[1])
run_id = sys.argv[2]
client.log_metric(run_id, "loss", 0.5, step=1)
client.log_param(run_id, "lr", "0.1")
# meanwhile a client without the server's cookie is served by the replica, which has the run only
plain = requests.get(sys.argv[1] + "/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10)
assert plain.status_code == 200 and "metrics" not in plain.json()["run"]["data"], plain.text
assert client.get_run(run_id).data.metrics == {"loss": 0.5}
found = client.search_runs([client.get_run(run_id).info.experiment_id], "metrics.loss < 1")
assert [r.info.run_id for r in found] == [run_id] and found[0].data.params == {"lr": "0.1"}
assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(1, 0.5)]
print("read its own writes with mlflow", mlflow.__version__)
"""


@pytest.mark.parametrize("python", [sys.executable, ROOT / ".venv-client2" / "bin" / "python"], ids=["3.x", "2.x"])
def test_a_client_reads_its_own_writes(server, client, cluster, python):
    """The run is on the replica too; what the official client then writes is not, yet it reads it back."""
    if not Path(python).exists():
        pytest.skip(f"no {python}")
    run_id = client.create_run(client.create_experiment(unique("own-writes"))).info.run_id
    cluster.wait_replayed()
    cluster.pause_replay()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        done = subprocess.run([str(python), "-c", OWN_WRITES, server.url, run_id], capture_output=True, text=True,
                              env={**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, timeout=120)
        assert done.returncode == 0 and "read its own writes" in done.stdout, done.stdout + done.stderr
    finally:
        cluster.resume_replay()
        cluster.wait_replayed()


def test_reads_go_to_the_primary_while_the_replica_is_stopped(server, client, cluster):
    experiment_id = client.create_experiment(unique("stopped"))
    cluster.stop_replica()
    try:
        answer = ready(server)
        assert answer.status_code == 200 and "replica: not used" in answer.text
        run_id = client.create_run(experiment_id).info.run_id
        assert search(server, experiment_id) == [run_id]
        for _ in range(20):  # every worker, each finding the replica gone on its own
            assert requests.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id},
                                timeout=10, headers={"Connection": "close"}).status_code == 200
        assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run_id]
    finally:
        cluster.start_replica()
    wait_for(lambda: "replica: OK" in ready(server).text, "the replica back in use")
    assert "Traceback" not in server.log()


def test_configuration_errors(start_server, tmp_path):
    cases = [
        ({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/m.db",
          "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": "postgresql://u:hunter2@db/mlflow"}, "SQLite has no read replicas"),
        ({"MLFLOW_BACKEND_STORE_URI": "postgresql://u:hunter2@127.0.0.1:1/mlflow",
          "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": "mysql://u:hunter2@db/mlflow"}, "cannot be a replica"),
        ({"MLFLOW_BACKEND_STORE_URI": "postgresql://u:hunter2@127.0.0.1:1/mlflow",
          "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": "postgresql://u:hunter2@127.0.0.1:1/mlflow"}, "the same database"),
    ]
    for env, message in cases:
        srv = start_server(env, wait=False)
        assert srv.settle(30) is False and srv.process.returncode == 1
        log = srv.log()
        assert message in log and "hunter2" not in log and "Traceback" not in log
