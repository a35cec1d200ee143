"""Command line: `python -m app serve | db upgrade | db import | db export | gc | auth
set-password`. Options come from app.options; the longer commands live in app/commands/ and are
imported only when run."""
from __future__ import annotations

import sys

import click

from .options import OPTIONS, Settings, parse_bool


class _LazyGroup(click.Group):
    """A group whose named subcommands are imported only when asked for (serve stays lean)."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}  # command name -> module holding `command`

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.lazy:
            import importlib
            return importlib.import_module(self.lazy[name]).command
        return super().get_command(ctx, name)


def with_options(names: set[str] | None = None):
    """Decorate a command with a click option per entry of OPTIONS (or the named ones)."""
    def decorate(command):
        for option in reversed(OPTIONS):
            if names is not None and option.name not in names:
                continue
            help_text = option.help + ("" if option.supported else " (not supported yet)")
            if option.kind is parse_bool:
                declaration = [f"{option.flag}/--no-{option.flag[2:]}"]
                kwargs = {"type": click.BOOL, "default": option.default}
            else:
                declaration = [option.flag] + ([option.flag_alias] if option.flag_alias else [])
                kwargs = {"type": click.INT if option.kind is int else click.STRING, "default": option.default}
            command = click.option(*declaration, option.name, envvar=option.env, show_envvar=True,
                                   show_default=True, help=help_text, **kwargs)(command)
        return command
    return decorate


@click.group(cls=_LazyGroup, lazy={"gc": "app.commands.gc"}, context_settings={"help_option_names": ["--help"]})
def main():
    """mlflow-server: a fast tracking server for the MLflow REST API."""


@main.command()
@with_options()
def serve(**values):
    """Check the configuration and the database, then serve (gunicorn)."""
    from .server import StartupError, serve as run_server
    try:
        run_server(Settings(**values))
    except StartupError as error:
        click.echo(f"mlflow-server: error: {error}", err=True)
        sys.exit(1)


@main.group(cls=_LazyGroup, lazy={"import": "app.commands.db_import", "export": "app.commands.db_export"})
def db():
    """The database: its schema, and moving data in and out."""


@db.command()
@with_options({"backend_store_uri", "registry_store_uri", "db_wait_timeout", "app_name", "auth_config_path",
                "auth_database_uri"})
def upgrade(backend_store_uri, registry_store_uri, db_wait_timeout, **auth):
    """Create or upgrade the schema of the backend (and registry) database, and with
    --app-name basic-auth that of the auth database."""
    from .config import ConfigError, auth_database_url, database_url, redact_uri
    from .store import db as database
    try:
        urls = [database_url(backend_store_uri, "--backend-store-uri")]
        if registry_store_uri:
            urls.append(database_url(registry_store_uri, "--registry-store-uri"))
        schemas = [(url, database.MAIN) for url in dict.fromkeys(urls)]
        if auth["app_name"] == "basic-auth":
            schemas.append((auth_database_url(Settings(**auth), urls[0]), database.AUTH))
    except ConfigError as error:
        click.echo(f"mlflow-server: error: {error}", err=True)
        sys.exit(1)
    for url, schema in schemas:
        try:
            with database.connect_with_retry(url, None, db_wait_timeout) as engine:
                before, after = database.upgrade(engine, schema)
        except Exception as error:  # unreachable database, unknown revision, ...
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            click.echo(f"mlflow-server: error: cannot upgrade {redact_uri(url)}: {reason}", err=True)
            sys.exit(1)
        click.echo(f"{redact_uri(url)}: {schema.name} schema {before or 'empty'} -> {after}")


@main.group()
def auth():
    """basic-auth's users, from the server's machine."""


@auth.command("set-password")
@click.argument("username")
@with_options({"backend_store_uri", "auth_config_path", "auth_database_uri", "db_wait_timeout"})
def set_password(username, backend_store_uri, db_wait_timeout, **options):
    """Set a user's password (asked for, or read from standard input): for a lost admin
    password. A running server takes it within 2 seconds."""
    from .config import ConfigError, auth_database_url, database_url
    from .errors import MlflowError
    from .services.auth import reset_password
    from .store import db as database
    from .store.auth import AuthStore
    password = (click.prompt("New password", hide_input=True, confirmation_prompt=True) if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\n"))
    try:
        url = auth_database_url(Settings(**options), database_url(backend_store_uri, "--backend-store-uri"))
        with database.connect_with_retry(url, None, db_wait_timeout) as engine:
            reset_password(AuthStore(database.Database(engine)), username, password)
    except (ConfigError, MlflowError) as error:
        click.echo(f"mlflow-server: error: {getattr(error, 'message', error)}", err=True)
        sys.exit(1)
    click.echo(f"the password of '{username}' is set")


@main.command()
@click.argument("form", type=click.Choice(["env", "markdown"]))
def options(form):
    """Print the options as .env.tmpl (env) or as the README's table (markdown)."""
    from .options import render_env_template, render_markdown_table
    click.echo(render_env_template() if form == "env" else render_markdown_table(), nl=False)


def run() -> None:
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"mlflow-server: error: {error.format_message()}", err=True)
        sys.exit(2)
