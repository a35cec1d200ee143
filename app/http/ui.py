"""The web UI: an HTML shell and the static ES modules, stylesheet and icon under app/ui/,
served at the static prefix (`/` by default). The page reads and writes only through the
REST API (ajax-api), like any client; there is no build step.

Assets live under static-files/<version>/, where the version is a digest of their contents,
so browsers may cache them for good; the shell itself is revalidated on every load."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, redirect, request, send_from_directory

from .access import ANY_USER, PUBLIC_ACCESS
from .api import add_view

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
STATIC_DIR = UI_DIR / "static"
YEAR = 365 * 24 * 3600


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def register(app: Flask, prefix: str, auth: str = "") -> None:
    """auth: the app name when authentication is on (basic-auth), which the page reads from
    its body's data-auth instead of asking the server."""
    version = _digest(STATIC_DIR)
    assets = f"static-files/{version}"
    # Every module is announced up front, so the browser fetches them in parallel instead of
    # discovering the import graph one level at a time.
    preload = "\n".join(f'<link rel="modulepreload" href="{assets}/{path.relative_to(STATIC_DIR).as_posix()}">'
                        for path in sorted(STATIC_DIR.rglob("*.js")))
    shell = (UI_DIR / "index.html").read_text().replace("{{assets}}", assets).replace("{{preload}}", preload) \
        .replace("{{auth}}", auth)

    def index():
        if not request.path.endswith("/"):  # the page's relative URLs must resolve under the prefix
            return redirect(request.path + "/", 308)
        response = Response(shell, mimetype="text/html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    def asset(stamp: str, path: str):
        current = stamp == version  # an older page may still ask for its own version: serve, don't cache
        response = send_from_directory(STATIC_DIR, path, max_age=YEAR if current else 0)
        if current:
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        return response

    # the page asks a browser to sign in; its scripts and styles hold no data
    add_view(app, f"{prefix}/", "ui", index, ["GET"], ANY_USER)
    add_view(app, f"{prefix}/static-files/<stamp>/<path:path>", "ui asset", asset, ["GET"], PUBLIC_ACCESS)
