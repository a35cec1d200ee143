"""The one table of server options.

Every option is a CLI flag of `python -m app serve` and an `MLFLOW_*` environment
variable. `run.sh`, `.env.tmpl`, the README's table and the tests are derived from
or checked against OPTIONS, so an option is added here and nowhere else.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    name: str  # attribute name on Settings
    env: str  # environment variable
    kind: Callable[[str], Any]  # str, int, or parse_bool
    default: Any
    help: str
    group: str
    flag_alias: str | None = None  # short flag, e.g. -p
    secret: bool = False  # may hold credentials: redact when logged
    supported: bool = True  # False: parses, but start-up refuses a non-default value
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


SERVER, BACKEND, ARTIFACTS, SECURITY = "server", "backend store", "artifacts", "security"

OPTIONS: tuple[Option, ...] = (
    # server process
    Option("host", "MLFLOW_HOST", str, "127.0.0.1",
           "Network address to listen on (0.0.0.0 for all interfaces).", SERVER, "-h"),
    Option("port", "MLFLOW_PORT", int, 5555, "Port to listen on.", SERVER, "-p"),
    Option("workers", "MLFLOW_WORKERS", int, 4, "Number of gunicorn worker processes.", SERVER, "-w"),
    Option("threads", "MLFLOW_THREADS", int, 8, "Threads per worker (gunicorn gthread).", SERVER),
    Option("gunicorn_opts", "MLFLOW_GUNICORN_OPTS", str, "",
           "Extra gunicorn command-line options, e.g. '--timeout 120 --log-level debug'.", SERVER),
    Option("static_prefix", "MLFLOW_STATIC_PREFIX", str, "",
           "URL prefix under which the server answers, e.g. /mlflow.", SERVER),
    Option("app_name", "MLFLOW_APP_NAME", str, "",
           "Name of an official MLflow server app plugin (such as basic-auth).", SERVER,
           supported=False),
    Option("expose_prometheus", "MLFLOW_EXPOSE_PROMETHEUS", str, "",
           "Directory for Prometheus multiprocess metrics; enables /metrics.", SERVER,
           supported=False),
    Option("log_level", "MLFLOW_LOG_LEVEL", str, "info", "Log level of the server.", SERVER,
           choices=("debug", "info", "warning", "error")),
    Option("uvicorn_opts", "MLFLOW_UVICORN_OPTS", str, "",
           "Options for the official server's uvicorn; this server runs gunicorn "
           "(use --gunicorn-opts).", SERVER, supported=False),
    Option("waitress_opts", "MLFLOW_WAITRESS_OPTS", str, "",
           "Options for waitress (the official server on Windows).", SERVER, supported=False),
    Option("dev", "MLFLOW_DEV", parse_bool, False,
           "Development mode of the official server (auto-reload, debug logging).", SERVER,
           supported=False),
    Option("trace_archival_config", "MLFLOW_TRACE_ARCHIVAL_CONFIG", str, "",
           "Trace archival configuration file (MLflow 3 traces).", SERVER, supported=False),
    Option("secrets_cache_ttl", "MLFLOW_SECRETS_CACHE_TTL", int, 60,
           "Seconds secrets of the AI gateway are cached.", SERVER, supported=False),
    Option("secrets_cache_max_size", "MLFLOW_SECRETS_CACHE_MAX_SIZE", int, 1000,
           "Number of AI gateway secrets cached.", SERVER, supported=False),
    # backend store
    Option("backend_store_uri", "MLFLOW_BACKEND_STORE_URI", str, "sqlite:///mlflow.db",
           "Database URI (sqlite:///, postgresql://, mysql://) or a directory, which then "
           "holds an SQLite database mlflow.db.", BACKEND, secret=True),
    Option("registry_store_uri", "MLFLOW_REGISTRY_STORE_URI", str, "",
           "Database URI of the model registry; defaults to the backend store.", BACKEND,
           secret=True),
    Option("read_replica_backend_store_uri", "MLFLOW_READ_REPLICA_BACKEND_STORE_URI", str, "",
           "A read replica of the backend store for read-only requests.", BACKEND, secret=True,
           supported=False),
    Option("workspace_store_uri", "MLFLOW_WORKSPACE_STORE_URI", str, "",
           "Database URI of the workspace store (multi-tenant workspaces).", BACKEND, secret=True,
           supported=False),
    Option("enable_workspaces", "MLFLOW_ENABLE_WORKSPACES", parse_bool, False,
           "Multi-tenant workspaces.", BACKEND, supported=False),
    Option("db_wait_timeout", "MLFLOW_DB_WAIT_TIMEOUT", int, 30,
           "Seconds to wait at start-up for the database to accept connections.", BACKEND),
    Option("upgrade_db", "MLFLOW_UPGRADE_DB", parse_bool, False,
           "Upgrade the database schema at start-up instead of refusing an out-of-date one. "
           "Use with one replica only.", BACKEND),
    Option("sqlalchemystore_pool_size", "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", int, 5,
           "Connections kept open per worker process.", BACKEND),
    Option("sqlalchemystore_max_overflow", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", int, 10,
           "Connections a worker may open beyond the pool size.", BACKEND),
    Option("sqlalchemystore_pool_recycle", "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE", int, 3600,
           "Seconds after which a pooled connection is replaced (-1: never).", BACKEND),
    Option("sqlalchemystore_poolclass", "MLFLOW_SQLALCHEMYSTORE_POOLCLASS", str, "",
           "SQLAlchemy pool class (QueuePool, NullPool, ...); default depends on the database.",
           BACKEND, choices=("", "QueuePool", "NullPool", "StaticPool", "SingletonThreadPool")),
    Option("sqlalchemystore_echo", "MLFLOW_SQLALCHEMYSTORE_ECHO", parse_bool, False,
           "Log every SQL statement (debugging).", BACKEND),
    # artifacts
    Option("serve_artifacts", "MLFLOW_SERVE_ARTIFACTS", parse_bool, True,
           "Proxy artifact uploads and downloads through this server (mlflow-artifacts:/ URIs).",
           ARTIFACTS),
    Option("artifacts_destination", "MLFLOW_ARTIFACTS_DESTINATION", str, "./mlartifacts",
           "Where proxied artifacts are stored.", ARTIFACTS, secret=True),
    Option("default_artifact_root", "MLFLOW_DEFAULT_ARTIFACT_ROOT", str, "",
           "Artifact root of new experiments; defaults to mlflow-artifacts:/ when serving "
           "artifacts and ./mlruns otherwise.", ARTIFACTS, secret=True),
    Option("artifacts_only", "MLFLOW_ARTIFACTS_ONLY", parse_bool, False,
           "Serve only the artifact routes (an artifacts proxy for another tracking server).",
           ARTIFACTS),
    # security
    Option("allowed_hosts", "MLFLOW_SERVER_ALLOWED_HOSTS", str, "",
           "Comma-separated Host header values accepted (e.g. 'mlflow.example.com,*.corp'); "
           "empty accepts any.", SECURITY),
    Option("cors_allowed_origins", "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", str, "",
           "Comma-separated origins allowed to call the API from a browser ('*' for any).",
           SECURITY),
    Option("disable_security_middleware", "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", parse_bool, False,
           "Turn off the host and origin checks and the security headers (only behind a proxy "
           "that does them).", SECURITY),
    Option("x_frame_options", "MLFLOW_SERVER_X_FRAME_OPTIONS", str, "SAMEORIGIN",
           "X-Frame-Options header value (SAMEORIGIN, DENY or NONE to omit).", SECURITY,
           choices=("SAMEORIGIN", "DENY", "NONE")),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}

Settings = dataclasses.make_dataclass(
    "Settings", [(o.name, Any, dataclasses.field(default=o.default)) for o in OPTIONS], frozen=True
)
Settings.__doc__ = "Effective server configuration: one attribute per option in OPTIONS."


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_env_template() -> str:
    """.env.tmpl: every variable, grouped, with its default (secrets as placeholders)."""
    lines = ["# mlflow-server settings: copy to .env and edit. Generated by `python -m app options env`;",
             "# every variable here is read by the server (app/options.py is the source)."]
    for group in dict.fromkeys(o.group for o in OPTIONS):
        lines += ["", f"# --- {group}"]
        for o in (o for o in OPTIONS if o.group == group):
            note = "" if o.supported else " (not supported yet)"
            lines.append(f"# {o.help}{note}")
            lines.append(f"# {o.env}={_shown(o.default)}")
    return "\n".join(lines) + "\n"


def render_markdown_table() -> str:
    """The README's table of options."""
    rows = ["| Environment variable | Flag | Default | Meaning |", "|---|---|---|---|"]
    for o in OPTIONS:
        note = "" if o.supported else " *Not supported yet.*"
        rows.append(f"| `{o.env}` | `{o.flag}` | `{_shown(o.default)}` | {o.help}{note} |")
    return "\n".join(rows) + "\n"
