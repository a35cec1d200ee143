#!/usr/bin/env python3
"""Run the same scenarios against several MLflow tracking servers, side by side.

    python bench/bench.py --target ours=http://127.0.0.1:5555 --target official=http://127.0.0.1:5600
    python bench/bench.py --start-ours --start-official [--quick]
    python bench/bench.py --start-ours-auth --start-ours --start-official-auth   # basic-auth on

Plain HTTP through one keep-alive requests.Session per target, against the REST API
(with basic-auth, as a non-admin user sending HTTP Basic credentials). Prints a table (one
column per target, then ratios of the first target against each other one, or of the
--compare pairs, oriented so that >1 means the first is better) and writes the results as
JSON to bench/results/<timestamp>.json. Only stdlib + requests. See bench/README.md.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time

from client import HISTORY_PAGE, Client, Deadline, fetch_history, now_ms, parse_target
from report import fmt, print_table
from servers import (ADMIN_USERNAME, BENCH_DIR, BenchError, interrupt_on_signals, official_server, ours_server,
                     setup_official, tree_memory)

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"
MiB = 1024 * 1024

# Sizes of the scenarios. Every loop also stops at the time budget (seconds per
# scenario and target); a rate measured on fewer requests is marked "partial" in the JSON.
FULL = {
    "create_run": 1000,  # runs/create requests
    "log_metric": 2000,  # runs/log-metric requests
    "log_batch": 100,  # runs/log-batch requests of 1000 metrics
    "history_points": 100_000,  # points in the metric history read back
    "history_repeats": 3,
    "search_runs": 200,  # runs seeded before searching
    "search_repeats": 20,
    "search_cpu_repeats": 1000,  # searches the server's CPU time is divided by (the timed ones, then more)
    "artifact_mib": 100,
    "artifact_repeats": 3,
    "budget": 300,
}
QUICK = {
    "create_run": 100,
    "log_metric": 200,
    "log_batch": 10,
    "history_points": 30_000,  # still two pages of 25000
    "history_repeats": 2,
    "search_runs": 50,
    "search_repeats": 5,
    "search_cpu_repeats": 100,
    "artifact_mib": 10,
    "artifact_repeats": 1,
    "budget": 60,
}
WARMUP = 5  # untimed requests before each timed loop
SEED_BUDGET_FACTOR = 3  # search_runs' seeding may take this many time budgets (it is not measured)
SEARCH_CPU_SECONDS = 30  # at most this long searching for the CPU row after the timed searches
SEARCH_PAGE = 100
SEARCH_FILTER = "metrics.m > 0.5"
BENCH_USER = "bench"  # the non-admin user the scenarios run as on servers started with basic-auth


def rate(count, started, wanted, unit_per_request=1):
    seconds = time.perf_counter() - started
    if count == 0:
        raise BenchError("time budget used up before the first request")
    detail = {"requests": count, "seconds": round(seconds, 3)}
    if count < wanted:
        detail["partial"] = f"{count} of {wanted} within the time budget"
    return count * unit_per_request / seconds, detail


def metric_batch(first_step, size=1000, key="m"):
    """`size` points of one metric key with consecutive steps, for runs/log-batch."""
    timestamp = now_ms()
    return [
        {"key": key, "value": 1.0 / (1 + step), "timestamp": timestamp, "step": step}
        for step in range(first_step, first_step + size)
    ]


def cpu_clock(context):
    """CPU seconds of the server's process tree so far (servers the bench started), else None."""
    clock = context.get("cpu_seconds")
    return clock() if clock else None


def with_cpu(results, key, before, context, count):
    """Adds row `key`_cpu, the server's CPU time per request since `before` (ms), when known:
    unlike a rate it hardly depends on what else the machine is doing."""
    if before is not None and count:
        results[f"{key}_cpu"] = ((cpu_clock(context) - before) * 1000 / count, {"requests": count})
    return results


# --------------------------------------------------------------------------- scenarios
# Each scenario takes (client, sizes, deadline, context) and returns {row key: (value, detail)}.


def scenario_create_run(client, sizes, deadline, context):
    experiment_id = client.new_experiment("create_run")
    for i in range(WARMUP):
        client.new_run(experiment_id, f"warmup-{i}")
    wanted, done = sizes["create_run"], 0
    cpu = cpu_clock(context)
    started = time.perf_counter()
    while done < wanted and not deadline.passed():
        client.new_run(experiment_id, f"run-{done}")
        done += 1
    return with_cpu({"create_run": rate(done, started, wanted)}, "create_run", cpu, context, done)


