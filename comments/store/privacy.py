"""Everything stored about one email address: finding it and forgetting it."""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select, update

from comments.models import Comment
from comments.store.outbox import forget_mail_to
from comments.store.rows import comment_in
from comments.tables import bans, comments, confirmed_emails, threads


def comments_by_email(conn: Connection, email: str) -> list[tuple[Comment, str]]:
    rows = conn.execute(
        select(comments, threads.c.uri.label("thread_uri"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(func.lower(comments.c.email) == email.lower())
        .order_by(comments.c.id)
    )
    return [(comment_in(row), row.thread_uri) for row in rows]


def forget_email(conn: Connection, email: str) -> None:
    """Remove the address from bans and confirmations (the comments are handled by the caller)."""
    conn.execute(update(bans).where(bans.c.email == email.lower()).values(email=None))
    conn.execute(delete(confirmed_emails).where(confirmed_emails.c.email == email.lower()))
    forget_mail_to(conn, email)  # see # Outbox and mail
