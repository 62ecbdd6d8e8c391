"""Every SQL statement. Functions take a connection first, return models, and never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, exists, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from comments.models import Comment, Cursor, Sort, Status, Thread
from comments.tables import comments, threads

THREAD_COLUMNS = (
    threads.c.id,
    threads.c.site,
    threads.c.uri,
    threads.c.title,
    threads.c.comment_count.label("count"),
    threads.c.closed,
    threads.c.version,
)


def _thread(row) -> Thread:
    return Thread(**row._mapping)


def _comment(row) -> Comment:
    values = dict(row._mapping)
    values["status"] = Status(values["status"])
    return Comment(**values)


def ping(conn: Connection) -> None:
    conn.execute(select(1))


def get_thread(conn: Connection, site: str, uri: str) -> Thread | None:
    row = conn.execute(
        select(*THREAD_COLUMNS).where(threads.c.site == site, threads.c.uri == uri)
    ).first()
    return _thread(row) if row else None


def get_thread_by_id(conn: Connection, thread_id: int) -> Thread:
    return _thread(conn.execute(select(*THREAD_COLUMNS).where(threads.c.id == thread_id)).one())


def ensure_thread(conn: Connection, site: str, uri: str, title: str, now: datetime) -> Thread:
    """The thread for (site, uri), created on its first comment and locked for this write.

    Locking before the new comment's foreign key check takes its share lock on the row avoids
    two writers each holding a share lock and waiting for the other's (a deadlock).
    """
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(threads)
        .values(site=site, uri=uri, title=title, created=now)
        .on_conflict_do_nothing(index_elements=["site", "uri"])
    )
    thread = _thread(
        conn.execute(
            select(*THREAD_COLUMNS)
            .where(threads.c.site == site, threads.c.uri == uri)
            .with_for_update()
        ).one()
    )
    if title and not thread.title:
        conn.execute(update(threads).where(threads.c.id == thread.id).values(title=title))
    return thread


def refresh_thread(conn: Connection, thread_id: int) -> None:
    """After any write in a thread: bump its version and recount its visible comments.

    The row lock comes first so that, on PostgreSQL, the recount runs in a snapshot taken after
    every earlier writer of this thread committed; counting inside the UPDATE that waited for the
    lock would miss the comment of the writer it waited for.
    """
    conn.execute(select(threads.c.id).where(threads.c.id == thread_id).with_for_update())
    visible = (
        select(func.count())
        .select_from(comments)
        .where(comments.c.thread_id == thread_id, comments.c.status == Status.APPROVED)
        .scalar_subquery()
    )
    conn.execute(
        update(threads)
        .where(threads.c.id == thread_id)
        .values(version=threads.c.version + 1, comment_count=visible)
    )


def insert_comment(
    conn: Connection,
    *,
    thread_id: int,
    parent: Comment | None,
    author: str | None,
    email: str | None,
    website: str | None,
    text: str,
    html: str,
    status: Status,
    created: datetime,
    ip_hash: str,
    avatar: str,
) -> Comment:
    values = dict(
        thread_id=thread_id,
        parent_id=parent.id if parent else None,
        root_id=parent.root_id if parent else 0,
        author=author,
        email=email,
        website=website,
        text=text,
        html=html,
        status=status.value,
        created=created,
        ip_hash=ip_hash,
        avatar=avatar,
    )
    row = conn.execute(insert(comments).values(**values).returning(*comments.c)).one()
    if parent is None:
        # A top-level comment is its own root; its id exists only now.
        row = conn.execute(
            update(comments)
            .where(comments.c.id == row.id)
            .values(root_id=row.id)
            .returning(*comments.c)
        ).one()
    return _comment(row)


def get_comment(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(select(comments).where(comments.c.id == comment_id)).first()
    return _comment(row) if row else None


def update_comment(conn: Connection, comment_id: int, **values) -> Comment:
    if "status" in values:
        values["status"] = Status(values["status"]).value
    row = conn.execute(
        update(comments).where(comments.c.id == comment_id).values(**values).returning(*comments.c)
    ).one()
    return _comment(row)


def page_of_thread(
    conn: Connection, thread_id: int, sort: Sort, limit: int, after: Cursor | None
) -> tuple[list[Comment], bool]:
    """Up to `limit` top-level comments with everything below them, in one indexed query.

    A top-level comment is listed when anything in its subtree is approved (it may show as a
    placeholder). Returns the comments in no particular order, and whether more pages follow.
    """
    top = comments.alias("top")
    member = comments.alias("member")
    has_visible = exists().where(
        member.c.thread_id == thread_id,
        member.c.root_id == top.c.id,
        member.c.status == Status.APPROVED,
    )
    newest = sort is Sort.NEWEST
    order = (top.c.created.desc(), top.c.id.desc()) if newest else (top.c.created, top.c.id)
    roots = (
        select(top.c.id)
        .where(top.c.thread_id == thread_id, top.c.parent_id.is_(None), has_visible)
        .order_by(*order)
        .limit(limit + 1)
    )
    if after is not None:
        position = tuple_(top.c.created, top.c.id)
        cursor = tuple_(after.created, after.id)
        roots = roots.where(position < cursor if newest else position > cursor)
    rows = conn.execute(
        select(comments).where(
            comments.c.thread_id == thread_id, comments.c.root_id.in_(roots.scalar_subquery())
        )
    ).all()
    found = [_comment(row) for row in rows]
    top_level = sorted(
        (comment for comment in found if comment.parent_id is None),
        key=lambda comment: (comment.created, comment.id),
        reverse=newest,
    )
    if len(top_level) <= limit:
        return found, False
    dropped = top_level[limit].id
    return [comment for comment in found if comment.root_id != dropped], True


def counts(conn: Connection, site: str, uris: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(
        select(threads.c.uri, threads.c.comment_count).where(
            threads.c.site == site, threads.c.uri.in_(list(uris))
        )
    )
    return {uri: count for uri, count in rows}


def recent_from(conn: Connection, ip_hash: str, since: datetime) -> tuple[int, datetime | None]:
    """How many comments came from this address since then, and when the first of them did."""
    count, first = conn.execute(
        select(func.count(), func.min(comments.c.created)).where(
            comments.c.ip_hash == ip_hash, comments.c.created >= since
        )
    ).one()
    return count, first
