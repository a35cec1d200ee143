"""Turn raw option values into checked, normalised Settings.

Everything here runs before the port is bound: a bad configuration stops start-up
with one clear line (ConfigError) instead of failing on the first request.
"""
from __future__ import annotations

import configparser
import dataclasses
import ipaddress
import os
import re
from urllib.parse import urlsplit, urlunsplit

from .artifacts import repository_for
from .errors import MlflowError
from .options import OPTIONS, Settings, environment

SQLITE_FILE_NAME = "mlflow.db"

# scheme as users write it -> the SQLAlchemy driver we ship
DATABASE_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
    "postgresql+psycopg2": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}

# Roots that name another server's artifact proxy rather than a store this server writes to.
PROXY_ROOT_SCHEMES = ("mlflow-artifacts", "http", "https")


class ConfigError(Exception):
    """Invalid configuration: the message is one line meant for the operator."""


def database_url(uri: str, option: str) -> str:
    """Normalise a backend or registry store URI to a SQLAlchemy URL.

    A plain path or a file: URI is a directory that holds the SQLite database, so a
    single volume mount keeps everything.
    """
    scheme = uri.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][\w+.-]*://", uri) else ""
    if scheme == "" or scheme == "file":
        directory = urlsplit(uri).path if scheme == "file" else uri
        if not directory:
            raise ConfigError(f"{option}: empty path")
        directory = os.path.abspath(directory)
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise ConfigError(f"{option}: {directory} is a file; give a directory or a sqlite:/// URI")
        return f"sqlite:///{os.path.join(directory, SQLITE_FILE_NAME)}"
    driver = DATABASE_DRIVERS.get(scheme)
    if driver is None:
        raise ConfigError(
            f"{option}: unsupported database scheme '{scheme}://' "
            f"(use sqlite:///, postgresql:// or mysql://, or a directory)"
        )
    parts = urlsplit(uri)
    if driver == "sqlite":
        if parts.netloc:
            raise ConfigError(f"{option}: a SQLite URI has three slashes: sqlite:///path/to/file.db")
        return uri
    if not parts.hostname:
        raise ConfigError(f"{option}: no host in {redact_uri(uri)}")
    if not parts.path.strip("/"):
        raise ConfigError(f"{option}: no database name in {redact_uri(uri)}")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"{option}: invalid port in {redact_uri(uri)}") from None
    return urlunsplit((driver, parts.netloc, parts.path, parts.query, parts.fragment))


def redact_uri(uri: str) -> str:
    """Hide the password of a URI (user:secret@host -> user:***@host)."""
    return re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", uri)


def _check_artifact_location(value: str, option: str, proxy_allowed: bool = False) -> None:
    if proxy_allowed and urlsplit(value).scheme.lower() in PROXY_ROOT_SCHEMES:
        return
    try:
        repository_for(value)  # checks the location's shape and the store's environment, offline
    except MlflowError as error:
        raise ConfigError(f"{option}: {error.message}") from None


def resolve(settings: Settings) -> Settings:
    """Check settings and fill in derived defaults; raise ConfigError on anything wrong."""
    s = settings
    if not 1 <= s.port <= 65535:
        raise ConfigError(f"--port: {s.port} is out of range (1-65535)")
    if s.workers < 1 or s.threads < 1:
        raise ConfigError("--workers and --threads must be at least 1")
    if s.header_timeout < 1 or s.body_timeout < 1:
        raise ConfigError("--header-timeout and --body-timeout must be at least 1 second")
    if s.sqlalchemystore_pool_size < 1 or s.sqlalchemystore_max_overflow < 0:
        raise ConfigError("--sqlalchemystore-pool-size must be >= 1 and --sqlalchemystore-max-overflow >= 0")
    for option in OPTIONS:
        value = getattr(s, option.name)
        if option.choices and value not in option.choices:
            allowed = ", ".join(repr(c) for c in option.choices)
            raise ConfigError(f"{option.flag}: {value!r} is not one of {allowed}")
        if not option.supported and value != option.default:
            raise ConfigError(f"{option.flag} ({option.env}) is not supported yet by this server")
    if s.static_prefix and (not s.static_prefix.startswith("/") or s.static_prefix.endswith("/")):
        raise ConfigError("--static-prefix must start with '/' and not end with '/', e.g. /mlflow")
    if s.artifacts_only and not s.serve_artifacts:
        raise ConfigError("--artifacts-only needs --serve-artifacts: an artifacts-only server that "
                          "does not serve artifacts serves nothing")
    if s.serve_artifacts and not s.artifacts_destination:
        raise ConfigError("--artifacts-destination is empty: nowhere to store proxied artifacts")
    _check_artifact_location(s.artifacts_destination, "--artifacts-destination")
    _check_webhooks(s)
    default_root = s.default_artifact_root or ("mlflow-artifacts:/" if s.serve_artifacts else "./mlruns")
    root = urlsplit(default_root)
    if root.scheme.lower() == "mlflow-artifacts" and not root.netloc and not s.serve_artifacts:
        raise ConfigError("--default-artifact-root mlflow-artifacts:/ needs --serve-artifacts (or name "
                          "another server's proxy: mlflow-artifacts://host:port/path)")
    if root.scheme.lower() in PROXY_ROOT_SCHEMES[1:] and not root.hostname:
        raise ConfigError("--default-artifact-root: an http(s) root needs a host, e.g. "
                          "http://host:port/api/2.0/mlflow-artifacts/artifacts/path")
    _check_artifact_location(default_root, "--default-artifact-root", proxy_allowed=True)
    if not re.match(r"^[A-Za-z][\w+.-]*:", default_root):
        default_root = os.path.abspath(default_root)
    backend = database_url(s.backend_store_uri, "--backend-store-uri")
    registry = database_url(s.registry_store_uri, "--registry-store-uri") if s.registry_store_uri else backend
    return dataclasses.replace(
        s,
        backend_store_uri=backend,
        registry_store_uri=registry,
        read_replica_backend_store_uri=_read_replica(s, backend),
        default_artifact_root=default_root.rstrip("/") if default_root != "mlflow-artifacts:/" else default_root,
        **_auth(s, backend),
    )


