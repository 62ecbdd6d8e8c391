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
    func,
    text,
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
    # A moderator set the title: the titles readers' pages send no longer change it.
    Column("title_moderated", Boolean, nullable=False, server_default=false()),
    # Moderators let only signed-in (verified) readers comment here, whatever the site allows.
    Column("verified_only", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("site", "uri"),
)

# Readers who signed in by a link mailed to them (comments/readers.py): one per site and email.
# The name is theirs on the site: `name_key` is its confusable- and case-insensitive skeleton
# (comments/names.py), unique per site, and anonymous comments may not use it.
readers = Table(
    "readers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(255), nullable=False),
    Column("email", String(320), nullable=False),  # lower case
    Column("name", String(200), nullable=True),
    Column("name_key", String(200), nullable=True),
    # Bumped by "sign out everywhere": every token signed before stops working.
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_sign_in", UTCDateTime(), nullable=True),
    UniqueConstraint("site", "email"),
    UniqueConstraint("site", "name_key", name="uq_readers_site_name_key"),
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
    # Why a pending comment waits: 'pre', 'trusted', 'links', 'words', 'fast', 'banned',
    # 'reported', ... shown to moderators in the queue.
    Column("held_reason", String(32), nullable=True),
    Column("edited_by_moderator", Boolean, nullable=False, server_default=false()),
    # The author asked to be mailed replies (sent only once the address is confirmed).
    Column("notify", Boolean, nullable=False, server_default=false()),
    # Imports: where the comment came from ("disqus:<id>", "wordpress:<blog>:<id>", "isso:<id>"),
    # so importing a file again adds nothing; and its parent's key there, until the import links
    # it (a reply may come before its parent in the file).
    Column("import_key", String(255), nullable=True, unique=True),
    Column("import_parent", String(255), nullable=True),
    # The verified reader who wrote it (NULL: anonymous, or the reader erased themselves), the
    # badge they carried then ('moderator', 'author'), and its upvotes (table votes), kept here
    # so a page's votes come with its rows and are cached with it. No foreign key: erasing a
    # reader clears it (readers.erase), as SQLite cannot add one to a table without rebuilding it.
    Column("reader_id", Integer, nullable=True),
    Column("badge", String(16), nullable=True),
    Column("votes", Integer, nullable=False, server_default="0"),
    CheckConstraint("status IN ('approved', 'pending', 'hidden', 'deleted')", name="status_known"),
    Index("ix_comments_thread_root", "thread_id", "root_id", "status"),
    Index("ix_comments_thread_top", "thread_id", "parent_id", "created", "id"),
    Index("ix_comments_ip_created", "ip_hash", "created"),
    Index("ix_comments_status_created", "status", "created"),
    Index("ix_comments_thread_created", "thread_id", "created"),  # the thread's rate limit
    Index("ix_comments_parent", "parent_id"),  # replies of a comment; the foreign key's check
    Index("ix_comments_reader", "reader_id", "created"),  # a reader's own page, erasure
)

# One upvote per verified reader per comment.
votes = Table(
    "votes",
    metadata,
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("reader_id", Integer, ForeignKey("readers.id", ondelete="CASCADE"), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
    Index("ix_votes_reader", "reader_id"),
)
# Emails are compared in lower case (the duplicate and trusted-commenter checks, privacy).
# SQLAlchemy cannot reflect an expression index on SQLite: see migration 0005.
Index("ix_comments_email_lower", func.lower(comments.c.email), comments.c.created)

moderators = Table(
    "moderators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    # argon2id; NULL until the moderator follows the sign-in link and chooses a password.
    Column("password_hash", String(255), nullable=True),
    # Bumped on sign-out-everywhere and password change: older session cookies stop working.
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_sign_in", UTCDateTime(), nullable=True),
)

# Sign-in attempts of the last 15 minutes, per (account, network) and per network: written
# before the password is checked, and taken back when it was right (comments/accounts.py).
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(128), nullable=False),  # hashed: net:<address> or acct:<email>:net:...
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_sign_in_failures_key_at", "key", "at"),
)

# A moderator's sessions in force: the cookie names one, and signing out deletes it, so a copy
# of the cookie is worthless from then on.
moderator_sessions = Table(
    "moderator_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # random; the signed cookie carries it
    Column(
        "moderator_id", Integer, ForeignKey("moderators.id", ondelete="CASCADE"), nullable=False
    ),
    Column("created", UTCDateTime(), nullable=False),
    Column("expires", UTCDateTime(), nullable=False),
    Index("ix_moderator_sessions_moderator", "moderator_id"),
)

