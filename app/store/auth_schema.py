"""The auth database's tables: users, roles and their grants, access tokens (SQLAlchemy Core;
app/store/auth_migrations creates them). They live in the backend store's database or in one
of their own (basic-auth's database_uri), under their own schema version.

A user's grants are the permissions of the roles assigned to them; what is granted to one user
directly lives in that user's own role, named __user_<id>__, as in the official basic-auth app.
auth_state holds a counter that every change here raises, so that each worker can tell in one
read whether what it has cached is still current.
"""
from sqlalchemy import (
    BigInteger, Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, UniqueConstraint,
)

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("password_hash", String(255)),  # NULL: signs in only through the trusted proxy
    Column("is_admin", Boolean, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
)

roles = Table(
    "roles", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("workspace", String(63), nullable=False),
    Column("description", String(1000)),
    UniqueConstraint("workspace", "name", name="uq_roles_workspace_name"),
)

role_permissions = Table(
    "role_permissions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_pattern", String(500), nullable=False),
    Column("permission", String(32), nullable=False),
    UniqueConstraint("role_id", "resource_type", "resource_pattern", name="uq_role_permissions_resource"),
    Index("ix_role_permissions_resource", "resource_type", "resource_pattern"),
)

user_role_assignments = Table(
    "user_role_assignments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("user_id", "role_id", name="uq_user_role_assignments"),
    Index("ix_user_role_assignments_role", "role_id"),
)

access_tokens = Table(
    "access_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the secret, hex
    Column("creation_time", BigInteger, nullable=False),
    Column("expiration_time", BigInteger, nullable=False),
    UniqueConstraint("user_id", "name", name="uq_access_tokens_user_name"),
)

auth_state = Table(
    "auth_state", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False),
)
