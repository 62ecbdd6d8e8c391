"""The read path: one indexed query per page, whatever the size of the thread or the site."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy

from comments import db, store
from comments.config import load
from comments.models import Sort, Submission
from comments.service import CommentService
from comments.tables import threads
from comments.tokens import Tokens
from tests.helpers import DEFENSES_OFF, run_async


@pytest.fixture
def service(database_url, tmp_path, clock):
    config = load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path),
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_SECRET_KEY": "s",
            **DEFENSES_OFF,
        }
    )
    engine = db.create_engine(config.database_url)
    service = CommentService(engine, config, Tokens(config.secret_key), clock)
    yield service
    run_async(service.aclose())
    engine.dispose()


def fill(service, clock, uri: str, count: int) -> None:
    parent = None
    for index in range(count):
        clock.advance(seconds=1)
        reply_to = parent if index % 3 else None
        made = service.submit("site", Submission(uri=uri, text=f"c{index}", parent=reply_to), "::1")
        parent = made.comment.id


def statements_while(engine, action) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    return [(s, p) for s, p in seen if not s.upper().startswith(("BEGIN", "SAVEPOINT"))]


def test_a_page_is_two_statements_whatever_the_size(service, clock):
    fill(service, clock, "/small/", 5)
    fill(service, clock, "/big/", 150)
    for uri in ("/small/", "/big/"):
        statements = statements_while(
            service.engine, lambda uri=uri: service.read_thread("site", uri, Sort.OLDEST, 20, None)
        )
        assert len(statements) == 2  # the thread row, then the page with all its replies


def test_the_version_is_one_indexed_statement_on_the_thread_row(service, clock):
    fill(service, clock, "/p/", 10)
    statements = statements_while(service.engine, lambda: version_of(service, "/p/"))
    # Answered on the reader's own connection, outside the pool and any transaction.
    assert statements == []
    statement = str(store.threads.THREAD_VERSION.compile(dialect=service.engine.dialect))
    assert "comments" not in statement
    parameters = (
        ("site", "/p/")
        if service.engine.dialect.name == "sqlite"
        else {"site": "site", "uri": "/p/"}
    )
    with service.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            assert "USING INDEX" in " ".join(str(row[-1]) for row in rows)
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            assert "Seq Scan" not in "\n".join(row[0] for row in rows)


def test_the_version_moves_the_moment_a_write_commits(service, clock):
    async def versions() -> list[int]:
        seen = [await service.version_of("site", "/p/")]
        for _ in range(2):
            await asyncio.to_thread(fill, service, clock, "/p/", 1)
            seen.append(await service.version_of("site", "/p/"))
        with service.engine.begin() as conn:  # a write from anywhere else: another worker, a CLI
            conn.execute(sqlalchemy.update(threads).values(version=threads.c.version + 5))
        seen.append(await service.version_of("site", "/p/"))
        return seen

    first, second, third, fourth = run_async(versions())
    assert first == 0 and second > 0
    assert (third, fourth) == (second + 1, second + 6)


def test_the_version_survives_a_lost_connection(service, clock):
    fill(service, clock, "/p/", 1)

    async def lose_it() -> int:
        before = await service.version_of("site", "/p/")
        if service.engine.dialect.name == "postgresql":
            with service.engine.begin() as conn:  # as a server restart would
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND query LIKE '%%threads.version%%'"
                )
        return before, await service.version_of("site", "/p/")

    before, after = run_async(lose_it())
    assert before == after > 0


def version_of(service, uri: str) -> int:
    return run_async(service.version_of("site", uri))


def test_sqlite_reads_through_a_memory_map(tmp_path):
    engine = db.create_engine(f"sqlite:///{tmp_path / 'comments.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == db.MMAP_BYTES
    engine.dispose()


def test_read_path_uses_indexes(service, clock):
    fill(service, clock, "/p/", 30)
    statements = statements_while(
        service.engine, lambda: service.read_thread("site", "/p/", Sort.NEWEST, 5, None)
    )
    statements += statements_while(service.engine, lambda: service.counts("site", ["/p/", "/q/"]))
    with service.engine.connect() as conn:
        for statement, parameters in statements:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = "\n".join(str(row[-1]) for row in rows)
                # Every table access is an index search, never a scan of a whole table.
                assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                plan = "\n".join(row[0] for row in rows)
                assert "Seq Scan" not in plan, plan


def test_concurrent_writers_lose_nothing(service):

    def write(index: int) -> int:
        submission = Submission(uri=f"/p{index % 3}/", text=f"comment {index}")
        return service.submit("site", submission, f"192.0.2.{index % 250}").comment.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(write, range(120)))
    assert len(set(ids)) == 120
    assert service.counts("site", ["/p0/", "/p1/", "/p2/"]) == {"/p0/": 40, "/p1/": 40, "/p2/": 40}
    for uri in ("/p0/", "/p1/", "/p2/"):
        page = service.read_thread("site", uri, Sort.OLDEST, 200, None)
        assert len(page.comments) == 40
        assert page.thread.version == 41  # created at 1, bumped once per comment
