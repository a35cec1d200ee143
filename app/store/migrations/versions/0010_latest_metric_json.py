"""Each latest metric keeps its JSON object (latest_metrics.metric_json), written with it, so
that a search page concatenates a run's metrics instead of formatting each one; filled here
for existing rows.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from app.store.values import metric_json

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("latest_metrics", sa.Column("metric_json", sa.Text))
    columns = ("run_uuid", "key", "value", "is_nan", "timestamp", "step", "metric_json")
    latest = sa.table("latest_metrics", *map(sa.column, columns))
    update = latest.update().where(latest.c.run_uuid == sa.bindparam("id"), latest.c.key == sa.bindparam("k")) \
        .values(metric_json=sa.bindparam("json"))
    conn = op.get_bind()
    last = ("", "")
    # Formatted here, not in SQL (SQLite prints doubles to 15 digits only), in primary-key order
    # a thousand rows at a time.
    while rows := conn.execute(sa.select(*(latest.c[c] for c in columns[:-1]))
                               .where(sa.tuple_(latest.c.run_uuid, latest.c.key) > sa.tuple_(*last))
                               .order_by(latest.c.run_uuid, latest.c.key).limit(1000)).all():
        conn.execute(update, [{"id": run_id, "k": key, "json": metric_json(key, value, is_nan, timestamp, step)}
                              for run_id, key, value, is_nan, timestamp, step in rows])
        last = rows[-1][:2]
    sqlite = conn.dialect.name == "sqlite"
    # SQLite cannot make a column NOT NULL in place: the batch copies the table (WITHOUT ROWID, as 0004 made it).
    with op.batch_alter_table("latest_metrics", recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_with_rowid": False} if sqlite else {}) as batch:
        batch.alter_column("metric_json", existing_type=sa.Text, nullable=False)
