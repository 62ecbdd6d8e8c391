"""Every SQL statement. Functions take a connection first, return models, and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from comments.models import (
    Action,
    AuditEntry,
    Ban,
    Comment,
    Cursor,
    FeedEntry,
    Moderator,
    OutboxItem,
    OutboxKind,
    QueueFilter,
    QueueItem,
    QueueView,
    Sort,
    Status,
    Thread,
)
from comments.tables import (
    audit_log,
    bans,
    comments,
    confirmation_requests,
    confirmed_emails,
    metadata,
    moderators,
    outbox,
    reply_notices,
    reports,
    sign_in_failures,
    threads,
    used_links,
)

THREAD_COLUMNS = (
    threads.c.id,
    threads.c.site,
    threads.c.uri,
    threads.c.title,
    threads.c.comment_count.label("count"),
    threads.c.closed,
    threads.c.version,
)


def _thread(row) -> Thread:
    return Thread(**row._mapping)


def _comment(row) -> Comment:
    values = dict(row._mapping)
    values["status"] = Status(values["status"])
    return Comment(**values)


def _insert_for(conn: Connection):
    """The dialect's insert, which has ON CONFLICT (each dialect spells it in its own module)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _insert_unless_there(conn: Connection, table, key: list[str], **values) -> bool:
    """Insert the row unless one with the same `key` is there: whether it was inserted."""
    inserted = conn.execute(
        _insert_for(conn)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(table.c[key[0]])
    ).first()
    return inserted is not None


def ping(conn: Connection) -> None:
    conn.execute(select(1))


def get_thread(conn: Connection, site: str, uri: str) -> Thread | None:
    row = conn.execute(
        select(*THREAD_COLUMNS).where(threads.c.site == site, threads.c.uri == uri)
    ).first()
    return _thread(row) if row else None


# The hottest statement of all, run for every thread page served (by db.PointReader).
THREAD_VERSION = select(threads.c.version).where(
    threads.c.site == bindparam("site"), threads.c.uri == bindparam("uri")
)


def get_thread_by_id(conn: Connection, thread_id: int) -> Thread:
    return _thread(conn.execute(select(*THREAD_COLUMNS).where(threads.c.id == thread_id)).one())


def _ensure_thread_statement(dialect_insert):
    new = dialect_insert(threads).values(
        site=bindparam("site"),
        uri=bindparam("uri"),
        title=bindparam("title"),
        created=bindparam("created"),
    )
    # On a conflict the row is updated, hence locked, even when its title stays as it was.
    title = case((threads.c.title == "", new.excluded.title), else_=threads.c.title)
    return new.on_conflict_do_update(
        index_elements=["site", "uri"], set_={"title": title}
    ).returning(*THREAD_COLUMNS)


# Posting runs these for every comment: built once, they are compiled once (per dialect) too.
ENSURE_THREAD = {
    "postgresql": _ensure_thread_statement(postgresql.insert),
    "sqlite": _ensure_thread_statement(sqlite.insert),
}


def ensure_thread(conn: Connection, site: str, uri: str, title: str, now: datetime) -> Thread:
    """The thread for (site, uri), created on its first comment and locked for this write; its
    title is set if it had none.

    One statement: on PostgreSQL, the upsert's update locks the row before the new comment's
    foreign key check takes its share lock on it, which avoids two writers each holding a share
    lock and waiting for the other's (a deadlock); another writer of the thread waits here until
    this transaction ends. On SQLite, writers are one at a time anyway.
    """
    row = conn.execute(
        ENSURE_THREAD[conn.dialect.name],
        {"site": site, "uri": uri, "title": title, "created": now},
    ).one()
    return _thread(row)


def refresh_thread(conn: Connection, thread_id: int) -> None:
    """After a write in a thread other than a new comment (see count_new_comment): bump its
    version and recount its visible comments.

    The row lock comes first so that, on PostgreSQL, the recount runs in a snapshot taken after
    every earlier writer of this thread committed; counting inside the UPDATE that waited for the
    lock would miss the comment of the writer it waited for.
    """
    conn.execute(select(threads.c.id).where(threads.c.id == thread_id).with_for_update())
    visible = (
        select(func.count())
        .select_from(comments)
        .where(comments.c.thread_id == thread_id, comments.c.status == Status.APPROVED)
        .scalar_subquery()
    )
    conn.execute(
        update(threads)
        .where(threads.c.id == thread_id)
        .values(version=threads.c.version + 1, comment_count=visible)
    )


