"""Alembic environment of the auth schema."""
from alembic import context

from app.store.migrations import run_migrations

run_migrations(context)
