"""Readers of other systems' comments: Disqus and WordPress exports (XML), Isso's database.

Each source is read twice, streaming. `check()` reads all of it and raises CommandError, naming
the line (or row) and the element, at the first thing it cannot make sense of, so nothing is
written from a broken file; it keeps the threads (one small record each) for the second pass.
`comments()` then yields the comments one at a time, in file order. Memory grows with the number
of threads, never with the number of comments: XML elements are dropped once read.

Isso's database is a SQLite file, read here with its own SELECTs: those are a foreign file
format, like the XML paths below, not our schema (whose SQL lives in store.py).
"""

from __future__ import annotations

import enum
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, urlsplit

from lxml import etree
from markdownify import MarkdownConverter

from comments.errors import CommandError


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


@dataclass(frozen=True)
class ForeignComment:
    key: str  # unique in the source's system, e.g. "disqus:123": the comment's import_key
    thread: str  # its ForeignThread's key
    parent: str | None  # the key of the comment it replies to
    body: str  # in `markup`; markdown_of() makes our source text of it
    markup: Markup
    created: datetime
    state: State
    author: str | None = None
    email: str | None = None
    website: str | None = None
    ip: str | None = None
    edited: datetime | None = None
    excluded: str | None = None  # why it stays out whatever the options ("pingback")


@dataclass(frozen=True)
class Plan:
    """What the first pass found: every thread, and how many comments there are."""

    threads: dict[str, ForeignThread]
    comments: int


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


class Source:
    """A file of another system's comments, read in two passes."""

    name = ""

    def __init__(self, path: str | Path, meter: MeterFactory = quiet) -> None:
        self.path = Path(path)
        self.meter = meter

    def check(self) -> Plan:
        threads: dict[str, ForeignThread] = {}
        count = 0
        for record in self._read("checking"):
            if isinstance(record, ForeignThread):
                threads[record.key] = record
            else:
                count += 1
        return Plan(threads, count)

    def comments(self) -> Iterator[ForeignComment]:
        for record in self._read("importing"):
            if isinstance(record, ForeignComment):
                yield record

    def _read(self, label: str) -> Iterator[ForeignThread | ForeignComment]:
        raise NotImplementedError

    def _fail(self, where: str, message: str) -> CommandError:
        return CommandError(f"{self.path}: {where}: {message}")


# Turning other systems' markup into ours


class _Converter(MarkdownConverter):
    """HTML -> Markdown as comments show it: no images, no headings (sanitize.py drops both)."""

    def convert_img(self, el, text, parent_tags):
        source = el.get("src") or ""
        label = (el.get("alt") or "").strip() or source
        return f"[{label}]({source})" if source and "_inline" not in parent_tags else label

    def convert_hN(self, n, el, text, parent_tags):
        text = " ".join(text.split())
        if "_inline" in parent_tags or not text:
            return text
        return f"\n\n**{text}**\n\n"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n")
_BLOCK_START = re.compile(r"<(p|div|blockquote|pre|ul|ol|h[1-6]|table)\b", re.IGNORECASE)


def markdown_of(comment: ForeignComment) -> str:
    """The comment's text as our comments keep it: Markdown, rendered by sanitize.py."""
    body = comment.body.replace("\r\n", "\n")
    if comment.markup is Markup.WORDPRESS:
        body = _wordpress_paragraphs(body)
    if comment.markup is not Markup.MARKDOWN:
        body = _Converter(
            bullets="-", newline_style="backslash", escape_asterisks=True, escape_underscores=True
        ).convert(body)
    return _CONTROL.sub("", body).strip()


