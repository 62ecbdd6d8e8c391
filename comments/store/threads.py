"""Threads and their comments: the posting path and the thread pages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    Connection,
    Insert,
    Integer,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from comments.models import (
    RESET,
    Change,
    Comment,
    Cursor,
    Sort,
    Status,
    Thread,
    change_of_status,
)
from comments.store import changes
from comments.store.rows import THREAD_COLUMNS, comment_of, thread_of
from comments.tables import comments, threads


def get_thread(conn: Connection, site: str, uri: str) -> Thread | None:
    row = conn.execute(
        select(*THREAD_COLUMNS).where(threads.c.site == site, threads.c.uri == uri)
    ).first()
    return thread_of(row) if row else None


# The hottest statement of all, run for every thread page served (by db.PointReader).
THREAD_VERSION = select(threads.c.version).where(
    threads.c.site == bindparam("site"), threads.c.uri == bindparam("uri")
)


# Each thread's count and version, for a list of addresses (api counts, awaited in the event loop).
COUNTS_AND_VERSIONS = select(threads.c.uri, threads.c.comment_count, threads.c.version).where(
    threads.c.site == bindparam("site"), threads.c.uri.in_(bindparam("uris", expanding=True))
)


def get_thread_by_id(conn: Connection, thread_id: int) -> Thread:
    return thread_of(conn.execute(select(*THREAD_COLUMNS).where(threads.c.id == thread_id)).one())


def find_thread(conn: Connection, thread_id: int) -> Thread | None:
    row = conn.execute(select(*THREAD_COLUMNS).where(threads.c.id == thread_id)).first()
    return thread_of(row) if row else None


def _ensure_thread_statement(dialect_insert):
    new = dialect_insert(threads).values(
        site=bindparam("site"),
        uri=bindparam("uri"),
        title=bindparam("title"),
        created=bindparam("created"),
    )
    # On a conflict the row is updated, hence locked, even when its title stays as it was. A
    # reader's page gives the title only while there is none, and never one a moderator set.
    untitled = (threads.c.title == "") & threads.c.title_moderated.is_(false())
    title = case((untitled, new.excluded.title), else_=threads.c.title)
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
    return thread_of(row)


def set_thread_title(conn: Connection, thread_id: int, title: str) -> None:
    """A moderator's title: readers' pages no longer change it."""
    conn.execute(
        update(threads).where(threads.c.id == thread_id).values(title=title, title_moderated=True)
    )


# Built once: an import refreshes thousands of threads, and building a statement costs more
# than running it.
LOCK_THREADS = (
    select(threads.c.id)
    .where(threads.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(threads.c.id)  # the same order in every writer: no deadlock between two
    .with_for_update()
)
RECOUNT_THREADS = (
    update(threads)
    .where(threads.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        version=threads.c.version + 1,
        comment_count=select(func.count())
        .select_from(comments)
        .where(comments.c.thread_id == threads.c.id, comments.c.status == Status.APPROVED)
        .scalar_subquery(),
    )
    .returning(threads.c.id, threads.c.site, threads.c.uri, threads.c.version)
)


def refresh_thread(conn: Connection, thread_id: int, change: Change = RESET) -> None:
    """After a write in a thread other than a new comment (see count_new_comment): bump its
    version, recount its visible comments, and record what changed for live streams."""
    refresh_threads(conn, [thread_id], change)


def refresh_threads(conn: Connection, thread_ids: list[int], change: Change = RESET) -> None:
    """refresh_thread for many threads at once.

    The row locks come first so that, on PostgreSQL, the recount runs in a snapshot taken after
    every earlier writer of these threads committed; counting inside the UPDATE that waited for
    the lock would miss the comment of the writer it waited for.
    """
    if thread_ids:
        lock_threads(conn, thread_ids)
        moved = conn.execute(RECOUNT_THREADS, {"b_ids": thread_ids}).all()
        changes.record(conn, [tuple(row) for row in moved], change)


COUNT_NEW_COMMENT = (
    update(threads)
    .where(threads.c.id == bindparam("b_thread_id"))
    .values(
        version=threads.c.version + 1,
        comment_count=threads.c.comment_count + bindparam("b_visible"),
    )
    .returning(*THREAD_COLUMNS)
)


def count_new_comment(
    conn: Connection, thread_id: int, comment_id: int, is_visible: bool
) -> Thread:
    """After a new comment in a thread locked by ensure_thread: bump the thread's version and,
    if the comment is visible, its count; the thread as it is now.

    refresh_thread's recount would cost a scan of the whole thread on every post. Adding one is
    as exact: the row has been locked since ensure_thread, so no other writer of the thread
    committed in between, and the count was right before this comment.
    """
    row = conn.execute(
        COUNT_NEW_COMMENT, {"b_thread_id": thread_id, "b_visible": int(is_visible)}
    ).one()
    thread = thread_of(row)
    moved = (thread.id, thread.site, thread.uri, thread.version)
    changes.record(conn, [moved], change_of_status(comment_id, False, is_visible))
    return thread


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
    "reader_id",
    "badge",
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
    reader_id: int | None = None,
    badge: str | None = None,
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
        reader_id=reader_id,
        badge=badge,
    )
    if parent is None:
        # A top-level comment is its own root: one statement picks its id and uses it twice.
        row = conn.execute(INSERT_TOP_LEVEL[conn.dialect.name], values).one()
    else:
        values.update(parent_id=parent.id, root_id=parent.root_id)
        row = conn.execute(INSERT_REPLY, values).one()
    return comment_of(row)


GET_COMMENT = select(comments).where(comments.c.id == bindparam("comment_id"))


def get_comment(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(GET_COMMENT, {"comment_id": comment_id}).first()
    return comment_of(row) if row else None


def update_comment(conn: Connection, comment_id: int, **values) -> Comment:
    if "status" in values:
        values["status"] = Status(values["status"]).value
    row = conn.execute(
        update(comments).where(comments.c.id == comment_id).values(**values).returning(*comments.c)
    ).one()
    return comment_of(row)


def _page_statement(descending: bool, cursor: str | None):
    """page_of_thread's statement for one order and one kind of cursor (None, "inclusive",
    "exclusive")."""
    top = comments.alias("top")
    thread_id = bindparam("b_thread_id")
    order = (top.c.created.desc(), top.c.id.desc()) if descending else (top.c.created, top.c.id)
    roots = (
        select(top.c.id)
        .where(top.c.thread_id == thread_id, top.c.parent_id.is_(None), has_visible(top, thread_id))
        .order_by(*order)
        .limit(bindparam("b_limit"))
    )
    if cursor is not None:
        position = tuple_(top.c.created, top.c.id)
        at = tuple_(
            bindparam("b_created", type_=top.c.created.type), bindparam("b_id", type_=Integer())
        )
        if cursor == "inclusive":
            roots = roots.where(position <= at if descending else position >= at)
        else:
            roots = roots.where(position < at if descending else position > at)
    return select(comments).where(
        comments.c.thread_id == thread_id, comments.c.root_id.in_(roots.scalar_subquery())
    )


def page_of_thread(
    conn: Connection,
    thread_id: int,
    sort: Sort,
    limit: int,
    after: Cursor | None,
    *,
    backwards: bool = False,
    inclusive: bool = False,
) -> tuple[list[Comment], bool]:
    """Up to `limit` top-level comments with everything below them, in one indexed query.

    They follow `after` in the sort's order (from it, with `inclusive`), or with `backwards`
    precede it. A top-level comment is listed when anything in its subtree is approved (it may
    show as a placeholder). Returns the comments in no particular order, and whether more pages
    follow in the direction read.
    """
    descending = (sort is Sort.NEWEST) != backwards
    cursor = None if after is None else "inclusive" if inclusive else "exclusive"
    parameters = {"b_thread_id": thread_id, "b_limit": limit + 1}
    if after is not None:
        parameters |= {"b_created": after.created, "b_id": after.id}
    rows = conn.execute(PAGES[descending, cursor], parameters).all()
    return _trimmed([comment_of(row) for row in rows], descending, limit)


def _trimmed(found: list[Comment], descending: bool, limit: int) -> tuple[list[Comment], bool]:
    """A page read with one top-level comment more than asked, less that one and its subtree,
    and whether it was there (then more pages follow)."""
    top_level = sorted(
        (comment for comment in found if comment.parent_id is None),
        key=lambda comment: (comment.created, comment.id),
        reverse=descending,
    )
    if len(top_level) <= limit:
        return found, False
    dropped = top_level[limit].id
    return [comment for comment in found if comment.root_id != dropped], True


def has_visible(top, thread_id: int):
    """Something in the subtree of this top-level comment is approved."""
    member = comments.alias("member")
    return exists().where(
        member.c.thread_id == thread_id,
        member.c.root_id == top.c.id,
        member.c.status == Status.APPROVED,
    )


# Built once: building a page's statement cost more than running it (as for ROOT_AND_PLACE).
# The orders of time: the best order pages by place (store.best).
TIME_SORTS = (Sort.OLDEST, Sort.NEWEST)
PAGES = {
    (descending, cursor): _page_statement(descending, cursor)
    for descending in (False, True)
    for cursor in (None, "inclusive", "exclusive")
}


def _root_and_place_statement(sort: Sort):
    asked, root, other = comments.alias("asked"), comments.alias("root"), comments.alias("other")
    thread_id = bindparam("b_thread_id")
    position = tuple_(other.c.created, other.c.id)
    cursor = tuple_(root.c.created, root.c.id)
    before = (
        select(func.count())
        .select_from(other)
        .where(
            other.c.thread_id == thread_id,
            other.c.parent_id.is_(None),
            position > cursor if sort is Sort.NEWEST else position < cursor,
        )
        .scalar_subquery()
    )
    return (
        select(*root.c, before.label("before"))
        .select_from(asked.join(root, root.c.id == asked.c.root_id))
        .where(asked.c.id == bindparam("b_comment_id"), asked.c.thread_id == thread_id)
    )


# Built once, one per order: building it cost 1.5 ms a permalink, more than running it.
ROOT_AND_PLACE = {sort: _root_and_place_statement(sort) for sort in TIME_SORTS}


def _permalink_page_statement(sort: Sort):
    """permalink_page's statement: ROOT_AND_PLACE as a common table expression, and the page
    that opens at its top-level comment read from there, as page_of_thread reads a page from an
    inclusive cursor. Both subqueries stand alone (neither refers to the outer row), so each is
    run once, not once per comment of the thread."""
    placed = _root_and_place_statement(sort).cte("placed")
    top = comments.alias("top")
    thread_id = bindparam("b_thread_id")
    descending = sort is Sort.NEWEST
    order = (top.c.created.desc(), top.c.id.desc()) if descending else (top.c.created, top.c.id)
    # The cursor as two scalar subqueries, not a join with `placed`: PostgreSQL then starts the
    # index scan at the cursor, where a join made it read the thread from its first comment up
    # to it (5,000 rows for the middle of a 10,000-comment thread, 4 ms of a 4.3 ms statement).
    at = tuple_(select(placed.c.created).scalar_subquery(), select(placed.c.id).scalar_subquery())
    position = tuple_(top.c.created, top.c.id)
    roots = (
        select(top.c.id)
        .where(
            top.c.thread_id == thread_id,
            top.c.parent_id.is_(None),
            position <= at if descending else position >= at,
            has_visible(top, thread_id),
        )
        .order_by(*order)
        .limit(bindparam("b_limit"))
    )
    before = select(placed.c.before).scalar_subquery().label("before")
    return select(comments, before).where(
        comments.c.thread_id == thread_id, comments.c.root_id.in_(roots.scalar_subquery())
    )


PERMALINK_PAGES = {sort: _permalink_page_statement(sort) for sort in TIME_SORTS}


def permalink_page(
    conn: Connection, thread_id: int, comment_id: int, sort: Sort, limit: int
) -> tuple[list[Comment], bool, int] | None:
    """The page that opens with the top-level comment above `comment_id`, read as page_of_thread
    reads one from it (inclusive), and how many top-level comments precede that one: a
    permalink in the round trips of a first page.

    None when that statement finds nothing to show (the comment is not in this thread, or nothing
    visible follows it): root_and_place and page_of_thread then tell those apart.
    """
    parameters = {"b_thread_id": thread_id, "b_comment_id": comment_id, "b_limit": limit + 1}
    rows = conn.execute(PERMALINK_PAGES[sort], parameters).all()
    if not rows:
        return None
    found, before_it = [], 0
    for row in rows:
        values = dict(row._mapping)
        before_it = values.pop("before")
        found.append(Comment(**{**values, "status": Status(values["status"])}))
    return (*_trimmed(found, sort is Sort.NEWEST, limit), before_it)


def root_and_place(
    conn: Connection, thread_id: int, comment_id: int, sort: Sort
) -> tuple[Comment, int] | None:
    """The top-level comment above a comment of this thread, and how many top-level comments
    come before it in the sort's order (None: no such comment in this thread). One statement:
    a permalink's page costs one round trip more than a first page, not three.

    Every top-level comment is counted, shown or not: the count then runs on the index alone
    (ix_comments_thread_top), about a millisecond for 10,000, where checking each one for a
    visible subtree costs ten times that.
    """
    row = conn.execute(
        ROOT_AND_PLACE[sort], {"b_thread_id": thread_id, "b_comment_id": comment_id}
    ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    before_it = values.pop("before")
    return Comment(**{**values, "status": Status(values["status"])}), before_it


def counts(conn: Connection, site: str, uris: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(
        select(threads.c.uri, threads.c.comment_count).where(
            threads.c.site == site, threads.c.uri.in_(list(uris))
        )
    )
    return {uri: count for uri, count in rows}


def counts_and_versions(
    conn: Connection, site: str, uris: Iterable[str]
) -> dict[str, tuple[int, int]]:
    """(visible comments, version) of each of the site's threads among `uris`."""
    rows = conn.execute(
        select(threads.c.uri, threads.c.comment_count, threads.c.version).where(
            threads.c.site == site, threads.c.uri.in_(list(uris))
        )
    )
    return {uri: (count, version) for uri, count, version in rows}


def get_comments(conn: Connection, ids: Iterable[int]) -> list[Comment]:
    rows = conn.execute(
        select(comments).where(comments.c.id.in_(list(ids))).order_by(comments.c.id)
    )
    return [comment_of(row) for row in rows]


def has_replies(conn: Connection, comment_id: int) -> bool:
    return conn.execute(select(exists().where(comments.c.parent_id == comment_id))).scalar_one()


def delete_comment_row(conn: Connection, comment_id: int) -> None:
    conn.execute(delete(comments).where(comments.c.id == comment_id))


def set_thread_switch(conn: Connection, thread_id: int, **value: bool) -> None:
    """Set one of a thread's switches a moderator turns: `closed`, `verified_only`."""
    assert set(value) <= {"closed", "verified_only"}, value
    conn.execute(update(threads).where(threads.c.id == thread_id).values(**value))


def lock_thread(conn: Connection, thread_id: int) -> None:
    lock_threads(conn, [thread_id])


def lock_threads(conn: Connection, thread_ids: list[int]) -> None:
    conn.execute(LOCK_THREADS, {"b_ids": thread_ids})
