#!/usr/bin/env python3
"""Search and history at scale, side by side: a seeded experiment of many runs.

    python bench/scale.py --start-ours --start-official [--backend postgresql] [--runs 20000]
    python bench/scale.py --target ours=http://127.0.0.1:5555 --target official=http://127.0.0.1:5600
    python bench/scale.py --start-ours --start-official --reuse ours=sqlite:////tmp/a/mlflow.db \
        --reuse official=sqlite:////tmp/b/mlflow.db   # measure again the databases of a --keep-data run

Every run gets 10 params, 5 tags and 10 metrics of --steps steps, seeded through
runs/log-batch (1000 points per request, several seeding clients at once). Searches are
measured twice, once after the first --checkpoint runs and again after all --runs, so the
table shows how search time grows with the number of runs stored. Then 10 runs of 100k
points each measure get-history and get-history-bulk-interval. For servers the bench started,
it also reports the CPU time the server spends per search, which unlike latency does not
depend on what else the machine is doing. See bench/README.md.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from client import Client, fetch_history, parse_target
from report import print_table
from servers import BENCH_DIR, BenchError, interrupt_on_signals, official_server, ours_server, setup_official

PARAMS, TAGS, METRICS = 10, 5, 10
P0_VALUES = ("a", "b", "c", "d")
FILTER = "metrics.m0 > 0.5 AND params.p0 = 'a'"
ORDER_BY = ["metrics.m1 DESC"]
HISTORY_RUNS, HISTORY_POINTS = 10, 100_000
BULK_MAX_RESULTS = 1000
PG = "postgresql://postgres@127.0.0.1:5432/"


def value(run, metric, step):
    """A deterministic pseudo-random metric value in [0, 1)."""
    return ((run * 2654435761 + metric * 40503 + step * 9973) % 100_003) / 100_003


def param(run, k):
    return P0_VALUES[run % 4] if k == 0 else f"v{(run * 7 + k) % 50}"


def run_bodies(run_id, i, steps, timestamp):
    """The log-batch bodies that seed run i: params and tags with the first metric points."""
    points = [{"key": f"m{k}", "value": value(i, k, s), "timestamp": timestamp + s, "step": s}
              for k in range(METRICS) for s in range(steps)]
    params = [{"key": f"p{k}", "value": param(i, k)} for k in range(PARAMS)]
    tags = [{"key": f"t{k}", "value": f"tag-{(i + k) % 7}"} for k in range(TAGS)]
    first = 1000 - PARAMS - TAGS  # at most 1000 entities per request
    bodies = [{"run_id": run_id, "metrics": points[:first], "params": params, "tags": tags}]
    bodies += [{"run_id": run_id, "metrics": points[n:n + 1000]} for n in range(first, len(points), 1000)]
    return [json.dumps(b).encode() for b in bodies]


class Seeder:
    """Seeds runs [done, upto) of one experiment with `clients` concurrent sessions."""

    def __init__(self, url, experiment_id, steps, clients):
        self.url, self.experiment_id, self.steps, self.clients = url, experiment_id, steps, clients
        self.done, self.seconds = 0, 0.0
        self.local = threading.local()

    def client(self):
        if not hasattr(self.local, "client"):
            self.local.client = Client(self.url)
        return self.local.client

    def seed_one(self, i):
        client = self.client()
        start = 1_700_000_000_000 + i * 1000  # distinct start times, in seeding order
        run_id = client.post("runs/create", {"experiment_id": self.experiment_id, "start_time": start,
                                             "run_name": f"run-{i}", "user_id": "bench"})["run"]["info"]["run_id"]
        for body in run_bodies(run_id, i, self.steps, start):
            client.post_raw("runs/log-batch", body, timeout=300)

    def seed(self, upto):
        if upto <= self.done:
            return
        started = time.perf_counter()
        with ThreadPoolExecutor(self.clients) as pool:
            list(pool.map(self.seed_one, range(self.done, upto)))
        self.seconds += time.perf_counter() - started
        self.done = upto


def expected_top(count, steps, limit):
    """The m1 values of the first `limit` runs the filtered, ordered search must return."""
    last = steps - 1
    matching = [value(i, 1, last) for i in range(count) if value(i, 0, last) > 0.5 and param(i, 0) == "a"]
    return sorted(matching, reverse=True)[:limit]


def latest(run_json, key):
    return next(m["value"] for m in run_json["data"]["metrics"] if m["key"] == key)


def search_top(client, experiment_id, limit, expected):
    body = {"experiment_ids": [experiment_id], "filter": FILTER, "order_by": ORDER_BY, "max_results": limit}
    runs = client.post("runs/search", body, timeout=600).get("runs") or []
    got = [latest(r, "m1") for r in runs]
    if len(got) != len(expected) or any(abs(a - b) > 1e-12 for a, b in zip(got, expected)):
        raise BenchError(f"runs/search top {limit}: wrong answer ({len(got)} runs)")


def timed(function, repeats):
    """Median and all timings (ms) of `repeats` calls after one untimed call."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), [round(t, 1) for t in times]


