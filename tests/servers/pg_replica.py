"""A PostgreSQL primary and its streaming replica, started in a temporary folder for a test.

`primary_and_replica()` initdb's a primary on a free port (trust authentication on
127.0.0.1, wal_level replica), takes a base backup of it with `pg_basebackup -R` (which writes
primary_conninfo and standby.signal) into a second folder, both in a temporary folder of /tmp,
and starts that as a hot standby on another free port; it yields a Cluster and stops both at the
end. The PostgreSQL binaries are PG_BIN's (default /usr/lib/postgresql/15/bin). PostgreSQL
refuses to run as root: when the tests run as root the commands run as the `postgres` user
(runuser), made the owner of the folder. CI needs the binaries (Debian: postgresql-15) and, as
root, that user; without them the tests skip, or fail under CI=true.

Cluster.pause_replay() / resume_replay() stop and restart the replica applying what it receives
(pg_wal_replay_pause()), so that a test sees which server a read came from; stop_replica() and
start_replica() take it away and back. Cluster.replayed_all() tells whether the replica has
caught up with the primary."""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from conftest import CI

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(PG_BIN / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)


@dataclass
class Cluster:
    folder: Path
    primary_port: int
    replica_port: int

    def uri(self, port: int, database: str = "mlflow") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_uri(self) -> str:
        return self.uri(self.primary_port)

    @property
    def replica_uri(self) -> str:
        return self.uri(self.replica_port)

    def query(self, port: int, sql: str):
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="mlflow", connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone()[0] if cursor.description else None
        finally:
            conn.close()

    def pause_replay(self) -> None:
        self.query(self.replica_port, "SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.query(self.replica_port, "SELECT pg_wal_replay_resume()")

    def replayed_all(self) -> bool:
        position = self.query(self.primary_port, "SELECT pg_current_wal_lsn()::text")
        return bool(self.query(self.replica_port, f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn"))

    def wait_replayed(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.replayed_all():
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.1)

    def stop_replica(self) -> None:
        _run("pg_ctl", "-D", str(self.folder / "replica"), "-m", "fast", "-w", "stop")

    def start_replica(self) -> None:
        _start(self.folder / "replica", self.replica_port)


def _start(data: Path, port: int) -> None:
    _run("pg_ctl", "-D", str(data), "-l", str(data.parent / f"{data.name}.log"), "-w", "-t", "60",
         "-o", f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1", "start")


def _missing(reason: str):
    if CI:
        pytest.fail(reason + "; CI must run the read replica's tests")
    pytest.skip(reason)


@contextlib.contextmanager
def primary_and_replica():
    if not (PG_BIN / "initdb").exists():
        _missing(f"no PostgreSQL binaries in {PG_BIN} (Debian: apt-get install postgresql-15)")
    with tempfile.TemporaryDirectory(prefix="pg-replica-") as name:
        folder = Path(name)
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                _missing("running as root, and there is no postgres user to run PostgreSQL as")
            shutil.chown(folder, user.pw_uid, user.pw_gid)
        with _started(Cluster(folder, _free_port(), _free_port())) as cluster:
            yield cluster


@contextlib.contextmanager
def _started(cluster: Cluster):
    folder = cluster.folder
    primary, replica = folder / "primary", folder / "replica"
    _run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync")
    with open(primary / "postgresql.conf", "a") as conf:
        conf.write("wal_level = replica\nmax_wal_senders = 4\nfsync = off\nhot_standby = on\n"
                   "max_standby_streaming_delay = -1\n")
    with open(primary / "pg_hba.conf", "a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    _start(primary, cluster.primary_port)
    started = [primary]
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=cluster.primary_port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mlflow")
        conn.close()
        _run("pg_basebackup", "-h", "127.0.0.1", "-p", str(cluster.primary_port), "-U", "postgres",
             "-D", str(replica), "-R", "-X", "stream", "-c", "fast")
        _start(replica, cluster.replica_port)
        started.append(replica)
        cluster.wait_replayed()
        yield cluster
    finally:
        for data in reversed(started):
            _run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