def scenario_log_metric(client, sizes, deadline, context):
    experiment_id = client.new_experiment("log_metric")
    run_id = client.new_run(experiment_id, "log-metric")
    timestamp = now_ms()

    def log(step):
        body = {"run_id": run_id, "key": "loss", "value": 1.0 / (1 + step), "timestamp": timestamp, "step": step}
        client.post("runs/log-metric", body)

    for step in range(WARMUP):
        log(step)
    wanted, done = sizes["log_metric"], 0
    cpu = cpu_clock(context)
    started = time.perf_counter()
    while done < wanted and not deadline.passed():
        log(WARMUP + done)
        done += 1
    return with_cpu({"log_metric": rate(done, started, wanted)}, "log_metric", cpu, context, done)


def scenario_log_batch(client, sizes, deadline, context):
    experiment_id = client.new_experiment("log_batch")
    run_id = client.new_run(experiment_id, "log-batch")
    wanted = sizes["log_batch"]
    bodies = [
        json.dumps({"run_id": run_id, "metrics": metric_batch(i * 1000)}).encode()
        for i in range(WARMUP + wanted)
    ]
    for body in bodies[:WARMUP]:
        client.post_raw("runs/log-batch", body)
    done = 0
    cpu = cpu_clock(context)
    started = time.perf_counter()
    while done < wanted and not deadline.passed():
        client.post_raw("runs/log-batch", bodies[WARMUP + done])
        done += 1
    return with_cpu({"log_batch": rate(done, started, wanted, unit_per_request=1000)}, "log_batch", cpu, context,
                    done)


def scenario_get_metric_history(client, sizes, deadline, context):
    experiment_id = client.new_experiment("get_metric_history")
    run_id = client.new_run(experiment_id, "history")
    points = sizes["history_points"]
    for first in range(0, points, 1000):
        if deadline.passed():
            raise BenchError(f"time budget used up while logging ({first} of {points} points)")
        body = json.dumps({"run_id": run_id, "metrics": metric_batch(first, min(1000, points - first))})
        client.post_raw("runs/log-batch", body.encode())
    times = []
    for _ in range(sizes["history_repeats"]):
        started = time.perf_counter()
        got = fetch_history(client, run_id, "m", deadline)
        times.append(time.perf_counter() - started)
        if got != points:
            raise BenchError(f"get-history returned {got} of {points} points")
        if deadline.passed():
            break
    detail = {"points": points, "page_size": HISTORY_PAGE, "seconds": [round(t, 4) for t in times]}
    return {"get_metric_history": (min(times), detail)}


def search_metric_value(i, count):
    """Metric m of seeded run i: a permutation of evenly spread values in [0.25, 1)."""
    return 0.25 + 0.75 * ((i * 37) % count) / count


def scenario_search_runs(client, sizes, deadline, context):
    experiment_id = client.new_experiment("search_runs")
    count = sizes["search_runs"]
    # Seeding is not measured: it has a budget of its own, larger, so that a server that is slow
    # to write (the official one with basic-auth: 2 requests per run) still gets searched.
    seeding = Deadline(SEED_BUDGET_FACTOR * sizes["budget"])
    for i in range(count):
        if seeding.passed():
            raise BenchError(f"time budget used up while seeding ({i} of {count} runs)")
        run_id = client.new_run(experiment_id, f"search-{i}")
        m, timestamp = search_metric_value(i, count), now_ms()
        client.post("runs/log-batch", {
            "run_id": run_id,
            "metrics": [
                {"key": "m", "value": m, "timestamp": timestamp, "step": 0},
                {"key": "loss", "value": 1 - m, "timestamp": timestamp, "step": 0},
            ],
            "params": [
                {"key": "lr", "value": str(0.001 * (1 + i % 10))},
                {"key": "model", "value": "forest" if i % 2 else "linear"},
            ],
            "tags": [{"key": "team", "value": "a" if i % 3 else "b"}],
        })
    matching = sorted((v for v in (search_metric_value(i, count) for i in range(count)) if v > 0.5), reverse=True)
    expected = min(SEARCH_PAGE, len(matching))
    body = {
        "experiment_ids": [experiment_id],
        "filter": SEARCH_FILTER,
        "run_view_type": "ACTIVE_ONLY",
        "max_results": SEARCH_PAGE,
        "order_by": ["metrics.m DESC"],
    }

    def search():
        runs = client.post("runs/search", body).get("runs") or []
        if len(runs) != expected:
            raise BenchError(f"runs/search returned {len(runs)} runs, expected {expected}")
        first = {m["key"]: m["value"] for m in runs[0]["data"].get("metrics", [])}
        if abs(first.get("m", -1) - matching[0]) > 1e-9:
            raise BenchError("runs/search: wrong order (first run is not the highest m)")

    deadline = Deadline(sizes["budget"])
    for _ in range(2):
        search()
    times = []
    cpu = cpu_clock(context)
    for _ in range(sizes["search_repeats"]):
        started = time.perf_counter()
        search()
        times.append(time.perf_counter() - started)
        if deadline.passed():
            break
    searches, more = len(times), Deadline(SEARCH_CPU_SECONDS)
    while cpu is not None and searches < sizes["search_cpu_repeats"] and not (more.passed() or deadline.passed()):
        search()  # the CPU clock ticks in 10 ms per process: more searches than timed ones, for its row
        searches += 1
    detail = {"seeded_runs": count, "results": expected, "ms": [round(t * 1000, 2) for t in times]}
    return with_cpu({"search_runs": (statistics.median(times) * 1000, detail)}, "search_runs", cpu, context,
                    searches)


