"""PostgreSQL: the (run, key, step) index of metrics also holds timestamp, value and is_nan,
so that bulk-interval history reads its sampled points from the index alone, one descent per
step and no table read per point. SQLite and MySQL secondary indexes hold the primary key,
and so these columns, already.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_metrics_run_key_step", "metrics")
        op.create_index("ix_metrics_run_key_step", "metrics", ["run_uuid", "key", "step"],
                        postgresql_include=["timestamp", "value", "is_nan"])
