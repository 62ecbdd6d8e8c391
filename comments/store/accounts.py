"""Moderator accounts, their session epochs and sessions, and sign-in attempts."""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from comments.models import Moderator
from comments.tables import moderator_sessions, moderators, sign_in_failures

# The first key of PostgreSQL's two-key advisory locks that stand for a network signing in ("si").
SIGN_IN_LOCK_CLASS = 0x7369


def _moderator(row) -> Moderator:
    return Moderator(**row._mapping)


def add_moderator(conn: Connection, email: str, now: datetime) -> Moderator:
    row = conn.execute(
        insert(moderators).values(email=email, created=now).returning(*moderators.c)
    ).one()
    return _moderator(row)


def get_moderator(conn: Connection, moderator_id: int) -> Moderator | None:
    row = conn.execute(select(moderators).where(moderators.c.id == moderator_id)).first()
    return _moderator(row) if row else None


def get_moderator_by_email(conn: Connection, email: str) -> Moderator | None:
    row = conn.execute(select(moderators).where(moderators.c.email == email)).first()
    return _moderator(row) if row else None


def list_moderators(conn: Connection) -> list[Moderator]:
    return [_moderator(row) for row in conn.execute(select(moderators).order_by(moderators.c.id))]


def remove_moderator(conn: Connection, email: str) -> bool:
    removed = conn.execute(
        delete(moderators).where(moderators.c.email == email).returning(moderators.c.id)
    ).first()
    return removed is not None


def set_password(conn: Connection, moderator_id: int, password_hash: str) -> Moderator:
    """Store a new password hash; the epoch moves on, ending older sessions and links."""
    row = conn.execute(
        update(moderators)
        .where(moderators.c.id == moderator_id)
        .values(password_hash=password_hash, session_epoch=moderators.c.session_epoch + 1)
        .returning(*moderators.c)
    ).one()
    return _moderator(row)


def bump_epoch(conn: Connection, moderator_id: int) -> None:
    conn.execute(
        update(moderators)
        .where(moderators.c.id == moderator_id)
        .values(session_epoch=moderators.c.session_epoch + 1)
    )


def signed_in(conn: Connection, moderator_id: int, now: datetime) -> None:
    conn.execute(update(moderators).where(moderators.c.id == moderator_id).values(last_sign_in=now))


def lock_network(conn: Connection, ip_hash: str) -> None:
    """Make this network's other sign-ins wait until this transaction ends (PostgreSQL), so
    each one counts the attempts before it, committed. On SQLite, writers are one at a time
    already (BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        return
    key = zlib.crc32(ip_hash.encode()) - 2**31  # a signed 32-bit int; a clash only adds a wait
    conn.execute(select(func.pg_advisory_xact_lock(SIGN_IN_LOCK_CLASS, key)))


def count_failures(conn: Connection, key: str, since: datetime) -> int:
    return conn.execute(
        select(func.count()).where(sign_in_failures.c.key == key, sign_in_failures.c.at >= since)
    ).scalar_one()


def add_failure(conn: Connection, key: str, now: datetime) -> int:
    return conn.execute(
        insert(sign_in_failures).values(key=key, at=now).returning(sign_in_failures.c.id)
    ).scalar_one()


def forget_failures(conn: Connection, ids: list[int]) -> None:
    conn.execute(delete(sign_in_failures).where(sign_in_failures.c.id.in_(ids)))


def prune_failures(conn: Connection, before: datetime) -> None:
    conn.execute(delete(sign_in_failures).where(sign_in_failures.c.at < before))


def add_session(
    conn: Connection, session_id: str, moderator_id: int, now: datetime, expires: datetime
) -> None:
    # The moderator's sessions that ran out go as a new one comes: the table keeps what works.
    conn.execute(
        delete(moderator_sessions).where(
            moderator_sessions.c.moderator_id == moderator_id, moderator_sessions.c.expires <= now
        )
    )
    conn.execute(
        insert(moderator_sessions).values(
            id=session_id, moderator_id=moderator_id, created=now, expires=expires
        )
    )


def session_moderator(conn: Connection, session_id: str, now: datetime) -> Moderator | None:
    """The moderator of a session in force."""
    row = conn.execute(
        select(moderators)
        .join(moderator_sessions, moderator_sessions.c.moderator_id == moderators.c.id)
        .where(moderator_sessions.c.id == session_id, moderator_sessions.c.expires > now)
    ).first()
    return _moderator(row) if row else None


def end_session(conn: Connection, session_id: str) -> None:
    conn.execute(delete(moderator_sessions).where(moderator_sessions.c.id == session_id))


def end_sessions(conn: Connection, moderator_id: int) -> None:
    conn.execute(
        delete(moderator_sessions).where(moderator_sessions.c.moderator_id == moderator_id)
    )


def session_epochs(conn: Connection) -> dict[str, int]:
    """Each moderator's email and session epoch (mail links carry the epoch)."""
    rows = conn.execute(select(moderators.c.email, moderators.c.session_epoch))
    return {email: epoch for email, epoch in rows}


def moderator_emails(conn: Connection) -> list[str]:
    return list(conn.execute(select(moderators.c.email).order_by(moderators.c.id)).scalars())
