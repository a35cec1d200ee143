"""`python -m app gc`: permanently delete runs, logged models and experiments in the deleted
lifecycle stage, with their artifacts (an experiment's traces too), as the official `mlflow gc`
does (docs/gc.md).

The rules live in app.services.gc, the SQL in app.store.gc. This module reads the options,
opens the database (it must be at this server's schema revision; gc creates or upgrades
nothing), plans, then deletes or, with --dry-run, lists. stdout gets one line per entity, in the
official wording, and a summary; stderr the entities kept and why, and on a terminal a progress
bar. Exit 0 when everything planned went, 1 when something was refused up front (nothing is
deleted then) or kept.
"""
from __future__ import annotations

import logging
import os
import sys
import time

import click
from sqlalchemy.exc import SQLAlchemyError

from ..cli import with_options

_OFFICIAL_NAMES = {"run": "Run", "logged model": "Logged model", "experiment": "Experiment"}


def _ids(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _fail(message: str) -> None:
    click.echo(f"mlflow-server: error: {message}", err=True)
    sys.exit(1)


def _count(n: int, kind: str) -> str:
    return f"{n} {kind}{'' if n == 1 else 's'}"


@click.command("gc")
@click.option("--older-than", default=None, metavar="DURATION",
              help="Only what was deleted at least this long ago, as #d#h#m#s (e.g. 30d, 1d2h3m4s, 1.5h).")
@click.option("--run-ids", default=None, metavar="IDS",
              help="Comma-separated ids of deleted runs to delete (only these).")
@click.option("--experiment-ids", default=None, metavar="IDS",
              help="Comma-separated ids of deleted experiments to delete, with all their runs, logged models and "
                   "traces.")
@click.option("--logged-model-ids", default=None, metavar="IDS",
              help="Comma-separated ids of deleted logged models to delete (only these).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted and delete nothing.")
@with_options({"backend_store_uri", "artifacts_destination", "default_artifact_root", "db_wait_timeout"})
def command(older_than, run_ids, experiment_ids, logged_model_ids, dry_run, db_wait_timeout, **stores):
    """Permanently delete runs, logged models and experiments in the `deleted` lifecycle stage,
    and their artifacts. Without ids, everything deleted (--older-than ago); with ids, only
    those (an experiment with its runs and logged models)."""
    from ..config import ConfigError, redact_uri, resolve
    from ..errors import MlflowError
    from ..options import Settings
    from ..services import gc
    from ..store import db as database
    from ..store.gc import GcStore

    try:
        settings = resolve(Settings(**stores))
        older_than_ms = gc.parse_duration(older_than) if older_than is not None else None
    except ConfigError as error:
        _fail(str(error))
    except MlflowError as error:
        _fail(error.message)
    url = settings.backend_store_uri
    if url.startswith("sqlite:///") and not os.path.isfile(url[len("sqlite:///"):]):
        _fail(f"no database at {url}: give the server's --backend-store-uri")
    logging.getLogger("app.artifacts").setLevel(logging.ERROR)  # a store's failure is reported per entity
    try:
        with database.connect_with_retry(url, None, db_wait_timeout) as engine:
            current, head = database.schema_revisions(engine)
            if current != head:
                _fail(f"{redact_uri(url)} is at schema revision {current or 'none'}, this server's is {head}; gc "
                      f"changes no schema (`python -m app db upgrade` brings a database of this server there)")
            store = GcStore(database.Database(engine))
            artifacts = gc.ArtifactRoots(settings.artifacts_destination, settings.default_artifact_root)
            try:
                plan = gc.plan(store, artifacts, int(time.time() * 1000), older_than_ms, _ids(run_ids),
                               _ids(experiment_ids), _ids(logged_model_ids))
            except MlflowError as error:
                _fail(f"{error.message} Nothing was deleted.")
            if dry_run:
                _list(plan)
                return
            outcome = _delete(plan, store, artifacts)
    except MlflowError as error:  # the database went away mid-way
        _fail(error.message)
    except SQLAlchemyError as error:  # unreachable database, no such database, a statement refused
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        _fail(f"database {redact_uri(url)}: {redact_uri(reason)} (what was being deleted keeps all its rows)")
    deleted = ", ".join(_count(n, kind) for kind, n in outcome.deleted.items())
    click.echo(f"gc: permanently deleted {deleted}")
    if any(outcome.failed.values()):
        kept = ", ".join(_count(n, kind) for kind, n in outcome.failed.items() if n)
        _fail(f"kept {kept} (see above); they stay in the deleted stage with all their rows: "
              f"run gc again once the cause is fixed")


def _list(plan) -> None:
    for entity in [*plan.runs, *plan.models, *(e for experiment, inside in plan.experiments
                                               for e in (*inside, experiment))]:
        traces = plan.traces.get(entity.id, 0) if entity.kind == "experiment" else 0
        where = (f" (artifacts: {entity.artifact_uri})" if entity.kind != "experiment"
                 else f" (with {_count(traces, 'trace')})" if traces else "")
        click.echo(f"{_OFFICIAL_NAMES[entity.kind]} with ID {entity.id} would be permanently deleted{where}.")
    click.echo("gc (dry run): would permanently delete "
               + ", ".join(_count(n, kind) for kind, n in plan.counts().items()) + "; nothing was deleted")


def _delete(plan, store, artifacts):
    from ..services import gc

    bar = None
    if sys.stderr.isatty():
        from ..transfer.progress import Progress
        bar = Progress()
        bar.start("gc", sum(n for kind, n in plan.counts().items() if kind != gc.TRACE))

    def report(entity, reason):
        if bar:
            sys.stderr.write("\r\033[K")  # the line replaces the bar, which is drawn again below it
        name = _OFFICIAL_NAMES[entity.kind]
        if reason is None:
            click.echo(f"{name} with ID {entity.id} has been permanently deleted.")
        else:
            click.echo(f"{name} with ID {entity.id} was not deleted: {reason}", err=True)
        if bar:
            bar.advance(1)

    outcome = gc.execute(plan, store, artifacts, report)
    if bar:
        bar.done()
    return outcome
