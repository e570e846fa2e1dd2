"""Alembic environment: migrations run against the engine the application hands over.

Run through ``jobs.storage.db.upgrade`` (on start, or ``aftercare db upgrade``); there is no
alembic.ini. SQLite uses batch mode so that ALTER TABLE works there too.
"""

from alembic import context
from sqlmodel import SQLModel

import jobs.storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Migrate over a connection of the engine put in config.attributes by db.alembic_config."""
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
