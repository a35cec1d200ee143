#!/usr/bin/env python3
"""What basic-auth costs per request in our server, in-process: no HTTP, no gunicorn, one thread.

    .venv/bin/python bench/auth_profile.py [--requests 3000] [--profile 25]

Builds the app twice on temporary SQLite databases, without auth and with basic-auth, and drives
both through Flask's test client with the bench's requests (runs/create, runs/log-metric,
runs/log-batch of 1000 points, the filtered top-100 runs/search of 200 runs), as a non-admin
user who created the experiment (so owns it) and signs in with HTTP Basic on every request. It
prints the CPU time per request of each (best of a few rounds, so other load on the machine
matters less than for bench.py), the difference, the CPU of the before-request hooks alone (the
host checks, and with auth the guard: who signs in, may they) in a log-metric's request
context, and then, with --profile N, the N functions of the auth app's run that take the most
time, with what they call (cProfile; the server's own functions, those under app/).
"""
import argparse
import base64
import cProfile
import json
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app.factory import create_app  # noqa: E402
from app.options import Settings  # noqa: E402
from app.server import prepare  # noqa: E402

API = "/api/2.0/mlflow/"
ROUNDS = 5


def build(data_dir, auth):
    """The app, its test client and the headers of the user the requests come from."""
    os.environ["MLFLOW_AUTH_ADMIN_USERNAME"] = "admin"
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin = secrets.token_urlsafe(16)
    settings = prepare(Settings(backend_store_uri=f"sqlite:///{data_dir}/mlflow.db",
                                artifacts_destination=f"{data_dir}/mlartifacts",
                                app_name="basic-auth" if auth else "", log_level="warning"))
    app = create_app(settings)
    client = app.test_client()
    headers = {}
    if auth:
        password = secrets.token_urlsafe(16)
        call(client, "POST", "users/create", {"username": "bench", "password": password}, basic("admin", admin))
        headers = basic("bench", password)
    return client, headers


