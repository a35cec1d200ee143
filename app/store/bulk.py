"""Multi-row inserts at the DB-API level: the log-batch hot path.

SQLAlchemy's per-row parameter processing costs more than the database's own work for a
1000-metric batch, so these go straight to each driver's fastest bulk form.
"""
from __future__ import annotations

import sqlalchemy as sa


def insert_ignore(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows (tuples in `columns` order), skipping those whose primary key exists."""
    if not rows:
        return
    dialect = conn.dialect.name
    quote = conn.dialect.identifier_preparer.quote  # `key` is reserved in MySQL
    names = ", ".join(quote(c) for c in columns)
    if dialect == "postgresql":
        from psycopg2.extras import execute_values
        with conn.connection.dbapi_connection.cursor() as cursor:
            execute_values(cursor, f"INSERT INTO {table.name} ({names}) VALUES %s ON CONFLICT DO NOTHING",
                           rows, page_size=len(rows))
        return
    if dialect == "sqlite":
        sql = f"INSERT OR IGNORE INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    else:  # mysql: PyMySQL turns executemany of this form into one multi-row INSERT
        sql = f"INSERT IGNORE INTO {table.name} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
    conn.exec_driver_sql(sql, rows)
