"""Registry webhooks: the subscriptions and the events each one receives.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

from app.store.migrations.table_options import table_options

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    options = table_options(op.get_bind())
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("secret", sa.String(1000)),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_index("ix_webhooks_creation", "webhooks", ["creation_timestamp", "webhook_id"])
    op.create_table(
        "webhook_events",
        sa.Column("webhook_id", sa.String(36), sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("event", sa.String(50), primary_key=True),
        **options,
    )
    op.create_index("ix_webhook_events_event", "webhook_events", ["event"])