def _read_replica(s: Settings, backend: str) -> str:
    """The read replica's URL: a database of the backend store's kind, not the backend store itself."""
    if not s.read_replica_backend_store_uri:
        return ""
    flag = "--read-replica-backend-store-uri"
    if s.artifacts_only:
        raise ConfigError(f"{flag}: an --artifacts-only server has no backend store to read")
    replica = database_url(s.read_replica_backend_store_uri, flag)
    kind, backend_kind = replica.split(":", 1)[0], backend.split(":", 1)[0]
    if backend_kind == "sqlite":
        raise ConfigError(f"{flag}: SQLite has no read replicas; use PostgreSQL or MySQL for the backend store")
    if kind != backend_kind:
        raise ConfigError(f"{flag}: {redact_uri(replica)} cannot be a replica of the backend store, "
                          f"a {backend_kind.split('+')[0]} database")
    if replica == backend:
        raise ConfigError(f"{flag}: the same database as --backend-store-uri")
    return replica


def webhook_schemes(s: Settings) -> tuple[str, ...]:
    return tuple(scheme.strip().lower() for scheme in s.webhook_allowed_schemes.split(",") if scheme.strip())


def _check_webhooks(s: Settings) -> None:
    from .services.webhooks import cipher
    try:
        cipher(s.webhook_secret_encryption_key)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    unknown = set(webhook_schemes(s)) - {"http", "https"}
    if unknown:
        raise ConfigError(f"--webhook-allowed-schemes: {', '.join(sorted(unknown))}: webhooks speak "
                          "http and https only")
    if s.webhook_request_timeout < 1 or s.webhook_request_max_retries < 0 or s.webhook_delivery_max_workers < 1:
        raise ConfigError("--webhook-request-timeout and --webhook-delivery-max-workers must be at least 1, "
                          "--webhook-request-max-retries at least 0")


AUTH_OPTIONS = [o for o in OPTIONS if o.name.startswith("auth_")]
PERMISSION_DEFAULTS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


def _auth_ini(path: str) -> dict:
    """The [mlflow] section of the official basic-auth ini file ({} without one)."""
    if not path:
        return {}
    parser = configparser.ConfigParser()
    try:
        with open(path) as file:
            parser.read_file(file)
    except (OSError, configparser.Error) as error:
        raise ConfigError(f"--auth-config-path: cannot read {path}: {error}") from None
    if not parser.has_section("mlflow"):
        raise ConfigError(f"--auth-config-path: {path} has no [mlflow] section")
    return dict(parser["mlflow"])


def _auth(s: Settings, backend: str) -> dict:
    """The auth options, completed from the ini file and defaults (with basic-auth on)."""
    if s.app_name != "basic-auth":
        if given := [o.flag for o in AUTH_OPTIONS if getattr(s, o.name)]:
            raise ConfigError(f"{', '.join(given)}: set --app-name basic-auth (MLFLOW_APP_NAME) to turn auth on")
        return {}
    ini = _auth_ini(s.auth_config_path)
    permission = (s.auth_default_permission or ini.get("default_permission") or "READ").strip().upper()
    if permission not in PERMISSION_DEFAULTS:
        raise ConfigError(f"--auth-default-permission: {permission!r} is not one of {', '.join(PERMISSION_DEFAULTS)}")
    for network in filter(None, (n.strip() for n in s.auth_trusted_proxies.split(","))):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"--auth-trusted-proxies: {network!r} is not an address or network") from None
    if s.auth_proxy_header and not s.auth_trusted_proxies.strip():
        raise ConfigError("--auth-proxy-header needs --auth-trusted-proxies: the addresses of the proxies whose "
                          "header is believed (from anywhere else anybody could send it)")
    return {"auth_default_permission": permission, "auth_database_uri": auth_database_url(s, backend, ini)}


def auth_database_url(s: Settings, backend: str, ini: dict | None = None) -> str:
    """The auth database: --auth-database-uri, else the ini file's, else the backend store."""
    uri = s.auth_database_uri or (_auth_ini(s.auth_config_path) if ini is None else ini).get("database_uri", "")
    return database_url(uri, "--auth-database-uri") if uri else backend


def auth_admin(settings: Settings) -> tuple[str, str]:
    """(username, password) of basic-auth's admin: the variables, else the ini file's."""
    ini = _auth_ini(settings.auth_config_path)
    return (environment("MLFLOW_AUTH_ADMIN_USERNAME") or ini.get("admin_username", "admin"),
            environment("MLFLOW_AUTH_ADMIN_PASSWORD") or ini.get("admin_password", ""))


def describe(settings: Settings) -> str:
    """The effective configuration as one log line, secrets redacted."""
    parts = []
    for option in OPTIONS:
        value = getattr(settings, option.name)
        if option.secret and isinstance(value, str):
            value = redact_uri(value)
        parts.append(f"{option.name}={value}")
    return " ".join(parts)
