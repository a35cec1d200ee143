"""The schemas' migrations: this package holds the main schema's (versions/); the auth
schema's are in app/store/auth_migrations. Both env.py files run run_migrations."""


def run_migrations(context) -> None:
    """Run on the connection app.store.db passes in, recording the revision in the version
    table it names (each schema has its own)."""
    context.configure(connection=context.config.attributes["connection"], render_as_batch=True,
                      version_table=context.config.attributes["version_table"])
    with context.begin_transaction():
        context.run_migrations()
