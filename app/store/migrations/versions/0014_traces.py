"""MLflow 3 tracing: traces, their tags, metadata, runs and spans, and assessments.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from app.store.migrations.table_options import table_options

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
EXPERIMENT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _trace_id(**kwargs):
    return sa.Column("trace_id", sa.String(50), sa.ForeignKey("trace_info.trace_id", ondelete="CASCADE"), **kwargs)


def upgrade():
    options = table_options(op.get_bind())
    without_rowid = {"sqlite_with_rowid": False}
    op.create_table(
        "trace_info",
        sa.Column("trace_id", sa.String(50), primary_key=True),
        sa.Column("experiment_id", EXPERIMENT_ID, sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("request_time", sa.BigInteger, nullable=False),
        sa.Column("execution_duration", sa.BigInteger),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("client_request_id", sa.String(50)),
        sa.Column("request_preview", sa.String(1000)),
        sa.Column("response_preview", sa.String(1000)),
        sa.Column("tags_json", LONG_TEXT),
        sa.Column("metadata_json", LONG_TEXT),
        **options,
    )
    op.create_index("ix_trace_info_experiment_time", "trace_info", ["experiment_id", "request_time", "trace_id"])
    for table in ("trace_tags", "trace_metadata"):
        op.create_table(
            table,
            _trace_id(primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.String(8000), nullable=False),
            **options, **without_rowid,
        )
    op.create_table(
        "trace_runs",
        _trace_id(primary_key=True),
        sa.Column("run_id", sa.String(32), primary_key=True),
        **options, **without_rowid,
    )
    op.create_index("ix_trace_runs_run", "trace_runs", ["run_id"])
    op.create_table(
        "spans",
        _trace_id(primary_key=True),
        sa.Column("span_id", sa.String(50), primary_key=True),
        sa.Column("parent_span_id", sa.String(50)),
        sa.Column("name", sa.Text),
        sa.Column("span_type", sa.String(500)),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger),
        sa.Column("content", LONG_TEXT, nullable=False),
        **options,
    )
    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.String(50), primary_key=True),
        _trace_id(nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", LONG_TEXT, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("rationale", sa.Text),
        sa.Column("source_type", sa.String(50), nullable=False),
        sa.Column("source_id", sa.String(250)),
        sa.Column("span_id", sa.String(50)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("overrides", sa.String(50)),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("metadata", sa.Text),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_index("ix_assessments_trace", "assessments", ["trace_id", "create_time"])
    op.create_index("ix_assessments_name", "assessments", ["name", "kind"])

