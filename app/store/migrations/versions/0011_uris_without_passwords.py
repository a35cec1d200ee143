"""Stored artifact URIs lose their passwords (ftp://user:secret@host/path -> ftp://user@host/path):
every reader of an experiment, run, logged model or model version was shown them. The server
keeps them in its configuration (app/artifacts/credentials.py).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from app.artifacts.credentials import password_prefix

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"), ("logged_models", "artifact_location"),
           ("model_versions", "source"), ("model_versions", "storage_location"))


def upgrade():
    conn = op.get_bind()
    for table_name, name in COLUMNS:
        table = sa.table(table_name, sa.column(name, sa.String))
        column = table.c[name]
        # The URIs of a table share a few roots: find each 'scheme://user:password@' prefix once,
        # then rewrite the rows that start with it in one statement.
        rows = conn.execute(sa.select(column).where(column.like("%://%:%@%")).execution_options(yield_per=1000))
        prefixes = dict(filter(None, (password_prefix(uri) for (uri,) in rows)))
        for old, new in prefixes.items():
            conn.execute(table.update().where(sa.func.substr(column, 1, len(old)) == old)
                         .values({name: sa.literal(new, sa.String) + sa.func.substr(column, len(old) + 1)}))
