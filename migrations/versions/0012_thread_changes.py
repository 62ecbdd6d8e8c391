"""What each version of a thread changed, for live streams.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_changes",
        sa.Column("thread_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ids", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("thread_id", "version", name=op.f("pk_thread_changes")),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_changes_thread_id_threads"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("thread_changes")
