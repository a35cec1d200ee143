"""INSERT ... ON CONFLICT / ON DUPLICATE KEY statements, in each dialect's form."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite


def dialect_insert(dialect: str, table: sa.Table):
    """(INSERT statement that can take an upsert clause, its reference to the new row)."""
    if dialect == "mysql":
        statement = mysql.insert(table)
        return statement, statement.inserted
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return statement, statement.excluded


def upsert(dialect: str, table: sa.Table, keys: list[str], update: list[str]):
    """INSERT that overwrites the `update` columns of an existing row."""
    statement, new = dialect_insert(dialect, table)
    if dialect == "mysql":
        return statement.on_duplicate_key_update({c: new[c] for c in update})
    return statement.on_conflict_do_update(index_elements=keys, set_={c: new[c] for c in update})
