"""Latest metrics record whether a key's points are evenly spaced (points, stride), so that
bulk-interval history samples them without reading every step. Points logged before this
revision stay unknown (NULL) and are sampled by reading their steps, as before.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("latest_metrics", sa.Column("points", sa.BigInteger))
    op.add_column("latest_metrics", sa.Column("stride", sa.BigInteger))

