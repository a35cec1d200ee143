"""Read-your-writes with a read replica: the client's last write travels in a cookie.

Each successful write through the API (a route that does not only read, app/http/api.py's
Route.reads) answers with the cookie `mlflow-wrote`: the server's wall time after the commit.
The official client keeps cookies (its requests.Session), and so does a browser; the cookie
comes back with the client's next requests to any worker of any server process, so no state is
shared between them. A read-only request passes that time to app.store.db.read_only, whose reads
go to the replica only once the replica has replayed everything committed before it, and to the
primary until then. A client that keeps no cookies reads what the replica has, at most
app.store.db.MAX_LAG seconds old; a row the replica does not have yet is read from the primary.
"""
from __future__ import annotations

import math
import time

from flask import Flask, Response, request

from ..store import db

COOKIE = "mlflow-wrote"


def wrote_at() -> float:
    """Wall time of this client's last write, 0.0 when it sent none (or nonsense)."""
    try:
        value = float(request.cookies.get(COOKIE, 0))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def install(app: Flask, prefix: str) -> None:
    """Sets the cookie on the answers of writes. Install it before the auth guard: after_request
    hooks run last-installed first, and the guard's follow-up writes (a creator's grant) come first."""
    routes = app.extensions.get("routes", {})
    max_age = math.ceil(db.MAX_LAG + db.CLOCK_SKEW) + 1  # older writes are on any replica still in use

    @app.after_request
    def remember_write(response: Response) -> Response:
        route = routes.get(request.endpoint)
        if route is not None and not route.reads and response.status_code < 400:
            response.set_cookie(COOKIE, f"{time.time():.3f}", max_age=max_age, path=prefix or "/",
                                httponly=True, samesite="Lax")
        return response
