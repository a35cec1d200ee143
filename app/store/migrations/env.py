"""Alembic environment of the main schema."""
from alembic import context

from app.store.migrations import run_migrations

run_migrations(context)