def basic(username, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def call(client, method, endpoint, body, headers):
    response = client.open(API + endpoint, method=method, data=json.dumps(body), headers=headers,
                           content_type="application/json")
    if response.status_code != 200:
        raise SystemExit(f"{endpoint}: HTTP {response.status_code} {response.get_data(as_text=True)[:200]}")
    return response.get_json()


def new_run(client, headers, experiment_id, name):
    body = {"experiment_id": experiment_id, "user_id": "bench", "start_time": int(time.time() * 1000),
            "run_name": name, "tags": [{"key": "mlflow.user", "value": "bench"},
                                       {"key": "mlflow.source.name", "value": "bench.py"},
                                       {"key": "mlflow.source.type", "value": "LOCAL"},
                                       {"key": "mlflow.runName", "value": name}]}
    return call(client, "POST", "runs/create", body, headers)["run"]["info"]["run_id"]


def scenarios(client, headers, count):
    """{name: (function doing one request, requests per round)} on fresh experiments."""
    def experiment(name):
        return call(client, "POST", "experiments/create", {"name": f"{name}-{secrets.token_hex(4)}"},
                    headers)["experiment_id"]

    created = experiment("create_run")
    metric_run = new_run(client, headers, experiment("log_metric"), "m")
    batch_run = new_run(client, headers, experiment("log_batch"), "b")
    searched = experiment("search_runs")
    for i in range(200):
        run_id = new_run(client, headers, searched, f"s{i}")
        m = 0.25 + 0.75 * ((i * 37) % 200) / 200
        call(client, "POST", "runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "m", "value": m, "timestamp": 1, "step": 0}, {"key": "loss", "value": 1 - m, "timestamp": 1,
                                                                  "step": 0}],
            "params": [{"key": "lr", "value": str(i % 10)}], "tags": [{"key": "team", "value": "a"}]}, headers)
    step = iter(range(10**9))
    search = {"experiment_ids": [searched], "filter": "metrics.m > 0.5", "run_view_type": "ACTIVE_ONLY",
              "max_results": 100, "order_by": ["metrics.m DESC"]}

    def log_batch():
        first = next(step) * 1000
        call(client, "POST", "runs/log-batch", {"run_id": batch_run, "metrics": [
            {"key": "m", "value": 1.0, "timestamp": 1, "step": s} for s in range(first, first + 1000)]}, headers)

    return {
        "create_run": (lambda: new_run(client, headers, created, "r"), count),
        "log_metric": (lambda: call(client, "POST", "runs/log-metric", {
            "run_id": metric_run, "key": "loss", "value": 0.5, "timestamp": 1, "step": next(step)}, headers), count),
        "log_batch": (log_batch, max(1, count // 30)),
        "search_runs": (lambda: call(client, "POST", "runs/search", search, headers), max(1, count // 10)),
    }


def hooks_cpu(client, headers, run_id, calls):
    """CPU seconds of the app's before-request hooks per call, in one log-metric's request context
    (its body parsed by the first call, as the guard does for the view; best of ROUNDS)."""
    app = client.application
    body = json.dumps({"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0})
    with app.test_request_context(API + "runs/log-metric", method="POST", data=body,
                                  headers={**headers, "Content-Type": "application/json"}):
        if app.preprocess_request() is not None:
            raise SystemExit("the before-request hooks refused the log-metric request")
        return cpu_per_request(app.preprocess_request, calls)[0]


def cpu_per_request(function, requests):
    """CPU seconds per request: the best of ROUNDS rounds (after one request to warm up)."""
    return side_by_side([function], requests)[0]


def side_by_side(functions, requests):
    """cpu_per_request of each function, their rounds taking turns (the first goes first in
    every other round), so that drift of the machine or of the process weighs on all alike."""
    for function in functions:
        function()
    seconds = [[] for _ in functions]
    for round_ in range(ROUNDS):
        order = list(enumerate(functions))
        for i, function in order if round_ % 2 == 0 else order[::-1]:
            started = time.process_time()
            for _ in range(requests):
                function()
            seconds[i].append((time.process_time() - started) / requests)
    return [(min(s), statistics.median(s)) for s in seconds]


def main():
    parser = argparse.ArgumentParser(description="CPU per request of our server with and without basic-auth.")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round (log-batch: a 30th, "
                        "search: a 10th)")
    parser.add_argument("--profile", type=int, default=25, metavar="N", help="functions shown of the profile "
                        "of the auth run (0: none)")
    parser.add_argument("--scenario", action="append", help="only these (create_run, log_metric, log_batch, "
                        "search_runs; repeatable)")
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="mlflow-auth-profile-")
    try:
        built = {name: build(os.path.join(data, name), name == "auth") for name in ("off", "auth")}
        runs = {name: scenarios(client, headers, args.requests) for name, (client, headers) in built.items()}
        hooks = {}
        for name, (client, headers) in built.items():
            experiment = call(client, "POST", "experiments/create", {"name": "hooks"}, headers)["experiment_id"]
            hooks[name] = hooks_cpu(client, headers, new_run(client, headers, experiment, "hooks"), args.requests)
        print(f"{'scenario':<12} {'auth off':>10} {'auth on':>10} {'auth costs':>11}   CPU ms per request, "
              f"best of {ROUNDS} (median)")
        for scenario in runs["off"]:
            if args.scenario and scenario not in args.scenario:
                continue
            requests = runs["off"][scenario][1]
            (off, off_median), (on, on_median) = side_by_side([runs[name][scenario][0] for name in ("off", "auth")],
                                                              requests)
            print(f"{scenario:<12} {off * 1000:>10.3f} {on * 1000:>10.3f} {(on - off) * 1000:>+8.3f} ms"
                  f"   ({off_median * 1000:.3f} / {on_median * 1000:.3f}; {(on - off) / off:+.0%})")
        print(f"{'hooks':<12} {hooks['off'] * 1000:>10.3f} {hooks['auth'] * 1000:>10.3f} "
              f"{(hooks['auth'] - hooks['off']) * 1000:>+8.3f} ms   before-request hooks alone, in a log-metric's "
              f"request context")
        if args.profile:
            for scenario, (function, requests) in runs["auth"].items():
                if args.scenario and scenario not in args.scenario:
                    continue
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(requests):
                    function()
                profile.disable()
                print(f"\n--- {scenario}, auth on: {requests} requests, cumulative time, top {args.profile} "
                      f"of the server's own functions (app/)")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(f"{os.sep}app{os.sep}", args.profile)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
