"""Moderators' digests: comments waiting to be told of, and the one waiting digest per address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, or_, select, update

from comments.models import Comment, OutboxItem, OutboxKind, Thread
from comments.store.rows import THREAD_COLUMNS, comment_in, upsert_for
from comments.tables import comments, moderator_notices, outbox, threads


def _outbox_item(row) -> OutboxItem:
    values = dict(row._mapping)
    values["kind"] = OutboxKind(values["kind"])
    return OutboxItem(**values)


def add_notice(conn: Connection, recipient: str, comment_id: int, now: datetime) -> None:
    conn.execute(
        insert(moderator_notices).values(
            recipient=recipient.lower(), comment_id=comment_id, created=now
        )
    )


def last_digest_to(conn: Connection, recipient: str) -> OutboxItem | None:
    """The newest digest planned for an address (sent or not), to space the next one from."""
    row = conn.execute(
        select(outbox)
        .where(outbox.c.recipient == recipient.lower(), outbox.c.kind == OutboxKind.DIGEST.value)
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).first()
    return _outbox_item(row) if row else None


def plan_digest(
    conn: Connection, recipient: str, payload: str, due: datetime, now: datetime
) -> bool:
    """Queue a digest for an address unless one waits already (no sender took it): whether
    this one was queued. The partial unique index decides, so of two workers one wins."""
    inserted = conn.execute(
        upsert_for(conn)(outbox)
        .values(
            kind=OutboxKind.DIGEST.value,
            payload=payload,
            due=due,
            created=now,
            recipient=recipient.lower(),
        )
        .on_conflict_do_nothing()
        .returning(outbox.c.id)
    ).first()
    return inserted is not None


def gather_notices(
    conn: Connection, digest_id: int, recipient: str
) -> list[tuple[Comment, Thread, datetime]]:
    """Take every waiting notice of an address for this digest (and keep the ones it took on
    an earlier attempt): the comments, their threads and when each arrived, oldest first.

    On PostgreSQL a notice another sender's digest is taking at this moment is waited for and
    then skipped (it is no longer waiting); on SQLite the write transaction serializes senders.
    """
    taken = or_(moderator_notices.c.digest_id.is_(None), moderator_notices.c.digest_id == digest_id)
    conn.execute(
        update(moderator_notices)
        .where(moderator_notices.c.recipient == recipient.lower(), taken)
        .values(digest_id=digest_id)
    )
    labelled = [column.label(f"in_thread_{column.name}") for column in THREAD_COLUMNS]
    rows = conn.execute(
        select(comments, *labelled, moderator_notices.c.created.label("noticed"))
        .join(comments, comments.c.id == moderator_notices.c.comment_id)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(moderator_notices.c.digest_id == digest_id)
        .order_by(moderator_notices.c.id)
    )
    found = []
    for row in rows:
        values = row._mapping
        thread = {column.name: values[f"in_thread_{column.name}"] for column in THREAD_COLUMNS}
        found.append((comment_in(row), Thread(**thread), values["noticed"]))
    return found


def prune_notices(conn: Connection, before: datetime) -> None:
    """Forget notices long told (or whose digest is long gone)."""
    conn.execute(delete(moderator_notices).where(moderator_notices.c.created < before))
