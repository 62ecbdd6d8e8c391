"""Imports: keys scoped by the site, so any number of sites and sources import side by side.

A key was the source's own id ("isso:5", "wordpress:example.org:12"): a second Isso database
imported into another site, or a second blog on the same host, found its ids "there already" and
imported nothing. Keys are now "<site>/<source key>" ("blog.example/isso:5"), under the same
unique index; this rewrites the keys (and the parent keys an interrupted import left) of the
comments already imported, with the site of their thread.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SITE = "(SELECT threads.site FROM threads WHERE threads.id = comments.thread_id)"


def upgrade() -> None:
    # A key holds no "/" before this revision (disqus:<id>, isso:<id>, wordpress:<host>:<id>).
    for column in ("import_key", "import_parent"):
        op.execute(
            f"UPDATE comments SET {column} = {_SITE} || '/' || {column}"
            f" WHERE {column} IS NOT NULL AND {column} NOT LIKE '%/%'"
        )


def downgrade() -> None:
    # Back to the source's own keys. Two sites may hold the same one now: the first comment
    # keeps it, the others lose theirs (the old unique index would refuse them).
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, import_key, import_parent FROM comments"
            " WHERE import_key IS NOT NULL OR import_parent IS NOT NULL ORDER BY id"
        )
    ).all()
    seen: set[str] = set()
    changes = []
    for id_, key, parent in rows:
        old_key = key.split("/", 1)[-1] if key else None
        if old_key in seen:
            old_key = None
        elif old_key:
            seen.add(old_key)
        old_parent = parent.split("/", 1)[-1] if parent else None
        changes.append({"b_id": id_, "b_key": old_key, "b_parent": old_parent})
    statement = sa.text(
        "UPDATE comments SET import_key = :b_key, import_parent = :b_parent WHERE id = :b_id"
    )
    # Keys first cleared, so no row's old key meets another's new one half-way.
    conn.execute(sa.text("UPDATE comments SET import_key = NULL WHERE import_key IS NOT NULL"))
    if changes:
        conn.execute(statement, changes)
