"""The audit log: one line per moderator action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from comments.models import Action, AuditEntry
from comments.tables import audit_log, comments


def record(
    conn: Connection,
    *,
    at: datetime,
    moderator: str,
    action: Action,
    comment_id: int | None = None,
    thread_id: int | None = None,
    before: str | None = None,
    after: str | None = None,
    note: str | None = None,
    reader_id: int | None = None,
) -> None:
    """One line of the audit log, keyed by the verified reader it concerns: the one named, else
    the comment's."""
    if reader_id is None and comment_id is not None:
        reader_id = conn.execute(
            select(comments.c.reader_id).where(comments.c.id == comment_id)
        ).scalar()
    conn.execute(
        insert(audit_log).values(
            at=at,
            moderator=moderator,
            action=action.value,
            comment_id=comment_id,
            thread_id=thread_id,
            before=before,
            after=after,
            note=note,
            reader_id=reader_id,
        )
    )


def audit_entries(
    conn: Connection,
    before: int | None,
    limit: int,
    comment_id: int | None = None,
    reader_id: int | None = None,
) -> tuple[list[AuditEntry], bool]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if comment_id is not None:
        query = query.where(audit_log.c.comment_id == comment_id)
    if reader_id is not None:  # ix_audit_log_reader_id
        query = query.where(audit_log.c.reader_id == reader_id)
    rows = conn.execute(query).all()
    entries = [AuditEntry(**{**row._mapping, "action": Action(row.action)}) for row in rows[:limit]]
    return entries, len(rows) > limit
