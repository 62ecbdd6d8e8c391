"""Moderators' mail that scales: comments waiting for a digest, one waiting digest per address.

Revision ID: 0011
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WAITING_DIGEST = "kind = 'digest' AND attempts = 0 AND sent IS NULL"


def upgrade() -> None:
    op.create_table(
        "moderator_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_notices")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_moderator_notices_comment_id_comments"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_moderator_notices_recipient_digest", "moderator_notices", ["recipient", "digest_id"]
    )
    op.create_index("ix_moderator_notices_comment", "moderator_notices", ["comment_id"])
    # Plain CREATE INDEX: SQLite and PostgreSQL both take a partial unique index in place.
    op.create_index(
        "ux_outbox_waiting_digest",
        "outbox",
        ["recipient"],
        unique=True,
        sqlite_where=sa.text(WAITING_DIGEST),
        postgresql_where=sa.text(WAITING_DIGEST),
    )


def downgrade() -> None:
    op.drop_index("ux_outbox_waiting_digest", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE kind = 'digest'")
    op.drop_index("ix_moderator_notices_comment", table_name="moderator_notices")
    op.drop_index("ix_moderator_notices_recipient_digest", table_name="moderator_notices")
    op.drop_table("moderator_notices")
