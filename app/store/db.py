"""Database engines, transactions and schema versions (alembic).

When the database goes away (a restart, a failover, a network cut) a request gets a 503
TEMPORARILY_UNAVAILABLE, never a 500: read() and write() turn every error that means "cannot
reach the database" (OperationalError, InterfaceError, DisconnectionError, wrapped by SQLAlchemy
or raw from the driver, as bulk inserts use the driver's cursor) into that MlflowError. Pooled
connections that died meanwhile are replaced at checkout, before anything is sent on them (a
poll() of the socket; a ping after a minute idle: _replace_dead_connections), and a write
transaction whose connection died before its commit runs once more on a new one; a read that
loses its connection half-way is a 503.
Database.probe() is the readiness check: a connection of its own with a time limit, so that a
database that accepts connections but does not answer cannot hold the probe.

A read replica (MLFLOW_READ_REPLICA_BACKEND_STORE_URI) is a second engine of the backend
store's Database. The HTTP layer runs the handler of a read-only route inside read_only(): its
read() transactions go to the replica while the replica is fresh enough for that client, every
other transaction (writes, and any read outside read_only(), such as the auth guard's) to the
primary. Fresh enough: a thread per worker process (Replica.watch) notes every CHECK_INTERVAL
the primary's WAL position (PostgreSQL) with the wall time before it was read, and the newest
such time the replica has replayed up to is `fresh_as_of`: everything committed on the primary
before it is on the replica. A client that wrote at time T (the HTTP layer's cookie) reads from
the replica only once fresh_as_of > T (read-your-writes); any client only while the replica is
less than MAX_LAG behind and answers. A read that finds nothing on the replica, or loses it, is
run again on the primary. On a database whose replay position cannot be read (MySQL, or a copy
kept in step otherwise) the replica counts as fresh as of each successful check: lag there is
not measured."""
from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import logging
import os
import random
import select
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from ..errors import MlflowError
from . import auth_schema

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(Exception):
    """The database schema is not what this server needs; the message says what to do."""


def make_engine(url: str, settings=None) -> sa.Engine:
    """An engine configured for concurrent use by several threads and processes."""
    u = make_url(url)
    kwargs: dict = {}
    if settings is not None:
        kwargs["echo"] = settings.sqlalchemystore_echo
        if settings.sqlalchemystore_poolclass:
            kwargs["poolclass"] = getattr(pool, settings.sqlalchemystore_poolclass)
        if kwargs.get("poolclass") in (None, pool.QueuePool):
            kwargs.update(pool_size=settings.sqlalchemystore_pool_size,
                          max_overflow=settings.sqlalchemystore_max_overflow)
        kwargs["pool_recycle"] = settings.sqlalchemystore_pool_recycle
    if u.get_backend_name() == "sqlite":
        database = u.database or ""
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        engine = sa.create_engine(u, **kwargs)
        _configure_sqlite(engine)
        return engine
    if u.get_backend_name() != "mysql":
        engine = sa.create_engine(u, **kwargs)
        _replace_dead_connections(engine, lambda conn: None if conn.closed else conn.fileno())
        return engine
    if "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    kwargs["isolation_level"] = "READ COMMITTED"
    engine = sa.create_engine(u, **kwargs)
    # PyMySQL has no public accessor of its socket; None once it has closed it
    _replace_dead_connections(engine, lambda conn: conn._sock.fileno() if conn._sock else None)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        with dbapi_conn.cursor() as cursor:  # MariaDB cuts JSON_ARRAYAGG at this length (1 MB by default)
            cursor.execute("SET SESSION group_concat_max_len = 1073741824")

    return engine


PING_AFTER_IDLE = 60  # seconds


def _replace_dead_connections(engine: sa.Engine, socket_of) -> None:
    """A pooled connection that died since it was last used is replaced at checkout, before a
    statement fails on it. When the database closed it (a restart, its idle timeout) its socket
    is readable: an idle connection has nothing else to read (something sent unasked has it
    replaced for nothing). One poll() that does not wait costs a few microseconds, where
    pool_pre_ping's SELECT 1 is a round trip per checkout (~100 us, 2-4% of a runs/log-metric
    on PostgreSQL). A connection idle for PING_AFTER_IDLE seconds is pinged as well: a load
    balancer or NAT that forgets idle connections closes nothing, and answers the next packet
    with a reset; under load connections are never idle that long. socket_of(dbapi_conn): its
    file descriptor, or None when the driver knows it is closed."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None:  # new: nothing to check (and the pool retries only once)
            return
        fd = socket_of(dbapi_conn)
        if fd is None or _readable(fd):
            raise DisconnectionError("the database closed this pooled connection")  # the pool reconnects
        if time.monotonic() - idle_since > PING_AFTER_IDLE:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except engine.dialect.loaded_dbapi.Error as error:
                raise DisconnectionError(f"ping after {PING_AFTER_IDLE} s idle: {first_line(error)}") from error


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL for concurrent readers; writes take the lock up front (BEGIN IMMEDIATE) so that
    concurrent writers wait on busy_timeout instead of failing with 'database is locked'."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # LIKE is case-sensitive on every database
        cursor.execute("PRAGMA mmap_size=268435456")  # reads map the file: no read() per page
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _is_retryable(error: DBAPIError) -> bool:
    """Deadlocks and serialization failures: the transaction can simply run again."""
    code = getattr(error.orig, "pgcode", None)
    if code in ("40001", "40P01"):
        return True
    args = getattr(error.orig, "args", ())
    return bool(args) and args[0] in (1213, 1205)  # MySQL deadlock, lock wait timeout


def first_line(error: BaseException) -> str:
    """An error's message for a one-line log entry."""
    return (str(error).strip() or repr(error)).splitlines()[0]


