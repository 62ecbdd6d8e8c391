"""What each version of a thread changed: written with the write, read by live streams.

Every write that moves a thread's version records its change here in the same transaction, and
announces it: on PostgreSQL with NOTIFY (delivered by the server on commit, to every worker of
every app server that listens), and to this process's own listeners through the connection
(`take_announced`, after the commit; streams.Hub sends them on to Redis when it is configured).
An announcement is a hint to look, never the news itself: listeners read the rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from sqlalchemy import Connection, bindparam, delete, func, insert, literal_column, select

from comments.models import Change, ChangeKind, ThreadChange
from comments.tables import thread_changes, threads

CHANNEL = "comments_changes"
# A thread keeps its last KEEP changes; the older ones are pruned at every PRUNE_EVERY-th
# version (one short indexed delete, not one per write).
KEEP = 500
PRUNE_EVERY = 50
# A write moving more threads than this (an import) announces "everything", not each one.
MOST_ANNOUNCED = 50
EVERYTHING = "*"
ANNOUNCED = "comments.announced"  # the key in Connection.info
# Changes one read returns at most; a stream further behind starts over.
MOST_READ = 200

# Moved threads: (thread id, site, uri, new version).
Moved = tuple[int, str, str, int]


def record(conn: Connection, moved: Iterable[Moved], change: Change) -> None:
    """The change each moved thread's new version made, and its announcement."""
    moved = list(moved)
    if not moved:
        return
    ids = ",".join(str(comment_id) for comment_id in change.ids)
    conn.execute(
        insert(thread_changes),
        [
            {"thread_id": thread_id, "version": version, "kind": change.kind.value, "ids": ids}
            for thread_id, _, _, version in moved
        ],
    )
    for thread_id, _, _, version in moved:
        if version % PRUNE_EVERY == 0:
            conn.execute(
                delete(thread_changes).where(
                    thread_changes.c.thread_id == thread_id,
                    thread_changes.c.version <= version - KEEP,
                )
            )
    if len(moved) > MOST_ANNOUNCED:
        announce_everything(conn)
        return
    _announce(conn, [orjson.dumps([site, uri, v]).decode() for _, site, uri, v in moved])


def announce_everything(conn: Connection) -> None:
    """After a write that moves or removes threads, or brings them back (a restore): every
    worker rereads what it knows of any thread, as its version alone might not show it."""
    _announce(conn, [EVERYTHING])


def _announce(conn: Connection, payloads: list[str]) -> None:
    if conn.dialect.name == "postgresql":
        for payload in payloads:
            conn.execute(select(func.pg_notify(CHANNEL, payload)))
    conn.info.setdefault(ANNOUNCED, []).extend(payloads)


def take_announced(conn: Connection) -> list[str]:
    """The announcements of the transaction that ends (and none for the next one)."""
    return conn.info.pop(ANNOUNCED, [])


def parse_announcement(payload: str) -> tuple[str, str, int] | None:
    """(site, uri, version), or None for "every thread may have moved"."""
    if payload == EVERYTHING:
        return None
    site, uri, version = orjson.loads(payload)
    return site, uri, int(version)


# Read in the event loop (db.PointReader), one statement each.
THREAD_STATE = select(threads.c.id, threads.c.version).where(
    threads.c.site == bindparam("site"), threads.c.uri == bindparam("uri")
)
VERSIONS = select(threads.c.id, threads.c.version).where(
    threads.c.id.in_(bindparam("ids", expanding=True))
)
CHANGES_SINCE = (
    select(thread_changes.c.version, thread_changes.c.kind, thread_changes.c.ids)
    .where(
        thread_changes.c.thread_id == bindparam("thread_id"),
        thread_changes.c.version > bindparam("version"),
    )
    .order_by(thread_changes.c.version)
    # In the text: the point reader binds by name, and SQLite adds an OFFSET to a LIMIT.
    .limit(literal_column(str(MOST_READ)))
    .offset(literal_column("0"))
)


def change_of(row) -> ThreadChange:
    version, kind, ids = row
    return ThreadChange(
        int(version), ChangeKind(kind), tuple(int(item) for item in ids.split(",") if item)
    )
