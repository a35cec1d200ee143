"""Datasets logged as run inputs, and an index for sampling a metric's history by step.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from app.store.migrations.table_options import table_options

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def upgrade():
    options = table_options(op.get_bind())
    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", LONG_TEXT, nullable=False),
        sa.Column("schema", LONG_TEXT),
        sa.Column("profile", LONG_TEXT),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name_digest"),
        **options,
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("dataset_uuid", sa.String(36), sa.ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"),
                  primary_key=True),
        **options,
    )
    op.create_index("ix_run_inputs_dataset", "run_inputs", ["dataset_uuid"])
    op.create_table(
        "run_input_tags",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("dataset_uuid", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(["run_uuid", "dataset_uuid"], ["run_inputs.run_uuid", "run_inputs.dataset_uuid"],
                                ondelete="CASCADE"),
        **options,
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_uuid", "key", "step"])
