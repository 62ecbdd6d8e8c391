"""Verified readers, their reserved names and their votes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from comments.models import Comment, Reader, Status
from comments.store.rows import comment_in, insert_unless_there
from comments.tables import comments, readers, threads, votes


def _reader(row) -> Reader:
    return Reader(**row._mapping)


def get_reader(conn: Connection, reader_id: int) -> Reader | None:
    row = conn.execute(select(readers).where(readers.c.id == reader_id)).first()
    return _reader(row) if row else None


def reader_by_email(conn: Connection, site: str, email: str) -> Reader | None:
    row = conn.execute(
        select(readers).where(readers.c.site == site, readers.c.email == email.lower())
    ).first()
    return _reader(row) if row else None


def readers_by_email(conn: Connection, email: str) -> list[Reader]:
    """The address's readers, one per site it signed in on."""
    rows = conn.execute(select(readers).where(readers.c.email == email.lower()))
    return [_reader(row) for row in rows]


def reader_by_name_key(conn: Connection, site: str, key: str) -> Reader | None:
    row = conn.execute(
        select(readers).where(readers.c.site == site, readers.c.name_key == key)
    ).first()
    return _reader(row) if row else None


def ensure_reader(conn: Connection, site: str, email: str, now: datetime) -> Reader:
    """The site's reader of this email, created on their first sign-in (of two at once, one)."""
    insert_unless_there(
        conn, readers, ["site", "email"], site=site, email=email.lower(), created=now
    )
    reader = reader_by_email(conn, site, email)
    assert reader is not None
    return reader


def signed_in(conn: Connection, reader_id: int, now: datetime) -> None:
    conn.execute(update(readers).where(readers.c.id == reader_id).values(last_sign_in=now))


def claim_name(conn: Connection, reader_id: int, name: str, key: str) -> bool:
    """Give the reader this name unless another reader of the site holds its key (the unique
    constraint decides between two claims at once): whether it is theirs now."""
    reader = get_reader(conn, reader_id)
    assert reader is not None
    holder = reader_by_name_key(conn, reader.site, key)
    if holder is not None and holder.id != reader_id:
        return False
    try:
        with conn.begin_nested():  # a savepoint: a lost race leaves the transaction usable
            conn.execute(
                update(readers).where(readers.c.id == reader_id).values(name=name, name_key=key)
            )
    except IntegrityError:  # uq_readers_site_name_key: another claim came first
        return False
    return True


def bump_epoch(conn: Connection, reader_id: int) -> None:
    conn.execute(
        update(readers)
        .where(readers.c.id == reader_id)
        .values(session_epoch=readers.c.session_epoch + 1)
    )


def reader_comments(
    conn: Connection, reader_id: int, limit: int, before: int | None = None
) -> list[tuple[Comment, str, str]]:
    """The reader's comments, newest first (deleted ones left out), with each thread's URI and
    title."""
    query = (
        select(comments, threads.c.uri.label("thread_uri"), threads.c.title.label("thread_title"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(comments.c.reader_id == reader_id, comments.c.status != Status.DELETED.value)
        .order_by(comments.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(comments.c.id < before)
    return [(comment_in(row), row.thread_uri, row.thread_title) for row in conn.execute(query)]


def voted_comment_ids(conn: Connection, reader_id: int, thread_id: int | None = None) -> list[int]:
    query = select(votes.c.comment_id).where(votes.c.reader_id == reader_id)
    if thread_id is not None:
        query = query.join(comments, comments.c.id == votes.c.comment_id).where(
            comments.c.thread_id == thread_id
        )
    return list(conn.execute(query.order_by(votes.c.comment_id)).scalars())


def own_comment_ids(conn: Connection, reader_id: int, thread_id: int) -> list[int]:
    query = select(comments.c.id).where(
        comments.c.reader_id == reader_id, comments.c.thread_id == thread_id
    )
    return list(conn.execute(query.order_by(comments.c.id)).scalars())


def add_vote(conn: Connection, comment_id: int, reader_id: int, now: datetime) -> bool:
    """Count the reader's upvote once: whether it is new."""
    added = insert_unless_there(
        conn,
        votes,
        ["comment_id", "reader_id"],
        comment_id=comment_id,
        reader_id=reader_id,
        created=now,
    )
    if added:
        conn.execute(
            update(comments).where(comments.c.id == comment_id).values(votes=comments.c.votes + 1)
        )
    return added


def remove_vote(conn: Connection, comment_id: int, reader_id: int) -> bool:
    removed = conn.execute(
        delete(votes).where(votes.c.comment_id == comment_id, votes.c.reader_id == reader_id)
    ).rowcount
    if removed:
        conn.execute(
            update(comments).where(comments.c.id == comment_id).values(votes=comments.c.votes - 1)
        )
    return bool(removed)


def vote_count(conn: Connection, comment_id: int) -> int:
    return conn.execute(select(comments.c.votes).where(comments.c.id == comment_id)).scalar_one()


def erase_votes(conn: Connection, reader_id: int) -> dict[int, list[int]]:
    """Take back every vote of the reader: the comments they were on, by thread."""
    voted = conn.execute(
        select(comments.c.thread_id, comments.c.id)
        .join(votes, votes.c.comment_id == comments.c.id)
        .where(votes.c.reader_id == reader_id)
        .order_by(comments.c.id)
    ).all()
    ids = [comment_id for _, comment_id in voted]
    for chunk in _chunks(ids, 500):
        conn.execute(
            update(comments).where(comments.c.id.in_(chunk)).values(votes=comments.c.votes - 1)
        )
    conn.execute(delete(votes).where(votes.c.reader_id == reader_id))
    by_thread: dict[int, list[int]] = {}
    for thread_id, comment_id in voted:
        by_thread.setdefault(thread_id, []).append(comment_id)
    return by_thread


def erase_comments(conn: Connection, reader_id: int, now: datetime) -> list[Comment]:
    """Every comment of the reader, deleted as its author deletes one: text and identity gone,
    a placeholder left where replies hang from it. The comments as they were."""
    rows = conn.execute(
        select(comments).where(comments.c.reader_id == reader_id).order_by(comments.c.id)
    ).all()
    gone = [comment_in(row) for row in rows]
    conn.execute(
        update(comments)
        .where(comments.c.reader_id == reader_id)
        .values(
            status=Status.DELETED.value,
            author=None,
            email=None,
            website=None,
            text="",
            html="",
            edited=now,
            reader_id=None,
            badge=None,
            notify=False,
        )
    )
    return gone


def delete_reader(conn: Connection, reader_id: int) -> None:
    conn.execute(delete(readers).where(readers.c.id == reader_id))


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
