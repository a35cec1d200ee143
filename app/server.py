"""Start-up: check the configuration and the database, then hand over to gunicorn."""
from __future__ import annotations

import logging
import os
import shlex
import signal
import sys

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config

from .artifacts.credentials import without_password
from .factory import create_app
from .config import ConfigError, auth_admin, describe, redact_uri, resolve
from .errors import MlflowError
from .options import Settings
from .store import db
from .store.auth import change_counter
from .store.tracking import TrackingStore

log = logging.getLogger("mlflow_server")


class StartupError(Exception):
    """Start-up cannot go on; the message is one line for the operator."""


def prepare(settings: Settings) -> Settings:
    """Everything that must hold before the port is bound. Raises StartupError."""
    try:
        settings = resolve(settings)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("configuration: %s", describe(settings))
    if settings.serve_artifacts and "://" not in settings.artifacts_destination:
        try:
            os.makedirs(settings.artifacts_destination, exist_ok=True)
        except OSError as error:  # e.g. a read-only file system: no volume mounted there
            raise StartupError(f"cannot create the artifacts destination {settings.artifacts_destination}: "
                               f"{error.strerror}") from None
    if settings.expose_prometheus:
        _prepare_metrics(settings.expose_prometheus)
    if not settings.artifacts_only:
        for url in dict.fromkeys((settings.backend_store_uri, settings.registry_store_uri)):
            _prepare_database(url, settings)
    if settings.app_name == "basic-auth":
        _prepare_database(settings.auth_database_uri, settings, db.AUTH)
    return settings


def _prepare_metrics(directory: str) -> None:
    from .http import metrics  # imports no prometheus_client: that must wait for the directory
    try:
        metrics.prepare(directory)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise StartupError(f"cannot use {directory} for Prometheus metrics (--expose-prometheus): {reason}") from None


def _bootstrap_admin(engine, settings: Settings) -> None:
    """basic-auth's admin user, made at the first start from the configured credentials."""
    from .services.auth import bootstrap_admin
    from .store.auth import AuthStore
    username, password = auth_admin(settings)
    try:
        if bootstrap_admin(AuthStore(db.Database(engine)), username, password):
            log.info("created the admin user '%s'", username)
    except MlflowError as error:
        raise StartupError(f"basic-auth: {error.message}") from None


def _prepare_database(url: str, settings: Settings, schema: db.Schema = db.MAIN) -> None:
    try:
        with db.connect_with_retry(url, settings, settings.db_wait_timeout) as engine:
            db.ensure_schema(engine, settings.upgrade_db, schema)
            if schema is db.AUTH:
                _bootstrap_admin(engine, settings)
            elif url == settings.backend_store_uri:
                from .services.tracking import now_ms
                TrackingStore(db.Database(engine)).ensure_default_experiment(
                    f"{without_password(settings.default_artifact_root).rstrip('/')}/0", now_ms())
    except StartupError:
        raise
    except db.SchemaError as error:
        raise StartupError(f"{redact_uri(url)}: {error}") from None
    except Exception as error:  # driver errors: unreachable host, bad credentials, ...
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StartupError(f"cannot use database {redact_uri(url)}: {reason}") from None


# The signals by which the master stops its workers. One that reaches a worker between its
# fork and the worker setting its own handlers runs the master's handler, inherited with the
# fork, and is lost: the worker serves on until the master kills it at the graceful timeout
# (seen: a SIGTERM during start-up took 20 s). Blocked across the fork, such a signal waits
# until the worker has its handlers.
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


class _Arbiter(Arbiter):
    def spawn_worker(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            return super().spawn_worker()
        finally:  # the master after the fork (a worker unblocks them in post_worker_init)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _take_stop_signals(worker) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


class GunicornServer(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.auth_changes = change_counter()  # made before the workers fork: they share it
        super().__init__()

    def load_config(self):
        s = self.settings
        self.cfg.set("bind", [f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"])
        self.cfg.set("workers", s.workers)
        self.cfg.set("worker_class", "app.worker.Worker")  # gthread behind a front: see worker.py
        self.cfg.set("threads", s.threads)
        self.cfg.set("timeout", 120)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("keepalive", 5)
        self.cfg.set("loglevel", s.log_level)
        self.cfg.set("proc_name", "mlflow-server")
        self.cfg.set("control_socket_disable", True)  # no management socket in $HOME
        self.cfg.set("limit_request_line", 0)  # the front bounds the whole head (worker.MAX_HEAD)
        self.cfg.set("post_worker_init", _take_stop_signals)
        if s.expose_prometheus:
            from .http.metrics import worker_exited
            self.cfg.set("child_exit", worker_exited)
        for name, value in parse_gunicorn_opts(s.gunicorn_opts).items():
            self.cfg.set(name, value)
        if self.cfg.is_ssl:  # the front reads plain HTTP only
            log.warning("TLS in gunicorn: plain gthread workers, without the time limits on slow "
                        "clients; terminate TLS in a proxy in front of the server instead")
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("limit_request_line", 8190)

    def load(self):
        return create_app(self.settings, self.auth_changes)

    def run(self):
        try:
            _Arbiter(self).run()
        except RuntimeError as error:  # gunicorn's own, e.g. an unknown --worker-class
            raise StartupError(str(error)) from None


def parse_gunicorn_opts(text: str) -> dict:
    """--gunicorn-opts as gunicorn's own parser reads them: {setting: value}."""
    if not text.strip():
        return {}
    parser = Config().parser()
    parser.exit_on_error = False
    try:
        args = parser.parse_args(shlex.split(text))
    except (Exception, SystemExit) as error:
        raise StartupError(f"--gunicorn-opts: cannot parse {text!r}: {error}") from None
    return {k: v for k, v in vars(args).items() if v is not None and k != "args"}


def serve(settings: Settings) -> None:
    settings = prepare(settings)
    GunicornServer(settings).run()
