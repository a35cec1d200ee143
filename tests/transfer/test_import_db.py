"""`python -m app db import` from official MLflow databases, checked as a user would.

Official databases are made by the official server (3.17; 2.22 for the 2.x one) on SQLite,
PostgreSQL and MariaDB and filled through the official client (official_support.py,
populate_official.py). After the import our server, started on the imported database, must
answer every entity as the official server answered it from the source (the servers' known
differences aside: official_support.comparable), and the imported users sign in with their old
passwords. Then: a second import adds nothing, a kill -9 mid-import resumes, a database with
data is refused without --merge and conflicts are skipped and reported, a bad --from is one
clear line.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from conftest import BACKENDS, ROOT, Server, backend_uri
from official_support import ADMIN, OFFICIAL, OFFICIAL_2X, official_server, populate, snapshot

sys.path.insert(0, str(ROOT / "bench"))
import import_bench  # noqa: E402

APP_PYTHON = ROOT / ".venv" / "bin" / "python"
# Building an official database (its server starting, the client filling it) takes minutes on a busy machine.
pytestmark = pytest.mark.timeout(1800)


def db_import(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run([str(APP_PYTHON), "-m", "app", "db", "import", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def build_official(kind: str, tmp: Path, venv: Path = OFFICIAL) -> dict:
    """An official database of the kind, filled through the official client, with basic-auth
    users in tmp/auth.db; its URIs, what was made and the official server's snapshot."""
    tmp.mkdir(parents=True, exist_ok=True)
    uri, drop = backend_uri(kind, tmp)
    auth_uri = f"sqlite:///{tmp / 'auth.db'}"
    with official_server(uri, tmp, venv, auth_db=auth_uri) as url:
        made = populate(url, tmp, venv, auth=True)
        official = snapshot(url, ADMIN)
    return {"uri": uri, "drop": drop, "auth_uri": auth_uri, "made": made, "snapshot": official, "tmp": tmp}


@pytest.fixture(scope="module")
def official_sqlite(tmp_path_factory):
    source = build_official("sqlite", tmp_path_factory.mktemp("official-sqlite"))
    yield source
    source["drop"]()


def serve(tmp: Path, uri: str) -> Server:
    return Server({"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "mlartifacts"),
                   "MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1]}, tmp).wait_ready(60)


def assert_same_entities(official: dict, ours: dict) -> None:
    assert sorted(ours) == sorted(official)
    for what in official:
        assert ours[what] == official[what], what


def assert_imported(source: dict, tmp: Path, target: str) -> None:
    """Our server on `target` answers as the official one did, and the users sign in as before."""
    server = serve(tmp, target)
    try:
        assert_same_entities(source["snapshot"], snapshot(server.url, ADMIN))
        experiment_id = source["made"]["experiments"][0]
        for user, password in source["made"]["users"].items():
            answer = requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", auth=(user, password),
                                  params={"experiment_id": experiment_id}, timeout=30)
            assert answer.status_code == 200, (user, answer.text)
            wrong = requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", auth=(user, password + "x"),
                                 params={"experiment_id": experiment_id}, timeout=30)
            assert wrong.status_code == 401
        # ana manages the first experiment (a grant of her own), bo only reads the second one
        ana = requests.post(f"{server.url}/api/2.0/mlflow/experiments/set-experiment-tag", timeout=30,
                            auth=("ana", source["made"]["users"]["ana"]),
                            json={"experiment_id": experiment_id, "key": "by", "value": "ana"})
        assert ana.status_code == 200, ana.text
        bo = requests.post(f"{server.url}/api/2.0/mlflow/experiments/set-experiment-tag", timeout=30,
                           auth=("bo", source["made"]["users"]["bo"]),
                           json={"experiment_id": source["made"]["experiments"][1], "key": "by", "value": "bo"})
        assert bo.status_code == 403, bo.text
    finally:
        server.stop()


def report_rows(output: str) -> dict[str, list[int]]:
    """The closing report: {entity: [read, written, already there, skipped, ignored]}."""
    rows = {}
    for line in output.splitlines():
        parts = line.replace("<- differs", "").rsplit(None, 5)
        if len(parts) == 6 and all(p.replace(",", "").isdigit() for p in parts[1:]):
            rows[parts[0].strip()] = [int(p.replace(",", "")) for p in parts[1:]]
    return rows


