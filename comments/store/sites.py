"""Sites as a whole: their threads counted, and threads moved to another key or merged."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, select, update

from comments.models import SiteSummary, Status, Thread
from comments.store.changes import announce_everything
from comments.store.rows import THREAD_COLUMNS, thread_of
from comments.tables import comments, threads

# Bound parameters per IN list: far below every driver's limit (SQLite's is 32,766).
CHUNK = 500


def site_summaries(conn: Connection) -> list[SiteSummary]:
    """Every site that has threads, with its threads, comments and visible comments."""
    totals = {
        site: (count, visible or 0)
        for site, count, visible in conn.execute(
            select(threads.c.site, func.count(), func.sum(threads.c.comment_count)).group_by(
                threads.c.site
            )
        )
    }
    kept = dict(
        conn.execute(
            select(threads.c.site, func.count(comments.c.id))
            .select_from(threads.join(comments))
            .group_by(threads.c.site)
        ).all()
    )
    return [
        SiteSummary(site, count, kept.get(site, 0), visible)
        for site, (count, visible) in sorted(totals.items())
    ]


def threads_of_site(conn: Connection, site: str, prefix: str = "") -> list[Thread]:
    """The site's threads whose URI starts with `prefix`, oldest first, locked for this write."""
    query = select(*THREAD_COLUMNS).where(threads.c.site == site)
    if prefix:
        query = query.where(threads.c.uri.startswith(prefix, autoescape=True))
    rows = conn.execute(query.order_by(threads.c.id).with_for_update()).all()
    return [thread_of(row) for row in rows]


def threads_at(conn: Connection, site: str, uris: Iterable[str]) -> list[Thread]:
    """The site's threads at these URIs, locked for this write."""
    uris = sorted(set(uris))
    found: list[Thread] = []
    for start in range(0, len(uris), CHUNK):
        rows = conn.execute(
            select(*THREAD_COLUMNS)
            .where(threads.c.site == site, threads.c.uri.in_(uris[start : start + CHUNK]))
            .with_for_update()
        ).all()
        found += [thread_of(row) for row in rows]
    return found


def park_threads(conn: Connection, thread_ids: Iterable[int]) -> None:
    """Give threads about to move a key no page has (real keys start with "/"), so a move whose
    targets are other moving threads' keys meets no uniqueness conflict on the way."""
    announce_everything(conn)
    for thread_id in thread_ids:
        conn.execute(
            update(threads).where(threads.c.id == thread_id).values(uri=f"moving:{thread_id}")
        )


def merge_threads(
    conn: Connection,
    survivor_id: int,
    merged_ids: list[int],
    *,
    site: str,
    uri: str,
    version: int,
    closed: bool,
    title: str,
    title_moderated: bool = False,
) -> None:
    """The merged threads' comments join the survivor, they go, and the survivor takes this key
    and these values; its count is recounted."""
    announce_everything(conn)
    for start in range(0, len(merged_ids), CHUNK):
        chunk = merged_ids[start : start + CHUNK]
        conn.execute(
            update(comments).where(comments.c.thread_id.in_(chunk)).values(thread_id=survivor_id)
        )
        conn.execute(delete(threads).where(threads.c.id.in_(chunk)))
    visible = (
        select(func.count())
        .select_from(comments)
        .where(comments.c.thread_id == survivor_id, comments.c.status == Status.APPROVED)
        .scalar_subquery()
    )
    conn.execute(
        update(threads)
        .where(threads.c.id == survivor_id)
        .values(
            site=site,
            uri=uri,
            version=version,
            closed=closed,
            title=title,
            title_moderated=title_moderated,
            comment_count=visible,
        )
    )
