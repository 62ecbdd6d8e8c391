"""The newest approved comments, for the Atom feeds."""

from __future__ import annotations

from sqlalchemy import Connection, select

from comments.models import FeedEntry, Status, Thread
from comments.store.rows import THREAD_COLUMNS, comment_in
from comments.tables import comments, threads


def approved_recent(
    conn: Connection, site: str, thread_id: int | None, limit: int
) -> list[FeedEntry]:
    """The newest approved comments of a site, or of one of its threads, newest first."""
    labelled = [column.label(f"in_thread_{column.name}") for column in THREAD_COLUMNS]
    query = (
        select(comments, *labelled)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(threads.c.site == site, comments.c.status == Status.APPROVED)
        .order_by(comments.c.created.desc(), comments.c.id.desc())
        .limit(limit)
    )
    if thread_id is not None:
        query = query.where(comments.c.thread_id == thread_id)
    entries = []
    for row in conn.execute(query):
        values = row._mapping
        thread = {column.name: values[f"in_thread_{column.name}"] for column in THREAD_COLUMNS}
        entries.append(FeedEntry(comment_in(row), Thread(**thread)))
    return entries
