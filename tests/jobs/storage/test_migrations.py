"""Alembic migrations, on SQLite and on PostgreSQL: they go up, come down and go up again, and the
schema they build is exactly the one the models describe (no drift).

Each test runs once per backend. The PostgreSQL cases get a fresh database of their own
(``postgres_url`` in conftest) whatever AFTERCARE_TEST_DB says; they are skipped when the server
is unreachable, and fail instead under CI=true.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel, select

import jobs.storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from jobs.storage.db import alembic_config, current_revision, downgrade, head_revision, make_engine, upgrade
from jobs.storage.models import Patient

ALEMBIC_TABLE = "alembic_version"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """An engine on an empty database of the given backend, disposed after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def app_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {ALEMBIC_TABLE}


def revisions_base_to_head(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(engine))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def schema_drift(engine: Engine) -> list:
    """What autogenerate would put in a new migration: the differences between database and models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(engine):
    model_tables = set(SQLModel.metadata.tables)
    assert current_revision(engine) is None
    assert app_tables(engine) == set()

    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert app_tables(engine) == model_tables

    # The schema holds data at head (aware datetimes in, aware UTC datetimes out) ...
    with Session(engine) as session:
        session.add(Patient(name="Anna K", timezone="Europe/Madrid", created_at=datetime(2026, 11, 24, 14, 30, tzinfo=UTC)))
        session.commit()
        assert session.exec(select(Patient.created_at)).one() == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)

    # ... and a downgrade with data in it still removes everything.
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert app_tables(engine) == set()

    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert app_tables(engine) == model_tables
    assert schema_drift(engine) == []


def test_every_revision_goes_up_and_down_one_step_at_a_time(engine):
    revisions = revisions_base_to_head(engine)
    assert revisions and revisions[-1] == head_revision(engine)
    for revision in revisions:
        upgrade(engine, revision)
        assert current_revision(engine) == revision
    for expected in [*reversed(revisions[:-1]), None]:
        downgrade(engine, "-1")
        assert current_revision(engine) == expected
    assert app_tables(engine) == set()


def test_migrations_build_exactly_the_schema_the_models_describe(engine):
    """No drift: autogenerate against a migrated database finds nothing to add, drop or alter.

    ``compare_type`` is on (as in migrations/env.py). UTCDateTime is a TypeDecorator over
    ``DateTime(timezone=True)``. Alembic's default type comparison compiles both sides to the
    dialect's DDL and compares the tokens, and a TypeDecorator compiles as its ``impl``: the
    model side is TIMESTAMP WITH TIME ZONE on PostgreSQL and DATETIME on SQLite, the same as
    what reflection finds, so there is no false positive and no custom ``compare_type`` is
    needed (one would only hide real changes). A real change of the type is still reported:
    see the next test.
    """
    upgrade(engine)
    assert schema_drift(engine) == []


def test_the_drift_check_notices_a_missing_index_and_a_changed_column_type(engine):
    """The check above has teeth: a schema that strays from the models is reported."""
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_reminder_status_due")
        if engine.dialect.name == "postgresql":
            # SQLite has no time zone types (DATETIME either way), so this half is PostgreSQL's.
            connection.exec_driver_sql(
                "ALTER TABLE reminder ALTER COLUMN due_at TYPE TIMESTAMP WITHOUT TIME ZONE")
    found = {(diff[0], diff[1].name) if diff[0] == "add_index" else (diff[0][0], diff[0][3])
             for diff in schema_drift(engine)}
    expected = {("add_index", "ix_reminder_status_due")}
    if engine.dialect.name == "postgresql":
        expected.add(("modify_type", "due_at"))
    assert found == expected


def test_a_url_with_percent_escapes_migrates(tmp_path):
    # A password such as "p@ss" is written "p%40ss" in a URL; ConfigParser once choked on the "%"
    # and printed the whole URL, password included. A file name stands in for the password here.
    engine = make_engine(f"sqlite:///{tmp_path / 'clinic%40main.db'}")
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()
