"""The initial schema: experiments, runs, params, tags, metrics, logged models.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from app.store.migrations.table_options import table_options

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_fk():
    return sa.ForeignKey("runs.run_uuid", ondelete="CASCADE")




def upgrade():
    options = table_options(op.get_bind())
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False, unique=True),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(5000), nullable=False),
        **options,
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("artifact_uri", sa.String(2000), nullable=False),
        sa.Column("deleted_time", sa.BigInteger),
        **options,
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "lifecycle_stage", "start_time"])
    op.create_table(
        "params",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(6000), nullable=False),
        **options,
    )
    op.create_table(
        "tags",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
        **options,
    )
    op.create_table(
        "metrics",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Double, primary_key=True),
        sa.Column("is_nan", sa.Boolean, primary_key=True),
        sqlite_with_rowid=False,
        **options,
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("status_message", sa.String(1000)),
        **options,
    )
    op.create_index("ix_logged_models_experiment_name", "logged_models", ["experiment_id", "name"])
