"""Moderation: moderators, bans, audit log, reports, outbox, one-time links, confirmed emails.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("held_reason", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("edited_by_moderator", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("notify", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_index("ix_comments_email", ["email"])
        batch.create_index("ix_comments_status_created", ["status", "created"])

    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        moment("created"),
        moment("last_sign_in", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderators")),
        sa.UniqueConstraint("email", name=op.f("uq_moderators_email")),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        moment("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_key_at", "sign_in_failures", ["key", "at"])
    op.create_table(
        "bans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("ip_hash", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        moment("created"),
        moment("expires", nullable=True),
        moment("lifted", nullable=True),
        sa.Column("moderator", sa.String(320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bans")),
    )
    op.create_index("ix_bans_email", "bans", ["email"])
    op.create_index("ix_bans_ip_hash", "bans", ["ip_hash"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        moment("at"),
        sa.Column("moderator", sa.String(320), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("comment_id", sa.Integer, nullable=True),
        sa.Column("thread_id", sa.Integer, nullable=True),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_comment_id", "audit_log", ["comment_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        moment("created"),
        moment("resolved", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_reports_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("comment_id", "reporter", name=op.f("uq_reports_comment_id")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        moment("due"),
        moment("sent", nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        moment("created"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_sent_due", "outbox", ["sent", "due"])
    op.create_table(
        "used_links",
        sa.Column("digest", sa.String(64), nullable=False),
        moment("used"),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_links")),
    )
    op.create_table(
        "confirmed_emails",
        sa.Column("email", sa.String(320), nullable=False),
        moment("confirmed"),
        moment("unsubscribed", nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_confirmed_emails")),
    )


def downgrade() -> None:
    for table in (
        "confirmed_emails",
        "used_links",
        "outbox",
        "reports",
        "audit_log",
        "bans",
        "sign_in_failures",
        "moderators",
    ):
        op.drop_table(table)
    with op.batch_alter_table("comments") as batch:
        batch.drop_index("ix_comments_status_created")
        batch.drop_index("ix_comments_email")
        batch.drop_column("notify")
        batch.drop_column("edited_by_moderator")
        batch.drop_column("held_reason")
