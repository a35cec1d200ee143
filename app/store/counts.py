"""How many experiments, runs and traces there are, by lifecycle stage: the gauges of /metrics
(app/http/metrics.py). Three GROUP BY counts in one read transaction (a trace's stage is its
experiment's); the caller caches them."""
from __future__ import annotations

import sqlalchemy as sa

from .db import Database
from .schema import experiments, runs, trace_info


def by_lifecycle_stage(database: Database) -> dict[str, dict[str, int]]:
    """{"experiments": {stage: count}, "runs": {stage: count}, "traces": {stage: count}}."""
    stage = experiments.c.lifecycle_stage
    traces = (sa.select(stage, sa.func.count()).select_from(trace_info.join(experiments))
              .group_by(stage))
    with database.read() as conn:
        found = {name: dict(conn.execute(sa.select(table.c.lifecycle_stage, sa.func.count())
                                         .group_by(table.c.lifecycle_stage)).all())
                 for name, table in (("experiments", experiments), ("runs", runs))}
        found["traces"] = dict(conn.execute(traces).all())
        return found
