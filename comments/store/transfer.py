"""Imports, backups and restores: rows in bulk, ids kept, parents linked afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, or_, select, update

from comments.store.rows import upsert_for
from comments.tables import comments, metadata, threads


def import_thread(
    conn: Connection, site: str, uri: str, title: str, created: datetime
) -> tuple[int, bool]:
    """The thread for (site, uri), created if missing: its id, and whether it is new."""
    new_id = conn.execute(
        upsert_for(conn)(threads)
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
        upsert_for(conn)(comments)
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
