"""`python -m app db export --to <official MLflow database URI>`: our data into an empty
official-schema database (app/transfer/export.py), so nobody is locked in. Progress on stderr;
at the end a table of what was read and written per entity on stdout, exit 1 when they differ
or the target is refused (one line, credentials redacted), never a traceback for a user mistake."""
from __future__ import annotations

import os
import sys

import click
import sqlalchemy as sa

from ..cli import with_options


@click.command("export")
@click.option("--to", "to", required=True, metavar="URI",
              help="An empty official MLflow database (sqlite:///, postgresql://, mysql://) whose schema the "
                   "official `mlflow db upgrade` of mlflow 3.17.2 created.")
@with_options({"backend_store_uri", "registry_store_uri"})
def command(to, backend_store_uri, registry_store_uri):
    """Export everything into an empty official MLflow database."""
    from ..config import ConfigError, database_url, redact_uri
    from ..transfer.export import ExportError, export
    from ..transfer.progress import Progress, Tally, report

    def fail(message: str):
        click.echo(f"mlflow-server: error: {message}", err=True)
        sys.exit(1)

    try:
        tracking = database_url(backend_store_uri, "--backend-store-uri")
        registry = database_url(registry_store_uri, "--registry-store-uri") if registry_store_uri else tracking
        target = database_url(to, "--to")
    except ConfigError as error:
        fail(str(error))
    for url in {tracking, registry}:  # opening a missing SQLite file would create it
        path = sa.engine.make_url(url).database if url.startswith("sqlite:") else None
        if path and not os.path.exists(path):
            fail(f"{path} does not exist: check --backend-store-uri and --registry-store-uri")
    if target in (tracking, registry):
        fail("--to names our own database: give an empty official MLflow database")
    try:
        done = export(tracking, registry, target, redact_uri(to), Progress())
    except ExportError as error:
        fail(str(error))
    except sa.exc.SQLAlchemyError as error:  # unreachable, refused login, a row the target refused, ...
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        fail(f"export failed, nothing was written: {redact_uri(reason)}")
    tallies = {e.name: Tally(read=e.read, written=e.wrote) for e in done}
    click.echo(report(tallies, []))
    if not all(t.balanced() for t in tallies.values()):
        fail("what was written differs from what was read (see the table above)")
    click.echo(f"exported to {redact_uri(to)}")