def fetch_tuples(conn: sa.Connection, query, parameters: dict | None = None) -> list[tuple]:
    """All rows of a query as the driver's plain tuples: for large reads (history, search),
    where building SQLAlchemy Row objects would cost more than the query itself."""
    result = conn.execute(query, parameters)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def prefer_index_lookups(conn: sa.Connection) -> None:
    """For the rest of the transaction: statements look up known keys (a page's run ids), where
    an index descent per key is right however many keys. With its default random_page_cost (4,
    for spinning disks) PostgreSQL scans whole tables instead once there are a few hundred keys,
    3-4x slower."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")


def plan_for_lookups_by_run(conn: sa.Connection) -> None:
    """For the rest of the transaction, on PostgreSQL: no Memoize and no merge join plans. A
    search's joins look rows up by run id, a different one for every outer row, so a memo never
    hits; and weighing a merge join on run ids has the planner read each index's first and last
    ids (about 150 buffers). Planning a top-100 search over 20,000 runs took 1.5 ms weighing
    both, 0.8 without Memoize, 0.55 without either. One statement: one round trip."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_memoize = off; SET LOCAL enable_mergejoin = off")


class _Reads:
    """The state of a read-only request: when its client last wrote, and the replica it read from."""
    __slots__ = ("_wrote_at", "replica")

    def __init__(self, wrote_at):
        self._wrote_at, self.replica = wrote_at, None

    def wrote_at(self) -> float:
        if callable(self._wrote_at):
            self._wrote_at = self._wrote_at()
        return self._wrote_at


_READS: contextvars.ContextVar[_Reads | None] = contextvars.ContextVar("reads", default=None)
_AGAIN_ON_PRIMARY = ("RESOURCE_DOES_NOT_EXIST", "TEMPORARILY_UNAVAILABLE")


def read_only(work, fields, wrote_at):
    """work(fields) of a read-only request, whose reads may go to a replica; wrote_at(): wall
    time of its client's last write (0: none known), asked only where there is a replica. When
    a replica answered and the answer is "not found" or "unavailable", it runs again on the
    primary: the replica may not have the row yet, or may have gone."""
    reads = _Reads(wrote_at)
    token = _READS.set(reads)
    try:
        return work(fields)
    except MlflowError as error:
        if reads.replica is None or error.error_code not in _AGAIN_ON_PRIMARY:
            raise
    finally:
        _READS.reset(token)
    return work(fields)


