#!/usr/bin/env python3
"""Server CPU per request without and with a read replica (MLFLOW_READ_REPLICA_BACKEND_STORE_URI).

    .venv-test/bin/python bench/replica_cost.py [--requests 3000] [--rounds 3]

Starts a PostgreSQL primary and its streaming replica (tests/servers/pg_replica.py: the
PostgreSQL 15 binaries; as root it runs them as the postgres user), and two of our servers with
2 workers each, on two databases of that primary: one without the option, one with the replica.
Then, round after round and server after server (interleaved), it sends N of each request on one
kept-alive connection and reads the CPU time of the server's process tree from /proc:
log_metric (a write: the primary, and the cookie), get_run by a client that never wrote (no
cookie: the replica, with the option) and get_run by the client that has just written (its
cookie: the primary until the replica has replayed its write, about a second, then the replica). The CPU includes each worker's replica
check every 0.5 s. Prints the median over the rounds in microseconds per request.
"""
import argparse
import itertools
import os
import statistics
import sys
import time

import psycopg2
import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.append(os.path.join(os.path.dirname(BENCH), "tests"))  # conftest, which pg_replica imports
from servers import interrupt_on_signals, ours_server  # noqa: E402  (bench/servers.py)

API = "/api/2.0/mlflow/"
OPERATIONS = ("log_metric", "get_run (no writes)", "get_run (after a write)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    interrupt_on_signals()
    import importlib.util  # tests/servers/pg_replica.py: not the bench's servers module of the same package name
    spec = importlib.util.spec_from_file_location(
        "pg_replica", os.path.join(os.path.dirname(BENCH), "tests", "servers", "pg_replica.py"))
    pg_replica = sys.modules["pg_replica"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pg_replica)
    with pg_replica.primary_and_replica() as cluster:
        conn = psycopg2.connect(host="127.0.0.1", port=cluster.primary_port, user="postgres", dbname="postgres")
        conn.autocommit = True
        for name in ("without", "with"):
            conn.cursor().execute(f"CREATE DATABASE {name}_replica")
        conn.close()
        servers = [
            ours_server(2, cluster.uri(cluster.primary_port, "without_replica"), name="without replica"),
            ours_server(2, cluster.uri(cluster.primary_port, "with_replica"), name="with replica", env={
                "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": cluster.uri(cluster.replica_port, "with_replica")})]
        try:
            measure(servers, args)
        finally:
            for server in servers:
                server.stop()


def measure(servers, args):
    for server in servers:
        server.start()
    writers = {s.name: requests.Session() for s in servers}  # keeps the server's cookie
    readers = {s.name: requests.Session() for s in servers}  # never writes: no cookie
    run_ids = {s.name: writers[s.name].post(s.url + API + "runs/create", json={"experiment_id": "0"})
               .json()["run"]["info"]["run_id"] for s in servers}
    time.sleep(2)  # the replica has the run
    steps = itertools.count(1)

    def send(server, operation):
        run_id = run_ids[server.name]
        if operation == "log_metric":
            return writers[server.name].post(server.url + API + "runs/log-metric", json={
                "run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": next(steps)})
        session = writers if operation.endswith("(after a write)") else readers
        return session[server.name].get(server.url + API + "runs/get", params={"run_id": run_id})

    cpu = {(s.name, operation): [] for s in servers for operation in OPERATIONS}
    for round_ in range(args.rounds):
        for operation in OPERATIONS:
            for server in servers:
                if operation.endswith("(after a write)"):  # a fresh write: the primary it must be
                    assert send(server, "log_metric").status_code == 200
                before = server.cpu_seconds()
                for _ in range(args.requests):
                    response = send(server, operation)
                    assert response.status_code == 200, response.text
                cpu[server.name, operation].append((server.cpu_seconds() - before) / args.requests * 1e6)
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    print(f"server CPU per request, us (median of {args.rounds} rounds of {args.requests}; each round's in [])")
    print(f"{'':16}" + "".join(f"{operation:>28}" for operation in OPERATIONS))
    for server in servers:
        cells = [f"{statistics.median(v):6.0f} [{' '.join(f'{x:.0f}' for x in v)}]"
                 for v in (cpu[server.name, operation] for operation in OPERATIONS)]
        print(f"{server.name:16}" + "".join(f"{cell:>28}" for cell in cells))


if __name__ == "__main__":
    main()
