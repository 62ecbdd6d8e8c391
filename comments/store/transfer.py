"""Imports, backups and restores: rows in bulk, ids kept, parents linked afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, or_, select, update

from comments.store.changes import announce_everything
from comments.store.rows import upsert_for
from comments.tables import comments, metadata, threads

_LOOKUP = 500  # values per IN (...): under SQLite's limit of bound parameters


def import_threads(
    conn: Connection, site: str, wanted: list[dict[str, Any]]
) -> tuple[dict[str, int], int]:
    """The threads of `site` for these pages ({uri, title, created, closed}, one per uri),
    created if missing: their ids by uri, and how many are new. A thread that exists gets the
    title when it has none, and is closed when the source closed it (never reopened)."""
    if not wanted:
        return {}, 0
    new = conn.execute(
        upsert_for(conn)(threads)
        .on_conflict_do_nothing(index_elements=["site", "uri"])
        .returning(threads.c.id),
        [{**thread, "site": site} for thread in wanted],
    ).all()
    by_uri = {thread["uri"]: thread for thread in wanted}
    ids = {}
    for start in range(0, len(wanted), _LOOKUP):
        uris = [thread["uri"] for thread in wanted[start : start + _LOOKUP]]
        found = conn.execute(
            select(threads.c.id, threads.c.uri, threads.c.title, threads.c.closed).where(
                threads.c.site == site, threads.c.uri.in_(uris)
            )
        ).all()
        for thread_id, uri, title, closed in found:
            ids[uri] = thread_id
            source = by_uri[uri]
            changes = {}
            if source["title"] and not title:
                changes["title"] = source["title"]
            if source["closed"] and not closed:
                changes["closed"] = True
            if changes:
                conn.execute(update(threads).where(threads.c.id == thread_id).values(**changes))
    return ids, len(new)


def imported_by_key(conn: Connection, keys: list[str]) -> dict[str, tuple[int, int]]:
    """Comments imported before under these keys: key -> (comment id, thread id)."""
    found = {}
    for start in range(0, len(keys), _LOOKUP):
        chunk = keys[start : start + _LOOKUP]
        for key, id_, thread_id in conn.execute(
            select(comments.c.import_key, comments.c.id, comments.c.thread_id).where(
                comments.c.import_key.in_(chunk)
            )
        ):
            found[key] = (id_, thread_id)
    return found


def insert_imported(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert imported comments, unlinked (no parent, root 0: see link_imported), skipping
    those whose import_key is there already. Returns the thread of each new one."""
    if not rows:
        return []
    statement = (
        upsert_for(conn)(comments)
        .on_conflict_do_nothing(index_elements=["import_key"])
        .returning(comments.c.thread_id)
    )
    unlinked = [{**row, "parent_id": None, "root_id": 0} for row in rows]
    return list(conn.execute(statement, unlinked).scalars())


def move_imported(conn: Connection, moves: list[tuple[int, int, str | None]]) -> None:
    """(comment id, new thread id, its parent's import key): comments an earlier import put in
    the wrong thread go to the right one, unlinked there until link_imported. Their replies
    that stay behind lose their parent (see unlink_strays)."""
    if moves:
        conn.execute(
            update(comments)
            .where(comments.c.id == bindparam("b_id"))
            .values(
                thread_id=bindparam("b_thread"),
                import_parent=bindparam("b_parent"),
                parent_id=None,
                root_id=0,
            ),
            [
                {"b_id": id_, "b_thread": thread, "b_parent": parent}
                for id_, thread, parent in moves
            ],
        )


def unlink_strays(conn: Connection, thread_ids: list[int]) -> None:
    """In threads that comments moved out of: replies whose parent is in another thread now
    wait to be linked again (by their parent's key, as an import would link them), and every
    root is worked out again by link_imported."""
    if not thread_ids:
        return
    parent = comments.alias("parent")
    elsewhere = (
        select(parent.c.id)
        .where(parent.c.id == comments.c.parent_id, parent.c.thread_id != comments.c.thread_id)
        .exists()
    )
    key_of_parent = (
        select(parent.c.import_key).where(parent.c.id == comments.c.parent_id).scalar_subquery()
    )
    conn.execute(
        update(comments)
        .where(comments.c.thread_id.in_(thread_ids), elsewhere)
        .values(import_parent=key_of_parent, parent_id=None)
    )
    conn.execute(update(comments).where(comments.c.thread_id.in_(thread_ids)).values(root_id=0))


