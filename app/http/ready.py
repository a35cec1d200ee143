"""GET /ready, the readiness probe: 200 when every database of the server answers, 503
TEMPORARILY_UNAVAILABLE when one does not, so that an orchestrator sends no traffic to a replica
that has lost its database. /health stays the liveness check and touches nothing."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response
from sqlalchemy.exc import DBAPIError

from ..errors import MlflowError
from ..store.db import Database
from .access import PUBLIC_ACCESS
from .api import add_view

log = logging.getLogger(__name__)


def register(app: Flask, databases: list[Database], prefix: str) -> None:
    def ready():
        for database in databases:
            try:
                with database.engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            except DBAPIError as error:
                log.warning("not ready: %s", str(error.orig or error).strip().splitlines()[0])
                raise MlflowError("The database is unavailable", "TEMPORARILY_UNAVAILABLE") from None
        return Response("OK", mimetype="text/plain")

    add_view(app, f"{prefix}/ready", "ready", ready, ["GET"], PUBLIC_ACCESS)
