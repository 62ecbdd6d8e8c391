"""One-time mail links: remembering which were used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from comments.store.rows import insert_unless_there
from comments.tables import used_links


def use_link(conn: Connection, digest: str, now: datetime) -> bool:
    """Remember a one-time link as used; False when it was used already."""
    return insert_unless_there(conn, used_links, ["digest"], digest=digest, used=now)


def link_used_at(conn: Connection, digest: str) -> datetime | None:
    return conn.execute(
        select(used_links.c.used).where(used_links.c.digest == digest)
    ).scalar_one_or_none()


def release_link(conn: Connection, digest: str) -> None:
    """Make a link usable again: what it asked for could not be done."""
    conn.execute(delete(used_links).where(used_links.c.digest == digest))


def prune_used_links(conn: Connection, used_before: datetime) -> None:
    """Links used this long ago have expired: their expiry alone refuses them now."""
    conn.execute(delete(used_links).where(used_links.c.used < used_before))
