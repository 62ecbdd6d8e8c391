"""Thread keys as the web names a page: every thread's URI rewritten by validate.uri, and the
threads that turn out to be one page merged.

`/post` and `/post/`, `/post/index.html`, `/%7euser/` and `/~user/`, `/a/./b/` and `/a/b/` were
separate threads; now each is one. Threads that meet on one key are merged: the oldest (lowest
id) stays and every comment of the others joins it; its count is recounted; its version passes
every merged thread's, so no page cached by version is served again; it is closed if any of them
was; it keeps its title, or else the first one not empty.

Query strings stay in the keys, every parameter (sorted, escaped one way): a migration knows no
site's COMMENTS_SITE_QUERY_PARAMETERS, and dropping them would merge `/?p=1` with `/?p=2` for
good. A key with a parameter the site does not list is reached by no page; it was no different
before (the embed sent no query), and `comments sites move` can still rename it.

Imports validate.uri rather than copying it: the function is pure (a string in, a string out),
and it is idempotent, so a later change of the rule can come with its own migration that runs
it again. Downgrading keeps the new keys: merged threads cannot be told apart again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from comments.errors import Problem
from comments.validate import uri as thread_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The columns this migration touches, as they are at 0005 (not as tables.py may have them later).
threads = sa.table(
    "threads",
    sa.column("id", sa.Integer),
    sa.column("site", sa.String),
    sa.column("uri", sa.String),
    sa.column("title", sa.String),
    sa.column("version", sa.Integer),
    sa.column("comment_count", sa.Integer),
    sa.column("closed", sa.Boolean),
)
comments = sa.table(
    "comments",
    sa.column("id", sa.Integer),
    sa.column("thread_id", sa.Integer),
    sa.column("status", sa.String),
)


def new_key(uri: str) -> str:
    try:
        return thread_key(uri)  # every query parameter kept
    except Problem:
        return uri  # what cannot be a key now stays as it was: nothing is lost


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            threads.c.id,
            threads.c.site,
            threads.c.uri,
            threads.c.title,
            threads.c.version,
            threads.c.closed,
        ).order_by(threads.c.id)
    ).all()
    groups: dict[tuple[str, str], list] = {}
    for row in rows:
        groups.setdefault((row.site, new_key(row.uri)), []).append(row)
    for (_site, key), group in groups.items():
        if len(group) == 1 and group[0].uri == key:
            continue
        merge(conn, group, key)


def merge(conn, group: list, key: str) -> None:
    """The group's threads (oldest first) become the first one, at `key`."""
    survivor, merged = group[0], [row.id for row in group[1:]]
    if merged:
        conn.execute(
            sa.update(comments)
            .where(comments.c.thread_id.in_(merged))
            .values(thread_id=survivor.id)
        )
        # Before the survivor takes the key: one of them may hold it.
        conn.execute(sa.delete(threads).where(threads.c.id.in_(merged)))
    visible = (
        sa.select(sa.func.count())
        .select_from(comments)
        .where(comments.c.thread_id == survivor.id, comments.c.status == "approved")
        .scalar_subquery()
    )
    conn.execute(
        sa.update(threads)
        .where(threads.c.id == survivor.id)
        .values(
            uri=key,
            comment_count=visible,
            version=max(row.version for row in group) + 1,
            closed=any(row.closed for row in group),
            title=next((row.title for row in group if row.title), ""),
        )
    )


def downgrade() -> None:
    pass  # the keys stay normalized: merged threads cannot be split again
