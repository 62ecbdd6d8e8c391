"""The schema exists only through the migrations; they go up and down on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from comments import db
from comments.tables import metadata

TABLES = set(metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, fresh_database):
    engine = db.create_engine(fresh_database(request.param))
    yield engine
    engine.dispose()


def table_names(engine) -> set[str]:
    return set(sqlalchemy.inspect(engine).get_table_names()) - {"alembic_version"}


def test_up_down_up(empty_engine):
    db.migrate(empty_engine)
    assert table_names(empty_engine) == TABLES
    with empty_engine.connect() as conn:
        assert db.current_revision(conn) == "0004"
    db.migrate(empty_engine, "base")
    assert table_names(empty_engine) == set()
    db.migrate(empty_engine)
    assert table_names(empty_engine) == TABLES


def test_migrated_schema_matches_the_tables_module(empty_engine):
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_migrate_twice_is_a_no_op(empty_engine):
    db.migrate(empty_engine)
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        assert db.current_revision(conn) == "0004"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(fresh_database):
    engine = db.create_engine(fresh_database("sqlite"))
    db.migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            conn.exec_driver_sql(
                "INSERT INTO comments (thread_id, root_id, text, html, status, created, ip_hash,"
                " avatar) VALUES (999, 1, 'x', 'x', 'approved', '2026-01-01', 'h', 'a')"
            )
    engine.dispose()
