"""Bans by email, by network (address hash) or both: adding, finding the one in force, lifting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, case, insert, select, update

from comments.models import Ban
from comments.tables import bans


def _ban(row) -> Ban:
    return Ban(**row._mapping)


def add_ban(
    conn: Connection,
    *,
    email: str | None,
    ip_hash: str | None,
    reason: str,
    expires: datetime | None,
    moderator: str,
    now: datetime,
    reader_id: int | None = None,
) -> Ban:
    row = conn.execute(
        insert(bans)
        .values(
            email=email.lower() if email else None,
            ip_hash=ip_hash,
            reason=reason,
            expires=expires,
            moderator=moderator,
            created=now,
            reader_id=reader_id,
        )
        .returning(*bans.c)
    ).one()
    return _ban(row)


def _active_ban_statement(*, by_email: bool):
    who = bans.c.ip_hash == bindparam("ip_hash")
    first = bans.c.id.desc()
    if by_email:
        by_address = bans.c.email == bindparam("email")
        who = who | by_address
        # A ban of the email decides (it refuses); one of the network only holds.
        first = case((by_address, 0), else_=1)
    in_force = bans.c.expires.is_(None) | (bans.c.expires > bindparam("now"))
    return select(bans).where(who, bans.c.lifted.is_(None), in_force).order_by(first).limit(1)


# Run for every new comment, so built once: {by email too: statement}.
ACTIVE_BAN = {by_email: _active_ban_statement(by_email=by_email) for by_email in (False, True)}


def active_ban(conn: Connection, email: str | None, ip_hash: str, now: datetime) -> Ban | None:
    """The ban in force against this email, else one against this network, if any.

    Expired bans stop applying by themselves: `expires` is compared with `now` here.
    """
    parameters = {"ip_hash": ip_hash, "now": now, "email": email.lower() if email else None}
    row = conn.execute(ACTIVE_BAN[bool(email)], parameters).first()
    return _ban(row) if row else None


def list_bans(conn: Connection, now: datetime) -> list[Ban]:
    rows = conn.execute(
        select(bans)
        .where(bans.c.lifted.is_(None), (bans.c.expires.is_(None)) | (bans.c.expires > now))
        .order_by(bans.c.id.desc())
    )
    return [_ban(row) for row in rows]


def lift_ban(conn: Connection, ban_id: int, now: datetime) -> Ban | None:
    row = conn.execute(
        update(bans)
        .where(bans.c.id == ban_id, bans.c.lifted.is_(None))
        .values(lifted=now)
        .returning(*bans.c)
    ).first()
    return _ban(row) if row else None


def bans_by_email(conn: Connection, email: str) -> list[Ban]:
    rows = conn.execute(select(bans).where(bans.c.email == email.lower()).order_by(bans.c.id))
    return [_ban(row) for row in rows]
