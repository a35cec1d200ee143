"""How fast the web UI draws with big data, in Debian's Chromium driven by Playwright.

Starts our server (SQLite in a temp dir), logs an experiment of 20,000 runs (runs/create and
runs/log-batch over HTTP, 8 threads; each run has 5 params, 5 metrics, 2 tags) and a run with
a 100,000-point metric history, then measures in a fresh page each time:

  runs page      navigation until the first page of runs is drawn (the table's data-state)
  next page      scrolling to the end of the loaded rows until the next page is drawn
  sort           clicking a metric column until the re-sorted first page is drawn
  filter         a metric filter until its first page is drawn
  chart          navigation until the 100k-point history is drawn (sampled on the server
                 by metrics/get-history-bulk-interval)
  zoom           dragging over a tenth of the steps until that range is drawn in detail

Usage: .venv-test/bin/python bench/ui.py [--runs 20000] [--points 100000] [--repeat 3]
Prints a table and writes bench/results/ui-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import BENCH_DIR, ours_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def seed_runs(url: str, experiment_id: str, count: int) -> None:
    api = f"{url}/api/2.0/mlflow"
    local = threading.local()

    def session():
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.trust_env = False
        return local.s

    def one(i: int) -> None:
        s = session()
        run = s.post(f"{api}/runs/create", json={"experiment_id": experiment_id, "run_name": f"run-{i:05d}",
                                                 "start_time": 1_700_000_000_000 + i * 1000}, timeout=30)
        run.raise_for_status()
        run_id = run.json()["run"]["info"]["run_id"]
        metrics = [{"key": k, "value": ((i * 7919 + j * 104729) % 10007) / 10007, "timestamp": 1_700_000_000_000 + i, "step": 0}
                   for j, k in enumerate(["loss", "accuracy", "f1", "precision", "recall"])]
        params = [{"key": k, "value": str(v)} for k, v in
                  {"lr": 10 ** -(1 + i % 4), "batch": 2 ** (4 + i % 4), "layers": 2 + i % 6, "optimizer": ("adam", "sgd")[i % 2],
                   "seed": i}.items()]
        tags = [{"key": "team", "value": ("vision", "nlp", "speech")[i % 3]}, {"key": "stage", "value": ("dev", "prod")[i % 2]}]
        s.post(f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": metrics, "params": params, "tags": tags},
               timeout=30).raise_for_status()
        s.post(f"{api}/runs/update", json={"run_id": run_id, "status": "FINISHED",
                                           "end_time": 1_700_000_000_000 + i * 1000 + 5000 + i % 977}, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        for done, _ in enumerate(pool.map(one, range(count)), 1):
            if done % 2000 == 0:
                print(f"  {done} runs", file=sys.stderr)


def seed_history(url: str, experiment_id: str, points: int) -> str:
    api = f"{url}/api/2.0/mlflow"
    s = requests.Session()
    s.trust_env = False
    run_id = s.post(f"{api}/runs/create", json={"experiment_id": experiment_id, "run_name": "long-history",
                                                "start_time": 1_700_000_000_000}, timeout=30).json()["run"]["info"]["run_id"]
    for start in range(0, points, 1000):
        batch = [{"key": "train_loss", "value": 1 / (1 + step / 500) + 0.02 * ((step * 7919) % 97) / 97,
                  "timestamp": 1_700_000_000_000 + step * 100, "step": step} for step in range(start, min(points, start + 1000))]
        s.post(f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": batch}, timeout=60).raise_for_status()
    return run_id


def measure(browser, url: str, route: str, ready: str, action=None) -> float:
    """Milliseconds until `ready` is visible: from navigation start, or from the action's start."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{url}/#{route}")
        page.wait_for_selector(ready, timeout=120_000)
        if action is None:
            return page.evaluate("performance.now()")
        return action(page)
    finally:
        context.close()


