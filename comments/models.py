"""Values that cross rooms: statuses, threads, comments, validated submissions."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime


class Moderation(enum.StrEnum):
    POST = "post"  # publish at once
    PRE = "pre"  # hold every comment for a moderator
    TRUSTED = "trusted"  # hold a commenter's comments until one of theirs is approved


class Notify(enum.StrEnum):
    """Which new comments moderators are mailed about."""

    REVIEW = "review"  # those waiting for review
    ALL = "all"
    OFF = "off"


class ModeratorMail(enum.StrEnum):
    """When moderators' mail goes out (comments/digests.py)."""

    IMMEDIATE = "immediate"  # at once, then at most one message per window
    HOURLY = "hourly"
    DAILY = "daily"


class SmtpSecurity(enum.StrEnum):
    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


class BanAction(enum.StrEnum):
    """What happens to a banned author's new comments."""

    REJECT = "reject"
    HOLD = "hold"


class Status(enum.StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    HIDDEN = "hidden"
    DELETED = "deleted"


class Sort(enum.StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"
    BEST = "best"  # by votes, decaying as the discussion goes on (store.threads.best_order)


class Commenters(enum.StrEnum):
    """Who may comment on a site (or, set by moderators, on one thread)."""

    ANONYMOUS = "anonymous"  # anyone; signing in is optional
    VERIFIED_ONLY = "verified-only"  # readers signed in by a mailed link


class Badge(enum.StrEnum):
    """What a verified reader is on the site, shown beside their name."""

    MODERATOR = "moderator"  # their email is a moderator's
    AUTHOR = "author"  # the site names them as its articles' author


@dataclasses.dataclass(frozen=True)
class Reader:
    """A reader who signed in on a site by a link mailed to them: a verified pseudonym."""

    id: int
    site: str
    email: str
    name: str | None
    name_key: str | None
    session_epoch: int
    created: datetime
    last_sign_in: datetime | None


class Surge(enum.StrEnum):
    """How a thread takes comments, from the calmest: as usual; one comment per reader per
    COMMENTS_SLOW_MODE_SECONDS; and that, with newcomers' first comments held for review."""

    NORMAL = "normal"
    SLOW = "slow"
    HOLD = "hold"

    @property
    def level(self) -> int:
        return list(Surge).index(self)


@dataclasses.dataclass(frozen=True)
class SurgeRow:
    """A thread's stored surge state (table thread_surges)."""

    thread_id: int
    mode: Surge  # the mode the server chose, standing until hot_until
    since: datetime
    hot_until: datetime
    window_start: datetime
    refused: int  # attempts refused since window_start
    pinned: Surge | None  # a moderator's choice, which wins


@dataclasses.dataclass(frozen=True)
class HotThread:
    """A thread for the admin's threads page: where it is, its mode, and how busy it is."""

    thread: Thread
    mode: Surge
    pinned: Surge | None
    since: datetime | None
    hot_until: datetime | None
    last_minute: int  # comments of every kind in the last minute, refused attempts included


# Holds that are ordinary moderation, not suspicion: such comments were accepted, and spend the
# rate limits' budgets like published ones. Every other held_reason (no stamp, too fast, links,
# words, honeypot, banned) marks a comment the defenses doubted: it spends no budget, so a flood of
# them cannot shut a thread or an address out (comments/ratelimit.py).
ACCEPTED_HOLDS = ("pre", "trusted", "newcomer")


@dataclasses.dataclass(frozen=True)
class Thread:
    id: int
    site: str
    uri: str
    title: str
    count: int
    closed: bool
    version: int
    created: datetime | None = None  # when its first comment came
    title_moderated: bool = False  # a moderator set the title; readers' pages no longer do
    verified_only: bool = False  # moderators let only verified readers comment here


class ChangeKind(enum.StrEnum):
    """What a new version of a thread changed, as live streams tell readers."""

    NEW = "new"  # comments readers now see: posted, or approved
    EDIT = "edit"  # shown comments whose text changed
    REMOVE = "remove"  # shown comments no longer shown: hidden, deleted, held after reports
    RESET = "reset"  # anything else (imports, a title, closing): reread what is shown
    UNSEEN = "unseen"  # nothing readers see (a comment held for moderators); never streamed


@dataclasses.dataclass(frozen=True)
class Change:
    kind: ChangeKind
    ids: tuple[int, ...] = ()


RESET = Change(ChangeKind.RESET)


def change_of_status(comment_id: int, was_shown: bool, is_shown: bool) -> Change:
    """A comment's move between statuses, as readers see it."""
    if was_shown and is_shown:
        kind = ChangeKind.EDIT
    elif was_shown:
        kind = ChangeKind.REMOVE
    elif is_shown:
        kind = ChangeKind.NEW
    else:
        kind = ChangeKind.UNSEEN
    return Change(kind, (comment_id,))


@dataclasses.dataclass(frozen=True, slots=True)
class ThreadChange:
    """One version of a thread, as stored: what a stream sends as one event."""

    version: int
    kind: ChangeKind
    ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Comment:
    id: int
    thread_id: int
    parent_id: int | None
    root_id: int
    author: str | None
    email: str | None
    website: str | None
    text: str
    html: str
    status: Status
    created: datetime
    edited: datetime | None
    ip_hash: str
    avatar: str
    held_reason: str | None = None
    edited_by_moderator: bool = False
    notify: bool = False
    import_key: str | None = None  # where an imported comment came from
    import_parent: str | None = None  # its parent's key there, until the import links it
    reader_id: int | None = None  # the verified reader who wrote it
    badge: str | None = None  # what they were then: Badge
    votes: int = 0  # upvotes of verified readers


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    """An approved comment as the Atom feeds show it, with its thread."""

    comment: Comment
    thread: Thread


@dataclasses.dataclass(frozen=True)
class Submission:
    """A new comment as a reader sent it, validated."""

    uri: str
    text: str
    parent: int | None = None
    author: str | None = None
    email: str | None = None
    website: str | None = None
    title: str | None = None
    notify: bool = False  # mail me replies (once the address is confirmed)
    stamp: str | None = None  # from GET /api/stamp when the form was opened
    honeypot: str | None = None  # a field people never see, so never fill
    challenge: str | None = None  # a bot challenge the server asked for (comments/challenge.py)
    solution: str | None = None  # and the reader's answer to it
    reader_token: str | None = None  # a signed-in reader's (the Authorization header), not JSON


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where a page of top-level comments ends: the last (created, id) shown."""

    created: datetime
    id: int
    # The best sort pages by place in its order instead: top-level comments before the page.
    offset: int | None = None


@dataclasses.dataclass(frozen=True)
class PageQuery:
    """Which page of a thread a reader asks for: the first, or one anchored by at most one of
    `after` (the page that follows), `before` (the one that precedes) or `around` (the page
    that opens with this comment's top-level comment)."""

    uri: str
    sort: Sort
    limit: int
    after: Cursor | None = None
    before: Cursor | None = None
    around: int | None = None


@dataclasses.dataclass(frozen=True)
class Target:
    """The comment a permalink names, as found on its page."""

    id: int
    ancestors: tuple[int, ...]  # its top-level comment first, its parent last
    position: int  # its top-level comment's place among the thread's (shown or not), from 1


@dataclasses.dataclass(frozen=True)
class ThreadPage:
    thread: Thread | None
    uri: str
    comments: list[Node]
    next: Cursor | None
    closes: datetime | None = None  # when it stops taking comments by age (a site's schedule)
    prev: Cursor | None = None  # where the page before this one ends, when there is one
    target: Target | None = None  # with `around`: the comment asked for, if it is shown
    missing: int | None = None  # with `around`: the comment asked for, when it is not shown


@dataclasses.dataclass
class Node:
    """A comment in the reader's tree; not approved means it shows as a placeholder."""

    comment: Comment
    replies: list[Node] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Edited:
    """A comment its author just wrote or changed, with the token to change it again."""

    comment: Comment
    edit_token: str
    editable_until: datetime


class QueueView(enum.StrEnum):
    PENDING = "pending"
    REPORTED = "reported"
    RECENT = "recent"
    HIDDEN = "hidden"


class Action(enum.StrEnum):
    """What moderators do, as the audit log names it."""

    APPROVE = "approve"
    HIDE = "hide"
    DELETE = "delete"
    RESTORE = "restore"
    EDIT = "edit"
    PURGE = "purge"
    BAN = "ban"
    LIFT_BAN = "lift-ban"
    CLOSE = "close"
    REOPEN = "reopen"
    # A thread takes comments from verified (signed-in) readers only, or from anyone again
    VERIFIED_ONLY = "verified-only"
    ANYONE = "anyone"
    RETITLE = "retitle"
    ERASE = "erase"
    # The `comments sites` commands (one line per command, the threads it touched in the note)
    RENAME_SITE = "rename-site"
    MERGE_SITES = "merge-sites"
    MOVE_THREADS = "move-threads"
    # A thread's surge mode pinned by a moderator, or given back to the server (comments/surge.py)
    PIN_MODE = "pin-mode"
    LIFT_MODE = "lift-mode"


@dataclasses.dataclass(frozen=True)
class QueueFilter:
    site: str | None = None
    thread: str | None = None  # a thread URI
    author: str | None = None  # part of a name or an email
    text: str | None = None  # part of the text
    ids: tuple[int, ...] = ()  # these comments only (the admin's detail and confirmation pages)


@dataclasses.dataclass(frozen=True)
class QueueItem:
    """A comment as moderators see it: in its context, with its author's record."""

    comment: Comment
    site: str
    thread_uri: str
    thread_title: str
    thread_closed: bool
    parent_excerpt: str | None
    reports: int
    approved_before: int
    hidden_before: int
    thread_title_moderated: bool = False
    thread_verified_only: bool = False


@dataclasses.dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    next_before: int | None  # pass back to see older comments


@dataclasses.dataclass(frozen=True)
class Moderator:
    id: int
    email: str
    password_hash: str | None
    session_epoch: int
    created: datetime
    last_sign_in: datetime | None


class ReportCategory(enum.StrEnum):
    """Why a reader reports a comment; 'other' comes with the reader's short note."""

    SPAM = "spam"
    ABUSE = "abuse"
    OFF_TOPIC = "off-topic"
    OTHER = "other"


@dataclasses.dataclass(frozen=True)
class Report:
    """A reader's report as moderators see it: the category and the reader's note."""

    category: ReportCategory
    note: str


class BanScope(enum.StrEnum):
    """What a ban covers. A network ban never refuses by itself: comments from the network under
    another address are held for review (`banned_network`), as they may be a neighbour's."""

    EMAIL = "email"
    NETWORK = "network"
    BOTH = "both"


@dataclasses.dataclass(frozen=True)
class BanTerms:
    """A moderator's ban as asked for: what it covers, why, and for how long (None: for good)."""

    scope: BanScope | None  # None: both, or the network alone when the comment has no email
    reason: str
    days: int | None


@dataclasses.dataclass(frozen=True)
class Ban:
    id: int
    email: str | None  # set when the ban covers the email
    ip_hash: str | None  # set when the ban covers the network
    reason: str
    created: datetime
    expires: datetime | None  # None: permanent
    lifted: datetime | None
    moderator: str
    reader_id: int | None = None  # the verified reader banned (their email is banned too)

    @property
    def scope(self) -> BanScope:
        if self.email and self.ip_hash:
            return BanScope.BOTH
        return BanScope.EMAIL if self.email else BanScope.NETWORK


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    moderator: str
    action: Action
    comment_id: int | None
    thread_id: int | None
    before: str | None
    after: str | None
    note: str | None
    reader_id: int | None = None  # the verified reader it was about


# Outbox and mail


class OutboxKind(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    DIGEST = "digest"  # moderators' mail, written when sent from what arrived (digests.py)


@dataclasses.dataclass(frozen=True)
class OutboxItem:
    """A message waiting in the outbox (or sent, or given up on: `last_error` says why)."""

    id: int
    kind: OutboxKind
    payload: str  # JSON, as the notifier wrote it
    attempts: int
    due: datetime
    sent: datetime | None
    last_error: str | None
    created: datetime
    recipient: str | None


@dataclasses.dataclass(frozen=True)
class SiteSummary:
    site: str
    threads: int
    comments: int  # every comment kept, whatever its status
    visible: int  # approved ones, as the counts show


@dataclasses.dataclass(frozen=True)
class ThreadMove:
    """Where threads go in a `comments sites` command: every thread that ends up at (site, uri),
    the one that stays (the oldest) first; the others' comments join it."""

    site: str
    uri: str
    threads: tuple[Thread, ...]

    @property
    def survivor(self) -> Thread:
        return self.threads[0]

    @property
    def merged(self) -> tuple[Thread, ...]:
        return self.threads[1:]


@dataclasses.dataclass(frozen=True)
class SiteChanges:
    """What a `comments sites` command changed, or with `dry_run`, would change."""

    action: Action
    moves: tuple[ThreadMove, ...]
    dry_run: bool

    @property
    def merged(self) -> int:
        return sum(len(move.merged) for move in self.moves)
