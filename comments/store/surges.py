"""Surges: each thread's slower mode, the pressure it is measured by, spent bot challenges."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, desc, func, insert, select, update

from comments.models import HotThread, Surge, SurgeRow, Thread
from comments.store.rows import THREAD_COLUMNS, insert_unless_there
from comments.tables import comments, spent_challenges, thread_surges, threads

WINDOW = timedelta(minutes=1)


def get_surge(conn: Connection, thread_id: int) -> SurgeRow | None:
    row = conn.execute(select(thread_surges).where(thread_surges.c.thread_id == thread_id)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    return SurgeRow(
        **{
            **values,
            "mode": Surge(values["mode"]),
            "pinned": Surge(values["pinned"]) if values["pinned"] else None,
        }
    )


def put_surge(conn: Connection, row: SurgeRow) -> None:
    """Write the thread's state (the caller holds the thread's row lock: no two writers race)."""
    values = {
        "mode": row.mode.value,
        "since": row.since,
        "hot_until": row.hot_until,
        "window_start": row.window_start,
        "refused": row.refused,
        "pinned": row.pinned.value if row.pinned else None,
    }
    changed = conn.execute(
        update(thread_surges).where(thread_surges.c.thread_id == row.thread_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(thread_surges).values(thread_id=row.thread_id, **values))


def thread_attempts(conn: Connection, thread_id: int, since: datetime) -> int:
    """Comments of every kind (held as doubtful too) that came into the thread since then."""
    return conn.execute(
        select(func.count()).where(comments.c.thread_id == thread_id, comments.c.created >= since)
    ).scalar_one()


def address_attempts(conn: Connection, ip_hash: str, since: datetime) -> int:
    """Comments of every kind from this address (its /24 or /64 network) since then."""
    return conn.execute(
        select(func.count()).where(comments.c.ip_hash == ip_hash, comments.c.created >= since)
    ).scalar_one()


def last_comment_by(
    conn: Connection, thread_id: int, ip_hash: str, since: datetime
) -> datetime | None:
    """When this reader (address) last commented in the thread, if they did since then."""
    return conn.execute(
        select(func.max(comments.c.created)).where(
            comments.c.ip_hash == ip_hash,
            comments.c.created >= since,
            comments.c.thread_id == thread_id,
        )
    ).scalar_one()


def hot_threads(conn: Connection, now: datetime, limit: int = 50) -> list[HotThread]:
    """Threads in a surge, pinned to a mode, or busy in the last minute; the busiest first."""
    since = now - WINDOW
    busy = (
        select(comments.c.thread_id, func.count().label("n"))
        .where(comments.c.created >= since)
        .group_by(comments.c.thread_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            *THREAD_COLUMNS,
            thread_surges.c.mode,
            thread_surges.c.pinned,
            thread_surges.c.since,
            thread_surges.c.hot_until,
            thread_surges.c.window_start,
            thread_surges.c.refused,
            func.coalesce(busy.c.n, 0).label("n"),
        )
        .select_from(
            threads.outerjoin(thread_surges, thread_surges.c.thread_id == threads.c.id).outerjoin(
                busy, busy.c.thread_id == threads.c.id
            )
        )
        .where(
            (thread_surges.c.hot_until > now)
            | thread_surges.c.pinned.is_not(None)
            | busy.c.n.is_not(None)
        )
        .order_by(desc("n"), threads.c.id)
        .limit(limit)
    ).all()
    found = []
    for row in rows:
        hot = row.hot_until is not None and row.hot_until > now
        refused = row.refused if row.window_start and row.window_start >= since else 0
        found.append(
            HotThread(
                thread=Thread(*row[: len(THREAD_COLUMNS)]),
                mode=Surge(row.mode) if hot else Surge.NORMAL,
                pinned=Surge(row.pinned) if row.pinned else None,
                since=row.since if hot else None,
                hot_until=row.hot_until if hot else None,
                last_minute=row.n + refused,
            )
        )
    return found


def spend_challenge(conn: Connection, digest: str, expires: datetime, now: datetime) -> bool:
    """Remember a solved challenge; False when it was spent already. Forgets expired ones."""
    conn.execute(delete(spent_challenges).where(spent_challenges.c.expires <= now))
    # ON CONFLICT DO NOTHING: of two posts with one solution at once, one wins, none fails.
    return insert_unless_there(conn, spent_challenges, ["digest"], digest=digest, expires=expires)
