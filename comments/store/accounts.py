"""Moderator accounts, their session epochs and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from comments.models import Moderator
from comments.tables import moderators, sign_in_failures


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


def count_failures(conn: Connection, key: str, since: datetime) -> int:
    return conn.execute(
        select(func.count()).where(sign_in_failures.c.key == key, sign_in_failures.c.at >= since)
    ).scalar_one()


def add_failure(conn: Connection, key: str, now: datetime) -> None:
    conn.execute(insert(sign_in_failures).values(key=key, at=now))


def moderator_emails(conn: Connection) -> list[str]:
    return list(conn.execute(select(moderators.c.email).order_by(moderators.c.id)).scalars())
