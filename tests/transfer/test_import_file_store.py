"""`db import --from ./mlruns`: a team moves in from the official file store.

The store is made by the OFFICIAL server (3.17, .venv-official; and 2.22) on `--backend-store-uri <dir>`,
filled through the official client by populate_official.py (runs with histories, NaN and
+-inf points, params, tags, nested runs, datasets, logged models with metrics, a deleted run
and experiment, registered models, versions, stages, aliases, tags, prompts), and the official
server's REST answers are kept. Then:
- app/transfer/file_store.py read directly: every row against what the official FileStore
  API (the same package, in process) returns, counts, resuming at any position, bad files;
- `python -m app db import --from <dir>` into a fresh database, our server started on it:
  every entity read through our REST API equals the official server's answer.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from conftest import BACKENDS, ROOT, backend_uri, free_port
from server.server_support import app_cli
from transfer.official_support import OFFICIAL, OFFICIAL_2X, comparable, populate, snapshot

sys.path.insert(0, str(ROOT))  # the Source is read here, beside the official FileStore API it is checked against
from app.transfer.file_store import TABLES, FileStoreSource  # noqa: E402

DOUBLE_MAX = 1.7976931348623157e308


@contextlib.contextmanager
def official_file_store_server(store: Path, tmp: Path, venv: Path = OFFICIAL):
    """The official server of `venv` on the file store `store` (3.x refuses one unless
    MLFLOW_ALLOW_FILE_STORE=true); yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    log = open(tmp / f"official-{port}.log", "wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri", str(store),
         "--artifacts-destination", str(tmp / "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (tmp / log.name).read_text()[-3000:]
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the official server did not start in 180 s"
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)
        log.close()


@pytest.fixture(scope="module")
def file_store(tmp_path_factory):
    """(mlruns folder, what populate made, the official server's answers for every entity)."""
    tmp = tmp_path_factory.mktemp("file-store")
    store = tmp / "mlruns"
    with official_file_store_server(store, tmp) as url:
        made = populate(url, tmp)
        answers = snapshot(url)
    return store, made, answers


@pytest.fixture(scope="module")
def store_2x(tmp_path_factory):
    """A file store made, and answered for, by the official MLflow 2.22 server and client (no
    logged models or prompts)."""
    tmp = tmp_path_factory.mktemp("file-store-2x")
    store = tmp / "mlruns"
    with official_file_store_server(store, tmp, OFFICIAL_2X) as url:
        populate(url, tmp, OFFICIAL_2X)
        return store, snapshot(url)


@pytest.fixture
def official(monkeypatch, file_store):
    """The official FileStore API (tracking, registry) on the store, in this process."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(file_store[0]))  # where it looks up a version's logged model
    from mlflow.store.model_registry.file_store import FileStore as RegistryFileStore
    from mlflow.store.tracking.file_store import FileStore
    return FileStore(str(file_store[0])), RegistryFileStore(str(file_store[0]))


def read_all(source, table: str, size: int = 3) -> list[dict]:
    return [row for batch, _ in source.rows(table, size=size) for row in batch]


def point(value: float, is_nan: bool = False):
    return "nan" if is_nan or math.isnan(value) else value


def test_source_rows_are_what_the_official_file_store_holds(file_store, official):
    store, made, _ = file_store
    tracking, registry = official
    from mlflow.entities import ViewType
    source = FileStoreSource(str(store.parent))  # the folder holding mlruns/ is found too
    rows = {table: read_all(source, table) for table in TABLES}
    assert {table: source.count(table) for table in TABLES} == {table: len(r) for table, r in rows.items()}

    experiments = tracking.search_experiments(view_type=ViewType.ALL, max_results=1000)
    assert len(experiments) == 4  # Default, move-in, move-in-other, move-in-deleted
    assert sorted((int(e.experiment_id), e.name, e.artifact_location, e.lifecycle_stage, e.creation_time,
                   e.last_update_time) for e in experiments) == sorted(
        (r["experiment_id"], r["name"], r["artifact_location"], r["lifecycle_stage"], r["creation_time"],
         r["last_update_time"]) for r in rows["experiments"])
    assert sorted((int(e.experiment_id), k, v) for e in experiments for k, v in e.tags.items()) == sorted(
        (r["experiment_id"], r["key"], r["value"]) for r in rows["experiment_tags"])

    runs = tracking.search_runs([e.experiment_id for e in experiments], "", ViewType.ALL, max_results=1000)
    assert sorted(r.info.run_id for r in runs) == sorted(made["runs"])
    assert sorted((r.info.run_id, int(r.info.experiment_id), r.info.run_name, r.info.user_id, r.info.status,
                   r.info.start_time, r.info.end_time, r.info.lifecycle_stage, r.info.artifact_uri) for r in runs) \
        == sorted((r["run_uuid"], r["experiment_id"], r["name"], r["user_id"], r["status"], r["start_time"],
                   r["end_time"], r["lifecycle_stage"], r["artifact_uri"]) for r in rows["runs"])
    deleted = {r["run_uuid"]: r["deleted_time"] for r in rows["runs"] if r["lifecycle_stage"] == "deleted"}
    assert set(deleted) == set(made["runs"][-2:]) and all(deleted.values())
    for table, field in (("params", "params"), ("tags", "tags")):
        assert sorted((r.info.run_id, k, v) for r in runs for k, v in getattr(r.data, field).items()) == sorted(
            (r["run_uuid"], r["key"], r["value"]) for r in rows[table])

    histories = defaultdict(list)
    for r in rows["metrics"]:
        histories[r["run_uuid"], r["key"]].append((r["timestamp"], point(r["value"], r["is_nan"]), r["step"]))
        assert not r["is_nan"] or r["value"] == 0.0
    expected = {(r.info.run_id, key): [(m.timestamp, point(m.value), m.step)
                                       for m in tracking.get_metric_history(r.info.run_id, key)]
                for r in runs for key in r.data.metrics}
    # A point logged with a dataset is a 5-field line, whose step the official FileStore reads as
    # 0 (it takes the step from 3-field lines only); the SQL store keeps the step logged: 7.
    assert expected.pop((made["runs"][0], "val_acc")) == [(1700000003000, 0.93, 0)]
    assert histories.pop((made["runs"][0], "val_acc")) == [(1700000003000, 0.93, 7)]
    assert histories == expected
    assert sum(len(h) for h in expected.values()) + 1 == len(rows["metrics"]) == 120 + 20 + 4 + 1 + 3 * 10 + 2

    datasets = {r["dataset_uuid"]: r for r in rows["datasets"]}
    tags = defaultdict(dict)
    for r in rows["input_tags"]:
        tags[r["input_uuid"]][r["name"]] = r["value"]
    used = sorted((i["destination_id"], datasets[i["source_id"]]["name"], datasets[i["source_id"]]["digest"],
                   datasets[i["source_id"]]["dataset_source_type"], datasets[i["source_id"]]["dataset_source"],
                   datasets[i["source_id"]]["dataset_schema"], datasets[i["source_id"]]["dataset_profile"],
                   tags[i["input_uuid"]]) for i in rows["inputs"] if i["source_type"] == "DATASET")
    assert used == sorted((r.info.run_id, d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source,
                           d.dataset.schema, d.dataset.profile, {t.key: t.value for t in d.tags})
                          for r in runs for d in r.inputs.dataset_inputs)
    assert len(used) == 4
    links = sorted((i["source_type"], i["source_id"], i["destination_id"], i["step"]) for i in rows["inputs"]
                   if i["source_type"] != "DATASET")
    assert links == sorted([("RUN_INPUT", r.info.run_id, m.model_id, 0) for r in runs for m in r.inputs.model_inputs]
                           + [("RUN_OUTPUT", r.info.run_id, m.model_id, m.step)
                              for r in runs for m in r.outputs.model_outputs])

    assert sorted(r["model_id"] for r in rows["logged_models"]) == sorted(made["logged_models"])
    for r in rows["logged_models"]:
        model = tracking.get_logged_model(r["model_id"])
        assert (int(model.experiment_id), model.name, model.artifact_location, model.creation_timestamp,
                model.last_updated_timestamp, model.status.to_int(), model.model_type, model.source_run_id) == (
            r["experiment_id"], r["name"], r["artifact_location"], r["creation_timestamp_ms"],
            r["last_updated_timestamp_ms"], r["status"], r["model_type"], r["source_run_id"])
        mine = [m for m in rows["logged_model_metrics"] if m["model_id"] == model.model_id]
        assert sorted((m.key, m.value, m.timestamp, m.step, m.run_id, m.dataset_name, m.dataset_digest)
                      for m in model.metrics) == sorted(
            (m["metric_name"], m["metric_value"], m["metric_timestamp_ms"], m["metric_step"], m["run_id"],
             m["dataset_name"], m["dataset_digest"]) for m in mine)
        assert model.tags == {t["tag_key"]: t["tag_value"] for t in rows["logged_model_tags"]
                              if t["model_id"] == model.model_id}
        assert model.params == {p["param_key"]: p["param_value"] for p in rows["logged_model_params"]
                                if p["model_id"] == model.model_id}

    assert sorted(r["name"] for r in rows["registered_models"]) == sorted(made["registered_models"])
    for r in rows["registered_models"]:
        model = registry.get_registered_model(r["name"])
        assert (model.creation_timestamp, model.last_updated_timestamp, model.description) == (
            r["creation_time"], r["last_updated_time"], r["description"])
        tags = {t["key"]: t["value"] for t in rows["registered_model_tags"] if t["name"] == r["name"]}
        if r["name"] == "greeting":  # the official API hides the tag that makes it a prompt
            assert tags.pop("mlflow.prompt.is_prompt") == "true"
        assert model.tags == tags
        assert model.aliases == {a["alias"]: str(a["version"]) for a in rows["registered_model_aliases"]
                                 if a["name"] == r["name"]}
    for r in rows["model_versions"]:
        if r["current_stage"] == "Deleted_Internal":  # kept, as the official SQL store keeps a deleted version
            assert (r["name"], r["version"]) == ("clf", 3)
            continue
        version = registry.get_model_version(r["name"], r["version"])
        assert (version.creation_timestamp, version.last_updated_timestamp, version.description,
                version.current_stage, version.source, version.run_id or None, version.status) == (
            r["creation_time"], r["last_updated_time"], r["description"], r["current_stage"], r["source"],
            r["run_id"], r["status"])
        assert version.tags == {t["key"]: t["value"] for t in rows["model_version_tags"]
                                if (t["name"], t["version"]) == (r["name"], r["version"])}


def test_reading_resumes_at_any_position(file_store):
    """A position given back resumes just past it, whatever the batch size, in every table."""
    source = FileStoreSource(str(file_store[0]))
    for table in TABLES:
        whole = read_all(source, table, size=1000)
        for size in (1, 4):
            batches = list(source.rows(table, size=size))
            assert [row for batch, _ in batches for row in batch] == whole
            for cut, (_, position) in enumerate(batches):
                resumed = [row for batch, _ in FileStoreSource(str(file_store[0])).rows(table, position, size)
                           for row in batch]
                assert resumed == [row for batch, _ in batches[cut + 1:] for row in batch], (table, size, cut)


def test_metric_files_are_streamed(tmp_path):
    """A run with a million points: batches come as the file is read, memory stays flat."""
    import resource
    experiment = tmp_path / "mlruns" / "1"
    run = experiment / ("a" * 32)
    (run / "metrics").mkdir(parents=True)
    (experiment / "meta.yaml").write_text("experiment_id: '1'\nname: big\n")
    (run / "meta.yaml").write_text(f"run_id: {'a' * 32}\nexperiment_id: '1'\nstatus: 3\n")
    with open(run / "metrics" / "loss", "w") as f:
        f.writelines(f"{1700000000000 + i} {i / 7} {i}\n" for i in range(1_000_000))
    source = FileStoreSource(str(tmp_path / "mlruns"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    read = 0
    for batch, _ in source.rows("metrics", size=50_000):
        read += len(batch)
    took = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"1,000,000 points read in {took:.1f} s ({read / took:,.0f}/s), peak memory grew {grown_mb:.0f} MiB")
    assert read == 1_000_000
    assert grown_mb < 100


def test_bad_files_are_skipped_with_a_warning_naming_them(file_store, tmp_path):
    store = tmp_path / "mlruns"
    shutil.copytree(file_store[0], store)
    made = file_store[1]
    experiment = store / made["experiments"][0]
    broken_run = experiment / made["runs"][1]
    (broken_run / "meta.yaml").write_text("run_id: [unclosed\n")
    parent_metric = experiment / made["runs"][0] / "metrics" / "loss"
    with open(parent_metric, "a") as f:
        f.write("not a metric line\n1700000009999 x 1\n")
    (store / "models" / "empty-model" / "meta.yaml").write_text("- a list, not a mapping\n")
    (store / "5").mkdir()  # an experiment folder without meta.yaml: not an experiment

    target = f"sqlite:///{tmp_path / 'ours.db'}"
    done = app_cli(["db", "import", "--from", str(store), "--backend-store-uri", target])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for path in (broken_run / "meta.yaml", parent_metric, store / "models" / "empty-model" / "meta.yaml"):
        assert f"skipped {path}" in done.stderr
        assert done.stderr.count(f"skipped {path}") == 1  # once, though read by several tables and the count
    source = FileStoreSource(str(store))
    assert made["runs"][1] not in {r["run_uuid"] for r in read_all(source, "runs")}
    assert len(read_all(source, "metrics")) == 120 + 20 + 4 + 1 + 3 * 10 + 2 - 10  # the broken run's 10 points too


@pytest.mark.parametrize("given", ["missing", "empty", "file"])
def test_not_a_file_store_is_a_clear_error(tmp_path, given):
    path = tmp_path / "mlruns"
    if given == "empty":
        path.mkdir()
    elif given == "file":
        path.write_text("x")
    done = app_cli(["db", "import", "--from", str(path), "--backend-store-uri", f"sqlite:///{tmp_path / 'ours.db'}"])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert str(path) in done.stderr and len(done.stderr.strip().splitlines()) == 1


def as_a_database_answers(answers: dict) -> dict:
    """The official server's answers on the file store as it gives them on a database, where
    the two differ in form only: a run's metrics there carry the run_id; and the point logged
    with a dataset (val_acc, step 7) is a 5-field line, which the file store reads with step 0
    and the dataset's name and digest (a database keeps the step logged, and no dataset on
    run metrics)."""
    answers = copy.deepcopy(answers)
    for what, answer in answers.items():
        if what.startswith("run "):
            metrics = answer["run"]["data"].get("metrics", [])
        elif what.startswith("history "):
            metrics = answer.get("metrics", [])
        else:
            continue
        for metric in metrics:
            metric.pop("run_id", None)
            if metric["key"] == "val_acc":
                assert (metric.pop("step"), metric.pop("dataset_name"), metric.pop("dataset_digest")) == (
                    0, "train", "d1g3st")
                metric["step"] = 7
    return comparable(answers)  # in snapshot()'s order again


def import_and_serve(store: Path, kind: str, tmp_path: Path, start_server) -> dict:
    """`db import --from store` into a fresh database of the kind (twice: the second adds
    nothing), our server on it; its answers for every entity."""
    target, cleanup = backend_uri(kind, tmp_path)
    try:
        for args in ([], ["--merge"]):
            done = app_cli(["db", "import", "--from", str(store), "--backend-store-uri", target, *args], timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            assert "Traceback" not in done.stderr
        server = start_server({"MLFLOW_BACKEND_STORE_URI": target,
                               "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts")})
        try:
            return snapshot(server.url)
        finally:
            server.stop()
    finally:
        cleanup()


@pytest.mark.parametrize("kind", BACKENDS)
def test_import_answers_as_the_official_server_on_the_file_store(file_store, tmp_path, start_server, kind):
    """With the store's own experiment ids (18 digits since MLflow 2; 64-bit ids here)."""
    store, made, official_answers = file_store
    assert all(len(experiment_id) >= 17 for experiment_id in made["experiments"])
    assert import_and_serve(store, kind, tmp_path, start_server) == as_a_database_answers(official_answers)


