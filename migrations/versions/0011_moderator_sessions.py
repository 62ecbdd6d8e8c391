"""Moderators' sessions kept on the server, so signing out ends one for good.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderator_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("moderator_id", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_sessions")),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_moderator_sessions_moderator_id_moderators"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_moderator_sessions_moderator", "moderator_sessions", ["moderator_id"])


def downgrade() -> None:
    op.drop_index("ix_moderator_sessions_moderator", "moderator_sessions")
    op.drop_table("moderator_sessions")
