"""Big threads for browser tests, written fast: through the store functions posting uses, in one
transaction (thousands of HTTP posts would take minutes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from comments import db, store
from comments.db import transaction
from comments.models import Comment, Status


def seed_thread(
    server,
    origin: str,
    uri: str,
    size: int,
    parent_of: Callable[[int, list[Comment]], Comment | None],
) -> list[int]:
    """`size` comments in one thread, oldest first; `parent_of(n, written)` picks the parent of
    the n-th (from 2). The first goes through the API, which names the thread's site."""
    first = server.seed(origin, uri, f"The first comment on {uri}", author="Reader 1")
    engine = db.create_engine(server.database_url)
    try:
        with transaction(engine, write=True) as conn:
            written = [store.threads.get_comment(conn, first["id"])]
            start = datetime.now(UTC) - timedelta(days=30)
            for n in range(2, size + 1):
                written.append(
                    store.threads.insert_comment(
                        conn,
                        thread_id=written[0].thread_id,
                        parent=parent_of(n, written),
                        author=f"Reader {n}",
                        email=None,
                        website=None,
                        text=f"Comment {n}",
                        html=f"<p>Comment {n}</p>",
                        status=Status.APPROVED,
                        created=start + timedelta(seconds=n),
                        ip_hash="seed",
                        avatar="0123456789abcdef",
                    )
                )
            store.threads.refresh_thread(conn, written[0].thread_id)
        if engine.dialect.name == "postgresql":
            # Statistics, as autovacuum gathers them after such a load: without any, PostgreSQL's
            # planner takes the thread for empty and every page of it for seconds.
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return [comment.id for comment in written]
