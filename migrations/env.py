"""Alembic environment: runs on the connection the application hands over, or on a URL."""

from alembic import context

from comments.db import create_engine
from comments.tables import metadata

config = context.config


def run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    # `alembic upgrade head` from a shell: the URL comes from -x url=... or the settings.
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        import os

        from comments.config import load

        url = load(os.environ).database_url
    with create_engine(url).connect() as connection:
        run_on(connection)
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `comments migrate`")
run_online()
