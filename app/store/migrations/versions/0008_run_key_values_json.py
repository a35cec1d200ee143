"""Runs keep their params and tags as JSON arrays (runs.params_json, runs.tags_json), written
with the rows, so that a search page reads them with its runs; filled here for existing runs.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from app.store.json_sql import key_value_array

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    long_text = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
    op.add_column("runs", sa.Column("params_json", long_text))
    op.add_column("runs", sa.Column("tags_json", long_text))
    runs = sa.table("runs", sa.column("run_uuid"), sa.column("params_json"), sa.column("tags_json"))
    for name, column in (("params", "params_json"), ("tags", "tags_json")):
        rows = sa.table(name, sa.column("run_uuid"), sa.column("key"), sa.column("value"))
        op.execute(runs.update().values({column: sa.select(key_value_array(rows.c.key, rows.c.value))
                                         .where(rows.c.run_uuid == runs.c.run_uuid).scalar_subquery()}))
