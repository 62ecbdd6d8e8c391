"""What the posting defenses count and look up: rate limits, repeats, known authors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, exists, func, or_, select

from comments.models import ACCEPTED_HOLDS, Status
from comments.tables import comments


def recent_comments(
    conn: Connection, since: datetime, *, ip_hash: str | None = None, thread_id: int | None = None
) -> tuple[int, datetime | None]:
    """How many accepted comments came (from this address, or into this thread) since then, and
    when the first of them did: what the rate limits count. Comments held as doubtful are left
    out (see models.ACCEPTED_HOLDS)."""
    accepted = or_(comments.c.held_reason.is_(None), comments.c.held_reason.in_(ACCEPTED_HOLDS))
    where = [comments.c.created >= since, accepted]
    if ip_hash is not None:
        where.append(comments.c.ip_hash == ip_hash)
    if thread_id is not None:
        where.append(comments.c.thread_id == thread_id)
    count, first = conn.execute(
        select(func.count(), func.min(comments.c.created)).where(*where)
    ).one()
    return count, first


# The first key of PostgreSQL's two-key advisory locks that stand for an address ("cm").
ADDRESS_LOCK_CLASS = 0x636D


def lock_address(conn: Connection, ip_hash: str) -> None:
    """Make this address's other writers wait until this transaction ends (PostgreSQL).

    Their rate count then runs after this one's comment is committed and sees it. On SQLite,
    writers are one at a time already (BEGIN IMMEDIATE).
    """
    if conn.dialect.name != "postgresql":
        return
    key = int(ip_hash[:8], 16) - 2**31  # a signed 32-bit int; a rare clash only adds a wait
    conn.execute(select(func.pg_advisory_xact_lock(ADDRESS_LOCK_CLASS, key)))


def _same_text_statement(*, by_email: bool):
    # Each side of the OR has its index (ix_comments_ip_created, ix_comments_email_lower).
    who = comments.c.ip_hash == bindparam("ip_hash")
    if by_email:
        who = who | (func.lower(comments.c.email) == bindparam("email"))
    recent = comments.c.created >= bindparam("since"), comments.c.text == bindparam("text")
    return select(exists().where(who, *recent))


def _has_approved_statement(*, by_email: bool):
    if by_email:
        who = func.lower(comments.c.email) == bindparam("email")  # ix_comments_email_lower
    else:
        who = comments.c.ip_hash == bindparam("ip_hash")
    return select(exists().where(who, comments.c.status == Status.APPROVED))


# The defenses in the posting path, built once: {by email: statement}.
SAME_TEXT_SINCE = {by_email: _same_text_statement(by_email=by_email) for by_email in (False, True)}


HAS_APPROVED_COMMENT = {
    by_email: _has_approved_statement(by_email=by_email) for by_email in (False, True)
}


def has_same_text_since(
    conn: Connection, text: str, email: str | None, ip_hash: str, since: datetime
) -> bool:
    parameters = {"ip_hash": ip_hash, "since": since, "text": text}
    if email:
        parameters["email"] = email.lower()
    return conn.execute(SAME_TEXT_SINCE[bool(email)], parameters).scalar_one()


def reader_has_approved(conn: Connection, reader_id: int) -> bool:
    """Whether this verified reader had a comment approved (ix_comments_reader)."""
    approved = exists().where(
        comments.c.reader_id == reader_id, comments.c.status == Status.APPROVED
    )
    return conn.execute(select(approved)).scalar_one()


def has_approved_comment(conn: Connection, email: str | None, ip_hash: str) -> bool:
    """Whether this commenter (by email, else by address hash) was ever approved."""
    parameters = {"email": email.lower()} if email else {"ip_hash": ip_hash}
    return conn.execute(HAS_APPROVED_COMMENT[bool(email)], parameters).scalar_one()
