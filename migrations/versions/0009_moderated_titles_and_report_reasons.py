"""Thread titles a moderator set, which readers no longer change; the reason of a report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "threads",
        sa.Column("title_moderated", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # Reports so far carried a free text only: it stays their note, under "other".
    op.add_column(
        "reports",
        sa.Column("category", sa.String(16), nullable=False, server_default="other"),
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN: SQLite has it since 3.35, and neither column is indexed.
    op.drop_column("reports", "category")
    op.drop_column("threads", "title_moderated")
