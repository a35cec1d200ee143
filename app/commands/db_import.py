"""`python -m app db import --from <official MLflow database or mlruns/>`: move in.

Reads an official MLflow database (app/transfer/sql_source.py) or file store
(app/transfer/file_store.py) and writes it into ours (app/transfer/writer.py), after creating
or upgrading our schema. Refuses a database that holds anything (beyond the empty Default
experiment a server creates) unless --merge; a checkpoint table left by an interrupted import
means "resume". At the end it prints, entity by entity, what it read and what it wrote, and
exits 1 when they differ (conflicts), 0 otherwise. --auth-from also brings the users and
permissions of the official basic-auth database into our auth database.
"""
from __future__ import annotations

import os
import re
import sys
from urllib.parse import urlsplit

import click
import sqlalchemy as sa

from ..cli import with_options
from ..config import ConfigError, auth_database_url, database_url, redact_uri
from ..options import Settings


def open_source(uri: str):
    """The Source a --from names: a local path or file:// URI is a file store (mlruns/)."""
    if re.match(r"^[A-Za-z][\w+.-]*://", uri) and not uri.lower().startswith("file://"):
        from ..transfer.sql_source import SqlSource
        return SqlSource(uri)
    path = urlsplit(uri).path if uri.lower().startswith("file://") else uri
    if os.path.isfile(path):
        raise ConfigError(f"--from: {path} is a file; an SQLite database is given as sqlite:///{os.path.abspath(path)}")
    if not os.path.isdir(path):
        raise ConfigError(f"--from: no such directory: {path}")
    from ..transfer.file_store import FileStoreSource
    return FileStoreSource(path)


def _target_contents(engine: sa.Engine, registry_engine: sa.Engine) -> tuple[bool, bool]:
    """(empty, has the server's own empty Default experiment 0)."""
    from ..store.schema import experiment_tags, experiments, logged_models, registered_models, runs
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(experiments.c.experiment_id)).scalars())
        pristine_default = ids == {0} and not any(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            for table in (runs, experiment_tags, logged_models))
    with registry_engine.connect() as conn:
        models = conn.execute(sa.select(sa.func.count()).select_from(registered_models)).scalar()
    return (not ids or pristine_default) and not models, pristine_default


def _fail(message: str, code: int = 1):
    click.echo(f"mlflow-server: error: {message}", err=True)
    sys.exit(code)


@click.command("import")
@click.option("--from", "source_uri", required=True, metavar="URI",
              help="The official MLflow database (sqlite:///, postgresql://, mysql://) or file store (a path).")
@click.option("--merge", is_flag=True, help="Import into a database that already holds data (never overwrites).")
@click.option("--auth-from", metavar="URI", help="The official basic-auth database: its users and permissions too.")
@with_options({"backend_store_uri", "registry_store_uri", "app_name", "auth_config_path", "auth_database_uri"})
def command(source_uri, merge, auth_from, backend_store_uri, registry_store_uri, **auth):
    """Import an official MLflow database or file store (ids kept), resumably."""
    from ..store import db as database
    from ..transfer.progress import Progress, report
    from ..transfer.auth_import import import_auth
    from ..transfer.writer import Writer
    try:
        url = database_url(backend_store_uri, "--backend-store-uri")
        registry_url = database_url(registry_store_uri, "--registry-store-uri") if registry_store_uri else url
        auth_url = auth_database_url(Settings(**auth), url) if auth_from else None
        source = open_source(source_uri)
        auth_source = open_source(auth_from) if auth_from else None
    except ConfigError as error:
        _fail(str(error))
    progress = Progress()
    engines = []
    try:
        engine = database.make_engine(url)
        engines.append(engine)
        registry_engine = engine if registry_url == url else database.make_engine(registry_url)
        engines.append(registry_engine)
        for each in dict.fromkeys((engine, registry_engine)):
            database.upgrade(each)
        resuming = Writer.resuming(engine)
        empty, pristine_default = _target_contents(engine, registry_engine)
        if not (resuming or empty or merge):
            _fail(f"{redact_uri(url)} already holds experiments, runs or models: give --merge to import beside "
                  "them (nothing there is overwritten)")
        click.echo(f"{'resuming the import' if resuming else 'importing'} from {source.name} into {redact_uri(url)}",
                   err=True)
        writer = Writer(engine, registry_engine, replace_default=empty and pristine_default, fresh=empty and not merge)
        tallies = writer.run(source, progress)
        notes = list(dict.fromkeys(writer.notes))
        if auth_source is not None:
            auth_engine = database.make_engine(auth_url)
            engines.append(auth_engine)
            database.upgrade(auth_engine, database.AUTH)
            auth_tallies, auth_notes = import_auth(auth_source, auth_engine)
            tallies.update(auth_tallies)
            notes += auth_notes
        writer.finish()
    except KeyboardInterrupt:
        _fail("interrupted: run the same command again to resume", 130)
    except sa.exc.DBAPIError as error:
        reason = database.first_line(getattr(error, "orig", None) or error)
        _fail(f"the import stopped: {reason} (run the same command again to resume)")
    finally:
        source.close()
        if auth_source is not None:
            auth_source.close()
        for each in engines:
            each.dispose()
    click.echo(report(tallies, notes))
    if not all(t.balanced() for t in tallies.values()):
        _fail("some rows were not imported (see above)")
