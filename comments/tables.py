"""The schema as SQLAlchemy Core tables (created only through the Alembic migrations)."""

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and SQLite (text) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        value = value.astimezone(UTC)
        # SQLite compares these as text: store them naive, in one format, so order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# One naming convention, so constraint names match on SQLite and PostgreSQL and migrations can
# refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

STATUSES = ("approved", "pending", "hidden", "deleted")

threads = Table(
    "threads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(255), nullable=False),
    Column("uri", String(2048), nullable=False),
    Column("title", String(512), nullable=False, server_default=""),
    # Bumped by every write in the thread: the cache key and ETag of its pages.
    Column("version", Integer, nullable=False, server_default="1"),
    # Approved comments, kept here so counts for a whole index page are one indexed query.
    Column("comment_count", Integer, nullable=False, server_default="0"),
    Column("closed", Boolean, nullable=False, server_default=false()),
    Column("created", UTCDateTime(), nullable=False),
    UniqueConstraint("site", "uri"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("thread_id", Integer, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Integer, ForeignKey("comments.id"), nullable=True),
    # The top-level ancestor (itself for a top-level comment): a page of the thread is every
    # comment whose root is on the page, one indexed query whatever the depth.
    Column("root_id", Integer, nullable=False),
    Column("author", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("website", String(2048), nullable=True),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("edited", UTCDateTime(), nullable=True),
    Column("ip_hash", String(64), nullable=False),
    Column("avatar", String(32), nullable=False),
    CheckConstraint("status IN ('approved', 'pending', 'hidden', 'deleted')", name="status_known"),
    Index("ix_comments_thread_root", "thread_id", "root_id", "status"),
    Index("ix_comments_thread_top", "thread_id", "parent_id", "created", "id"),
    Index("ix_comments_ip_created", "ip_hash", "created"),
)