class Database:
    """An engine plus the two kinds of transaction the stores use, and optionally a read replica."""

    def __init__(self, engine: sa.Engine, replica_engine: sa.Engine | None = None):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = engine.execution_options(write=True)
        dbapi = engine.dialect.loaded_dbapi
        self._unreachable = (OperationalError, InterfaceError, DisconnectionError,
                             dbapi.OperationalError, dbapi.InterfaceError)
        self.replica = Replica(replica_engine, engine) if replica_engine is not None else None

    @contextlib.contextmanager
    def read(self):
        replica = self.replica
        if replica is not None and (reads := _READS.get()) is not None and replica.serves(reads.wrote_at()):
            reads.replica = replica
            with replica._unavailable_is_503(), replica.engine.begin() as conn:
                yield conn
            return
        with self._unavailable_is_503(), self.engine.begin() as conn:
            yield conn

    def write(self, work, attempts: int = 6):
        """Run work(conn) in a write transaction and return its result. It runs again after a
        deadlock, and once after its connection died before the commit was sent: the database
        has rolled it back, and the pool, invalidated, gives a new connection. Not when the
        connection died during the commit, which may have been done."""
        reconnected = False
        with self._unavailable_is_503():
            for attempt in range(attempts):
                committing = False
                try:
                    with self._writer.connect() as conn, conn.begin():
                        result = work(conn)
                        committing = True
                    return result
                except DBAPIError as error:
                    lost = error.connection_invalidated and not committing and not reconnected
                    if attempt + 1 == attempts or not (lost or _is_retryable(error)):
                        raise
                    reconnected = reconnected or lost
                    time.sleep(random.uniform(0.005, 0.02) * 2**attempt)

    @contextlib.contextmanager
    def _unavailable_is_503(self):
        try:
            yield
        except self._unreachable as error:
            log.error("database error: %s", first_line(getattr(error, "orig", None) or error))
            self.lost(error)
            raise MlflowError("The database is unavailable; try again shortly", "TEMPORARILY_UNAVAILABLE") from error

    def lost(self, error: BaseException) -> None:
        """The database could not be reached (a replica is then left alone for a while)."""

    def probe(self, timeout: float) -> None:
        """SELECT 1 on a connection of its own, given up after about `timeout` seconds; raises
        TimeoutError or the driver's error. For the readiness probe, which must answer in time
        when the database accepts connections but does not answer (stopped, or packets lost): a
        pooled connection has no time limit, and a probe stuck on one would hold it and its thread."""
        if timeout <= 0:
            raise TimeoutError("no time left")
        dialect = self.engine.dialect
        args, params = dialect.create_connect_args(self.engine.url)
        if self.dialect == "postgresql":
            conn = dialect.loaded_dbapi.connect(*args, **{**params, "async_": True})
            try:
                deadline = time.monotonic() + timeout
                _wait(conn, deadline)
                cursor = conn.cursor()  # referenced until the answer is in: psycopg2 needs it
                cursor.execute("SELECT 1")
                _wait(conn, deadline)
            finally:
                conn.close()
        elif self.dialect == "mysql":  # PyMySQL: each socket operation is bounded
            conn = dialect.loaded_dbapi.connect(*args, **{**params, "connect_timeout": timeout,
                                                          "read_timeout": timeout, "write_timeout": timeout})
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
            finally:
                if conn.open:
                    conn.close()
        else:  # SQLite: a local file
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()


CHECK_INTERVAL = 0.5  # seconds between two checks of a replica's position
MAX_LAG = 5.0  # seconds: a replica further behind serves no reads
CLOCK_SKEW = 0.5  # seconds the clocks of two server hosts may differ: a write's time is one host's
FIRST_CHECK = 2.0  # seconds a new worker waits for the first check of its replica


class Replica(Database):
    """A read replica and how fresh it is (fresh_as_of, wall time; 0: not usable now)."""

    def __init__(self, engine: sa.Engine, primary: sa.Engine):
        super().__init__(engine)
        self.primary = primary
        self.fresh_as_of = 0.0
        self.problem = "not checked yet"
        self._samples: collections.deque = collections.deque(maxlen=int(MAX_LAG / CHECK_INTERVAL) + 2)
        self._watcher_pid = None
        self._lock = threading.Lock()
        self.watch()  # in the worker process that made it (gunicorn loads the app after the fork)

    def serves(self, wrote_at: float) -> bool:
        if self._watcher_pid != os.getpid():
            self.watch()
        fresh = self.fresh_as_of
        return fresh > wrote_at + CLOCK_SKEW and time.time() - fresh <= MAX_LAG

    def lag(self) -> float | None:
        """Seconds the replica is behind the primary at most; None when it cannot be used."""
        return None if self.problem or not self.fresh_as_of else max(0.0, time.time() - self.fresh_as_of)

    def watch(self) -> None:
        """Starts the thread that checks the replica every CHECK_INTERVAL, once in each process
        (no thread survives a fork), and waits up to FIRST_CHECK seconds for its first check, so
        that a worker uses the replica from its first request (and a stalled replica cannot hold
        the worker's start)."""
        with self._lock:
            if self._watcher_pid != os.getpid():
                self._watcher_pid = os.getpid()
                self.fresh_as_of, self.problem = 0.0, "not checked yet"
                checked = threading.Event()
                threading.Thread(target=self._watch, args=(checked,), name="replica-watch", daemon=True).start()
                checked.wait(FIRST_CHECK)

    def _watch(self, checked: threading.Event) -> None:
        while True:
            self._check_or_drop()
            checked.set()
            time.sleep(CHECK_INTERVAL)

    def _check_or_drop(self) -> None:
        try:
            self.check()
        except Exception as error:  # down, or not a copy of the primary: no reads until it is back
            self.lost(error)

    def lost(self, error: BaseException) -> None:
        problem = first_line(getattr(error, "orig", None) or error)
        if problem != self.problem:
            log.warning("read replica not used: %s", problem)
        self.fresh_as_of, self.problem = 0.0, problem

    def check(self) -> None:
        """Samples the primary's WAL position, then asks how far the replica has replayed."""
        sampled_at = time.time()
        with self.primary.connect() as conn:
            revision, position = _revision_and_position(conn, "pg_current_wal_lsn()")
        with self.engine.connect() as conn:
            replica_revision, replayed = _revision_and_position(conn, "pg_last_wal_replay_lsn()")
        if replica_revision != revision:
            raise SchemaError(f"its schema is at revision {replica_revision}, the primary's at {revision}: "
                              "not a replica of the backend store")
        if replayed is None or position is None:  # cannot be measured: in step as of now
            fresh = sampled_at
        else:
            self._samples.append((sampled_at, position))
            fresh = max((t for t, p in self._samples if p <= replayed), default=0.0)
            while self._samples and self._samples[0][0] < fresh:
                self._samples.popleft()
        if self.problem:
            log.info("read replica in use")
        self.fresh_as_of, self.problem = fresh, ""


