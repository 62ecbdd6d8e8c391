"""Reply notifications: confirmed addresses, confirmation requests, notices sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, exists, select, update

from comments.store.rows import insert_unless_there, upsert_for
from comments.tables import confirmation_requests, confirmed_emails, reply_notices


def email_confirmation(conn: Connection, email: str) -> bool:
    return conn.execute(
        select(
            exists().where(
                confirmed_emails.c.email == email.lower(),
                confirmed_emails.c.unsubscribed.is_(None),
            )
        )
    ).scalar_one()


def confirm_email(conn: Connection, email: str, now: datetime) -> None:
    """The owner of the address wants reply notifications (again)."""
    statement = upsert_for(conn)(confirmed_emails).values(email=email.lower(), confirmed=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["email"], set_={"confirmed": now, "unsubscribed": None}
        )
    )


def unsubscribe_email(conn: Connection, email: str, now: datetime) -> None:
    conn.execute(
        update(confirmed_emails)
        .where(confirmed_emails.c.email == email.lower(), confirmed_emails.c.unsubscribed.is_(None))
        .values(unsubscribed=now)
    )


def ask_confirmation(conn: Connection, email: str, now: datetime, last_before: datetime) -> bool:
    """Note that the address is sent a confirmation link now, unless it was since `last_before`.

    True when the link should go out. One statement, so two comments posted at once by the same
    address send one link.
    """
    statement = upsert_for(conn)(confirmation_requests).values(email=email.lower(), sent=now)
    asked = conn.execute(
        statement.on_conflict_do_update(
            index_elements=["email"],
            set_={"sent": now},
            where=confirmation_requests.c.sent < last_before,
        ).returning(confirmation_requests.c.email)
    ).first()
    return asked is not None


def prune_confirmation_requests(conn: Connection, sent_before: datetime) -> None:
    conn.execute(delete(confirmation_requests).where(confirmation_requests.c.sent < sent_before))


def note_reply_notice(conn: Connection, comment_id: int, now: datetime) -> bool:
    """Remember that a reply was announced; False when it was announced before."""
    return insert_unless_there(
        conn, reply_notices, ["comment_id"], comment_id=comment_id, queued=now
    )
