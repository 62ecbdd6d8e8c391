"""Verified readers (sign-in by mail link), their reserved names, their votes; threads that take
only verified readers; bans and the audit log keyed by reader.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("site", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("name_key", sa.String(200), nullable=True),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readers")),
        sa.UniqueConstraint("site", "email", name=op.f("uq_readers_site")),
        sa.UniqueConstraint("site", "name_key", name=op.f("uq_readers_site_name_key")),
    )
    op.create_table(
        "votes",
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("reader_id", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("comment_id", "reader_id", name=op.f("pk_votes")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_votes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"],
            ["readers.id"],
            name=op.f("fk_votes_reader_id_readers"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_votes_reader", "votes", ["reader_id"])
    # Plain ADD COLUMNs, not a batch: rebuilding comments on SQLite would lose its expression
    # index (migration 0005). No foreign key on reader_id: erasing a reader clears it.
    op.add_column("comments", sa.Column("reader_id", sa.Integer, nullable=True))
    op.add_column("comments", sa.Column("badge", sa.String(16), nullable=True))
    op.add_column("comments", sa.Column("votes", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_comments_reader", "comments", ["reader_id", "created"])
    # Rebuilding threads on SQLite would drop it, and its comments with it (ON DELETE CASCADE).
    op.add_column(
        "threads",
        sa.Column("verified_only", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("bans", sa.Column("reader_id", sa.Integer, nullable=True))
    op.create_index("ix_bans_reader_id", "bans", ["reader_id"])
    op.add_column("audit_log", sa.Column("reader_id", sa.Integer, nullable=True))
    op.create_index("ix_audit_log_reader_id", "audit_log", ["reader_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_reader_id", "audit_log")
    op.drop_column("audit_log", "reader_id")
    op.drop_index("ix_bans_reader_id", "bans")
    op.drop_column("bans", "reader_id")
    op.drop_column("threads", "verified_only")
    op.drop_index("ix_comments_reader", "comments")
    for column in ("votes", "badge", "reader_id"):  # SQLite 3.35+ drops a column in place
        op.drop_column("comments", column)
    op.drop_index("ix_votes_reader", "votes")
    op.drop_table("votes")
    op.drop_table("readers")
