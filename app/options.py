"""The one table of server options and environment variables.

Every option is a CLI flag of `python -m app serve` and an `MLFLOW_*` environment
variable (OPTIONS). The artifact stores' settings, and the SDK variables operators set for
them, are environment variables only (ENV_VARS). `run.sh`, `.env.tmpl`, the README's tables
and the tests are derived from or checked against these two tables, so a setting is added
here and nowhere else; code reads an environment-only variable through `environment()`.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class EnvVar:
    """An environment-only setting (no flag): read by run.sh, a store module, or the SDK
    a store uses (`sdk`), for variables our code does not read itself."""
    env: str
    help: str
    group: str
    placeholder: str = ""  # the value shown in .env.tmpl: the default or a harmless example
    secret: bool = False  # a credential: blanked out of store error messages
    sdk: str = ""


SERVER, BACKEND, ARTIFACTS, SECURITY, AUTH, WEBHOOKS = ("server", "backend store", "artifacts", "security", "auth",
                                                      "registry webhooks")
S3, AZURE, GCS, FTP, SFTP, NFS, HDFS = (f"{store} artifact store" for store in
                                         ("S3", "Azure", "GCS", "FTP", "SFTP", "NFS", "HDFS"))
# The order of .env.tmpl and the README's tables.
GROUPS = (SERVER, SECURITY, AUTH, WEBHOOKS, BACKEND, ARTIFACTS, S3, AZURE, GCS, FTP, SFTP, NFS, HDFS)
# Stores configured by their URI alone, said in place of variables.
GROUP_NOTES = {
    FTP: "No variables: user and password come from the URI (ftp://user:password@host:port/path); "
         "clients see it without the password.",
    NFS: "No variables: mount the share and give its path (or file:///path) as the destination.",
}

OPTIONS: tuple[Option, ...] = (
    # server process
    Option("host", "MLFLOW_HOST", str, "127.0.0.1",
           "Network address to listen on (0.0.0.0 for all interfaces).", SERVER, "-h"),
    Option("port", "MLFLOW_PORT", int, 5555, "Port to listen on.", SERVER, "-p"),
    Option("workers", "MLFLOW_WORKERS", int, 4, "Number of gunicorn worker processes.", SERVER, "-w"),
    Option("threads", "MLFLOW_THREADS", int, 8,
           "Threads per worker answering requests; four times as many more stream big bodies "
           "(uploads).", SERVER),
    Option("header_timeout", "MLFLOW_HEADER_TIMEOUT", int, 10,
           "Seconds a client may take to send a request's head (request line and headers).", SERVER),
    Option("body_timeout", "MLFLOW_BODY_TIMEOUT", int, 60,
           "Seconds a client may pause while sending a request body or reading an answer.", SERVER),
    Option("gunicorn_opts", "MLFLOW_GUNICORN_OPTS", str, "",
           "Extra gunicorn command-line options, e.g. '--timeout 120 --log-level debug'.", SERVER),
    Option("static_prefix", "MLFLOW_STATIC_PREFIX", str, "",
           "URL prefix under which the server answers, e.g. /mlflow.", SERVER),
    Option("app_name", "MLFLOW_APP_NAME", str, "",
           "basic-auth: users, permissions and access tokens, as the official server's basic-auth app "
           "(see docs/auth.md).", SERVER, choices=("", "basic-auth")),
    Option("expose_prometheus", "MLFLOW_EXPOSE_PROMETHEUS", str, "",
           "Directory for Prometheus multiprocess metrics (the metric files of a previous run are "
           "removed at start); enables /metrics (see docs/metrics.md).", SERVER),
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
           "A read replica of the backend store (same kind of database): read-only requests go to it "
           "while it is fresh enough, writes and a client's reads after its own writes to the primary "
           "(see docs/scaling.md).", BACKEND, secret=True),
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
    Option("presigned_urls", "MLFLOW_PRESIGNED_URLS", parse_bool, True,
           "Let clients move big artifacts straight to and from the artifacts destination with "
           "presigned URLs (S3, Azure with an account key); turn off when clients cannot reach "
           "the store itself, e.g. an object store on a private network.", ARTIFACTS),
    Option("artifacts_only", "MLFLOW_ARTIFACTS_ONLY", parse_bool, False,
           "Serve only the artifact routes (an artifacts proxy for another tracking server).",
           ARTIFACTS),
    # security
    Option("allowed_hosts", "MLFLOW_SERVER_ALLOWED_HOSTS", str, "",
           "Comma-separated Host header values accepted, against DNS rebinding (e.g. "
           "'mlflow.example.com,*.corp'; '*' accepts any). Empty: localhost, 127.0.0.1, [::1], 0.0.0.0, "
           "private addresses (10/8, 172.16/12, 192.168/16, fc00::/7), the --host address and this "
           "machine's name, on any port.", SECURITY),
    Option("cors_allowed_origins", "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", str, "",
           "Comma-separated origins allowed to call the API from a browser ('*' for any).",
           SECURITY),
    Option("disable_security_middleware", "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", parse_bool, False,
           "Turn off the host and origin checks and the security headers (only behind a proxy "
           "that does them).", SECURITY),
    Option("x_frame_options", "MLFLOW_SERVER_X_FRAME_OPTIONS", str, "SAMEORIGIN",
           "X-Frame-Options header value (SAMEORIGIN, DENY or NONE to omit).", SECURITY,
           choices=("SAMEORIGIN", "DENY", "NONE")),
    # auth (with --app-name basic-auth)
    Option("auth_config_path", "MLFLOW_AUTH_CONFIG_PATH", str, "",
           "The official basic-auth ini file: [mlflow] default_permission, database_uri, admin_username, "
           "admin_password (the options below and the admin variables win over it).", AUTH),
    Option("auth_default_permission", "MLFLOW_AUTH_DEFAULT_PERMISSION", str, "",
           "Permission of users on what they were granted nothing on: READ, USE, EDIT, MANAGE or "
           "NO_PERMISSIONS; empty: the ini file's, else READ.", AUTH),
    Option("auth_database_uri", "MLFLOW_AUTH_DATABASE_URI", str, "",
           "Database of users and permissions; empty: the ini file's, else the backend store.", AUTH,
           secret=True),
    Option("auth_proxy_header", "MLFLOW_AUTH_PROXY_HEADER", str, "",
           "Header in which a trusted reverse proxy names the signed-in user (e.g. X-Forwarded-User); "
           "unknown users are created with the default permission.", AUTH),
    Option("auth_trusted_proxies", "MLFLOW_AUTH_TRUSTED_PROXIES", str, "",
           "Comma-separated addresses or networks (e.g. 10.0.0.5,10.1.0.0/16) whose proxy header is "
           "believed; from any other address it is ignored.", AUTH),
    # registry webhooks (the official server's variables and defaults; see docs/webhooks.md)
    Option("webhook_secret_encryption_key", "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", str, "",
           "Fernet key(s) webhook secrets are encrypted with; comma-separated to rotate (the first "
           "encrypts, any decrypts). Empty: webhooks cannot have secrets.", WEBHOOKS, secret=True),
    Option("webhook_allow_private_ips", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", parse_bool, False,
           "Let webhooks reach loopback, link-local and private addresses (otherwise refused at "
           "creation and at each delivery).", WEBHOOKS),
    Option("webhook_allowed_schemes", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES", str, "https",
           "Comma-separated URL schemes webhooks may use (http,https for plain HTTP).", WEBHOOKS),
    Option("webhook_request_timeout", "MLFLOW_WEBHOOK_REQUEST_TIMEOUT", int, 30,
           "Seconds a delivery waits to connect and for each read of the answer.", WEBHOOKS),
    Option("webhook_request_max_retries", "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", int, 3,
           "Retries of a failed delivery (connection errors, timeouts, 429, 5xx).", WEBHOOKS),
    Option("webhook_delivery_max_workers", "MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS", int, 10,
           "Delivery threads per worker process.", WEBHOOKS),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}

ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("MLFLOW_SERVER_PYTHON", "Python interpreter run.sh starts the server with; default "
           ".venv/bin/python beside run.sh, else python3.", SERVER),
    # basic-auth's admin, created at the first start (variables only, so no password is a flag)
    EnvVar("MLFLOW_AUTH_ADMIN_USERNAME", "Username of the admin user created at the first start with "
           "basic-auth (default: the ini file's admin_username).", AUTH, "admin"),
    EnvVar("MLFLOW_AUTH_ADMIN_PASSWORD", "Password of that admin user, at least 12 characters; needed at "
           "the first start, there is no default. Later changes: the update-password route.", AUTH, "",
           secret=True),
    EnvVar("MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS", "Seconds a presigned download URL stays valid "
           "(stores that make them: S3, Azure with an account key).", ARTIFACTS, "300"),
    # S3 (s3.py, boto3)
    EnvVar("MLFLOW_S3_ENDPOINT_URL", "URL of an S3-compatible server (MinIO, Ceph, ...); unset for AWS.",
           S3, "http://minio:9000"),
    EnvVar("MLFLOW_S3_IGNORE_TLS", "Skip TLS certificate checks of the S3 endpoint.", S3, "false"),
    EnvVar("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "JSON object of extra upload arguments, e.g. server-side "
           "encryption.", S3, '{"ServerSideEncryption": "aws:kms"}'),
    EnvVar("AWS_ACCESS_KEY_ID", "Access key; without keys boto3 tries profiles and instance roles.",
           S3, "your-access-key-id", sdk="boto3"),
    EnvVar("AWS_SECRET_ACCESS_KEY", "Secret of the access key.", S3, "your-secret-access-key",
           secret=True, sdk="boto3"),
    EnvVar("AWS_SESSION_TOKEN", "Session token of temporary credentials.", S3, "", secret=True, sdk="boto3"),
    EnvVar("AWS_DEFAULT_REGION", "Region of the bucket.", S3, "us-east-1", sdk="boto3"),
    EnvVar("AWS_PROFILE", "Profile of ~/.aws/credentials to use instead of keys.", S3, "", sdk="boto3"),
    # Azure (azure.py, azure-storage-blob)
    EnvVar("AZURE_STORAGE_CONNECTION_STRING", "Connection string of the storage account (its "
           "BlobEndpoint may name an emulator such as Azurite).", AZURE,
           "DefaultEndpointsProtocol=https;AccountName=youraccount;AccountKey=your-account-key;"
           "EndpointSuffix=core.windows.net", secret=True),
    EnvVar("AZURE_STORAGE_ACCESS_KEY", "Key of the account named in the URI, when there is no "
           "connection string.", AZURE, "your-account-key", secret=True),
    # GCS (gcs.py, google-cloud-storage)
    EnvVar("GOOGLE_APPLICATION_CREDENTIALS", "Service account key file; unset: gcloud's "
           "application-default login or the metadata server.", GCS,
           "/secrets/gcs-service-account.json", sdk="google-cloud-storage"),
    EnvVar("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "Seconds for each request and its retries "
           "together, -1 for no limit.", GCS, "60"),
    EnvVar("MLFLOW_GCS_DEFAULT_TIMEOUT", "Older name of MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT.", GCS, "60"),
    EnvVar("MLFLOW_GCS_UPLOAD_CHUNK_SIZE", "Bytes per upload request (a multiple of 262144); an "
           "upload holds a few chunks in memory (about 4 measured), whatever the file's size.", GCS,
           str(16 * 1024 * 1024)),
    EnvVar("MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE", "Bytes per download request; each is streamed as it is "
           "read, so memory does not grow with it.", GCS, str(16 * 1024 * 1024)),
    EnvVar("STORAGE_EMULATOR_HOST", "URL of a GCS emulator (fake-gcs-server), reached without "
           "credentials; for tests.", GCS, "http://127.0.0.1:4443", sdk="google-cloud-storage"),
    # SFTP (sftp.py, paramiko); FTP has none
    EnvVar("SSH_AUTH_SOCK", "Socket of an ssh-agent holding the login key; keys in ~/.ssh and "
           "~/.ssh/config's IdentityFile work without it.", SFTP, "/run/ssh-agent.sock", sdk="paramiko"),
    # HDFS (hdfs.py, WebHDFS)
    EnvVar("MLFLOW_HDFS_WEBHDFS_URL", "WebHDFS/HttpFS address of the namenode (several separated by "
           "';'); default port 9870 of the URI's host.", HDFS, "http://namenode:9870"),
    EnvVar("MLFLOW_HDFS_USER", "User of simple authentication; default the server's OS user.", HDFS, "hdfs"),
    EnvVar("MLFLOW_KERBEROS_TICKET_CACHE", "Kerberos ticket cache file (needs the hdfs[kerberos] "
           "extra).", HDFS, "/tmp/krb5cc_1000"),
    EnvVar("MLFLOW_KERBEROS_USER", "Kerberos principal (needs the hdfs[kerberos] extra).", HDFS,
           "mlflow@EXAMPLE.COM"),
)

ENV_VARS_BY_NAME = {variable.env: variable for variable in ENV_VARS}


def environment(name: str) -> str:
    """The value of an environment-only variable of ENV_VARS, stripped ('' when unset)."""
    return os.environ.get(ENV_VARS_BY_NAME[name].env, "").strip()


def secret_values(group: str) -> tuple[str, ...]:
    """The values of a group's secret variables that are set, to blank out of messages."""
    return tuple(filter(None, (environment(v.env) for v in ENV_VARS if v.group == group and v.secret)))

