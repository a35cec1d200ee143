"""The security middleware: accepted Host headers (against DNS rebinding), cross-origin
requests (CORS and CSRF-style writes from other sites) and the security headers of every
response. Off with --disable-security-middleware, for a proxy that does the same."""
from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import socket
from collections.abc import Callable

from flask import Flask, Response, request

from ..errors import MlflowError
from ..options import Settings

log = logging.getLogger(__name__)

# Accepted Host names without --allowed-hosts, on any port, as the official server's defaults
# (mlflow.server.security_utils), besides the server's own names. Private addresses are matched
# as addresses: the official patterns ('10.*', ...) also accept a name such as 10.attacker.example.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(network) for network in
                         ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
LOCAL_ORIGINS = ("http://localhost", "http://localhost:*", "http://127.0.0.1", "http://127.0.0.1:*",
                 "http://[::1]", "http://[::1]:*")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def host_check(settings: Settings) -> tuple[Callable[[str, str], bool] | None, str]:
    """(accepts(name, host), the fix a refusal names): whether a Host header, with and without
    its port, is accepted; None when any is."""
    patterns = [h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()]
    if "*" in patterns:
        return None, ""
    if patterns:  # '*' and '?' are wildcards; '[' is a character, as in [::1]
        allowed = re.compile("|".join(fnmatch.translate(p.replace("[", "[[]")) for p in patterns))
        return (lambda name, host: bool(allowed.match(host) or allowed.match(name)),
                "add it to --allowed-hosts (MLFLOW_SERVER_ALLOWED_HOSTS)")
    names = {*LOCAL_HOSTS, socket.gethostname().lower()}
    if settings.host not in ("0.0.0.0", "::", ""):
        names.add(f"[{settings.host}]".lower() if ":" in settings.host else settings.host.lower())
    return (lambda name, host: name in names or _private_address(name),
            "by default the server accepts localhost, private addresses and its own names; set "
            "--allowed-hosts (MLFLOW_SERVER_ALLOWED_HOSTS) to the names clients use, '*' for any")


def _private_address(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return any(address in network for network in PRIVATE_NETWORKS)


def register(app: Flask, settings: Settings) -> None:
    accepts, fix = host_check(settings)
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
        if accepts and request.path not in unchecked_paths:
            host = request.host.lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not accepts(name, host):
                log.warning("refused a request for Host %r (a DNS rebinding attempt or a name to allow)",
                            request.host)
                raise MlflowError(f"Host '{request.host}' is not allowed: {fix}", "PERMISSION_DENIED")
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
        # The UI's URLs name experiments, runs and filters: none of it goes to the sites its
        # links open (run sources, notes), not even this server's name.
        response.headers["Referrer-Policy"] = "same-origin"
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
