"""Faster run searches: an index for ordering by a metric, and (SQLite) params, tags and
latest metrics stored in primary-key order, so a run's rows are one range read.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        for table in ("params", "tags", "latest_metrics"):
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": False}):
                pass
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "is_nan", "value"])
