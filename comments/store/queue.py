"""The moderation queue, its counts, and readers' reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from comments.models import (
    Comment,
    QueueFilter,
    QueueItem,
    QueueView,
    Report,
    ReportCategory,
    Status,
)
from comments.store.rows import comment_in, insert_unless_there
from comments.tables import comments, reports, threads


def queue(
    conn: Connection,
    view: QueueView,
    filters: QueueFilter,
    before: int | None,
    limit: int,
) -> tuple[list[QueueItem], bool]:
    """Newest first, `limit` comments of a moderation view, each with its context."""
    parent = comments.alias("parent")
    open_reports = (
        select(func.count())
        .where(reports.c.comment_id == comments.c.id, reports.c.resolved.is_(None))
        .scalar_subquery()
    )
    query = (
        select(
            comments,
            threads.c.site,
            threads.c.uri.label("thread_uri"),
            threads.c.title.label("thread_title"),
            threads.c.closed.label("thread_closed"),
            threads.c.title_moderated.label("thread_title_moderated"),
            threads.c.verified_only.label("thread_verified_only"),
            func.substr(parent.c.text, 1, 200).label("parent_excerpt"),
            open_reports.label("reports"),
        )
        .join(threads, threads.c.id == comments.c.thread_id)
        .outerjoin(parent, parent.c.id == comments.c.parent_id)
        .order_by(comments.c.id.desc())
        .limit(limit + 1)
    )
    if view is QueueView.PENDING:
        query = query.where(comments.c.status == Status.PENDING)
    elif view is QueueView.HIDDEN:
        query = query.where(comments.c.status == Status.HIDDEN)
    elif view is QueueView.REPORTED:
        query = query.where(open_reports > 0)
    if before is not None:
        query = query.where(comments.c.id < before)
    if filters.ids:
        query = query.where(comments.c.id.in_(filters.ids))
    if filters.site:
        query = query.where(threads.c.site == filters.site)
    if filters.thread:
        query = query.where(threads.c.uri == filters.thread)
    if filters.author:
        needle = f"%{_escape_like(filters.author.lower())}%"
        query = query.where(
            func.lower(comments.c.author).like(needle, escape="\\")
            | func.lower(comments.c.email).like(needle, escape="\\")
        )
    if filters.text:
        needle = f"%{_escape_like(filters.text.lower())}%"
        query = query.where(func.lower(comments.c.text).like(needle, escape="\\"))
    rows = conn.execute(query).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    history = _author_history(conn, [comment_in(row) for row in rows])
    items = []
    for row in rows:
        comment = comment_in(row)
        approved, hidden = history.get(_author_key(comment), (0, 0))
        items.append(
            QueueItem(
                comment=comment,
                site=row.site,
                thread_uri=row.thread_uri,
                thread_title=row.thread_title,
                thread_closed=row.thread_closed,
                parent_excerpt=row.parent_excerpt,
                reports=row.reports,
                approved_before=approved,
                hidden_before=hidden,
                thread_title_moderated=row.thread_title_moderated,
                thread_verified_only=row.thread_verified_only,
            )
        )
    return items, has_more


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _author_key(comment: Comment) -> tuple[str, str]:
    if comment.reader_id is not None:  # the person, whatever address they came from
        return ("reader", str(comment.reader_id))
    return ("email", comment.email.lower()) if comment.email else ("ip", comment.ip_hash)


def _author_history(
    conn: Connection, found: list[Comment]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(approved, hidden) comments per author (by verified reader, else by email, else by
    address hash), in at most three queries."""
    keys = {_author_key(comment) for comment in found}
    columns = {
        "reader": comments.c.reader_id,
        "email": func.lower(comments.c.email),  # ix_comments_email_lower
        "ip": comments.c.ip_hash,
    }
    counted = [Status.APPROVED, Status.HIDDEN]
    history: dict[tuple[str, str], list[int]] = {}
    for kind, column in columns.items():
        values = {value for key_kind, value in keys if key_kind == kind}
        if not values:
            continue
        if kind == "reader":
            values = {int(value) for value in values}
        where = [column.in_(values), comments.c.status.in_(counted)]
        if kind != "reader":  # a verified reader's comments are their record, not their address's
            where.append(comments.c.reader_id.is_(None))
        rows = conn.execute(
            select(column, comments.c.status, func.count())
            .where(*where)
            .group_by(column, comments.c.status)
        )
        for value, status, count in rows:
            history.setdefault((kind, str(value)), [0, 0])[status == Status.HIDDEN] = count
    return {key: (value[0], value[1]) for key, value in history.items()}


def resolve_reports(conn: Connection, comment_id: int, now: datetime) -> None:
    conn.execute(
        update(reports)
        .where(reports.c.comment_id == comment_id, reports.c.resolved.is_(None))
        .values(resolved=now)
    )


def add_report(
    conn: Connection, comment_id: int, reporter: str, report: Report, now: datetime
) -> bool:
    """Record a reader's report; False when this reader already reported this comment."""
    return insert_unless_there(
        conn,
        reports,
        ["comment_id", "reporter"],
        comment_id=comment_id,
        reporter=reporter,
        category=report.category.value,
        reason=report.note,
        created=now,
    )


def open_report_count(conn: Connection, comment_id: int) -> int:
    return conn.execute(
        select(func.count()).where(reports.c.comment_id == comment_id, reports.c.resolved.is_(None))
    ).scalar_one()


def report_reasons(conn: Connection, comment_ids: Iterable[int]) -> dict[int, list[Report]]:
    """The open reports of each comment, grouped by category (spam first, other last)."""
    order = {category: rank for rank, category in enumerate(ReportCategory)}
    rows = conn.execute(
        select(reports.c.comment_id, reports.c.category, reports.c.reason)
        .where(reports.c.comment_id.in_(list(comment_ids)), reports.c.resolved.is_(None))
        .order_by(reports.c.id)
    )
    found: dict[int, list[Report]] = {}
    for comment_id, category, note in rows:
        found.setdefault(comment_id, []).append(Report(ReportCategory(category), note))
    for listed in found.values():
        listed.sort(key=lambda report: order[report.category])  # stable: oldest first in each
    return found


def queue_counts(conn: Connection) -> dict[QueueView, int]:
    """How many comments wait in the views a moderator clears: pending, reported, hidden."""
    by_status = dict(
        conn.execute(
            select(comments.c.status, func.count())
            .where(comments.c.status.in_([Status.PENDING, Status.HIDDEN]))
            .group_by(comments.c.status)
        ).all()
    )
    reported = conn.execute(
        select(func.count(func.distinct(reports.c.comment_id))).where(reports.c.resolved.is_(None))
    ).scalar_one()
    return {
        QueueView.PENDING: by_status.get(Status.PENDING.value, 0),
        QueueView.REPORTED: reported,
        QueueView.HIDDEN: by_status.get(Status.HIDDEN.value, 0),
    }
