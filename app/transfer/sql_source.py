"""An official MLflow database (SQLite, PostgreSQL, MySQL/MariaDB; any schema revision) read as
a Source.

The tables are reflected, so whatever columns the database's revision has are read; the
writer gives defaults for what older revisions lack. Each table is read in its primary key's
order through the driver's own server-side cursor (psycopg2's named cursor, PyMySQL's
unbuffered one), in batches; a position is the number of rows read so far, and reading resumes past it with
OFFSET (one scan of the rows already read, once per resume). The source is only read: SQLite
files are opened read-only (mode=ro), so not even a journal file is created.
"""
from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ..config import ConfigError, database_url, redact_uri

# Tables of the official database that are not data: alembic's version, and the auth app's.
_NOT_DATA = {"alembic_version"}


def _engine(url: str) -> sa.Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        # read-only, and no file created where none exists
        return sa.create_engine(f"sqlite:///file:{u.database}?mode=ro&uri=true")
    if u.get_backend_name() == "mysql" and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    return sa.create_engine(u)


class SqlSource:
    """Source over an official database URI (sqlite:///, postgresql://, mysql://)."""

    def __init__(self, uri: str, option: str = "--from"):
        url = database_url(uri, option)
        if url.startswith("sqlite:"):
            path = make_url(url).database or ""
            if not os.path.isfile(path):
                raise ConfigError(f"{option}: no SQLite database at {path}")
        self.name = redact_uri(uri)
        self.engine = _engine(url)
        self.dialect = self.engine.dialect.name
        self.metadata = sa.MetaData()
        try:
            self.metadata.reflect(self.engine)
        except sa.exc.DBAPIError as error:
            self.engine.dispose()
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise ConfigError(f"{option}: cannot read {self.name}: {reason}") from None
        if not {"experiments", "users"} & set(self.metadata.tables):
            self.engine.dispose()
            raise ConfigError(f"{option}: {self.name} is not an MLflow database (it has no experiments table)")

    def revision(self) -> str | None:
        """The official alembic revision the database is at (None: no version table)."""
        table = self.metadata.tables.get("alembic_version")
        if table is None:
            return None
        with self.engine.connect() as conn:
            return conn.execute(sa.select(table.c.version_num)).scalar()

    def tables(self) -> dict[str, set[str]]:
        return {name: {c.name for c in table.columns}
                for name, table in self.metadata.tables.items() if name not in _NOT_DATA}

    def count(self, table: str) -> int:
        if table not in self.metadata.tables:
            return 0
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.metadata.tables[table])).scalar_one()

    def _order(self, table: sa.Table) -> list:
        return list(table.primary_key.columns) or list(table.columns)

    def rows(self, table: str, after=None, size: int = 10_000):
        if table not in self.metadata.tables:
            return
        t = self.metadata.tables[table]
        names = [c.name for c in t.columns]
        query = sa.select(*t.columns).order_by(*self._order(t))
        position = int(after or 0)
        if position:
            query = query.limit(2**62).offset(position)  # a limit SQLite renders as a literal too
        sql = str(query.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        # The driver's own streaming cursor: SQLAlchemy's result rows cost twice the query.
        raw = self.engine.raw_connection()
        try:
            if self.dialect == "postgresql":
                cursor = raw.cursor(name=f"import_{table}")
                cursor.itersize = size
            elif self.dialect == "mysql":
                import pymysql.cursors
                cursor = raw.cursor(pymysql.cursors.SSCursor)
            else:
                cursor = raw.cursor()
            cursor.execute(sql)
            while batch := cursor.fetchmany(size):
                position += len(batch)
                yield [dict(zip(names, row)) for row in batch], position
            cursor.close()
        finally:
            raw.close()

    def close(self) -> None:
        self.engine.dispose()