def refresh_statistics(conn: Connection) -> None:
    """Have the planner see the tables an import grows as they are now. PostgreSQL only: it
    plans a lookup of 500 keys in a table it never analyzed as a scan of the whole table (0.25 s
    each at 50,000 comments, against 1 ms); SQLite's planner goes by the indexes either way."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE comments, threads")


def drop_empty_threads(conn: Connection, thread_ids: list[int]) -> int:
    """Delete those of these threads that hold no comment at all (an import moved every one
    of them to the page's new address); how many went."""
    if not thread_ids:
        return 0
    announce_everything(conn)
    empty = ~select(comments.c.id).where(comments.c.thread_id == threads.c.id).exists()
    gone = conn.execute(
        delete(threads).where(threads.c.id.in_(thread_ids), empty).returning(threads.c.id)
    )
    return len(gone.all())


def unlinked_threads(conn: Connection, after: int = 0, limit: int = 100) -> list[int]:
    """Threads with imported comments not linked yet (also those an interrupted import left),
    `limit` at a time in order of id, those above `after`."""
    return list(
        conn.execute(
            select(comments.c.thread_id)
            .where(
                or_(comments.c.import_parent.is_not(None), comments.c.root_id == 0),
                comments.c.thread_id > after,
            )
            .distinct()
            .order_by(comments.c.thread_id)
            .limit(limit)
        ).scalars()
    )


def _linking_statements():
    """link_imported's statements, built once: an import links tens of thousands of threads, and
    building a statement costs more than running it."""
    in_threads = bindparam("b_ids", expanding=True)
    parent = comments.alias("parent")
    found_parent = (
        select(parent.c.id)
        .where(
            parent.c.import_key == comments.c.import_parent,
            parent.c.thread_id == comments.c.thread_id,
        )
        .scalar_subquery()
    )
    link = (
        update(comments)
        .where(comments.c.thread_id.in_(in_threads), comments.c.import_parent.is_not(None))
        .values(parent_id=found_parent, import_parent=None)
        .returning(comments.c.parent_id)
    )
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
            comments.c.thread_id.in_(in_threads),
            comments.c.root_id == 0,
            or_(comments.c.parent_id.is_(None), parent.c.root_id != 0),
        )
        .cte("tree", recursive=True)
    )
    child = comments.alias("child")
    tree = start.union_all(
        select(child.c.id, start.c.root).where(
            child.c.parent_id == start.c.id,
            child.c.root_id == 0,
        )
    )
    set_root = (
        update(comments)
        .where(comments.c.id == bindparam("b_id"))
        .values(root_id=bindparam("b_root"))
    )
    # What no walk from a root reached hangs in a loop (a -> b -> a): break it at each comment.
    unloop = (
        update(comments)
        .where(comments.c.thread_id.in_(in_threads), comments.c.root_id == 0)
        .values(parent_id=None, root_id=comments.c.id)
        .returning(comments.c.id)
    )
    return link, select(tree), set_root, unloop


LINK, ROOTS, SET_ROOT, UNLOOP = _linking_statements()


def link_imported(conn: Connection, thread_ids: list[int]) -> int:
    """Give these threads' imported comments their parent (by import key, in the same thread)
    and their root. One whose parent is missing, or that is caught in a loop of parents, becomes
    top-level; returns how many did."""
    if not thread_ids:
        return 0
    ids = {"b_ids": thread_ids}
    orphans = sum(1 for (parent_id,) in conn.execute(LINK, ids) if parent_id is None)
    roots = [{"b_id": id_, "b_root": root} for id_, root in conn.execute(ROOTS, ids)]
    if roots:
        conn.execute(SET_ROOT, roots)
    return orphans + len(conn.execute(UNLOOP, ids).all())


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
