"""How many experiments and runs there are, by lifecycle stage: the gauges of /metrics
(app/http/metrics.py). Two GROUP BY counts in one read transaction; the caller caches them."""
from __future__ import annotations

import sqlalchemy as sa

from .db import Database
from .schema import experiments, runs


def by_lifecycle_stage(database: Database) -> dict[str, dict[str, int]]:
    """{"experiments": {stage: count}, "runs": {stage: count}}."""
    with database.read() as conn:
        return {name: dict(conn.execute(sa.select(table.c.lifecycle_stage, sa.func.count())
                                        .group_by(table.c.lifecycle_stage)).all())
                for name, table in (("experiments", experiments), ("runs", runs))}
