"""What every reader of another system's comments yields, and the two-pass Source they share.

A source is read twice, streaming. `check()` reads all of it and keeps what the second pass needs
in a scratch file on disk (every thread, one small record each, and every comment's key, to find
the same id twice), so memory stays flat whatever the number of threads or comments. It collects
every record it cannot make sense of (`Invalid`: where, element, why), not only the first.
`comments()` then yields the valid comments one at a time, in file order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from comments.errors import CommandError
from comments.foreign.scratch import Scratch


class State(enum.StrEnum):
    """What a comment was in the system it comes from."""

    APPROVED = "approved"
    PENDING = "pending"
    SPAM = "spam"
    DELETED = "deleted"


class Markup(enum.StrEnum):
    HTML = "html"  # Disqus
    WORDPRESS = "wordpress"  # HTML where blank lines are paragraphs (WordPress adds the <p>s)
    MARKDOWN = "markdown"  # Isso keeps what readers typed


@dataclass(frozen=True)
class ForeignThread:
    key: str  # what the source's comments call it
    url: str  # as the source has it: a page's address or path
    title: str
    created: datetime | None = None
    closed: bool = False  # no new comments there (WordPress comment_status, Disqus isClosed)
    # Why its comments must not show to readers, whatever their state: "protected post",
    # "private post", "deleted post" or "deleted thread"; None for a public page.
    hidden: str | None = None
    where: str = ""  # "line 12", "thread 5": how a report names it


@dataclass(frozen=True)
class ForeignComment:
    key: str  # unique in the source's system, e.g. "disqus:123"; scoped by the site on import
    thread: str  # its ForeignThread's key
    parent: str | None  # the key of the comment it replies to
    body: str  # in `markup`; comments.foreign.markup renders it
    markup: Markup
    created: datetime
    state: State
    author: str | None = None
    email: str | None = None
    website: str | None = None
    ip: str | None = None
    edited: datetime | None = None
    excluded: str | None = None  # why it stays out whatever the options ("pingback")
    where: str = ""  # "line 12", "comment 5": how a report names it


@dataclass(frozen=True)
class Invalid:
    """A record the reader could not make sense of."""

    where: str  # "line 12" (XML) or "comment 5" (Isso)
    element: str  # "<post>", "<wp:comment>"
    reason: str  # "has no valid <createdAt>: 'soon'"

    def __str__(self) -> str:
        return f"{self.where}: {self.element} {self.reason}"


@dataclass
class Plan:
    """What the first pass found; the threads themselves are in the scratch file."""

    threads: int = 0
    comments: int = 0  # valid ones
    invalid: list[Invalid] = field(default_factory=list)  # in file order


class Meter(Protocol):
    """A progress bar (tqdm's interface): the command line draws one on a terminal."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


class _Quiet:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def quiet(label: str, total: int, unit: str) -> Meter:
    return _Quiet()


MeterFactory = Callable[[str, int, str], Meter]  # (label, total, unit) -> a meter


class BadRecord(Exception):
    """Raised inside a reader for the record at hand; the reader yields it as an Invalid."""


Record = ForeignThread | ForeignComment | Invalid


class Source:
    """A file of another system's comments, read in two passes."""

    name = ""
    elements = ("thread", "comment")  # how reports name a thread and a comment of the source

    def __init__(self, path: str | Path, meter: MeterFactory = quiet) -> None:
        self.path = Path(path)
        self.meter = meter

    def check(self, scratch: Scratch) -> Plan:
        """Read everything; keep the threads and the keys seen in `scratch`. Raises CommandError
        only when the file cannot be read on (malformed XML, not the right kind of file)."""
        plan = Plan()
        for record in self._read("checking"):
            if isinstance(record, Invalid):
                plan.invalid.append(record)
            elif isinstance(record, ForeignThread):
                first = scratch.add_thread(record)
                if first is not None:
                    plan.invalid.append(self._duplicate(record, 0, first))
                else:
                    plan.threads += 1
            else:
                first = scratch.add_key(record.key, record.where)
                if first is not None:
                    plan.invalid.append(self._duplicate(record, 1, first))
                else:
                    plan.comments += 1
        scratch.commit()
        return plan

    def comments(self, left_out: set[str]) -> Iterator[ForeignComment]:
        """The valid comments, the first of each key only (`left_out`: the wheres of Invalid
        records and of duplicates, from check())."""
        for record in self._read("importing"):
            if isinstance(record, ForeignComment) and record.where not in left_out:
                yield record

    def _read(self, label: str) -> Iterator[Record]:
        raise NotImplementedError

    def _fail(self, where: str, message: str) -> CommandError:
        return CommandError(f"{self.path}: {where}: {message}")

    def _duplicate(self, record: ForeignThread | ForeignComment, kind: int, first: str) -> Invalid:
        what = ("thread", "comment")[kind]
        return Invalid(
            record.where,
            self.elements[kind],
            f"is a duplicate: {record.key} is the {what} at {first} already",
        )


def moment(text: str) -> datetime:
    """A time as exports write it (ISO 8601, 'Z' or not, or '2012-11-29 01:25:00'): UTC."""
    found = datetime.fromisoformat(text.strip())
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)