COUNT_NEW_COMMENT = (
    update(threads)
    .where(threads.c.id == bindparam("b_thread_id"))
    .values(
        version=threads.c.version + 1,
        comment_count=threads.c.comment_count + bindparam("b_visible"),
    )
    .returning(*THREAD_COLUMNS)
)


def count_new_comment(conn: Connection, thread_id: int, is_visible: bool) -> Thread:
    """After a new comment in a thread locked by ensure_thread: bump the thread's version and,
    if the comment is visible, its count; the thread as it is now.

    refresh_thread's recount would cost a scan of the whole thread on every post. Adding one is
    as exact: the row has been locked since ensure_thread, so no other writer of the thread
    committed in between, and the count was right before this comment.
    """
    row = conn.execute(
        COUNT_NEW_COMMENT, {"b_thread_id": thread_id, "b_visible": int(is_visible)}
    ).one()
    return _thread(row)


# A new comment's columns; a top-level comment is its own root, a reply has its parent's.
NEW_COMMENT_COLUMNS = (
    "thread_id",
    "author",
    "email",
    "website",
    "text",
    "html",
    "status",
    "created",
    "ip_hash",
    "avatar",
    "held_reason",
    "notify",
)
# The values come with each execution, as parameters: nothing to build per call.
INSERT_REPLY = insert(comments).returning(*comments.c)


def _insert_top_level(next_id) -> Insert:
    """INSERT ... SELECT with the id chosen in the statement itself, so root_id can repeat it;
    `next_id` selects what the database would give the row."""
    new = next_id.subquery("new")
    values = [bindparam(name, type_=comments.c[name].type) for name in NEW_COMMENT_COLUMNS]
    return (
        insert(comments)
        .from_select(["id", "root_id", *NEW_COMMENT_COLUMNS], select(new.c.id, new.c.id, *values))
        .returning(*comments.c)
    )


INSERT_TOP_LEVEL = {
    "postgresql": _insert_top_level(
        select(func.nextval(func.pg_get_serial_sequence("comments", "id")).label("id"))
    ),
    # What SQLite picks itself for an INTEGER PRIMARY KEY without AUTOINCREMENT; writers are
    # one at a time, so no other one can take it in between.
    "sqlite": _insert_top_level(
        select((func.coalesce(func.max(comments.c.id), 0) + 1).label("id"))
    ),
}


def insert_comment(
    conn: Connection,
    *,
    thread_id: int,
    parent: Comment | None,
    author: str | None,
    email: str | None,
    website: str | None,
    text: str,
    html: str,
    status: Status,
    created: datetime,
    ip_hash: str,
    avatar: str,
    held_reason: str | None = None,
    notify: bool = False,
) -> Comment:
    values = dict(
        thread_id=thread_id,
        author=author,
        email=email,
        website=website,
        text=text,
        html=html,
        status=status.value,
        created=created,
        ip_hash=ip_hash,
        avatar=avatar,
        held_reason=held_reason,
        notify=notify,
    )
    if parent is None:
        # A top-level comment is its own root: one statement picks its id and uses it twice.
        row = conn.execute(INSERT_TOP_LEVEL[conn.dialect.name], values).one()
    else:
        values.update(parent_id=parent.id, root_id=parent.root_id)
        row = conn.execute(INSERT_REPLY, values).one()
    return _comment(row)


GET_COMMENT = select(comments).where(comments.c.id == bindparam("comment_id"))


