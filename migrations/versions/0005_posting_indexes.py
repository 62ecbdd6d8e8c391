"""Indexes for the checks on every new comment: emails as compared (lower case), threads by time.

Every query finds comments by `lower(email)`, which the plain index on `email` cannot serve: the
duplicate and trusted-commenter checks scanned the whole table (16 ms on 11,000 comments, inside
the write transaction). The thread's rate limit counted the comments of its whole thread. And
whether a comment has replies (on every delete, and in the foreign key's check when a row goes)
was a scan of an index of the whole table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE/DROP INDEX, not batch mode: SQLite does both in place. (A later batch
    # migration of comments on SQLite would lose the expression index: SQLAlchemy cannot reflect
    # it to copy it. Create it again there.)
    op.drop_index("ix_comments_email", table_name="comments")
    op.create_index("ix_comments_email_lower", "comments", [sa.text("lower(email)"), "created"])
    op.create_index("ix_comments_thread_created", "comments", ["thread_id", "created"])
    op.create_index("ix_comments_parent", "comments", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_comments_parent", table_name="comments")
    op.drop_index("ix_comments_thread_created", table_name="comments")
    op.drop_index("ix_comments_email_lower", table_name="comments")
    op.create_index("ix_comments_email", "comments", ["email"])