def test_import_of_a_store_made_by_mlflow_2(store_2x, tmp_path, start_server):
    store, official_answers = store_2x
    assert any(what.startswith("history ") for what in official_answers)
    ours = import_and_serve(store, "sqlite", tmp_path, start_server)
    for what, answer in ours.items():  # a run's outputs (logged models) are MLflow 3's: 2.22 has no such field
        if what.startswith("run "):
            assert answer["run"].pop("outputs") == {}
    assert ours == as_a_database_answers(official_answers)


def write_runs(store: Path, runs: int, keys: int, points: int) -> None:
    """An experiment 1 of `runs` runs with `keys` metrics of `points` points each, written as the
    official FileStore writes them."""
    experiment = store / "1"
    experiment.mkdir(parents=True)
    (experiment / "meta.yaml").write_text("experiment_id: '1'\nname: many\nlifecycle_stage: active\n")
    for n in range(runs):
        run_id = f"{n:032x}"
        (experiment / run_id / "metrics").mkdir(parents=True)
        (experiment / run_id / "meta.yaml").write_text(
            f"run_id: '{run_id}'\nexperiment_id: '1'\nrun_name: run-{n}\nstatus: 3\nstart_time: 1700000000000\n")
        for key in range(keys):
            (experiment / run_id / "metrics" / f"m{key}").write_text(
                "".join(f"{1700000000000 + i} {i / 3} {i}\n" for i in range(points)))


