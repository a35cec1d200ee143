"""Experiment ids are 64-bit: the official file store (mlruns/) gives experiments random
18-digit ids, which `db import --from ./mlruns` keeps.

SQLite: nothing to change. INTEGER PRIMARY KEY is the rowid, a 64-bit integer, and every
INTEGER column holds 64-bit values.
PostgreSQL and MySQL/MariaDB: the foreign keys onto experiments.experiment_id are dropped, every
experiment_id column becomes BIGINT (one rewrite of each table, its indexes rebuilt with it), the
keys are recreated (one check of each referencing table) and, on PostgreSQL, the id sequence
becomes bigint too. MySQL refuses to change a column a foreign key uses; PostgreSQL would check a
kept key again after each side's change.

Cost, 1M runs and 10M latest metrics, 2 cores: PostgreSQL (3 GB) 41 s, of which latest_metrics'
rewrite 33 s, runs' 3 s, the keys' checks under 1 s (2 min 7 s with the machine's load at 13);
MariaDB 76 s. Tables are locked meanwhile: upgrade with the servers stopped.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REFERENCING = ("experiment_tags", "runs", "logged_models", "datasets")
TABLES = ("experiments", *REFERENCING, "latest_metrics")


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        return
    inspector = sa.inspect(bind)
    keys = [(table, key) for table in REFERENCING for key in inspector.get_foreign_keys(table)
            if key["referred_table"] == "experiments"]
    for table, key in keys:
        op.drop_constraint(key["name"], table, type_="foreignkey")
    if dialect == "mysql":  # the copy keeps experiment 0 as 0 rather than numbering it anew
        op.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
    for table in TABLES:
        restated = {"autoincrement": True} if dialect == "mysql" and table == "experiments" else {}  # MODIFY drops it
        op.alter_column(table, "experiment_id", type_=sa.BigInteger, existing_type=sa.Integer,
                        existing_nullable=False, **restated)
    if dialect == "postgresql":
        sequence = bind.exec_driver_sql("SELECT pg_get_serial_sequence('experiments', 'experiment_id')").scalar()
        op.execute(f"ALTER SEQUENCE {sequence} AS bigint")
    for table, key in keys:
        op.create_foreign_key(key["name"], table, "experiments", key["constrained_columns"],
                              key["referred_columns"], ondelete=key["options"].get("ondelete"))