def page_all(client, experiment_id, count):
    seen, token = set(), None
    while True:
        body = {"experiment_ids": [experiment_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = client.post("runs/search", body, timeout=600)
        seen.update(r["info"]["run_id"] for r in page.get("runs") or [])
        token = page.get("next_page_token")
        if not token:
            break
    if len(seen) != count:
        raise BenchError(f"paging saw {len(seen)} of {count} runs")


def concurrent_searches(url, experiment_id, expected, clients, seconds):
    """`clients` sessions searching top-100 for `seconds`: searches/s and median latency (ms)."""
    stop = time.monotonic() + seconds
    latencies, lock = [], threading.Lock()

    def work():
        client = Client(url)
        search_top(client, experiment_id, 100, expected)
        mine = []
        while not mine or time.monotonic() < stop:  # at least one, however slow
            started = time.perf_counter()
            search_top(client, experiment_id, 100, expected)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: work(), range(clients)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies)


def measure_search(name, seeder, repeats, rows, tag, cpu_seconds=None):
    """cpu_seconds: the server's CPU clock, for servers the bench started."""
    url, experiment_id, count = seeder.url, seeder.experiment_id, seeder.done
    client = Client(url)
    for limit, times in ((100, repeats), (1000, max(3, repeats // 4))):
        expected = expected_top(count, seeder.steps, limit)
        cpu_before = cpu_seconds() if cpu_seconds else None
        ms, detail = timed(lambda: search_top(client, experiment_id, limit, expected), times)
        rows[f"top{limit}_{tag}"][name] = {"value": ms, "detail": detail}
        if cpu_seconds:
            cpu_ms = (cpu_seconds() - cpu_before) * 1000 / (times + 1)  # timed() makes one untimed call
            rows[f"top{limit}_cpu_{tag}"][name] = {"value": cpu_ms}
    ms, detail = timed(lambda: page_all(client, experiment_id, count), 2)
    rows[f"page_all_{tag}"][name] = {"value": ms / 1000, "detail": detail}
    rate, median = concurrent_searches(url, experiment_id, expected_top(count, seeder.steps, 100), 8, 20)
    rows[f"concurrent_{tag}"][name] = {"value": rate, "detail": {"median_ms": round(median, 1)}}
    rows[f"concurrent_latency_{tag}"][name] = {"value": median}
    print(f"  {name} @ {count} runs: top100 {rows[f'top100_{tag}'][name]['value']:.1f} ms, "
          f"top1000 {rows[f'top1000_{tag}'][name]['value']:.1f} ms, page all "
          f"{rows[f'page_all_{tag}'][name]['value']:.2f} s, 8 clients {rate:.1f}/s", file=sys.stderr)


def earlier_experiment(client, scenario):
    """The id of the experiment a --keep-data run of this bench seeded for `scenario`, if any."""
    found = client.post("experiments/search", {"filter": f"name LIKE 'bench-{scenario}-%'", "max_results": 1})
    return (found.get("experiments") or [{}])[0].get("experiment_id")


def history_runs(name, client, reuse, rows):
    """The ids of the history runs: an earlier run's (reuse) or seeded now, timed."""
    experiment_id = reuse and earlier_experiment(client, "history")
    if experiment_id:
        found = client.post("runs/search", {"experiment_ids": [experiment_id], "max_results": HISTORY_RUNS})
        return [r["info"]["run_id"] for r in found.get("runs") or []]
    experiment_id = client.new_experiment("history")
    run_ids = []
    started = time.perf_counter()
    for r in range(HISTORY_RUNS):
        run_id = client.new_run(experiment_id, f"history-{r}")
        for first in range(0, HISTORY_POINTS, 1000):
            body = {"run_id": run_id, "metrics": [
                {"key": "loss", "value": value(r, 0, s), "timestamp": 1_700_000_000_000 + s, "step": s}
                for s in range(first, first + 1000)]}
            client.post_raw("runs/log-batch", json.dumps(body).encode(), timeout=300)
        run_ids.append(run_id)
    rows["history_seed"][name] = {"value": HISTORY_RUNS * HISTORY_POINTS / (time.perf_counter() - started)}
    return run_ids


def measure_history(name, url, reuse, rows, backend):
    client = Client(url)
    run_ids = history_runs(name, client, reuse, rows)
    if backend.startswith("postgresql"):
        vacuum_analyze(backend)

    def history():
        got = fetch_history(client, run_ids[0], "loss", deadline=NoDeadline)
        if got != HISTORY_POINTS:
            raise BenchError(f"get-history returned {got} of {HISTORY_POINTS} points")

    ms, detail = timed(history, 3)
    rows["history"][name] = {"value": ms / 1000, "detail": detail}

    def bulk():
        params = {"run_ids": run_ids, "metric_key": "loss", "max_results": BULK_MAX_RESULTS}
        points = client.json("GET", "metrics/get-history-bulk-interval", params=params, timeout=600)["metrics"]
        steps = {p["run_id"]: set() for p in points}
        for p in points:
            steps[p["run_id"]].add(p["step"])
        if len(steps) != HISTORY_RUNS or any({0, HISTORY_POINTS - 1} - s for s in steps.values()):
            raise BenchError("get-history-bulk-interval: runs or first/last steps missing")

    ms, detail = timed(bulk, 5)
    rows["bulk_interval"][name] = {"value": ms, "detail": detail}


class NoDeadline:
    @staticmethod
    def passed():
        return False


def row_specs(checkpoint, runs):
    specs = {"seed": ("seeding, metric points through log-batch", "points/s", True)}
    for tag, count in (("small", checkpoint), ("full", runs)):
        specs.update({
            f"top100_{tag}": (f"{count} runs: filtered top 100, median", "ms", False),
            f"top1000_{tag}": (f"{count} runs: filtered top 1000, median", "ms", False),
            f"top100_cpu_{tag}": (f"{count} runs: filtered top 100, server CPU per search", "ms", False),
            f"top1000_cpu_{tag}": (f"{count} runs: filtered top 1000, server CPU per search", "ms", False),
            f"page_all_{tag}": (f"{count} runs: page through all (1000/page)", "s", False),
            f"concurrent_{tag}": (f"{count} runs: 8 clients searching top 100", "searches/s", True),
            f"concurrent_latency_{tag}": (f"{count} runs: 8 clients, median latency", "ms", False),
        })
    specs.update({
        "history_seed": (f"{HISTORY_RUNS} x {HISTORY_POINTS} points through log-batch", "points/s", True),
        "history": (f"get_metric_history {HISTORY_POINTS} points, median", "s", False),
        "bulk_interval": (f"bulk-interval {HISTORY_RUNS} runs, max {BULK_MAX_RESULTS}, median", "ms", False),
    })
    return specs


def create_pg_database(name):
    connection = psycopg2.connect(PG + "postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return PG + name


def vacuum_analyze(uri):
    """Statistics for the planner and the visibility map for index-only scans, as autovacuum
    would keep them (it is off on some machines)."""
    connection = psycopg2.connect(uri.replace("+psycopg2", "", 1))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()


def drop_pg_database(name):
    connection = psycopg2.connect(PG + "postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def reused_database(text):
    name, sep, uri = text.partition("=")
    if name not in ("ours", "official") or not sep or not uri:
        raise argparse.ArgumentTypeError(f"{text}: expected ours=URI or official=URI")
    return name, uri


def main():
    parser = argparse.ArgumentParser(description="Search and history at scale, side by side.")
    parser.add_argument("--target", action="append", default=[], type=parse_target, metavar="NAME=URL")
    parser.add_argument("--start-ours", action="store_true")
    parser.add_argument("--start-official", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="backend store of started servers (postgresql: a new database on 127.0.0.1:5432)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--checkpoint", type=int, default=2_000, help="runs seeded before the first measurement")
    parser.add_argument("--steps", type=int, default=100, help="steps of each of the 10 metrics of a run")
    parser.add_argument("--seeders", type=int, default=4, help="concurrent seeding clients")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--reuse", action="append", default=[], type=reused_database, metavar="NAME=URI",
                        help="start that server on the database of a --keep-data run and measure its runs again")
    args = parser.parse_args()
    reuse = dict(args.reuse)

    names = (["ours"] if args.start_ours else []) + [n for n, _ in args.target]
    names += ["official"] if args.start_official else []
    if not names:
        parser.error("give --target, --start-ours or --start-official")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    databases = {}
    if args.backend == "postgresql":  # a database for each server the bench starts
        for name in ("ours",) * args.start_ours + ("official",) * args.start_official:
            databases[name] = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    if args.start_official:
        setup_official()
    backends = dict(reuse)  # name -> database URI of a started server, when not its own SQLite file
    for name in set(databases) - set(backends):
        # SQLAlchemy 2.1 takes postgresql:// to mean psycopg 3; the official venv has psycopg2
        backends[name] = create_pg_database(databases[name]).replace(
            "postgresql://", "postgresql+psycopg2://" if name == "official" else "postgresql://", 1)
    servers = []
    if args.start_ours:
        servers.append(ours_server(args.workers, backends.get("ours")))
    if args.start_official:
        servers.append(official_server(args.workers, backends.get("official")))

    specs = row_specs(args.checkpoint, args.runs)
    interrupt_on_signals()
    rows = {key: {} for key in specs}
    try:
        for server in servers:
            server.start()
        urls = dict(args.target) | {s.name: s.url for s in servers}
        cpu_clocks = {s.name: s.cpu_seconds for s in servers}
        seeders = {}
        for name in names:
            client = Client(urls[name])
            earlier = name in reuse and earlier_experiment(client, "scale")
            seeders[name] = Seeder(urls[name], earlier or client.new_experiment("scale"), args.steps, args.seeders)
            if earlier:
                seeders[name].done = args.runs  # measured once, at --runs
        for tag, count in (("small", args.checkpoint), ("full", args.runs)):
            for name in names:  # one server at a time, so they never compete for the CPU
                if seeders[name].done > count:
                    continue
                print(f"[{name}] seeding to {count} runs ...", file=sys.stderr)
                seeders[name].seed(count)
                if backends.get(name, "").startswith("postgresql"):
                    vacuum_analyze(backends[name])
                measure_search(name, seeders[name], args.repeats, rows, tag, cpu_clocks.get(name))
        for name in names:
            seeder = seeders[name]
            if seeder.seconds:
                rows["seed"][name] = {"value": seeder.done * METRICS * args.steps / seeder.seconds,
                                      "detail": {"seconds": round(seeder.seconds, 1)}}
            print(f"[{name}] history ...", file=sys.stderr)
            measure_history(name, urls[name], name in reuse, rows, backends.get(name, ""))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        for server in servers:
            server.stop(keep_data=args.keep_data)
        if not args.keep_data:
            for database in databases.values():
                drop_pg_database(database)

    print(f"\n{args.runs} runs x ({PARAMS} params, {TAGS} tags, {METRICS} metrics x {args.steps} steps), "
          f"backend {args.backend}; filter {FILTER!r}, order_by {ORDER_BY}\n")
    print_table(names, rows, specs)
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    out = os.path.join(BENCH_DIR, "results", f"scale-{args.backend}-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"args": vars(args) | {"target": args.target}, "databases": databases,
                   "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                   "rows": {k: v for k, v in rows.items() if v}}, f, indent=2)
    print(f"\nresults: {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