def test_an_import_killed_midway_resumes_and_writes_nothing_twice(tmp_path):
    import sqlite3
    store = tmp_path / "mlruns"
    write_runs(store, runs=300, keys=3, points=700)  # 2,100 points a run: batches of 50,000 end inside runs
    database = tmp_path / "ours.db"
    args = [str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "db", "import", "--from", str(store),
            "--backend-store-uri", f"sqlite:///{database}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    position = None
    while position is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        with contextlib.suppress(sqlite3.Error):
            with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.1)) as conn:
                position = conn.execute("SELECT value FROM import_checkpoint WHERE name = 'step:metrics'").fetchone()
    first.kill()  # as a crash would: no clean-up
    first.wait()
    assert position is not None, "the import ended before it wrote a batch of points"
    assert json.loads(position[0])["position"][1] % 2100, "the first batch was to end inside a run"

    done = app_cli(args[3:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming the import" in done.stderr
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_uuid || key || step) FROM metrics").fetchone() == (
            630_000, 630_000)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (300,)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_point_written_twice_is_imported_once(tmp_path, start_server, kind):
    """The file store appends a retried batch again; the official table, and ours, hold a point
    once (a repeat next to it, a NaN repeated, and one far back, after timestamps went back)."""
    store = tmp_path / "mlruns"
    write_runs(store, runs=1, keys=1, points=3)
    run_id = f"{0:032x}"
    with open(store / "1" / run_id / "metrics" / "m0", "a") as f:
        f.write("1700000000002 0.6666666666666666 2\n"  # the last point again
                "1700000000005 nan 5\n1700000000005 nan 5\n"
                "1700000000000 0.0 0\n"  # the first point again, timestamps going back
                "1700000000001 7.0 1\n")  # a new point at an old timestamp
    unique = [(1700000000000, 0, 0.0), (1700000000001, 1, 1 / 3), (1700000000002, 2, 2 / 3),
              (1700000000005, 5, "NaN"), (1700000000001, 1, 7.0)]
    rows = read_all(FileStoreSource(str(store)), "metrics")
    assert [(r["timestamp"], r["step"], "NaN" if r["is_nan"] else r["value"]) for r in rows] == unique

    target, cleanup = backend_uri(kind, tmp_path)
    try:
        done = app_cli(["db", "import", "--from", str(store), "--backend-store-uri", target])
        assert done.returncode == 0, done.stderr[-3000:]
        server = start_server({"MLFLOW_BACKEND_STORE_URI": target})
        history = requests.get(f"{server.url}/api/2.0/mlflow/metrics/get-history",
                               params={"run_id": run_id, "metric_key": "m0"}, timeout=30).json()["metrics"]
        assert sorted((m["timestamp"], m["step"], m["value"]) for m in history) == sorted(unique)
    finally:
        cleanup()