def scenario_artifacts(client, sizes, deadline, context):
    experiment_id = client.new_experiment("artifacts")
    run_id = client.new_run(experiment_id, "artifacts")
    path, size = context["big_file"], os.path.getsize(context["big_file"])
    base = f"{ARTIFACTS}{experiment_id}/{run_id}/artifacts/"
    uploads, downloads = [], []
    for i in range(sizes["artifact_repeats"]):
        name = f"big-{i}.bin"
        with open(path, "rb") as body:  # a file object: requests streams it with Content-Length
            started = time.perf_counter()
            client.call("PUT", base + name, "artifact upload", timeout=600, data=body,
                        headers={"Content-Type": "application/octet-stream"})
            uploads.append(time.perf_counter() - started)

        started = time.perf_counter()
        response = client.call("GET", base + name, "artifact download", timeout=600, stream=True)
        received = 0
        with response:
            for chunk in response.iter_content(chunk_size=MiB):
                received += len(chunk)
        downloads.append(time.perf_counter() - started)
        if received != size:
            raise BenchError(f"artifact download: got {received} of {size} bytes")
        if deadline.passed():
            break
    mib = size / MiB
    return {
        "artifact_upload": (mib / min(uploads), {"mib": mib, "seconds": [round(t, 3) for t in uploads]}),
        "artifact_download": (mib / min(downloads), {"mib": mib, "seconds": [round(t, 3) for t in downloads]}),
    }


# (scenario name, function, rows it fills)
SCENARIOS = [
    ("create_run", scenario_create_run, ["create_run", "create_run_cpu"]),
    ("log_metric", scenario_log_metric, ["log_metric", "log_metric_cpu"]),
    ("log_batch", scenario_log_batch, ["log_batch", "log_batch_cpu"]),
    ("get_metric_history", scenario_get_metric_history, ["get_metric_history"]),
    ("search_runs", scenario_search_runs, ["search_runs", "search_runs_cpu"]),
    ("artifacts", scenario_artifacts, ["artifact_upload", "artifact_download"]),
]


def row_specs(sizes):
    """Row key -> (label, unit, higher is better: True/False/None for no ratio)."""
    return {
        "startup": ("start-up (until /health 200)", "s", False),
        "idle_rss": ("idle memory, RSS sum", "MiB", False),
        "idle_pss": ("idle memory, PSS sum", "MiB", False),
        "processes": ("processes in the tree", "count", None),
        "create_run": (f"create_run x{sizes['create_run']}", "req/s", True),
        "create_run_cpu": ("  server CPU per create_run", "ms", False),
        "log_metric": (f"log_metric x{sizes['log_metric']}", "req/s", True),
        "log_metric_cpu": ("  server CPU per log_metric", "ms", False),
        "log_batch": (f"log_batch x{sizes['log_batch']} of 1000", "metrics/s", True),
        "log_batch_cpu": ("  server CPU per log_batch", "ms", False),
        "get_metric_history": (f"get_metric_history {sizes['history_points']} pts, best", "s", False),
        "search_runs": (f"search_runs {sizes['search_runs']} runs, median", "ms", False),
        "search_runs_cpu": ("  server CPU per search", "ms", False),
        "artifact_upload": (f"artifact upload {sizes['artifact_mib']} MiB, best", "MiB/s", True),
        "artifact_download": (f"artifact download {sizes['artifact_mib']} MiB, best", "MiB/s", True),
        "rss_after": ("memory after the run, RSS sum", "MiB", False),
    }


