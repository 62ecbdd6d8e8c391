"""Imports: where an imported comment came from, and its parent there until it is linked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("import_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("import_parent", sa.String(255), nullable=True))
        batch.create_unique_constraint(op.f("uq_comments_import_key"), ["import_key"])


def downgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.drop_constraint(op.f("uq_comments_import_key"), type_="unique")
        batch.drop_column("import_parent")
        batch.drop_column("import_key")
