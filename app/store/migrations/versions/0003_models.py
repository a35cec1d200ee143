"""Logged models' tags, params and metrics, run-model links, and the model registry.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from app.store.migrations.table_options import table_options

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def _model_id(**kwargs):
    return sa.Column("model_id", sa.String(36), sa.ForeignKey("logged_models.model_id", ondelete="CASCADE"),
                     primary_key=True, **kwargs)


def _version_of_model():
    return sa.ForeignKeyConstraint(["registered_model_id", "version"],
                                   ["model_versions.registered_model_id", "model_versions.version"],
                                   ondelete="CASCADE")


def upgrade():
    options = table_options(op.get_bind())
    op.create_table(
        "logged_model_tags", _model_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
        **options,
    )
    op.create_table(
        "logged_model_params", _model_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(6000), nullable=False),
        **options,
    )
    op.create_table(
        "logged_model_metrics", _model_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(36)),
        **options,
    )
    op.create_table(
        "run_models",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
                  primary_key=True),
        _model_id(),
        sa.Column("direction", sa.String(6), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_index("ix_run_models_model", "run_models", ["model_id"])

    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.String(5000)),
        sa.Column("last_version", sa.Integer, nullable=False),
        **options,
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("registered_model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.String(5000), nullable=False),
        **options,
    )
    op.create_table(
        "model_versions",
        sa.Column("registered_model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.String(5000)),
        sa.Column("user_id", sa.String(256)),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("storage_location", sa.String(2000)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.String(500)),
        sa.Column("model_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.String(500)),
        **options,
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("registered_model_id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", LONG_TEXT, nullable=False),
        _version_of_model(),
        **options,
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column("registered_model_id", sa.Integer, primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        _version_of_model(),
        **options,
    )
