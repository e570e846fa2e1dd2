"""Alembic environment: migrations run against the engine the application hands over.

Run through ``jobs.storage.db.migrate`` (on start, or ``aftercare migrate``); there is no
alembic.ini. SQLite uses batch mode so that ALTER TABLE works there too: a table is rebuilt (a new
one made, the rows copied, the old one dropped, the new one renamed), so foreign keys are off
while migrations run there, else dropping the old ``patient`` table would cascade-delete every
enrollment, reminder and invite (it did, across 0009: tests/jobs/storage/test_upgrades.py). They
are checked (``PRAGMA foreign_key_check``) before the migration commits.
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
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction (SQLite ignores this pragma inside one): on the driver's connection,
            # before SQLAlchemy begins one.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"a migration left {len(broken)} rows pointing nowhere "
                                           f"(first in table {broken[0][0]}); nothing was changed")
        finally:
            if sqlite:
                connection.rollback()  # nothing open may outlive this; the migration committed above
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
