"""The security middleware: accepted Host headers (against DNS rebinding), cross-origin
requests (CORS and CSRF-style writes from other sites) and the security headers of every
response. Off with --disable-security-middleware, for a proxy that does the same."""
from __future__ import annotations

import fnmatch

from flask import Flask, Response, request

from ..errors import MlflowError
from ..options import Settings

LOCAL_ORIGINS = ("http://localhost", "http://localhost:*", "http://127.0.0.1", "http://127.0.0.1:*",
                 "http://[::1]", "http://[::1]:*")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def register(app: Flask, settings: Settings) -> None:
    hosts = [h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()]
    origins = [o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()]
    frame_options = None if settings.x_frame_options == "NONE" else settings.x_frame_options
    # The web UI's scripts and styles are files of this server; nothing inline, no plugins.
    ancestors = {"SAMEORIGIN": "'self'", "DENY": "'none'"}.get(settings.x_frame_options)
    content_security_policy = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'"
                               + (f"; frame-ancestors {ancestors}" if ancestors else ""))
    unchecked_paths = {f"{settings.static_prefix}/{path}" for path in ("health", "ready", "version")}

    def origin_allowed(origin: str) -> bool:
        return any(p == "*" or fnmatch.fnmatch(origin, p) for p in origins)

    @app.before_request
    def check_request():
        if hosts and request.path not in unchecked_paths:
            host = request.host.lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not any(fnmatch.fnmatch(host, p) or fnmatch.fnmatch(name, p) for p in hosts):
                raise MlflowError(f"Host '{request.host}' is not allowed by --allowed-hosts",
                                  "PERMISSION_DENIED")
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        # A browser page from another site must not change state here (CSRF-style requests).
        same_site = origin.split("://", 1)[-1].lower() == request.host.lower()
        if (request.method in STATE_CHANGING and not same_site and not origin_allowed(origin)
                and not any(fnmatch.fnmatch(origin, p) for p in LOCAL_ORIGINS)):
            raise MlflowError(f"Cross-origin {request.method} from '{origin}' is not allowed; "
                              f"add it to --cors-allowed-origins", "PERMISSION_DENIED")
        return None

    @app.after_request
    def headers(response: Response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = content_security_policy
        if frame_options:
            response.headers["X-Frame-Options"] = frame_options
        origin = request.headers.get("Origin")
        if origin and origin_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type, Authorization")
        return response
