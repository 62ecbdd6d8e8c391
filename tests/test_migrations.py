"""The schema exists only through the migrations; they go up and down on both databases."""

from __future__ import annotations

import os

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
        assert db.current_revision(conn) == "0011"
    db.migrate(empty_engine, "base")
    assert table_names(empty_engine) == set()
    db.migrate(empty_engine)
    assert table_names(empty_engine) == TABLES


# SQLAlchemy cannot reflect SQLite's expression indexes (ix_comments_email_lower), so Alembic
# leaves them out of the comparison; test_expression_index_exists checks that one instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrated_schema_matches_the_tables_module(empty_engine):
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_expression_index_exists(empty_engine):
    db.migrate(empty_engine)
    if empty_engine.dialect.name == "sqlite":
        catalog = "SELECT sql FROM sqlite_master WHERE name = 'ix_comments_email_lower'"
    else:
        catalog = (
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_comments_email_lower'"
            " AND schemaname = current_schema()"
        )
    with empty_engine.connect() as conn:
        definition = conn.exec_driver_sql(catalog).scalar_one()
    assert "lower(" in definition and "email" in definition  # lower((email)::text) on PostgreSQL


def test_migrate_twice_is_a_no_op(empty_engine):
    db.migrate(empty_engine)
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        assert db.current_revision(conn) == "0011"


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


def test_sqlite_writers_of_all_processes_queue_on_a_file_lock(fresh_database):
    fcntl = pytest.importorskip("fcntl")
    engine = db.create_engine(fresh_database("sqlite"))
    db.migrate(engine)
    lock_file = f"{engine.url.database}-writers.lock"

    def another_process_could_write() -> bool:
        # A file opened anew holds its flock apart from the engine's, as another process would.
        file = os.open(lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(file)
        return True

    with db.transaction(engine, write=True):
        assert not another_process_could_write()
    assert another_process_could_write()
    with db.transaction(engine):  # readers queue for nothing
        assert another_process_could_write()
    engine.dispose()
