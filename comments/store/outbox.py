"""The outbox of mail and webhooks: queueing, claiming with a lease, retrying."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, exists, insert, select, update

from comments.models import OutboxItem, OutboxKind
from comments.tables import confirmation_requests, outbox


def _outbox_item(row) -> OutboxItem:
    values = dict(row._mapping)
    values["kind"] = OutboxKind(values["kind"])
    return OutboxItem(**values)


def queue_message(
    conn: Connection,
    kind: OutboxKind,
    payload: str,
    now: datetime,
    recipient: str | None = None,
) -> int:
    """Put a message in the outbox, due at once; it is sent only if this transaction commits."""
    return conn.execute(
        insert(outbox)
        .values(
            kind=kind.value,
            payload=payload,
            due=now,
            created=now,
            recipient=recipient.lower() if recipient else None,
        )
        .returning(outbox.c.id)
    ).scalar_one()


def _is_due(kinds: Iterable[OutboxKind], now: datetime, max_attempts: int):
    return (
        outbox.c.sent.is_(None),
        outbox.c.due <= now,
        outbox.c.attempts < max_attempts,
        outbox.c.kind.in_([kind.value for kind in kinds]),
    )


def has_due(
    conn: Connection, kinds: Iterable[OutboxKind], now: datetime, max_attempts: int
) -> bool:
    """Whether anything waits; a read, so an idle poll takes no write lock."""
    return conn.execute(select(exists().where(*_is_due(kinds, now, max_attempts)))).scalar_one()


def claim_due(
    conn: Connection,
    kinds: Iterable[OutboxKind],
    now: datetime,
    lease_until: datetime,
    limit: int,
    max_attempts: int,
) -> list[OutboxItem]:
    """Take up to `limit` due messages for one sender: each counts as an attempt and is leased.

    The lease moves `due` to `lease_until`, so no other sender takes the message while this one
    sends it; if this one dies, the message is due again when the lease ends. On PostgreSQL,
    rows another sender is claiming at this very moment are skipped, not waited for; on SQLite
    the write transaction serializes senders.
    """
    ids = (
        conn.execute(
            select(outbox.c.id)
            .where(*_is_due(kinds, now, max_attempts))
            .order_by(outbox.c.due, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    rows = conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(attempts=outbox.c.attempts + 1, due=lease_until)
        .returning(*outbox.c)
    ).all()
    return sorted((_outbox_item(row) for row in rows), key=lambda item: item.id)


def mark_sent(conn: Connection, item_id: int, now: datetime) -> None:
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(sent=now, last_error=None))


def retry_later(conn: Connection, item_id: int, error: str, due: datetime) -> None:
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(last_error=error, due=due))


def give_up(conn: Connection, item_id: int, error: str, attempts: int) -> None:
    """No more attempts: the row stays, with its error, for the owner to see."""
    conn.execute(
        update(outbox).where(outbox.c.id == item_id).values(last_error=error, attempts=attempts)
    )


def list_outbox(conn: Connection, limit: int = 100) -> list[OutboxItem]:
    """The newest messages, sent or not."""
    rows = conn.execute(select(outbox).order_by(outbox.c.id.desc()).limit(limit))
    return [_outbox_item(row) for row in rows]


def prune_outbox(conn: Connection, sent_before: datetime) -> None:
    """Forget messages sent long ago; unsent ones (and given-up ones) stay."""
    conn.execute(delete(outbox).where(outbox.c.sent.is_not(None), outbox.c.sent < sent_before))


def forget_mail_to(conn: Connection, email: str) -> None:
    """Erase queued and sent mail to an address, and when it was last asked to confirm."""
    conn.execute(delete(outbox).where(outbox.c.recipient == email.lower()))
    conn.execute(
        delete(confirmation_requests).where(confirmation_requests.c.email == email.lower())
    )
