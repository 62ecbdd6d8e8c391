"""The audit log: one line per moderator action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from comments.models import Action, AuditEntry
from comments.tables import audit_log


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
) -> None:
    """One line of the audit log."""
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
        )
    )


def audit_entries(
    conn: Connection, before: int | None, limit: int, comment_id: int | None = None
) -> tuple[list[AuditEntry], bool]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if comment_id is not None:
        query = query.where(audit_log.c.comment_id == comment_id)
    rows = conn.execute(query).all()
    entries = [AuditEntry(**{**row._mapping, "action": Action(row.action)}) for row in rows[:limit]]
    return entries, len(rows) > limit