def _wordpress_paragraphs(body: str) -> str:
    """WordPress keeps a comment as typed and adds <p> and <br> only when it shows it; do the
    same (outside <pre>), or converting its HTML would run the paragraphs together."""
    parts = []
    for piece in _PRE.split(body):
        if _PRE.fullmatch(piece):
            parts.append(piece)
            continue
        for chunk in _BLANK_LINES.split(piece):
            chunk = chunk.strip()
            if chunk and _BLOCK_START.match(chunk):
                parts.append(chunk)
            elif chunk:
                parts.append("<p>" + chunk.replace("\n", "<br>\n") + "</p>")
    return "\n".join(parts)


def _moment(text: str) -> datetime:
    """A time as exports write it (ISO 8601, 'Z' or not, or '2012-11-29 01:25:00'): UTC."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# XML, streaming


class _MeteredFile:
    """A file that moves the progress bar as the parser reads it."""

    def __init__(self, file: BinaryIO, meter: Meter) -> None:
        self._file = file
        self._meter = meter

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._meter.update(len(data))
        return data


_ERROR_POSITION = re.compile(r",? line \d+, column \d+$")


def _local(element) -> str:
    return etree.QName(element).localname


def _child(element, name: str):
    for child in element:
        if isinstance(child.tag, str) and _local(child) == name:
            return child
    return None


def _text(element, name: str) -> str:
    """The text of the first child called `name` (any namespace), CDATA included; '' if none."""
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _body(element, name: str) -> str:
    """Like _text, but as written: a comment's leading spaces may be code."""
    child = _child(element, name)
    return child.text or "" if child is not None else ""


class XmlSource(Source):
    """An XML export: elements come as they end, with their depth (the root is 1)."""

    root = ""

    def _elements(self, label: str) -> Iterator[tuple[int, etree._Element]]:
        meter = self.meter(f"{label} {self.path.name}", os.path.getsize(self.path), "B")
        depth = 0
        try:
            with open(self.path, "rb") as file:
                events = etree.iterparse(
                    _MeteredFile(file, meter),
                    events=("start", "end"),
                    remove_comments=True,
                    remove_pis=True,
                    resolve_entities=False,
                    no_network=True,
                )
                for event, element in self._parsed(events):
                    if event == "start":
                        depth += 1
                        if depth == 1 and _local(element) != self.root:
                            raise self._fail(
                                f"line {element.sourceline}",
                                f"<{_local(element)}> is not the root of a {self.name} export "
                                f"(<{self.root}>)",
                            )
                        continue
                    yield depth, element
                    depth -= 1
        finally:
            meter.close()

    def _parsed(self, events) -> Iterator[tuple[str, etree._Element]]:
        try:
            yield from events
        except etree.XMLSyntaxError as error:
            message = _ERROR_POSITION.sub("", str(error.msg or error))
            line = error.lineno or (error.position[0] if error.position else 1)
            raise self._fail(f"line {line}", f"the XML is malformed: {message}") from None

    def _invalid(self, element, message: str) -> CommandError:
        return self._fail(f"line {element.sourceline}", f"<{_local(element)}> {message}")

    def _time(self, element, name: str, required: bool = True) -> datetime | None:
        raw = _text(element, name)
        if not raw and not required:
            return None
        try:
            return _moment(raw)
        except ValueError:
            raise self._invalid(element, f"has no valid <{name}>: {raw!r}") from None


