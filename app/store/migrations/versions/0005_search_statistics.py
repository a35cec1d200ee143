"""PostgreSQL: statistics on params' and tags' (key, value) pairs together.

Without them the planner takes `key = 'p0'` and `value = 'a'` as independent and guesses
that a filter such as params.p0 = 'a' matches far fewer runs than it does; it then scans and
hashes every param instead of following the sort key's index and stopping after a page.
They are filled in by ANALYZE (autovacuum).

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("params", "tags")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"CREATE STATISTICS IF NOT EXISTS st_{table}_key_value (mcv, dependencies) "
                       f"ON key, value FROM {table}")

