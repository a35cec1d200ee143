"""create_app(settings) wires the stores and services into the HTTP layer; the settings
must come from app.config.resolve()."""
from __future__ import annotations

import logging

from flask import Flask, Response, request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from . import MLFLOW_API_VERSION, __version__, config
from .errors import MlflowError
from .http import api
from .http.access import ANY_USER, PUBLIC_ACCESS
from .http import artifacts as artifact_http
from .http import assessments as assessment_http
from .http import auth as auth_http
from .http import guard
from .http import models as model_http
from .http import otlp as otlp_http
from .http import ready as ready_http
from .http import registry as registry_http
from .http import replica as replica_http
from .http import security
from .http import trace_search as trace_search_http
from .http import traces as trace_http
from .http import tracking as tracking_http
from .http import ui as ui_http
from .http import webhooks as webhook_http
from .options import Settings
from .services.artifacts import ArtifactService
from .services.assessments import AssessmentService
from .services.auth import AuthService
from .services.models import ModelService
from .services.registry import RegistryService
from .services.sources import SourcePolicy
from .services.trace_search import TraceSearchService
from .services.traces import TraceService
from .services.tracking import TrackingService
from .services.webhook_delivery import WebhookSettings
from .services.webhooks import WebhookService
from .store.assessments import AssessmentStore
from .store.auth import AuthStore
from .store.db import Database, make_engine
from .store.models import LoggedModelStore
from .store.owners import Owners
from .store.registry import RegistryStore
from .store.trace_search_sql import TraceSearchStore
from .store.traces import TraceStore
from .store.tracking import TrackingStore
from .store.webhooks import WebhookStore

log = logging.getLogger(__name__)


def create_app(settings: Settings, auth_changes=None) -> Flask:
    """auth_changes: basic-auth's counter of changes shared by the server's workers
    (app.store.auth.change_counter(), made before they are forked)."""
    app = Flask(__name__, static_folder=None)  # the UI serves its own files (app/http/ui.py)
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False  # '//etc/passwd' must reach the path checks, not a redirect
    prefix = settings.static_prefix
    destination = settings.artifacts_destination if settings.serve_artifacts else None
    artifacts = ArtifactService(destination, settings.default_artifact_root, settings.presigned_urls)
    artifact_http.register_proxy(app, artifacts, prefix)

    databases: dict[str, Database] = {}

    def database_at(uri: str) -> Database:  # one per URI, whichever stores share it
        if uri not in databases:
            replica = settings.read_replica_backend_store_uri if uri == settings.backend_store_uri else ""
            databases[uri] = Database(make_engine(uri, settings), make_engine(replica, settings) if replica else None)
        return databases[uri]

    if settings.artifacts_only:
        _refuse_tracking(app, prefix)
        owners = Owners(None, None)  # paths are judged by their experiment ids alone
    else:
        database = database_at(settings.backend_store_uri)
        tracking = TrackingService(TrackingStore(database), settings.default_artifact_root)
        models = ModelService(LoggedModelStore(database))
        registry_database = database_at(settings.registry_store_uri)
        owners = Owners(database, registry_database)
        sources = SourcePolicy(settings.default_artifact_root, destination)
        webhooks = WebhookService(WebhookStore(registry_database), _webhook_settings(settings))
        registry = RegistryService(RegistryStore(registry_database), tracking, models, sources, webhooks)
        assessments = AssessmentService(AssessmentStore(database))
        trace_store = TraceStore(database)
        traces = TraceService(trace_store, assessments, artifacts)
        trace_search = TraceSearchService(TraceSearchStore(database))
        api.register(app, tracking_http.routes(tracking) + artifact_http.routes(tracking, artifacts)
                     + model_http.routes(models) + registry_http.routes(registry) + webhook_http.routes(webhooks)
                     + trace_http.routes(traces) + trace_search_http.routes(trace_search)
                     + assessment_http.routes(assessments),
                     prefix)
        otlp_http.register(app, traces, prefix)
        artifact_http.register_files(app, prefix, tracking, registry, models, artifacts)
        ui_http.register(app, prefix, settings.app_name)
    if settings.app_name == "basic-auth":
        auth = AuthService(AuthStore(database_at(settings.auth_database_uri), auth_changes), owners,
                           settings.auth_default_permission)
        if not settings.artifacts_only:  # users and permissions are managed on the tracking server
            api.register(app, auth_http.routes(auth), prefix)
    ready_http.register(app, list(databases.values()), prefix)
    if settings.read_replica_backend_store_uri:  # before the guard: see replica.install
        replica_http.install(app, prefix)

    _register_info(app, settings, prefix)
    _register_errors(app)
    if settings.expose_prometheus:  # imported only then; before the security and auth hooks: it sees their status
        from .http import metrics
        metrics.install(app, settings, databases, prefix)
    if not settings.disable_security_middleware:
        security.register(app, settings)
    if settings.app_name == "basic-auth":  # after the host checks, and every route: it reads their declarations
        guard.install(app, auth, settings.auth_proxy_header, settings.auth_trusted_proxies)
    return app


