"""Time `python -m app db import` of a big official MLflow database.

    .venv-test/bin/python bench/import_bench.py --backend postgresql --runs 1000 --keys 10 --steps 1000

builds the source: an empty database given the official schema by the official
`mlflow db upgrade` (.venv-official), then filled by bulk SQL (COPY on PostgreSQL, multi-row
INSERTs elsewhere) with one experiment of `runs` runs, each with 10 params, 5 tags and `keys`
metrics of `steps` points (runs * keys * steps points in all). Then it imports it into a fresh
database of the same kind with our CLI and prints the wall time and the rate. Databases are
created on the local servers the tests use (PostgreSQL 127.0.0.1:5432 as postgres, MariaDB
127.0.0.1:3306 as root) and dropped afterwards unless --keep. --source <URI> imports a source
kept that way again, without building it (the import is what is timed; building takes longer).

build_source() is also what tests/transfer/test_import_db.py fills its big source with.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = ROOT / ".venv-official"
_TEST_SITE = ROOT / ".venv-test" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def driver_url(uri: str) -> str:
    """The URI with the drivers named (psycopg2, PyMySQL), as SQLAlchemy and the official CLI need."""
    for scheme, driver in (("postgresql://", "postgresql+psycopg2://"), ("mysql://", "mysql+pymysql://")):
        if uri.startswith(scheme):
            return driver + uri[len(scheme):]
    return uri


def official_schema(uri: str) -> None:
    """Give an empty database the official schema of the newest revision (`mlflow db upgrade`)."""
    lent = Path(tempfile.mkdtemp(prefix="lent-drivers-"))
    (lent / "pymysql").symlink_to(_TEST_SITE / "pymysql")  # the official venv has no MySQL driver
    env = {**os.environ, "PYTHONPATH": str(lent)}
    subprocess.run([str(OFFICIAL / "bin" / "mlflow"), "db", "upgrade", driver_url(uri)], env=env, check=True,
                   capture_output=True)


def _copy(conn, table: str, columns: tuple[str, ...], rows) -> None:
    if conn.dialect.name == "postgresql":
        text = "".join("\t".join(map(str, row)) + "\n" for row in rows)
        with conn.connection.dbapi_connection.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", io.StringIO(text))
        return
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
                         f"VALUES ({', '.join([mark] * len(columns))})", list(rows))


def build_source(uri: str, runs: int, keys: int, steps: int) -> int:
    """Fill an official-schema database (see official_schema) with one experiment of `runs` runs;
    returns the number of metric points."""
    engine = sa.create_engine(driver_url(uri))
    now = 1_700_000_000_000
    with engine.begin() as conn:
        experiment_id = conn.execute(sa.text(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
            "VALUES ('bench', 's3://old/bench', 'active', :now, :now)"), {"now": now}).lastrowid
        if experiment_id is None or conn.dialect.name == "postgresql":
            experiment_id = conn.execute(sa.text("SELECT experiment_id FROM experiments WHERE name = 'bench'")).scalar()
    run_ids = [uuid.uuid4().hex for _ in range(runs)]
    for start in range(0, runs, 100):
        chunk = run_ids[start:start + 100]
        with engine.begin() as conn:
            _copy(conn, "runs", ("run_uuid", "name", "user_id", "status", "start_time", "end_time", "lifecycle_stage",
                                 "artifact_uri", "experiment_id"),
                  [(r, f"run-{start + i}", "bench", "FINISHED", now, now + 1000, "active", f"s3://old/bench/{r}/artifacts",
                    experiment_id) for i, r in enumerate(chunk)])
            _copy(conn, "params", ("key", "value", "run_uuid"), [(f"p{k}", str(k), r) for r in chunk for k in range(10)])
            _copy(conn, "tags", ("key", "value", "run_uuid"),
                  [(f"t{k}", "v", r) for r in chunk for k in range(4)] + [("mlflow.runName", f"run-{start + i}", r)
                                                                          for i, r in enumerate(chunk)])
            for r in chunk:
                _copy(conn, "metrics", ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
                      [(f"m{k}", s * 0.001 + k, now + s, s, "false" if conn.dialect.name == "postgresql" else 0, r)
                       for k in range(keys) for s in range(steps)])
    engine.dispose()
    return runs * keys * steps


def _database(kind: str):
    """(URI, drop) of a new empty database of the kind."""
    name = f"mlflow_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp()) / f"{name}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    if kind == "postgresql":
        admin = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop():
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return f"postgresql://postgres@127.0.0.1:5432/{name}", drop
    admin = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    return f"mysql://root@127.0.0.1:3306/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mysql"), default="postgresql")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep both databases (their URIs are printed)")
    parser.add_argument("--source", metavar="URI", help="import this source kept by --keep instead of building one "
                                                        "(it is not dropped)")
    args = parser.parse_args()
    source, drop_source = (args.source, lambda: None) if args.source else _database(args.backend)
    target, drop_target = _database(args.backend)
    try:
        began = time.monotonic()
        if args.source:
            with sa.create_engine(driver_url(source)).connect() as conn:
                points = conn.exec_driver_sql("SELECT COUNT(*) FROM metrics").scalar()
        else:
            official_schema(source)
            points = build_source(source, args.runs, args.keys, args.steps)
            print(f"source {source}: {args.runs:,} runs, {points:,} points, built in {time.monotonic() - began:.0f} s",
                  flush=True)
        began = time.monotonic()
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "db", "import", "--from", source,
                               "--backend-store-uri", target], cwd=ROOT)
        took = time.monotonic() - began
        print(f"db import: exit {done.returncode}, {took:.1f} s, {points / took:,.0f} points/s ({args.backend})")
    finally:
        if args.keep:
            print(f"kept: {source} {target}")
        else:
            drop_source()
            drop_target()


if __name__ == "__main__":
    main()