@pytest.mark.parametrize("kind", BACKENDS)
def test_every_entity_reads_as_the_official_server_read_it(kind, official_sqlite, tmp_path):
    source = official_sqlite if kind == "sqlite" else build_official(kind, tmp_path / "official")
    target, drop = backend_uri(kind, tmp_path)
    try:
        done = db_import("--from", source["uri"], "--backend-store-uri", target, "--auth-from", source["auth_uri"])
        assert done.returncode == 0, done.stdout + done.stderr
        rows = report_rows(done.stdout)
        assert rows["runs"][:2] == [7, 7] and rows["metrics"][0] == rows["metrics"][1] > 170
        assert rows["model versions"] == [5, 4, 0, 0, 1]  # the deleted version is not brought along
        assert rows["users"] == [3, 3, 0, 0, 0]
        assert "Traceback" not in done.stderr
        assert_imported(source, tmp_path, target)
    finally:
        drop()
        if source is not official_sqlite:
            source["drop"]()


def test_a_2x_database_at_its_revision_and_upgraded(tmp_path):
    """A database made by an MLflow 2.22 server and client imports as it is (its 2.x revision,
    its auth database from before roles) and after the official 3.17 `mlflow db upgrade`; both
    read as the official 3.17 server reads the upgraded copy (the 2.22 server's answers differ
    from 3.17's in fields of their own, such as a run's outputs)."""
    source = build_official("sqlite", tmp_path / "official", OFFICIAL_2X)
    assert source["made"]["version"].startswith("2.")
    upgraded = tmp_path / "upgraded"
    upgraded.mkdir()
    shutil.copy(tmp_path / "official" / "mlflow.db", upgraded / "mlflow.db")
    shutil.copy(tmp_path / "official" / "auth.db", upgraded / "auth.db")  # the 3.17 app migrates its copy
    import_bench.official_schema(f"sqlite:///{upgraded / 'mlflow.db'}")
    with official_server(f"sqlite:///{upgraded / 'mlflow.db'}", upgraded, OFFICIAL,
                         auth_db=f"sqlite:///{upgraded / 'auth.db'}") as url:
        reference = {**source, "snapshot": snapshot(url, ADMIN)}
    for name, uri in (("as-is", source["uri"]), ("upgraded", f"sqlite:///{upgraded / 'mlflow.db'}")):
        target = f"sqlite:///{tmp_path / name / 'ours.db'}"
        done = db_import("--from", uri, "--backend-store-uri", target, "--auth-from", source["auth_uri"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert_imported(reference, tmp_path / name, target)


def test_a_second_import_adds_nothing(official_sqlite, tmp_path):
    target = f"sqlite:///{tmp_path / 'ours.db'}"
    first = db_import("--from", official_sqlite["uri"], "--backend-store-uri", target)
    assert first.returncode == 0, first.stderr
    refused = db_import("--from", official_sqlite["uri"], "--backend-store-uri", target)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("mlflow-server: error:") and "--merge" in refused.stderr
    again = db_import("--from", official_sqlite["uri"], "--backend-store-uri", target, "--merge")
    assert again.returncode == 0, again.stdout + again.stderr
    rows = report_rows(again.stdout)
    assert rows and all(written == 0 for _, written, *_ in rows.values())
    assert rows["runs"] == [7, 0, 7, 0, 0] and rows["metrics"][2] == rows["metrics"][0]
    server = serve(tmp_path, target)
    try:
        assert_same_entities(official_sqlite["snapshot"], snapshot(server.url, ADMIN))
    finally:
        server.stop()


def test_merge_skips_and_reports_conflicts_and_overwrites_nothing(official_sqlite, tmp_path):
    target = f"sqlite:///{tmp_path / 'ours.db'}"
    server = Server({"MLFLOW_BACKEND_STORE_URI": target, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "a")},
                    tmp_path).wait_ready(60)
    try:
        for name in ("mine", "move-in"):  # ids 1 and 2 here; the source's 1 and 2 are move-in, move-in-other
            requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30)
        before = snapshot(server.url)
    finally:
        server.stop()
    done = db_import("--from", official_sqlite["uri"], "--backend-store-uri", target, "--merge")
    assert done.returncode == 1
    assert "experiment 1 'move-in'" in done.stdout and "experiment 2 'move-in-other'" in done.stdout
    rows = report_rows(done.stdout)
    assert rows["experiments"] == [4, 1, 1, 2, 0]  # 0 (Default) is there already, 3 comes in
    assert rows["runs"][:2] == [7, 1]  # only the run of experiment 3
    server = Server({"MLFLOW_BACKEND_STORE_URI": target, "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "a")},
                    tmp_path).wait_ready(60)
    try:
        after = snapshot(server.url)
    finally:
        server.stop()
    for what, answer in before.items():
        assert after[what] == answer, what
    assert after["experiment 3"]["experiment"]["name"] == "move-in-deleted"


@pytest.mark.parametrize("kind", BACKENDS[:2])
def test_killed_mid_import_it_resumes(kind, tmp_path):
    source, drop_source = backend_uri(kind, tmp_path / "source")
    target, drop_target = backend_uri(kind, tmp_path / "target")
    if kind == "sqlite":
        (tmp_path / "source").mkdir()
        (tmp_path / "target").mkdir()
    try:
        import_bench.official_schema(source)
        points = import_bench.build_source(source, runs=60, keys=10, steps=1000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        process = subprocess.Popen([str(APP_PYTHON), "-m", "app", "db", "import", "--from", source,
                                    "--backend-store-uri", target], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        engine = sa.create_engine(import_bench.driver_url(target))
        deadline = time.monotonic() + 300
        written = 0
        while process.poll() is None and time.monotonic() < deadline and not 0 < written < points:
            time.sleep(0.2)
            try:
                with engine.connect() as conn:
                    written = conn.execute(sa.text("SELECT COUNT(*) FROM metrics")).scalar()
            except sa.exc.DBAPIError:  # the schema is not there yet
                pass
        assert process.poll() is None, "the import ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        with engine.connect() as conn:
            assert sa.inspect(conn).has_table("import_checkpoint")
            assert 0 < conn.execute(sa.text("SELECT COUNT(*) FROM metrics")).scalar() < points
        done = db_import("--from", source, "--backend-store-uri", target)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "resuming" in done.stderr
        assert report_rows(done.stdout)["metrics"] == [points, points, 0, 0, 0]
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("import_checkpoint")
            assert conn.execute(sa.text("SELECT COUNT(*) FROM metrics")).scalar() == points
            assert conn.execute(sa.text("SELECT COUNT(*) FROM latest_metrics")).scalar() == 60 * 10
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs WHERE params_json IS NULL")).scalar() == 0
            # a fresh PostgreSQL import loads points without the table's keys and index: they are back
            inspector = sa.inspect(conn)
            assert inspector.get_pk_constraint("metrics")["constrained_columns"] == [
                "run_uuid", "key", "timestamp", "step", "value", "is_nan"]
            assert [fk["referred_table"] for fk in inspector.get_foreign_keys("metrics")] == ["runs"]
            assert "ix_metrics_run_key_step" in {index["name"] for index in inspector.get_indexes("metrics")}
        engine.dispose()
    finally:
        drop_source()
        drop_target()


@pytest.mark.parametrize("source, message", [
    ("sqlite:////nonexistent/mlflow.db", "no SQLite database at /nonexistent/mlflow.db"),
    ("postgresql://ana:s3cret@127.0.0.1:1/mlflow", "cannot read postgresql://ana:***@127.0.0.1:1/mlflow"),
    ("ftp://host/mlflow", "unsupported database scheme"),
    ("{file}", "is a file; an SQLite database is given as sqlite:///"),
    ("{empty_db}", "is not an MLflow database"),
])
def test_a_bad_source_is_one_clear_line(source, message, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}").connect().close()
    source = source.format(file=tmp_path / "notes.txt", empty_db=f"sqlite:///{tmp_path / 'empty.db'}")
    done = db_import("--from", source, "--backend-store-uri", f"sqlite:///{tmp_path / 'ours.db'}")
    assert done.returncode == 1
    assert done.stderr.startswith("mlflow-server: error: --from: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "s3cret" not in done.stderr
