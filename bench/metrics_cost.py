#!/usr/bin/env python3
"""Server CPU per request without and with Prometheus metrics (MLFLOW_EXPOSE_PROMETHEUS).

    .venv/bin/python bench/metrics_cost.py [--requests 3000] [--rounds 3] [--baseline DIR]
    .venv/bin/python bench/metrics_cost.py --hook

Starts our server on SQLite with 2 workers, metrics off and metrics on, and with --baseline
also the server of another checkout (e.g. `git worktree add /tmp/base <commit>` of the commit
before metrics), all at once. Then, round after round and server after server (interleaved, so
that other load on the machine falls on each alike), it sends N of each request (runs/log-metric,
runs/create, runs/get) one after another on one kept-alive connection and reads the CPU time of
the server's process tree from /proc before and after. Prints the median over the rounds of the
CPU per request in microseconds (the clock ticks in 10 ms, so N should be in the thousands).

On a busy machine those differ by more than metrics cost; --hook times, in this process, what
metrics add to each request: their after_request hook, on an app built with metrics on, in a
runs/get request's context (the WSGI wrapper that starts the clock adds one call more).
"""
import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import StartedServer, interrupt_on_signals, ours_server  # noqa: E402

API = "/api/2.0/mlflow/"
OPERATIONS = ("log_metric", "create_run", "get_run")


def baseline_server(checkout: str):
    """Our server from another checkout, run with this repository's .venv."""
    def launch(port, data_dir):
        return [os.path.join(checkout, "run.sh")], {
            "MLFLOW_SERVER_PYTHON": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                 ".venv", "bin", "python"),
            "MLFLOW_HOST": "127.0.0.1", "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "2",
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{data_dir}/mlflow.db",
            "MLFLOW_ARTIFACTS_DESTINATION": f"{data_dir}/mlartifacts"}
    return StartedServer("baseline", launch)


def requests_of(session: requests.Session, url: str, run_id: str, operation: str):
    """A function sending one request of the operation, checking its answer."""
    steps = itertools.count(1)

    def log_metric():
        return session.post(url + API + "runs/log-metric", json={
            "run_id": run_id, "key": "loss", "value": 0.5, "timestamp": int(time.time() * 1000), "step": next(steps)})

    def create_run():
        return session.post(url + API + "runs/create", json={"experiment_id": "0"})

    def get_run():
        return session.get(url + API + "runs/get", params={"run_id": run_id})

    send = {"log_metric": log_metric, "create_run": create_run, "get_run": get_run}[operation]

    def checked():
        response = send()
        assert response.status_code == 200, response.text
    return checked


def hook_cost(count: int = 50000) -> None:
    import logging
    import timeit

    from flask import Response, request
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from app.factory import create_app
    from app.options import Settings
    from app.server import prepare

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-hook-") as data:
        app = create_app(prepare(Settings(backend_store_uri=f"sqlite:///{data}/mlflow.db",
                                          artifacts_destination=f"{data}/a", expose_prometheus=f"{data}/metrics")))
        record = next(hook for hook in app.after_request_funcs[None] if hook.__module__ == "app.http.metrics")
        with app.test_request_context(API + "runs/get?run_id=x", environ_base={"mlflow_server.started": 0.0}):
            request.url_rule = app.url_map.bind("localhost").match(API + "runs/get", return_rule=True)[0]
            answer = Response("{}")
            times = [timeit.timeit(lambda: record(answer), number=count) / count * 1e6 for _ in range(5)]
    print(f"metrics' after_request hook: {min(times):.1f} us per request (best of 5 x {count}; "
          f"all: {' '.join(f'{t:.1f}' for t in times)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a checkout of another commit, run as a third server")
    parser.add_argument("--hook", action="store_true", help="time the metrics' request hook in-process")
    args = parser.parse_args()
    if args.hook:
        return hook_cost()
    interrupt_on_signals()
    metrics_dir = tempfile.mkdtemp(prefix="mlflow-bench-metrics-")
    servers = ([baseline_server(args.baseline)] if args.baseline else []) + [
        ours_server(2, name="metrics off"),
        ours_server(2, env={"MLFLOW_EXPOSE_PROMETHEUS": metrics_dir}, name="metrics on")]
    try:
        for server in servers:
            server.start()
        sessions = {server.name: requests.Session() for server in servers}
        run_ids = {server.name: sessions[server.name].post(server.url + API + "runs/create", json={
            "experiment_id": "0"}).json()["run"]["info"]["run_id"] for server in servers}
        cpu = {(server.name, operation): [] for server in servers for operation in OPERATIONS}
        for round_ in range(args.rounds):
            for operation in OPERATIONS:
                for server in servers:
                    send = requests_of(sessions[server.name], server.url, run_ids[server.name], operation)
                    before = server.cpu_seconds()
                    for _ in range(args.requests):
                        send()
                    cpu[server.name, operation].append((server.cpu_seconds() - before) / args.requests * 1e6)
            print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
        print(f"server CPU per request, us (median of {args.rounds} rounds of {args.requests}; each round's in [])")
        print(f"{'':14}" + "".join(f"{operation:>28}" for operation in OPERATIONS))
        for server in servers:
            cells = [f"{statistics.median(v):6.0f} [{' '.join(f'{x:.0f}' for x in v)}]"
                     for v in (cpu[server.name, operation] for operation in OPERATIONS)]
            print(f"{server.name:14}" + "".join(f"{cell:>28}" for cell in cells))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
