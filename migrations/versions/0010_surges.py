"""Surges: a thread's automatic (or pinned) slower mode, and the bot challenges already spent.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_surges",
        sa.Column("thread_id", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hot_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pinned", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_thread_surges")),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_surges_thread_id_threads"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_thread_surges_hot_until", "thread_surges", ["hot_until"])
    op.create_table(
        "spent_challenges",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_spent_challenges")),
    )
    op.create_index("ix_spent_challenges_expires", "spent_challenges", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_spent_challenges_expires", table_name="spent_challenges")
    op.drop_table("spent_challenges")
    op.drop_index("ix_thread_surges_hot_until", table_name="thread_surges")
    op.drop_table("thread_surges")