def get_comment(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(GET_COMMENT, {"comment_id": comment_id}).first()
    return _comment(row) if row else None


def update_comment(conn: Connection, comment_id: int, **values) -> Comment:
    if "status" in values:
        values["status"] = Status(values["status"]).value
    row = conn.execute(
        update(comments).where(comments.c.id == comment_id).values(**values).returning(*comments.c)
    ).one()
    return _comment(row)


def page_of_thread(
    conn: Connection, thread_id: int, sort: Sort, limit: int, after: Cursor | None
) -> tuple[list[Comment], bool]:
    """Up to `limit` top-level comments with everything below them, in one indexed query.

    A top-level comment is listed when anything in its subtree is approved (it may show as a
    placeholder). Returns the comments in no particular order, and whether more pages follow.
    """
    top = comments.alias("top")
    member = comments.alias("member")
    has_visible = exists().where(
        member.c.thread_id == thread_id,
        member.c.root_id == top.c.id,
        member.c.status == Status.APPROVED,
    )
    newest = sort is Sort.NEWEST
    order = (top.c.created.desc(), top.c.id.desc()) if newest else (top.c.created, top.c.id)
    roots = (
        select(top.c.id)
        .where(top.c.thread_id == thread_id, top.c.parent_id.is_(None), has_visible)
        .order_by(*order)
        .limit(limit + 1)
    )
    if after is not None:
        position = tuple_(top.c.created, top.c.id)
        cursor = tuple_(after.created, after.id)
        roots = roots.where(position < cursor if newest else position > cursor)
    rows = conn.execute(
        select(comments).where(
            comments.c.thread_id == thread_id, comments.c.root_id.in_(roots.scalar_subquery())
        )
    ).all()
    found = [_comment(row) for row in rows]
    top_level = sorted(
        (comment for comment in found if comment.parent_id is None),
        key=lambda comment: (comment.created, comment.id),
        reverse=newest,
    )
    if len(top_level) <= limit:
        return found, False
    dropped = top_level[limit].id
    return [comment for comment in found if comment.root_id != dropped], True


def counts(conn: Connection, site: str, uris: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(
        select(threads.c.uri, threads.c.comment_count).where(
            threads.c.site == site, threads.c.uri.in_(list(uris))
        )
    )
    return {uri: count for uri, count in rows}


def recent_comments(
    conn: Connection, since: datetime, *, ip_hash: str | None = None, thread_id: int | None = None
) -> tuple[int, datetime | None]:
    """How many comments came (from this address, or into this thread) since then, and when the
    first of them did: what the rate limits count."""
    where = [comments.c.created >= since]
    if ip_hash is not None:
        where.append(comments.c.ip_hash == ip_hash)
    if thread_id is not None:
        where.append(comments.c.thread_id == thread_id)
    count, first = conn.execute(
        select(func.count(), func.min(comments.c.created)).where(*where)
    ).one()
    return count, first


# The first key of PostgreSQL's two-key advisory locks that stand for an address ("cm").
ADDRESS_LOCK_CLASS = 0x636D


def lock_address(conn: Connection, ip_hash: str) -> None:
    """Make this address's other writers wait until this transaction ends (PostgreSQL).

    Their rate count then runs after this one's comment is committed and sees it. On SQLite,
    writers are one at a time already (BEGIN IMMEDIATE).
    """
    if conn.dialect.name != "postgresql":
        return
    key = int(ip_hash[:8], 16) - 2**31  # a signed 32-bit int; a rare clash only adds a wait
    conn.execute(select(func.pg_advisory_xact_lock(ADDRESS_LOCK_CLASS, key)))


# Moderation


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
    history = _author_history(conn, [_comment_of(row) for row in rows])
    items = []
    for row in rows:
        comment = _comment_of(row)
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
            )
        )
    return items, has_more


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _comment_of(row) -> Comment:
    """The comment part of a wider row."""
    values = {column.name: row._mapping[column] for column in comments.c}
    values["status"] = Status(values["status"])
    return Comment(**values)


def _author_key(comment: Comment) -> tuple[str, str]:
    return ("email", comment.email.lower()) if comment.email else ("ip", comment.ip_hash)


