"""Rows into models, and the dialect helpers every store module shares."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from comments.models import Comment, Status, Thread
from comments.tables import comments, threads

THREAD_COLUMNS = (
    threads.c.id,
    threads.c.site,
    threads.c.uri,
    threads.c.title,
    threads.c.comment_count.label("count"),
    threads.c.closed,
    threads.c.version,
    threads.c.created,
    threads.c.title_moderated,
    threads.c.verified_only,
)


def thread_of(row) -> Thread:
    return Thread(**row._mapping)


def comment_of(row) -> Comment:
    values = dict(row._mapping)
    values["status"] = Status(values["status"])
    return Comment(**values)


def upsert_for(conn: Connection):
    """The dialect's insert, which has ON CONFLICT (each dialect spells it in its own module)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def insert_unless_there(conn: Connection, table, key: list[str], **values) -> bool:
    """Insert the row unless one with the same `key` is there: whether it was inserted."""
    inserted = conn.execute(
        upsert_for(conn)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(table.c[key[0]])
    ).first()
    return inserted is not None


def comment_in(row) -> Comment:
    """The comment part of a wider row."""
    values = {column.name: row._mapping[column] for column in comments.c}
    values["status"] = Status(values["status"])
    return Comment(**values)
