"""Latest metrics carry their run's experiment (latest_metrics.experiment_id), and searches
ordered by a metric walk the index (experiment_id, key, is_nan, value): the runs of the searched
experiment in metric order, not every run on the server that has the key.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("latest_metrics", sa.Column("experiment_id", sa.Integer))
    latest = sa.table("latest_metrics", sa.column("run_uuid"), sa.column("experiment_id"))
    runs = sa.table("runs", sa.column("run_uuid"), sa.column("experiment_id"))
    op.execute(latest.update().values(experiment_id=sa.select(runs.c.experiment_id)
                                      .where(runs.c.run_uuid == latest.c.run_uuid).scalar_subquery()))
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot make a column NOT NULL in place: the batch copies the table (keeping it
    # WITHOUT ROWID, as revision 0004 made it).
    with op.batch_alter_table("latest_metrics", recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_with_rowid": False} if sqlite else {}) as batch:
        batch.alter_column("experiment_id", existing_type=sa.Integer, nullable=False)
    op.drop_index("ix_latest_metrics_key_value", "latest_metrics")
    op.create_index("ix_latest_metrics_experiment_key_value", "latest_metrics",
                    ["experiment_id", "key", "is_nan", "value"])