# --------------------------------------------------------------------------- main


def start_servers(servers, rows, unreachable):
    for server in servers:
        try:
            server.start()
            for key, value in server.stats.items():
                rows[key][server.name] = {"value": value}
            print(f"  {server.name}: /health after {server.stats['startup']:.2f}s, "
                  f"idle RSS {server.stats['idle_rss']:.0f} MiB", file=sys.stderr)
        except BenchError as e:
            unreachable[server.name] = f"start failed: {e}"
            rows["startup"][server.name] = {"error": str(e)}


def add_bench_users(servers, unreachable):
    """On each server started with basic-auth, the admin creates the non-admin user the scenarios
    run as (admins skip the permission checks); it creates their experiments, so it owns them
    (MANAGE), as a user logging their own runs does. Returns {server name: (username, password)}."""
    credentials = {}
    for server in servers:
        if server.admin_password is None or server.name in unreachable:
            continue
        user = (BENCH_USER, secrets.token_urlsafe(16))
        admin, client = Client(server.url, (ADMIN_USERNAME, server.admin_password)), Client(server.url, user)
        try:
            admin.post("users/create", {"username": user[0], "password": user[1]})
            current = client.json("GET", "users/current").get("user") or {}
            if current.get("username") != user[0] or current.get("is_admin") is not False:
                raise BenchError(f"users/current: expected the non-admin {user[0]}, got {current}")
            credentials[server.name] = user
        except BenchError as e:
            unreachable[server.name] = f"auth setup failed: {e}"
            print(f"  {server.name}: {unreachable[server.name]}", file=sys.stderr)
        finally:
            admin.session.close()
            client.session.close()
    return credentials


def check_targets(targets, info, unreachable, credentials):
    """GET /health (and /version, for the record) of every target not known to be down."""
    for name, url in targets:
        if name in unreachable:
            continue
        client = Client(url, credentials.get(name))
        try:
            client.call("GET", "/health", "/health", timeout=5)
            info[name]["version"] = client.call("GET", "/version", "/version", timeout=5).text.strip()[:40]
        except BenchError as e:
            if "/health" in str(e):  # a missing /version is no reason to skip a target
                unreachable[name] = f"unreachable: {e}"
                print(f"  {name}: {unreachable[name]}", file=sys.stderr)
        finally:
            client.session.close()


def run_scenarios(targets, started, selected, sizes, specs, rows, unreachable, context, credentials):
    for scenario, function, row_keys in SCENARIOS:
        if selected and scenario not in selected:
            continue
        for name, url in targets:  # scenario by scenario, so the targets run side by side in time
            if name in started and name not in unreachable and started[name].exit_reason():
                unreachable[name] = "server " + started[name].exit_reason()
                print(f"  {name}: {unreachable[name]}", file=sys.stderr)
            if name in unreachable:
                for key in row_keys:
                    rows[key][name] = {"error": unreachable[name]}
                continue
            print(f"[{scenario}] {name} ...", file=sys.stderr, end=" ", flush=True)
            client = Client(url, credentials.get(name))
            clock = started[name].cpu_seconds if name in started else None
            try:
                results = function(client, sizes, Deadline(sizes["budget"]), {**context, "cpu_seconds": clock})
                for key, (value, detail) in results.items():
                    rows[key][name] = {"value": value, "detail": detail}
                print(", ".join(f"{fmt(v)} {specs[k][1]}{' CPU' if k.endswith('_cpu') else ''}"
                                for k, (v, _) in results.items()), file=sys.stderr)
            except Exception as e:  # one failing target must not stop the run
                reason = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
                for key in row_keys:
                    rows[key][name] = {"error": reason}
                print("error: " + reason, file=sys.stderr)
            finally:
                client.session.close()


def write_big_file(path, mib):
    block = os.urandom(MiB)  # incompressible; repeated, so writing it is cheap
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