Settings = dataclasses.make_dataclass(
    "Settings", [(o.name, Any, dataclasses.field(default=o.default)) for o in OPTIONS], frozen=True
)
Settings.__doc__ = "Effective server configuration: one attribute per option in OPTIONS."


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_env_template() -> str:
    """.env.tmpl: every variable, grouped, with its default or a placeholder."""
    lines = ["# mlflow-server settings: copy to .env and edit. Generated by `python -m app options env`;",
             "# every variable here is read by the server or the SDK of its artifact store",
             "# (app/options.py is the source)."]
    for group in GROUPS:
        lines += ["", f"# --- {group}"]
        for o in (o for o in OPTIONS if o.group == group):
            note = "" if o.supported else " (not supported yet)"
            lines += [f"# {o.help}{note}", f"# {o.env}={_shown(o.default)}"]
        for v in (v for v in ENV_VARS if v.group == group):
            lines += [f"# {v.help}", f"# {v.env}={v.placeholder}"]
        if group in GROUP_NOTES:
            lines.append(f"# {GROUP_NOTES[group]}")
    return "\n".join(lines) + "\n"


def render_markdown_table() -> str:
    """The README's tables: the options, then the environment-only variables."""
    rows = ["| Environment variable | Flag | Default | Meaning |", "|---|---|---|---|"]
    for o in sorted(OPTIONS, key=lambda o: GROUPS.index(o.group)):
        note = "" if o.supported else " *Not supported yet.*"
        rows.append(f"| `{o.env}` | `{o.flag}` | `{_shown(o.default)}` | {o.help}{note} |")
    rows += ["", ("Environment only (no flags): run.sh's interpreter and the artifact stores' settings, "
                  "read by the store's module or the SDK named."), "",
             "| Group | Environment variable | Example | Meaning |", "|---|---|---|---|"]
    for group in GROUPS:
        for v in (v for v in ENV_VARS if v.group == group):
            read_by = f" (read by {v.sdk})" if v.sdk else ""
            rows.append(f"| {group} | `{v.env}` | `{v.placeholder}` | {v.help}{read_by} |")
        if group in GROUP_NOTES:
            rows.append(f"| {group} | | | {GROUP_NOTES[group]} |")
    return "\n".join(rows) + "\n"