bans = Table(
    "bans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=True),
    Column("ip_hash", String(64), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created", UTCDateTime(), nullable=False),
    Column("expires", UTCDateTime(), nullable=True),
    Column("lifted", UTCDateTime(), nullable=True),
    Column("moderator", String(320), nullable=False),
    # The verified reader banned, when the comment banned from was theirs: their email is banned
    # too, so the ban follows them to any network.
    Column("reader_id", Integer, nullable=True),
    Index("ix_bans_email", "email"),
    Index("ix_bans_ip_hash", "ip_hash"),
    Index("ix_bans_reader_id", "reader_id"),
)

# Who did what, when, with the text before and after. Plain values, no foreign keys: the log
# outlives purged comments and removed moderators.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("moderator", String(320), nullable=False),
    Column("action", String(32), nullable=False),
    Column("comment_id", Integer, nullable=True),
    Column("thread_id", Integer, nullable=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("reader_id", Integer, nullable=True),  # the verified reader it was about
    Index("ix_audit_log_comment_id", "comment_id"),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_reader_id", "reader_id"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("reporter", String(64), nullable=False),  # the reader's address hash
    Column("reason", String(500), nullable=False, server_default=""),  # the reader's note
    Column("created", UTCDateTime(), nullable=False),
    Column("resolved", UTCDateTime(), nullable=True),
    # 'spam', 'abuse', 'off-topic' or 'other' (models.ReportCategory).
    Column("category", String(16), nullable=False, server_default="other"),
    UniqueConstraint("comment_id", "reporter"),
)

# Mail and webhooks waiting to go out: written in the request's transaction, sent by a
# background task, retried with backoff. A failing SMTP server loses nothing.
WAITING_DIGEST = "kind = 'digest' AND attempts = 0 AND sent IS NULL"
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # 'email' or 'webhook'
    Column("payload", Text, nullable=False),  # JSON
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due", UTCDateTime(), nullable=False),
    Column("sent", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created", UTCDateTime(), nullable=False),
    # The address a message goes to (lower case), so erasing an address reaches its queued mail;
    # NULL for webhooks.
    Column("recipient", String(320), nullable=True),
    Index("ix_outbox_sent_due", "sent", "due"),
    Index("ix_outbox_recipient", "recipient"),
    # At most one moderators' digest per address that no sender has taken yet: the comments that
    # arrive meanwhile wait for it, so two workers cannot plan two (comments/digests.py).
    Index(
        "ux_outbox_waiting_digest",
        "recipient",
        unique=True,
        sqlite_where=text(WAITING_DIGEST),
        postgresql_where=text(WAITING_DIGEST),
    ),
)

# Comments a moderator is to be told of, until a digest (an outbox row) takes them.
moderator_notices = Table(
    "moderator_notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", String(320), nullable=False),  # lower case
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    # The digest that took it; NULL while it waits. No foreign key: sent mail is pruned first.
    Column("digest_id", Integer, nullable=True),
    Index("ix_moderator_notices_recipient_digest", "recipient", "digest_id"),
    Index("ix_moderator_notices_comment", "comment_id"),
)

# One-click links from emails work once: the digest of each used link is kept here.
used_links = Table(
    "used_links",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("used", UTCDateTime(), nullable=False),
)

# Addresses whose owner confirmed (double opt-in) that they want reply notifications.
confirmed_emails = Table(
    "confirmed_emails",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("confirmed", UTCDateTime(), nullable=False),
    Column("unsubscribed", UTCDateTime(), nullable=True),
)

# Replies already announced to their parent's author: a reply held and then approved, or hidden
# and restored, is announced once.
reply_notices = Table(
    "reply_notices",
    metadata,
    Column(
        "comment_id",
        Integer,
        ForeignKey("comments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("queued", UTCDateTime(), nullable=False),
)

# When an address was last sent a confirmation link: at most one a day, so nobody can use the
# comment form to flood a stranger's mailbox.
confirmation_requests = Table(
    "confirmation_requests",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("sent", UTCDateTime(), nullable=False),
)

# A thread under a surge of comments: the slower mode it moved to by itself (until `hot_until`,
# pushed on while the surge lasts), the attempts refused in the current minute (they never become
# rows, yet they are pressure), and a moderator's pinned mode, which wins. Not backed up: it is
# the state of the last minutes.
thread_surges = Table(
    "thread_surges",
    metadata,
    Column("thread_id", Integer, ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    Column("mode", String(16), nullable=False),  # 'normal', 'slow' or 'hold'
    Column("since", UTCDateTime(), nullable=False),
    Column("hot_until", UTCDateTime(), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("refused", Integer, nullable=False, server_default="0"),
    Column("pinned", String(16), nullable=True),
    Index("ix_thread_surges_hot_until", "hot_until"),
)

# What each version of a thread changed, for live streams to tell (comments/streams.py) and to
# replay to a stream that resumes: the kind and the comments it is about. Every write that moves
# a thread's version writes its row in the same transaction; a thread keeps its last few hundred
# (a stream resuming from further back starts over). Not backed up: it is the last minutes' news.
thread_changes = Table(
    "thread_changes",
    metadata,
    Column("thread_id", Integer, ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    # new, held (readers are not told), edit, remove, or reset (anything else: reread)
    Column("kind", String(8), nullable=False),
    Column("ids", Text, nullable=False, server_default=""),  # comma-separated comment ids
)

# Bot challenges solved once: a solution works once, and is remembered until its challenge
# expires (then it is worthless anyway).
spent_challenges = Table(
    "spent_challenges",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("expires", UTCDateTime(), nullable=False),
    Index("ix_spent_challenges_expires", "expires"),
)