def main():
    parser = argparse.ArgumentParser(description="Side-by-side benchmark of MLflow tracking servers.")
    parser.add_argument("--target", action="append", default=[], type=parse_target, metavar="NAME=URL",
                        help="a running server, e.g. ours=http://127.0.0.1:5555 (repeatable)")
    parser.add_argument("--start-ours", action="store_true",
                        help="start ./run.sh on a free port with a temporary sqlite database (first column)")
    parser.add_argument("--start-official", action="store_true",
                        help="start bench/official_server.sh on a free port (last column)")
    parser.add_argument("--start-ours-auth", action="store_true",
                        help="start ours with basic-auth (MLFLOW_APP_NAME=basic-auth) as 'ours-auth', the first "
                             "column; the scenarios run as a non-admin user the admin creates")
    parser.add_argument("--start-official-auth", action="store_true",
                        help="start the official server with --app-name basic-auth as 'official-auth', before "
                             "'official'; the scenarios run as a non-admin user the admin creates")
    parser.add_argument("--compare", action="append", default=[], metavar="A/B",
                        help="ratio columns of these pairs of names (repeatable), instead of the first "
                             "column against each other one")
    parser.add_argument("--workers", type=int, default=4,
                        help="worker processes for started servers: MLFLOW_WORKERS for ours, "
                             "--workers for the official one (default 4, mlflow's default)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--scenario", action="append", choices=[s[0] for s in SCENARIOS],
                        help="run only these scenarios (repeatable)")
    parser.add_argument("--new-connections", action="store_true",
                        help="open a new TCP connection per request instead of keep-alive")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the data directories and logs of started servers")
    args = parser.parse_args()

    sizes = QUICK if args.quick else FULL
    specs = row_specs(sizes)
    Client.new_connections = args.new_connections
    # Columns: ours-auth, ours, the --targets, official-auth, official.
    ours = [name for name, on in (("ours-auth", args.start_ours_auth), ("ours", args.start_ours)) if on]
    official = [name for name, on in (("official-auth", args.start_official_auth), ("official", args.start_official))
                if on]
    names = ours + [name for name, _ in args.target] + official
    if not names:
        parser.error("give at least one --target, --start-ours(-auth) or --start-official(-auth)")
    if len(set(names)) != len(names):
        parser.error(f"target names must differ: {names}")
    pairs = [tuple(pair.split("/", 1)) for pair in args.compare] or [(names[0], name) for name in names[1:]]
    if unknown := {name for pair in pairs for name in pair} - set(names):
        parser.error(f"--compare: no target named {', '.join(sorted(unknown))} (names: {', '.join(names)})")

    if official:
        setup_official()
    password = secrets.token_urlsafe(16)  # the admin's, on servers started with basic-auth

    def server(name):
        start = ours_server if name in ours else official_server
        return start(args.workers, admin_password=password if name.endswith("-auth") else None, name=name)

    servers = [server(name) for name in ours + official]

    interrupt_on_signals()

    started_at = time.strftime("%Y%m%d-%H%M%S")
    rows = {key: {} for key in specs}
    info = {name: {"url": url, "started": False} for name, url in args.target}
    unreachable = {}  # target name -> reason
    big_dir = tempfile.mkdtemp(prefix="mlflow-bench-")
    try:
        start_servers(servers, rows, unreachable)
        credentials = add_bench_users(servers, unreachable)
        for server in servers:
            info[server.name] = {"url": server.url, "started": True, "command": server.command,
                                 "auth": server.admin_password is not None}
        urls = {name: entry["url"] for name, entry in info.items()}
        targets = [(name, urls[name]) for name in names]
        check_targets(targets, info, unreachable, credentials)

        context = {"big_file": os.path.join(big_dir, "big.bin")}
        if not args.scenario or "artifacts" in args.scenario:
            write_big_file(context["big_file"], sizes["artifact_mib"])
        started = {server.name: server for server in servers}
        run_scenarios(targets, started, args.scenario, sizes, specs, rows, unreachable, context, credentials)

        for server in servers:
            if server.name not in unreachable and not server.exit_reason():
                rows["rss_after"][server.name] = {"value": tree_memory(server.process.pid)[0]}
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        for server in servers:
            print(f"stopping {server.name} ...", file=sys.stderr)
            server.stop(keep_data=args.keep_data)
        shutil.rmtree(big_dir, ignore_errors=True)

    print()
    print_table(names, rows, specs, pairs)

    results_dir = os.path.join(BENCH_DIR, "results")
    os.makedirs(results_dir, exist_ok=True)
    out = os.path.join(results_dir, f"{started_at}.json")
    report = {
        "started_at": started_at,
        "quick": args.quick,
        "sizes": sizes,
        "keep_alive": not args.new_connections,
        "workers_for_started_servers": args.workers,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "targets": info,
        "ratios": [f"{a}/{b}" for a, b in pairs],
        "rows": [
            {"key": key, "label": spec[0], "unit": spec[1], "higher_is_better": spec[2], "results": rows[key]}
            for key, spec in specs.items() if rows[key]
        ],
    }
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nresults: {os.path.relpath(out, os.getcwd())}")


if __name__ == "__main__":
    main()
