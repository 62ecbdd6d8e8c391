"""Every SQL statement, one module per concern. Functions take a connection first, return models,
and never commit.

Callers name the module as well as the function (`store.bans.active_ban(conn, ...)`), so a call
site says where its SQL lives, and a newcomer finds the SQL of a feature by the feature's name:

- threads: threads and their comments, the posting path and the thread pages
- best: the thread pages in the best order (by votes)
- changes: what each version of a thread changed, for live streams
- defenses: what the posting defenses count (rate limits, repeated text, known authors)
- queue: the moderation queue, its counts, readers' reports
- audit: the audit log
- bans: bans by email or address
- privacy: everything stored about one email address
- readers: verified readers, their reserved names, their votes
- accounts: moderators, their sessions' epochs, failed sign-ins
- outbox: mail and webhooks waiting to be sent
- digests: comments waiting for a moderators' digest, and the digest waiting for them
- links: one-time mail links already used
- subscriptions: reply notifications (confirmed addresses, requests, notices sent)
- transfer: imports, backups and restores
- feeds: the newest approved comments
- sites: sites as a whole (the `comments sites` commands)
- surges: threads' slower modes under a surge, the pressure they follow, spent bot challenges
- rows: rows into models, shared by the modules above
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from comments.store import (
    accounts,
    audit,
    bans,
    best,
    changes,
    defenses,
    digests,
    feeds,
    links,
    outbox,
    privacy,
    queue,
    readers,
    sites,
    subscriptions,
    surges,
    threads,
    transfer,
)

__all__ = [
    "accounts",
    "audit",
    "bans",
    "best",
    "changes",
    "defenses",
    "digests",
    "feeds",
    "links",
    "outbox",
    "ping",
    "privacy",
    "queue",
    "readers",
    "sites",
    "subscriptions",
    "surges",
    "threads",
    "transfer",
]


def ping(conn: Connection) -> None:
    """Whether the database answers: raises when it does not."""
    conn.execute(select(1))