def timed(page, act, ready: str) -> float:
    start = page.evaluate("performance.now()")
    act()
    page.wait_for_selector(ready, timeout=120_000)
    return page.evaluate("performance.now()") - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = ours_server(workers=4)
    server.start()
    try:
        api = f"{server.url}/api/2.0/mlflow"
        exp = requests.post(f"{api}/experiments/create", json={"name": "ui-bench"}, timeout=30).json()["experiment_id"]
        started = time.monotonic()
        print(f"logging {args.runs} runs ...", file=sys.stderr)
        seed_runs(server.url, exp, args.runs)
        history_exp = requests.post(f"{api}/experiments/create", json={"name": "ui-bench-history"}, timeout=30).json()["experiment_id"]
        run_id = seed_history(server.url, history_exp, args.points)
        seeding = time.monotonic() - started
        print(f"seeded in {seeding:.0f}s", file=sys.stderr)

        grid_ready = ".vgrid[data-state=ready]"
        chart_ready = ".metric-panel[data-state=ready]"

        def next_page(page):
            rows = page.locator(".vrow").count()
            start = page.evaluate("performance.now()")
            page.evaluate("document.querySelector('.vgrid').scrollTop = 1e9")
            page.wait_for_function(f"document.querySelector('.vgrid .vbody').offsetHeight > {rows} * 36 + 36 * 100",
                                   timeout=120_000)
            page.wait_for_selector(grid_ready)
            return page.evaluate("performance.now()") - start

        def sort(page):
            return timed(page, lambda: page.get_by_title("Sort by loss", exact=True).click(), grid_ready)

        def filter_(page):
            def act():
                page.get_by_label("Filter runs").fill("metrics.accuracy > 0.5 and params.optimizer = 'adam'")
                page.get_by_label("Filter runs").press("Enter")
            return timed(page, act, grid_ready)

        def zoom(page):
            box = page.locator(".metric-panel canvas").bounding_box()
            y = box["y"] + box["height"] / 2
            left = box["x"] + 64  # the plot's left margin
            width = box["width"] - 64 - 16

            def act():
                page.mouse.move(left + width * 0.45, y)
                page.mouse.down()
                page.mouse.move(left + width * 0.55, y, steps=4)
                page.mouse.up()  # the panel is 'loading' from here until the range is drawn
            return timed(page, act, chart_ready)

        cases = [
            ("runs page: first render", f"/experiments/{exp}", grid_ready, None),
            ("runs page: next page on scroll", f"/experiments/{exp}", grid_ready, next_page),
            ("runs page: sort by a metric", f"/experiments/{exp}", grid_ready, sort),
            ("runs page: filter", f"/experiments/{exp}", grid_ready, filter_),
            (f"chart of {args.points:,} points: first render", f"/experiments/{history_exp}/runs/{run_id}/metrics?metrics=train_loss",
             chart_ready, None),
            ("chart: zoom to a tenth", f"/experiments/{history_exp}/runs/{run_id}/metrics?metrics=train_loss", chart_ready, zoom),
        ]
        results = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            measure(browser, server.url, f"/experiments/{exp}", grid_ready)  # warm the server's caches once
            for name, route, ready, action in cases:
                samples = [measure(browser, server.url, route, ready, action) for _ in range(args.repeat)]
                results[name] = {"median_ms": round(statistics.median(samples)), "samples_ms": [round(s) for s in samples]}
                print(f"  {name}: {results[name]['median_ms']} ms", file=sys.stderr)
            browser.close()
    finally:
        server.stop()

    print(f"\nUI timings ({args.runs:,} runs, {args.points:,}-point history; median of {args.repeat}):\n")
    print("| what | ms |\n| --- | ---: |")
    for name, result in results.items():
        print(f"| {name} | {result['median_ms']} |")
    out_dir = os.path.join(BENCH_DIR, "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"ui-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump({"runs": args.runs, "points": args.points, "seeding_s": round(seeding), "results": results}, f, indent=2)
    print(f"\n(written to {path})")


if __name__ == "__main__":
    main()
