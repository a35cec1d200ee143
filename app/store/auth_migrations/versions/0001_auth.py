"""The auth database: users, roles, grants, access tokens.

Revision ID: auth0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from app.store.migrations.table_options import table_options

revision = "auth0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    options = table_options(op.get_bind())
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("workspace", sa.String(63), nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.UniqueConstraint("workspace", "name", name="uq_roles_workspace_name"),
        **options,
    )
    op.create_table(
        "role_permissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_pattern", sa.String(500), nullable=False),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.UniqueConstraint("role_id", "resource_type", "resource_pattern", name="uq_role_permissions_resource"),
        **options,
    )
    op.create_index("ix_role_permissions_resource", "role_permissions", ["resource_type", "resource_pattern"])
    op.create_table(
        "user_role_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
        sa.UniqueConstraint("user_id", "role_id", name="uq_user_role_assignments"),
        **options,
    )
    op.create_index("ix_user_role_assignments_role", "user_role_assignments", ["role_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("expiration_time", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_access_tokens_user_name"),
        **options,
    )
    state = op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        **options,
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])
