"""The schema exists only through the migrations; they go up and down on both databases."""

from __future__ import annotations

import os
from datetime import UTC, datetime

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
        assert db.current_revision(conn) == "0013"
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
        assert db.current_revision(conn) == "0013"


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


def test_sqlite_commands_that_read_the_file_once_map_none_of_it(fresh_database):
    url = fresh_database("sqlite")
    for memory_map, expected in ((True, db.MMAP_BYTES), (False, 0)):
        engine = db.create_engine(url, memory_map)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == expected
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


def test_0006_normalizes_thread_keys_and_merges_the_threads_that_meet(empty_engine):
    db.migrate(empty_engine, "0005")
    threads, comments = metadata.tables["threads"], metadata.tables["comments"]
    created = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [  # id, site, uri, title, version, closed
        (1, "blog.example", "/post/", "", 4, False),
        (2, "blog.example", "/post", "The post", 9, False),
        (3, "blog.example", "/post/index.html", "Old title", 2, True),
        (4, "other.example", "/post", "", 3, False),  # another site: not merged, only re-keyed
        (5, "blog.example", "/?p=1", "", 1, False),  # queries are kept: no site's list is known
        (6, "blog.example", "/?p=2", "", 1, False),
        (7, "blog.example", "/about.html", "", 5, False),  # already a key: untouched
    ]
    with empty_engine.begin() as conn:
        for id, site, uri, title, version, closed in rows:
            conn.execute(
                threads.insert().values(
                    id=id,
                    site=site,
                    uri=uri,
                    title=title,
                    version=version,
                    closed=closed,
                    comment_count=0,
                    created=created,
                )
            )
        for id, thread_id, status in [
            (10, 1, "approved"),
            (11, 2, "approved"),
            (12, 2, "pending"),
            (13, 3, "approved"),
            (14, 4, "approved"),
            (15, 5, "approved"),
            (16, 6, "approved"),
        ]:
            conn.execute(
                comments.insert().values(
                    id=id,
                    thread_id=thread_id,
                    root_id=id,
                    text="x",
                    html="x",
                    status=status,
                    created=created,
                    ip_hash="h",
                    avatar="a",
                )
            )
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        found = {row.id: row for row in conn.execute(threads.select().order_by(threads.c.id))}
        homes = dict(conn.execute(sqlalchemy.select(comments.c.id, comments.c.thread_id)).all())
    assert sorted(found) == [1, 4, 5, 6, 7]
    merged = found[1]
    assert (merged.site, merged.uri, merged.title) == ("blog.example", "/post/", "The post")
    assert merged.comment_count == 3  # recounted: the pending one is kept, not counted
    assert merged.version == 10 and merged.closed
    assert homes == {10: 1, 11: 1, 12: 1, 13: 1, 14: 4, 15: 5, 16: 6}  # every comment kept
    assert (found[4].site, found[4].uri, found[4].version) == ("other.example", "/post/", 4)
    assert (found[5].uri, found[6].uri) == ("/?p=1", "/?p=2")
    assert (found[7].uri, found[7].version) == ("/about.html", 5)
    db.migrate(empty_engine, "0005")  # down keeps the keys, and up again changes nothing
    db.migrate(empty_engine)
    with empty_engine.connect() as conn:
        assert (
            conn.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(threads)).scalar()
            == 5
        )
