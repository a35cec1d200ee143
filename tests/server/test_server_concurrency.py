"""Concurrent writers through raw HTTP against 4 workers: no error responses (no
"database is locked"), nothing lost or duplicated, and the latest metric is the point of
the highest step. On SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import BACKENDS, backend_uri, unique

THREADS = 16
METRICS_PER_RUN = 50
PARAMS_PER_RUN = 10


@pytest.fixture(params=BACKENDS)
def busy_server(request, start_server, tmp_path):
    uri, cleanup = backend_uri(request.param, tmp_path)
    try:
        server = start_server(env={"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_WORKERS": "4",
                                   "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        yield server
        server.stop()
    finally:
        cleanup()


class Api:
    def __init__(self, url: str):
        self.base = f"{url}/api/2.0/mlflow/"
        self.session = requests.Session()

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(self.base + path, json=body, timeout=120)
        if response.status_code != 200:
            raise AssertionError(f"POST {path} -> {response.status_code} {response.text[:300]}")
        return response.json()

    def get(self, path: str, params: dict) -> dict:
        response = self.session.get(self.base + path, params=params, timeout=120)
        if response.status_code != 200:
            raise AssertionError(f"GET {path} -> {response.status_code} {response.text[:300]}")
        return response.json()


def full_history(api: Api, run_id: str, key: str) -> list[dict]:
    points, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
        if token:
            params["page_token"] = token
        page = api.get("metrics/get-history", params)
        points += page.get("metrics", [])
        token = page.get("next_page_token")
        if not token:
            return points


def run_threads(target, count: int) -> list[str]:
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def wrapped(index):
        try:
            barrier.wait(30)
            target(index)
        except Exception as error:
            with lock:
                errors.append(f"thread {index}: {error}")

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(wrapped, range(count)))
    return errors


def test_many_runs_logged_concurrently(busy_server):
    setup = Api(busy_server.url)
    exp_id = setup.post("experiments/create", {"name": unique()})["experiment_id"]
    run_ids: dict[int, str] = {}
    base_ts = int(time.time() * 1000)

    def work(index):
        api = Api(busy_server.url)
        run_id = api.post("runs/create", {"experiment_id": exp_id, "start_time": base_ts,
                                          "run_name": f"t{index}"})["run"]["info"]["run_id"]
        run_ids[index] = run_id
        for step in range(METRICS_PER_RUN):
            api.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": index * 1000 + step,
                                         "timestamp": base_ts + step, "step": step})
            if step < PARAMS_PER_RUN:
                api.post("runs/log-parameter", {"run_id": run_id, "key": f"p{step}", "value": f"{index}-{step}"})
        api.post("runs/set-tag", {"run_id": run_id, "key": "thread", "value": str(index)})

    errors = run_threads(work, THREADS)
    assert not errors, "\n".join(errors[:10])
    assert "database is locked" not in busy_server.log()

    check = Api(busy_server.url)
    for index, run_id in run_ids.items():
        run = check.get("runs/get", {"run_id": run_id})["run"]
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        assert params == {f"p{s}": f"{index}-{s}" for s in range(PARAMS_PER_RUN)}, run_id
        metrics = {m["key"]: m for m in run["data"].get("metrics", [])}
        assert metrics["m"]["step"] in (METRICS_PER_RUN - 1, str(METRICS_PER_RUN - 1))
        assert metrics["m"]["value"] == index * 1000 + METRICS_PER_RUN - 1
        history = full_history(check, run_id, "m")
        assert sorted((int(p["step"]), p["value"]) for p in history) == \
            [(s, index * 1000 + s) for s in range(METRICS_PER_RUN)], run_id
    found = check.post("runs/search", {"experiment_ids": [exp_id], "max_results": 1000}).get("runs", [])
    assert len(found) == THREADS


def test_concurrent_log_batch_to_the_same_run_and_key(busy_server):
    api = Api(busy_server.url)
    exp_id = api.post("experiments/create", {"name": unique()})["experiment_id"]
    run_id = api.post("runs/create", {"experiment_id": exp_id})["run"]["info"]["run_id"]
    batches_per_thread, per_batch = 8, 25
    total = THREADS * batches_per_thread * per_batch
    steps = list(range(total))
    random.Random(7).shuffle(steps)  # the highest step arrives at an arbitrary moment
    base_ts = int(time.time() * 1000)

    def point(step):
        return {"key": "shared", "value": step * 0.5, "timestamp": base_ts + step % 1000, "step": step}

    def work(index):
        local = Api(busy_server.url)
        mine = steps[index::THREADS]
        for b in range(batches_per_thread):
            chunk = mine[b * per_batch:(b + 1) * per_batch]
            body = {"run_id": run_id, "metrics": [point(s) for s in chunk] + [
                {"key": f"own-{index}", "value": float(s), "timestamp": base_ts, "step": s} for s in chunk]}
            if b % 2:  # every other batch has only metrics
                body |= {"params": [{"key": "shared-param", "value": "same"}],
                         "tags": [{"key": f"tag-{index}", "value": str(b)}]}
            local.post("runs/log-batch", body)

    errors = run_threads(work, THREADS)
    assert not errors, "\n".join(errors[:10])

    history = full_history(api, run_id, "shared")
    got = sorted((int(p["step"]), p["value"]) for p in history)
    assert len(got) == total, f"{total - len(got)} points lost (or duplicated if negative)"
    assert got == [(s, s * 0.5) for s in range(total)]

    run = api.get("runs/get", {"run_id": run_id})["run"]
    latest = {m["key"]: m for m in run["data"]["metrics"]}
    assert int(latest["shared"]["step"]) == total - 1
    assert latest["shared"]["value"] == (total - 1) * 0.5
    for index in range(THREADS):
        own = latest[f"own-{index}"]
        assert own["value"] == float(max(steps[index::THREADS])), index
        assert len(full_history(api, run_id, f"own-{index}")) == batches_per_thread * per_batch
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"shared-param": "same"}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert all(tags[f"tag-{i}"] == str(batches_per_thread - 1) for i in range(THREADS))
