"""Values that cross rooms: statuses, threads, comments, validated submissions."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime


class Moderation(enum.StrEnum):
    POST = "post"  # publish at once
    PRE = "pre"  # hold every comment for a moderator


class Status(enum.StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    HIDDEN = "hidden"
    DELETED = "deleted"


class Sort(enum.StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"


@dataclasses.dataclass(frozen=True)
class Thread:
    id: int
    site: str
    uri: str
    title: str
    count: int
    closed: bool
    version: int


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


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where a page of top-level comments ends: the last (created, id) shown."""

    created: datetime
    id: int


@dataclasses.dataclass(frozen=True)
class ThreadPage:
    thread: Thread | None
    uri: str
    comments: list[Node]
    next: Cursor | None


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
