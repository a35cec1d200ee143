"""Database engines, transactions and schema versions (alembic)."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

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
    kwargs["pool_pre_ping"] = True
    if u.get_backend_name() != "mysql":
        return sa.create_engine(u, **kwargs)
    if "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    kwargs["isolation_level"] = "READ COMMITTED"
    engine = sa.create_engine(u, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        with dbapi_conn.cursor() as cursor:  # MariaDB cuts JSON_ARRAYAGG at this length (1 MB by default)
            cursor.execute("SET SESSION group_concat_max_len = 1073741824")

    return engine


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


class Database:
    """An engine plus the two kinds of transaction the stores use."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = engine.execution_options(write=True)

    def read(self):
        return self.engine.begin()

    def write(self, work, attempts: int = 6):
        """Run work(conn) in a write transaction, retried on deadlock; returns its result."""
        for attempt in range(attempts):
            try:
                with self._writer.begin() as conn:
                    return work(conn)
            except DBAPIError as error:
                if attempt + 1 == attempts or not _is_retryable(error):
                    raise
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)

    def dispose(self) -> None:
        self.engine.dispose()


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
