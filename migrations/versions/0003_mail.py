"""Mail: the outbox's recipient, replies already announced, confirmation links already sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient", sa.String(320), nullable=True))
        batch.create_index("ix_outbox_recipient", ["recipient"])
    op.create_table(
        "reply_notices",
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("queued", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_reply_notices")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_reply_notices_comment_id_comments"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "confirmation_requests",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_confirmation_requests")),
    )


def downgrade() -> None:
    op.drop_table("confirmation_requests")
    op.drop_table("reply_notices")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient")
        batch.drop_column("recipient")
