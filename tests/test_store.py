"""The read path: one indexed query per page, whatever the size of the thread or the site."""

from __future__ import annotations

import pytest
import sqlalchemy

from comments import db
from comments.config import load
from comments.models import Sort, Submission
from comments.service import CommentService
from comments.tokens import Tokens


@pytest.fixture
def service(database_url, tmp_path, clock):
    config = load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path),
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_SECRET_KEY": "s",
            "COMMENTS_RATE_LIMIT": "0",
            "COMMENTS_THREAD_RATE_LIMIT": "0",
            "COMMENTS_MIN_WRITE_SECONDS": "0",
            "COMMENTS_DUPLICATE_WINDOW": "0",
        }
    )
    engine = db.create_engine(config.database_url)
    yield CommentService(engine, config, Tokens(config.secret_key), clock)
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


def test_the_version_is_one_statement_on_the_thread_row(service, clock):
    fill(service, clock, "/p/", 10)
    statements = statements_while(service.engine, lambda: service.version_of("site", "/p/"))
    assert len(statements) == 1
    assert "comments" not in statements[0][0]


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
    from concurrent.futures import ThreadPoolExecutor

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