def _author_history(
    conn: Connection, found: list[Comment]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(approved, hidden) comments per author (by email, else by address hash), in two queries."""
    emails = {comment.email.lower() for comment in found if comment.email}
    hashes = {comment.ip_hash for comment in found if not comment.email}
    counted = [Status.APPROVED, Status.HIDDEN]
    history: dict[tuple[str, str], list[int]] = {}
    if emails:
        rows = conn.execute(
            select(func.lower(comments.c.email), comments.c.status, func.count())
            .where(func.lower(comments.c.email).in_(emails), comments.c.status.in_(counted))
            .group_by(func.lower(comments.c.email), comments.c.status)
        )
        for email, status, count in rows:
            history.setdefault(("email", email), [0, 0])[status == Status.HIDDEN] = count
    if hashes:
        rows = conn.execute(
            select(comments.c.ip_hash, comments.c.status, func.count())
            .where(comments.c.ip_hash.in_(hashes), comments.c.status.in_(counted))
            .group_by(comments.c.ip_hash, comments.c.status)
        )
        for ip_hash, status, count in rows:
            history.setdefault(("ip", ip_hash), [0, 0])[status == Status.HIDDEN] = count
    return {key: (value[0], value[1]) for key, value in history.items()}


def get_comments(conn: Connection, ids: Iterable[int]) -> list[Comment]:
    rows = conn.execute(
        select(comments).where(comments.c.id.in_(list(ids))).order_by(comments.c.id)
    )
    return [_comment(row) for row in rows]


def has_replies(conn: Connection, comment_id: int) -> bool:
    return conn.execute(select(exists().where(comments.c.parent_id == comment_id))).scalar_one()


def delete_comment_row(conn: Connection, comment_id: int) -> None:
    conn.execute(delete(comments).where(comments.c.id == comment_id))


def set_thread_closed(conn: Connection, thread_id: int, closed: bool) -> None:
    conn.execute(update(threads).where(threads.c.id == thread_id).values(closed=closed))


def lock_thread(conn: Connection, thread_id: int) -> None:
    conn.execute(select(threads.c.id).where(threads.c.id == thread_id).with_for_update())


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


def resolve_reports(conn: Connection, comment_id: int, now: datetime) -> None:
    conn.execute(
        update(reports)
        .where(reports.c.comment_id == comment_id, reports.c.resolved.is_(None))
        .values(resolved=now)
    )


def add_report(
    conn: Connection, comment_id: int, reporter: str, reason: str, now: datetime
) -> bool:
    """Record a reader's report; False when this reader already reported this comment."""
    return _insert_unless_there(
        conn,
        reports,
        ["comment_id", "reporter"],
        comment_id=comment_id,
        reporter=reporter,
        reason=reason,
        created=now,
    )


def open_report_count(conn: Connection, comment_id: int) -> int:
    return conn.execute(
        select(func.count()).where(reports.c.comment_id == comment_id, reports.c.resolved.is_(None))
    ).scalar_one()


def report_reasons(conn: Connection, comment_ids: Iterable[int]) -> dict[int, list[str]]:
    rows = conn.execute(
        select(reports.c.comment_id, reports.c.reason)
        .where(reports.c.comment_id.in_(list(comment_ids)), reports.c.resolved.is_(None))
        .order_by(reports.c.id)
    )
    found: dict[int, list[str]] = {}
    for comment_id, reason in rows:
        found.setdefault(comment_id, []).append(reason)
    return found


# Bans


def _ban(row) -> Ban:
    return Ban(**row._mapping)


def add_ban(
    conn: Connection,
    *,
    email: str | None,
    ip_hash: str | None,
    reason: str,
    expires: datetime | None,
    moderator: str,
    now: datetime,
) -> Ban:
    row = conn.execute(
        insert(bans)
        .values(
            email=email.lower() if email else None,
            ip_hash=ip_hash,
            reason=reason,
            expires=expires,
            moderator=moderator,
            created=now,
        )
        .returning(*bans.c)
    ).one()
    return _ban(row)


def _active_ban_statement(*, by_email: bool):
    who = bans.c.ip_hash == bindparam("ip_hash")
    if by_email:
        who = who | (bans.c.email == bindparam("email"))
    in_force = bans.c.expires.is_(None) | (bans.c.expires > bindparam("now"))
    return select(bans).where(who, bans.c.lifted.is_(None), in_force).limit(1)


# Run for every new comment, so built once: {by email too: statement}.
ACTIVE_BAN = {by_email: _active_ban_statement(by_email=by_email) for by_email in (False, True)}


def active_ban(conn: Connection, email: str | None, ip_hash: str, now: datetime) -> Ban | None:
    """A ban in force against this email or address, if any."""
    parameters = {"ip_hash": ip_hash, "now": now, "email": email.lower() if email else None}
    row = conn.execute(ACTIVE_BAN[bool(email)], parameters).first()
    return _ban(row) if row else None


def list_bans(conn: Connection, now: datetime) -> list[Ban]:
    rows = conn.execute(
        select(bans)
        .where(bans.c.lifted.is_(None), (bans.c.expires.is_(None)) | (bans.c.expires > now))
        .order_by(bans.c.id.desc())
    )
    return [_ban(row) for row in rows]


def lift_ban(conn: Connection, ban_id: int, now: datetime) -> Ban | None:
    row = conn.execute(
        update(bans)
        .where(bans.c.id == ban_id, bans.c.lifted.is_(None))
        .values(lifted=now)
        .returning(*bans.c)
    ).first()
    return _ban(row) if row else None


# Defenses in the posting path


def _same_text_statement(*, by_email: bool):
    # Each side of the OR has its index (ix_comments_ip_created, ix_comments_email_lower).
    who = comments.c.ip_hash == bindparam("ip_hash")
    if by_email:
        who = who | (func.lower(comments.c.email) == bindparam("email"))
    recent = comments.c.created >= bindparam("since"), comments.c.text == bindparam("text")
    return select(exists().where(who, *recent))


def _has_approved_statement(*, by_email: bool):
    if by_email:
        who = func.lower(comments.c.email) == bindparam("email")  # ix_comments_email_lower
    else:
        who = comments.c.ip_hash == bindparam("ip_hash")
    return select(exists().where(who, comments.c.status == Status.APPROVED))


# The defenses in the posting path, built once: {by email: statement}.
SAME_TEXT_SINCE = {by_email: _same_text_statement(by_email=by_email) for by_email in (False, True)}
HAS_APPROVED_COMMENT = {
    by_email: _has_approved_statement(by_email=by_email) for by_email in (False, True)
}


def has_same_text_since(
    conn: Connection, text: str, email: str | None, ip_hash: str, since: datetime
) -> bool:
    parameters = {"ip_hash": ip_hash, "since": since, "text": text}
    if email:
        parameters["email"] = email.lower()
    return conn.execute(SAME_TEXT_SINCE[bool(email)], parameters).scalar_one()


def has_approved_comment(conn: Connection, email: str | None, ip_hash: str) -> bool:
    """Whether this commenter (by email, else by address hash) was ever approved."""
    parameters = {"email": email.lower()} if email else {"ip_hash": ip_hash}
    return conn.execute(HAS_APPROVED_COMMENT[bool(email)], parameters).scalar_one()


# Privacy


def comments_by_email(conn: Connection, email: str) -> list[tuple[Comment, str]]:
    rows = conn.execute(
        select(comments, threads.c.uri.label("thread_uri"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(func.lower(comments.c.email) == email.lower())
        .order_by(comments.c.id)
    )
    return [(_comment_of(row), row.thread_uri) for row in rows]


def bans_by_email(conn: Connection, email: str) -> list[Ban]:
    rows = conn.execute(select(bans).where(bans.c.email == email.lower()).order_by(bans.c.id))
    return [_ban(row) for row in rows]


def email_confirmation(conn: Connection, email: str) -> bool:
    return conn.execute(
        select(
            exists().where(
                confirmed_emails.c.email == email.lower(),
                confirmed_emails.c.unsubscribed.is_(None),
            )
        )
    ).scalar_one()


def forget_email(conn: Connection, email: str) -> None:
    """Remove the address from bans and confirmations (the comments are handled by the caller)."""
    conn.execute(update(bans).where(bans.c.email == email.lower()).values(email=None))
    conn.execute(delete(confirmed_emails).where(confirmed_emails.c.email == email.lower()))
    forget_mail_to(conn, email)  # see # Outbox and mail


# Moderators


def _moderator(row) -> Moderator:
    return Moderator(**row._mapping)


def add_moderator(conn: Connection, email: str, now: datetime) -> Moderator:
    row = conn.execute(
        insert(moderators).values(email=email, created=now).returning(*moderators.c)
    ).one()
    return _moderator(row)


def get_moderator(conn: Connection, moderator_id: int) -> Moderator | None:
    row = conn.execute(select(moderators).where(moderators.c.id == moderator_id)).first()
    return _moderator(row) if row else None


def get_moderator_by_email(conn: Connection, email: str) -> Moderator | None:
    row = conn.execute(select(moderators).where(moderators.c.email == email)).first()
    return _moderator(row) if row else None


def list_moderators(conn: Connection) -> list[Moderator]:
    return [_moderator(row) for row in conn.execute(select(moderators).order_by(moderators.c.id))]


def remove_moderator(conn: Connection, email: str) -> bool:
    removed = conn.execute(
        delete(moderators).where(moderators.c.email == email).returning(moderators.c.id)
    ).first()
    return removed is not None


def set_password(conn: Connection, moderator_id: int, password_hash: str) -> Moderator:
    """Store a new password hash; the epoch moves on, ending older sessions and links."""
    row = conn.execute(
        update(moderators)
        .where(moderators.c.id == moderator_id)
        .values(password_hash=password_hash, session_epoch=moderators.c.session_epoch + 1)
        .returning(*moderators.c)
    ).one()
    return _moderator(row)


def bump_epoch(conn: Connection, moderator_id: int) -> None:
    conn.execute(
        update(moderators)
        .where(moderators.c.id == moderator_id)
        .values(session_epoch=moderators.c.session_epoch + 1)
    )


def signed_in(conn: Connection, moderator_id: int, now: datetime) -> None:
    conn.execute(update(moderators).where(moderators.c.id == moderator_id).values(last_sign_in=now))


def count_failures(conn: Connection, key: str, since: datetime) -> int:
    return conn.execute(
        select(func.count()).where(sign_in_failures.c.key == key, sign_in_failures.c.at >= since)
    ).scalar_one()


def add_failure(conn: Connection, key: str, now: datetime) -> None:
    conn.execute(insert(sign_in_failures).values(key=key, at=now))


def moderator_emails(conn: Connection) -> list[str]:
    return list(conn.execute(select(moderators.c.email).order_by(moderators.c.id)).scalars())


# Admin


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


# Outbox and mail


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


def use_link(conn: Connection, digest: str, now: datetime) -> bool:
    """Remember a one-time link as used; False when it was used already."""
    return _insert_unless_there(conn, used_links, ["digest"], digest=digest, used=now)


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


def confirm_email(conn: Connection, email: str, now: datetime) -> None:
    """The owner of the address wants reply notifications (again)."""
    statement = _insert_for(conn)(confirmed_emails).values(email=email.lower(), confirmed=now)
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
    statement = _insert_for(conn)(confirmation_requests).values(email=email.lower(), sent=now)
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
    return _insert_unless_there(
        conn, reply_notices, ["comment_id"], comment_id=comment_id, queued=now
    )


# Import and export (comments/importer.py, comments/backup.py, comments/feeds.py)


def import_thread(
    conn: Connection, site: str, uri: str, title: str, created: datetime
) -> tuple[int, bool]:
    """The thread for (site, uri), created if missing: its id, and whether it is new."""
    new_id = conn.execute(
        _insert_for(conn)(threads)
        .values(site=site, uri=uri, title=title, created=created)
        .on_conflict_do_nothing(index_elements=["site", "uri"])
        .returning(threads.c.id)
    ).scalar_one_or_none()
    if new_id is not None:
        return new_id, True
    thread_id, current = conn.execute(
        select(threads.c.id, threads.c.title).where(threads.c.site == site, threads.c.uri == uri)
    ).one()
    if title and not current:
        conn.execute(update(threads).where(threads.c.id == thread_id).values(title=title))
    return thread_id, False


def insert_imported(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert imported comments, unlinked (no parent, root 0: see link_imported), skipping
    those whose import_key is there already. Returns the thread of each new one."""
    if not rows:
        return []
    statement = (
        _insert_for(conn)(comments)
        .on_conflict_do_nothing(index_elements=["import_key"])
        .returning(comments.c.thread_id)
    )
    unlinked = [{**row, "parent_id": None, "root_id": 0} for row in rows]
    return list(conn.execute(statement, unlinked).scalars())


def unlinked_threads(conn: Connection) -> list[int]:
    """Threads with imported comments not linked yet (also those an interrupted import left)."""
    return list(
        conn.execute(
            select(comments.c.thread_id)
            .where(or_(comments.c.import_parent.is_not(None), comments.c.root_id == 0))
            .distinct()
            .order_by(comments.c.thread_id)
        ).scalars()
    )


def link_imported(conn: Connection, thread_id: int) -> int:
    """Give the thread's imported comments their parent (by import key, in the same thread) and
    their root. One whose parent is missing, or that is caught in a loop of parents, becomes
    top-level; returns how many did."""
    parent = comments.alias("parent")
    found_parent = (
        select(parent.c.id)
        .where(
            parent.c.import_key == comments.c.import_parent,
            parent.c.thread_id == comments.c.thread_id,
        )
        .scalar_subquery()
    )
    linked = conn.execute(
        update(comments)
        .where(comments.c.thread_id == thread_id, comments.c.import_parent.is_not(None))
        .values(parent_id=found_parent, import_parent=None)
        .returning(comments.c.parent_id)
    ).all()
    orphans = sum(1 for (parent_id,) in linked if parent_id is None)

    # Roots, top down: start from the unlinked comments that are top-level or whose parent has
    # its root already, then walk down to their replies (a recursive CTE, on both databases).
    start = (
        select(
            comments.c.id,
            case((comments.c.parent_id.is_(None), comments.c.id), else_=parent.c.root_id).label(
                "root"
            ),
        )
        .select_from(comments.outerjoin(parent, parent.c.id == comments.c.parent_id))
        .where(
            comments.c.thread_id == thread_id,
            comments.c.root_id == 0,
            or_(comments.c.parent_id.is_(None), parent.c.root_id != 0),
        )
        .cte("tree", recursive=True)
    )
    child = comments.alias("child")
    tree = start.union_all(
        select(child.c.id, start.c.root).where(
            child.c.thread_id == thread_id,
            child.c.parent_id == start.c.id,
            child.c.root_id == 0,
        )
    )
    roots = [{"b_id": id_, "b_root": root} for id_, root in conn.execute(select(tree))]
    if roots:
        conn.execute(
            update(comments)
            .where(comments.c.id == bindparam("b_id"))
            .values(root_id=bindparam("b_root")),
            roots,
        )
    # What no walk from a root reached hangs in a loop (a -> b -> a): break it at each comment.
    looped = conn.execute(
        update(comments)
        .where(comments.c.thread_id == thread_id, comments.c.root_id == 0)
        .values(parent_id=None, root_id=comments.c.id)
        .returning(comments.c.id)
    ).all()
    return orphans + len(looped)


def start_snapshot(conn: Connection) -> None:
    """Make this (new, read-only) transaction see one moment of the whole database.

    SQLite's read transactions do that already; PostgreSQL's default gives each statement its
    own snapshot, so an export could pair comments with threads from different moments.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def rows_of(conn: Connection, table_name: str) -> Iterator[dict[str, Any]]:
    """Every row of a table, by primary key, fetched a thousand at a time."""
    table = metadata.tables[table_name]
    result = conn.execute(
        select(table).order_by(*table.primary_key.columns).execution_options(yield_per=1000)
    )
    names = [str(column.name) for column in table.columns]  # plain str, not quoted_name
    for row in result:
        yield dict(zip(names, row, strict=True))


def row_counts(conn: Connection) -> dict[str, int]:
    """How many rows each table holds, for the tables that hold any."""
    found = {}
    for table in metadata.sorted_tables:
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            found[table.name] = count
    return found


def insert_rows(conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Rows as they were, ids included."""
    if rows:
        conn.execute(insert(metadata.tables[table_name]), rows)


def set_parents(conn: Connection, pairs: list[tuple[int, int]]) -> None:
    """(comment id, parent id) links for replies restored before their parent."""
    if pairs:
        conn.execute(
            update(comments)
            .where(comments.c.id == bindparam("b_id"))
            .values(parent_id=bindparam("b_parent")),
            [{"b_id": id_, "b_parent": parent_id} for id_, parent_id in pairs],
        )


def fix_sequences(conn: Connection) -> None:
    """After rows came in with their ids: PostgreSQL's sequences go on from the largest one
    (SQLite takes the largest rowid plus one by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or not key[0].autoincrement or key[0].type.python_type is not int:
            continue
        largest = conn.execute(select(func.max(key[0]))).scalar_one()
        conn.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, key[0].name),
                    largest or 1,
                    largest is not None,
                )
            )
        )


def approved_recent(
    conn: Connection, site: str, thread_id: int | None, limit: int
) -> list[FeedEntry]:
    """The newest approved comments of a site, or of one of its threads, newest first."""
    labelled = [column.label(f"in_thread_{column.name}") for column in THREAD_COLUMNS]
    query = (
        select(comments, *labelled)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(threads.c.site == site, comments.c.status == Status.APPROVED)
        .order_by(comments.c.created.desc(), comments.c.id.desc())
        .limit(limit)
    )
    if thread_id is not None:
        query = query.where(comments.c.thread_id == thread_id)
    entries = []
    for row in conn.execute(query):
        values = row._mapping
        thread = {column.name: values[f"in_thread_{column.name}"] for column in THREAD_COLUMNS}
        entries.append(FeedEntry(_comment_of(row), Thread(**thread)))
    return entries