def _webhook_settings(s: Settings) -> WebhookSettings:
    return WebhookSettings(s.webhook_secret_encryption_key, s.webhook_allow_private_ips,
                           config.webhook_schemes(s), s.webhook_request_timeout,
                           s.webhook_request_max_retries, s.webhook_delivery_max_workers)


def _refuse_tracking(app: Flask, prefix: str) -> None:
    def refuse(rest):
        raise MlflowError("This server runs with --artifacts-only: it serves the artifact routes "
                          "(/api/2.0/mlflow-artifacts/...) and no tracking or registry routes.",
                          "NOT_IMPLEMENTED")
    for base in api.API_PREFIXES:
        for version in ("2.0", "3.0"):
            api.add_view(app, f"{prefix}{base}/{version}/mlflow/<path:rest>", f"refuse {base}{version}", refuse,
                         ["GET", "POST", "PATCH", "DELETE", "PUT"], ANY_USER)


def _register_info(app: Flask, settings: Settings, prefix: str) -> None:
    # with these true, the official client sends big files straight to the store (presigned)
    presigned = app.extensions["artifact_service"].presigned
    server_info = {
        "store_type": "FileStore" if settings.artifacts_only else "SqlStore",
        "multipart_uploads_enabled": presigned,
        "multipart_downloads_enabled": presigned,
        "artifacts_presigned_only": False,
        "server": f"mlflow-server {__version__}",
    }
    # open to probes and to clients that have not signed in yet (no secrets in them)
    api.add_view(app, f"{prefix}/health", "health", lambda: Response("OK", mimetype="text/plain"), ["GET"],
                 PUBLIC_ACCESS)
    api.add_view(app, f"{prefix}/version", "version", lambda: Response(MLFLOW_API_VERSION, mimetype="text/plain"),
                 ["GET"], PUBLIC_ACCESS)
    for base in api.API_PREFIXES:
        api.add_view(app, f"{prefix}{base}/3.0/mlflow/server-info", f"server-info {base}",
                     lambda: api.json_response(server_info), ["GET"], PUBLIC_ACCESS)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(MlflowError)
    def mlflow_error(error: MlflowError):
        return api.error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, NotFound):
            code = "ENDPOINT_NOT_FOUND"
            message = f"No route {request.method} {request.path} on this server"
        elif isinstance(error, MethodNotAllowed):
            code = "ENDPOINT_NOT_FOUND"
            message = f"Method {request.method} is not allowed for {request.path}"
        else:
            code = "BAD_REQUEST" if error.code < 500 else "INTERNAL_ERROR"
            message = error.description or error.name
        response = api.error_response(MlflowError(message, code, error.code))
        if isinstance(error, MethodNotAllowed):
            response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        log.error("database error: %s", str(error.orig).strip().splitlines()[0] if error.orig else error)
        return api.error_response(MlflowError("The database is unavailable; try again shortly",
                                              "TEMPORARILY_UNAVAILABLE"))

    @app.errorhandler(IntegrityError)
    @app.errorhandler(DataError)
    def rejected_by_database(error):
        log.warning("database rejected a write: %s", str(error.orig).strip().splitlines()[0] if error.orig else error)
        return api.error_response(MlflowError(
            "The database rejected the request's values (a conflicting write or a value out of range)",
            "INVALID_PARAMETER_VALUE"))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return api.error_response(MlflowError("Internal error; the server log has the details", "INTERNAL_ERROR"))