def _forget(element) -> None:
    """Drop an element that was read, and what came before it, so memory stays flat."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# Disqus: <disqus> holds <category>, <thread dsq:id> and <post dsq:id> elements, in any order.

_DSQ_ID = "{http://disqus.com/disqus-internals}id"


class Disqus(XmlSource):
    name = "disqus"
    root = "disqus"

    def _read(self, label: str) -> Iterator[ForeignThread | ForeignComment]:
        for depth, element in self._elements(label):
            if depth != 2:
                continue
            kind = _local(element)
            if kind == "thread":
                yield self._thread(element)
            elif kind == "post":
                yield self._post(element)
            _forget(element)

    def _id(self, element) -> str:
        found = (element.get(_DSQ_ID) or "").strip()
        if not found:
            raise self._invalid(element, "has no dsq:id")
        return found

    def _thread(self, element) -> ForeignThread:
        return ForeignThread(
            key=self._id(element),
            url=_text(element, "link"),
            title=_text(element, "title"),
            created=self._time(element, "createdAt", required=False),
        )

    def _post(self, element) -> ForeignComment:
        key = self._id(element)
        thread = _child(element, "thread")
        if thread is None:
            raise self._invalid(element, f"{key} names no <thread dsq:id>")
        parent = _child(element, "parent")
        author = _child(element, "author")
        created = self._time(element, "createdAt")
        assert created is not None
        if _text(element, "isSpam") == "true":
            state = State.SPAM
        elif _text(element, "isDeleted") == "true":
            state = State.DELETED
        else:
            state = State.APPROVED
        return ForeignComment(
            key=f"disqus:{key}",
            thread=self._id(thread),
            parent=f"disqus:{self._id(parent)}" if parent is not None else None,
            body=_body(element, "message"),
            markup=Markup.HTML,
            created=created,
            state=state,
            author=_text(author, "name") or _text(author, "username") or None
            if author is not None
            else None,
            email=_text(author, "email") or None if author is not None else None,
            ip=_text(element, "ipAddress") or None,
        )


# WordPress (WXR): <rss><channel> holds the blog's <link> and <wp:base_blog_url>, then an <item>
# per post or page, each with its <wp:comment>s.

_WORDPRESS_STATES = {
    "1": State.APPROVED,
    "approve": State.APPROVED,
    "0": State.PENDING,
    "hold": State.PENDING,
    "spam": State.SPAM,
    "trash": State.DELETED,
    "post-trashed": State.DELETED,
}
_NO_TIME = "0000-00-00 00:00:00"


class WordPress(XmlSource):
    name = "wordpress"
    root = "rss"

    def __init__(self, path: str | Path, meter: MeterFactory = quiet) -> None:
        super().__init__(path, meter)
        # Keys are "wordpress:<blog>:<comment id>": ids count per blog. The blog's address
        # heads the file; the first pass remembers it for the second.
        self.blog = ""

    def _read(self, label: str) -> Iterator[ForeignThread | ForeignComment]:
        items = 0
        for depth, element in self._elements(label):
            kind = _local(element)
            if depth == 3 and kind in ("link", "base_blog_url") and not self.blog:
                self.blog = _host(element.text or "")
            if depth == 4 and kind == "comment":
                yield self._comment(element, f"item-{items + 1}")
                element.getparent().remove(element)  # the item's own fields stay until its end
            elif depth == 3:
                if kind == "item":
                    items += 1
                    yield self._item(element, f"item-{items}")
                _forget(element)

    def _item(self, element, key: str) -> ForeignThread:
        dated = _text(element, "post_date_gmt")[:4] not in ("", "0000")  # drafts have none
        return ForeignThread(
            key=key,
            url=_text(element, "link"),
            title=_text(element, "title"),
            created=self._time(element, "post_date_gmt") if dated else None,
        )

    def _comment(self, element, thread: str) -> ForeignComment:
        comment_id = _text(element, "comment_id")
        if not comment_id.isdigit():
            raise self._invalid(element, f"has no valid <wp:comment_id>: {comment_id!r}")
        parent = _text(element, "comment_parent")
        if parent and not parent.isdigit():
            raise self._invalid(element, f"has no valid <wp:comment_parent>: {parent!r}")
        moment = _text(element, "comment_date_gmt")
        created = self._time(
            element, "comment_date_gmt" if moment and moment != _NO_TIME else "comment_date"
        )
        assert created is not None
        kind = _text(element, "comment_type")
        return ForeignComment(
            key=f"wordpress:{self.blog}:{comment_id}",
            thread=thread,
            parent=f"wordpress:{self.blog}:{parent}" if parent not in ("", "0") else None,
            body=_body(element, "comment_content"),
            markup=Markup.WORDPRESS,
            created=created,
            # Anything else a plugin invented waits for a moderator rather than show at once.
            state=_WORDPRESS_STATES.get(_text(element, "comment_approved"), State.PENDING),
            author=_text(element, "comment_author") or None,
            email=_text(element, "comment_author_email") or None,
            website=_text(element, "comment_author_url") or None,
            ip=_text(element, "comment_author_IP") or None,
            # Pingbacks, trackbacks and plugins' private notes (WooCommerce's order notes) are
            # not readers' comments.
            excluded=kind if kind not in ("", "comment") else None,
        )


def _host(url: str) -> str:
    return (urlsplit(url.strip()).hostname or "").lower()


# Isso: a SQLite file with `threads` (id, uri, title) and `comments` (tid, id, parent, created,
# modified, mode, remote_addr, text, author, email, website, ...); times are Unix seconds and
# mode is 1 (accepted), 2 (waiting for moderation) or 4 (deleted).

_ISSO_COLUMNS = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "modified", "mode", "remote_addr", "text"}
    | {"author", "email", "website"},
}
_ISSO_STATES = {1: State.APPROVED, 2: State.PENDING, 4: State.DELETED}


class Isso(Source):
    name = "isso"

    def _read(self, label: str) -> Iterator[ForeignThread | ForeignComment]:
        try:
            yield from self._rows(label)
        except sqlite3.DatabaseError as error:
            raise self._fail("the file", f"is not an Isso database ({error})") from None

    def _rows(self, label: str) -> Iterator[ForeignThread | ForeignComment]:
        if not self.path.is_file():
            raise self._fail("the file", "does not exist")
        # Read-only: an import never changes the file it reads.
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        database = sqlite3.connect(uri, uri=True)
        try:
            for table, needed in _ISSO_COLUMNS.items():
                found = {row[1] for row in database.execute(f"PRAGMA table_info({table})")}
                if needed - found:
                    missing = ", ".join(sorted(needed - found))
                    raise self._fail(
                        f"table {table}", f"is not Isso's (missing columns: {missing})"
                    )
            for thread_id, uri_, title in database.execute(
                "SELECT id, uri, title FROM threads ORDER BY id"
            ):
                yield ForeignThread(key=str(thread_id), url=str(uri_ or ""), title=title or "")
            (total,) = database.execute("SELECT count(*) FROM comments").fetchone()
            meter = self.meter(f"{label} {self.path.name}", total, " comments")
            try:
                for row in database.execute(
                    "SELECT id, tid, parent, created, modified, mode, remote_addr, text, author,"
                    " email, website FROM comments ORDER BY id"
                ):
                    meter.update(1)
                    yield self._comment(*row)
            finally:
                meter.close()
        finally:
            database.close()

    def _comment(
        self, id_, tid, parent, created, modified, mode, remote_addr, text, author, email, website
    ) -> ForeignComment:
        where = f"comment {id_}"
        try:
            made = datetime.fromtimestamp(float(created), UTC)
            edited = datetime.fromtimestamp(float(modified), UTC) if modified else None
        except (TypeError, ValueError, OverflowError):
            raise self._fail(where, f"has no valid time: {created!r}") from None
        if mode not in _ISSO_STATES:
            raise self._fail(where, f"has an unknown mode {mode!r} (1, 2 or 4)")
        return ForeignComment(
            key=f"isso:{id_}",
            thread=str(tid),
            parent=f"isso:{parent}" if parent else None,
            body=text or "",
            markup=Markup.MARKDOWN,
            created=made,
            edited=edited,
            state=_ISSO_STATES[mode],
            author=author or None,
            email=email or None,
            website=website or None,
            ip=remote_addr or None,
        )


SOURCES: dict[str, type[Source]] = {"disqus": Disqus, "wordpress": WordPress, "isso": Isso}
