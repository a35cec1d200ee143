"""GET /ready, the readiness probe: 200 when every database of the server answers, 503
TEMPORARILY_UNAVAILABLE when one does not, so that an orchestrator sends no traffic to a replica
that has lost its database. /health stays the liveness check and touches nothing.

The databases share a budget of TIMEOUT seconds: one that accepts connections but does not
answer (stopped, or a network that loses packets) makes /ready a 503 in that time rather than
a request that hangs. Each check is a connection of its own with that time limit, closed
after it (Database.probe), so that probes of a stalled database leave no thread or connection
behind however often they come.

With a read replica, its state follows on a second line, without changing the status: reads go
to the primary while the replica is down or behind ("replica: OK, 0.4 s behind" or "replica:
not used (...)")."""
from __future__ import annotations

import logging
import time

from flask import Flask, Response

from ..errors import MlflowError
from ..store.db import MAX_LAG, Database, Replica, first_line
from .access import PUBLIC_ACCESS
from .api import add_view

log = logging.getLogger(__name__)

TIMEOUT = 2.0


def register(app: Flask, databases: list[Database], prefix: str) -> None:
    def ready():
        deadline = time.monotonic() + TIMEOUT
        for database in databases:
            try:
                database.probe(deadline - time.monotonic())
            except Exception as error:  # the drivers' errors, TimeoutError, OSError: not ready either way
                log.warning("not ready: %s", first_line(error))
                raise MlflowError("The database is unavailable", "TEMPORARILY_UNAVAILABLE") from None
        lines = ["OK"] + [_replica_state(d.replica, deadline) for d in databases if d.replica is not None]
        return Response("\n".join(lines), mimetype="text/plain")

    add_view(app, f"{prefix}/ready", "ready", ready, ["GET"], PUBLIC_ACCESS)


def _replica_state(replica: Replica, deadline: float) -> str:
    replica.watch()
    try:
        replica.probe(deadline - time.monotonic())
    except Exception as error:
        return f"replica: not used (unavailable: {first_line(error)})"
    lag = replica.lag()
    if lag is None:
        return f"replica: not used ({replica.problem or 'too far behind'})"
    if lag > MAX_LAG:
        return f"replica: not used ({lag:.1f} s behind)"
    return f"replica: OK, {lag:.1f} s behind"