def _revision_and_position(conn: sa.Connection, position_sql: str) -> tuple[str | None, int | None]:
    """(alembic revision, WAL position as a number or None) of a PostgreSQL or other database."""
    revision = conn.exec_driver_sql(f"SELECT version_num FROM {MAIN.version_table}").scalar()
    if conn.dialect.name != "postgresql":
        return revision, None
    lsn = conn.exec_driver_sql(f"SELECT {position_sql}").scalar()  # 'hi/lo' in hex, NULL off a standby
    if lsn is None:
        return revision, None
    high, low = lsn.split("/")
    return revision, (int(high, 16) << 32) + int(low, 16)


def _wait(conn, deadline: float) -> None:
    """Drive psycopg2's asynchronous connection until its operation is done or the deadline."""
    from psycopg2.extensions import POLL_OK, POLL_READ
    while (state := conn.poll()) != POLL_OK:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN if state == POLL_READ else select.POLLOUT)
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise TimeoutError("the database did not answer in time")


# ---------------------------------------------------------------- schema versions

@dataclasses.dataclass(frozen=True)
class Schema:
    """A set of tables with migrations of their own, and the version table that records them."""
    name: str
    migrations: Path
    version_table: str
    tables: frozenset[str] | None = None  # the tables it owns; None: any table counts as its own


MAIN = Schema("mlflow-server", MIGRATIONS, "alembic_version")
AUTH = Schema("mlflow-server auth", MIGRATIONS.with_name("auth_migrations"), "auth_alembic_version",
              frozenset(auth_schema.metadata.tables))


def _alembic_config(engine: sa.Engine, connection=None, schema: Schema = MAIN) -> Config:
    config = Config()
    config.set_main_option("script_location", str(schema.migrations))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = schema.version_table
    return config


def schema_revisions(engine: sa.Engine, schema: Schema = MAIN) -> tuple[str | None, str]:
    """(revision the database is at, revision this server needs)."""
    head = ScriptDirectory.from_config(_alembic_config(engine, schema=schema)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn, opts={"version_table": schema.version_table}).get_current_revision()
    return current, head


def _has_tables(engine: sa.Engine, schema: Schema) -> bool:
    existing = set(sa.inspect(engine).get_table_names())
    return bool(existing if schema.tables is None else existing & schema.tables)


def upgrade(engine: sa.Engine, schema: Schema = MAIN) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after)."""
    before, head = schema_revisions(engine, schema)
    if before != head:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(engine, conn, schema), "head")
    return before, head


def ensure_schema(engine: sa.Engine, allow_upgrade: bool, schema: Schema = MAIN) -> None:
    """Create the schema in an empty database; refuse an out-of-date one unless allowed."""
    current, head = schema_revisions(engine, schema)
    if current == head:
        return
    if current is None and _has_tables(engine, schema):
        raise SchemaError(f"the database has tables but no {schema.name} schema version; "
                          "point the server at an empty database or one it created")
    if current is not None and not allow_upgrade:
        raise SchemaError(f"the {schema.name} schema is at revision {current}, this server needs {head}: "
                          f"run `python -m app db upgrade` (or start once with MLFLOW_UPGRADE_DB=true)")
    log.info("upgrading the %s schema from %s to %s", schema.name, current or "empty", head)
    upgrade(engine, schema)


@contextlib.contextmanager
def connect_with_retry(url: str, settings, timeout: float):
    """An engine whose database answered; waits up to `timeout` seconds for it to come up."""
    engine = make_engine(url, settings)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect():
                break
        except DBAPIError as error:
            left = deadline - time.monotonic()
            if left <= 0:
                engine.dispose()
                raise
            log.warning("database %s not reachable yet (%s); retrying for up to %d s more",
                        engine.url.render_as_string(hide_password=True),
                        str(error.orig).strip().splitlines()[0], round(left))
            time.sleep(1)
    try:
        yield engine
    finally:
        engine.dispose()
