"""Bringing other systems' comments in: `comments import disqus|wordpress|isso FILE`.

A source (foreign.py) is read twice: a first pass checks all of it, so a malformed file stops
before anything is written; the second pass writes the comments a batch at a time, each batch
one transaction. Every comment keeps its key in the source (`import_key`), so a second import of
the same file adds nothing, and an interrupted one picks up where it stopped. Parents are linked
afterwards in SQL (a reply may come before its parent in the file), then each thread touched is
recounted. Texts go through the same sanitizer as every new comment.
"""

from __future__ import annotations

import enum
import html
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from comments import store, validate
from comments.db import Connection, Engine, rehearsal, transaction
from comments.errors import Problem
from comments.foreign import ForeignComment, ForeignThread, Source, State, markdown_of
from comments.models import Status
from comments.sanitize import render_markdown
from comments.tokens import Tokens

BATCH = 1000  # comments per transaction: short write locks, few round trips
LINK_BATCH = 100  # threads linked and recounted per transaction
NO_ADDRESS = "import"  # hashed like an address when the source kept none (as an invalid one is)


class Keep(enum.StrEnum):
    """What becomes of the source's spam and deleted comments."""

    SKIP = "skip"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class UrlRule:
    """`--map-url OLD=NEW`: pages under OLD (a host, a path prefix, or both) move under NEW."""

    host: str | None  # None: any host (OLD was a path)
    prefix: str
    new: str

    def rewrite(self, url: str) -> str | None:
        """The page's new path, or None when the rule does not apply to it."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        rest = url[url.index(parts.netloc) + len(parts.netloc) :] if parts.netloc else url
        if self.host is not None and self.host != host:
            return None
        if not rest.startswith(self.prefix):
            return None
        mapped = self.new + rest[len(self.prefix) :]
        return mapped if mapped.startswith("/") else "/" + mapped


def parse_url_rule(text: str) -> UrlRule:
    """`https://old.example/blog/=/`, `old.example=`, `/2012/=/archive/2012/`."""
    old, equals, new = text.partition("=")
    old, new = old.strip(), new.strip()
    if not equals or not old:
        raise ValueError(f"{text!r} is not OLD=NEW, e.g. https://old.example.org/blog/=/")
    if "://" in old or old.startswith("//"):
        parts = urlsplit(old)
        host, prefix = (parts.hostname or "").lower(), parts.path
    elif old.startswith("/"):
        host, prefix = None, old
    else:
        name, slash, path = old.partition("/")
        host, prefix = name.lower(), slash + path
    if host == "":
        raise ValueError(f"{text!r}: OLD names no host")
    if "://" in new or new.startswith("//"):
        new = urlsplit(new).path  # the site is --site's; only the path counts
    return UrlRule(host, prefix, new)


def map_url(url: str, rules: tuple[UrlRule, ...]) -> str:
    """The thread URI for a page the source knew by `url`: the most specific rule that matches
    rewrites it, and our rules make a thread key of it (its path and query). Raises Problem."""
    for rule in sorted(rules, key=_specificity, reverse=True):
        mapped = rule.rewrite(url.strip())
        if mapped is not None:
            return validate.uri(mapped)
    return validate.uri(url)


def _specificity(rule: UrlRule) -> tuple[bool, int]:
    return rule.host is not None, len(rule.prefix)


@dataclass(frozen=True)
class ImportOptions:
    site: str
    url_rules: tuple[UrlRule, ...] = ()
    spam: Keep = Keep.SKIP
    deleted: Keep = Keep.SKIP
    dry_run: bool = False


@dataclass
class Summary:
    """What an import did (or, in a dry run, would do)."""

    source: str
    site: str
    dry_run: bool
    found: int = 0  # comments in the file
    comments: int = 0  # added now
    already: int = 0  # there from an earlier import of the same comments
    threads: int = 0  # threads that got comments
    new_threads: int = 0  # of which created now
    top_level: int = 0  # replies whose parent is missing (or was skipped), now top-level
    websites_dropped: int = 0  # not http(s) URLs: the comment came without its website
    emails_dropped: int = 0  # not email addresses
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> comments left out


@dataclass(frozen=True)
class _Target:
    """Where a source's thread goes here; `uri` None when its URL cannot be a thread key."""

    uri: str | None
    title: str
    created: datetime | None


class Importer:
    def __init__(self, engine: Engine, tokens: Tokens) -> None:
        self.engine = engine
        self.tokens = tokens

    def run(self, source: Source, options: ImportOptions) -> Summary:
        plan = source.check()  # raises CommandError before anything is written
        targets = {key: _target(thread, options) for key, thread in plan.threads.items()}
        summary = Summary(source.name, options.site, options.dry_run, found=plan.comments)
        if options.dry_run:
            with rehearsal(self.engine) as conn:
                self._write(source, targets, options, summary, lambda: nullcontext(conn))
        else:
            self._write(
                source, targets, options, summary, lambda: transaction(self.engine, write=True)
            )
        return summary

    def _write(
        self,
        source: Source,
        targets: dict[str, _Target],
        options: ImportOptions,
        summary: Summary,
        begin: Callable[[], AbstractContextManager[Connection]],
    ) -> None:
        thread_ids: dict[str, int] = {}  # the source's thread key -> ours
        touched: set[int] = set()
        for batch in _batches(source.comments(), BATCH):
            # Rendering is CPU work: done before the transaction, which then only writes.
            prepared = [
                (comment, row)
                for comment in batch
                if (row := self._row(comment, targets, options, summary)) is not None
            ]
            with begin() as conn:
                for comment, row in prepared:
                    if comment.thread not in thread_ids:
                        target = targets[comment.thread]
                        assert target.uri is not None
                        thread_ids[comment.thread], is_new = store.transfer.import_thread(
                            conn,
                            options.site,
                            target.uri,
                            target.title,
                            target.created or comment.created,
                        )
                        summary.new_threads += is_new
                    row["thread_id"] = thread_ids[comment.thread]
                added = store.transfer.insert_imported(conn, [row for _, row in prepared])
            summary.comments += len(added)
            summary.already += len(prepared) - len(added)
            touched.update(added)
        summary.threads = len(touched)

        with begin() as conn:
            touched.update(store.transfer.unlinked_threads(conn))  # an interrupted import's too
        for chunk in _batches(iter(sorted(touched)), LINK_BATCH):
            with begin() as conn:
                for thread_id in chunk:
                    store.threads.lock_thread(conn, thread_id)
                    summary.top_level += store.transfer.link_imported(conn, thread_id)
                    store.threads.refresh_thread(conn, thread_id)

    def _row(
        self,
        comment: ForeignComment,
        targets: dict[str, _Target],
        options: ImportOptions,
        summary: Summary,
    ) -> dict[str, Any] | None:
        """The comment as a row of ours, or None (counted in the summary) to leave it out."""
        if comment.excluded:
            summary.skipped[comment.excluded] += 1
            return None
        target = targets.get(comment.thread)
        if target is None:
            summary.skipped["thread not in the file"] += 1
            return None
        if target.uri is None:
            summary.skipped["page address unusable"] += 1
            return None
        status, held = Status.APPROVED, None
        if comment.state is State.PENDING:
            status, held = Status.PENDING, "import"
        elif comment.state in (State.SPAM, State.DELETED):
            keep = options.spam if comment.state is State.SPAM else options.deleted
            if keep is Keep.SKIP:
                summary.skipped[comment.state.value] += 1
                return None
            status, held = Status.HIDDEN, comment.state.value
        text = markdown_of(comment)
        author, email, website = _author(comment, summary)
        if not text:
            if comment.state is not State.DELETED:
                summary.skipped["empty"] += 1
                return None
            # A deleted comment the source kept no words of: a placeholder, as our own deleted
            # comments are, where its replies hang.
            status, held, author, email, website = Status.DELETED, None, None, None, None
        ip_hash = self.tokens.hash_ip(comment.ip or NO_ADDRESS)
        return {
            "author": author,
            "email": email,
            "website": website,
            "text": text,
            "html": render_markdown(text) if text else "",
            "status": status.value,
            "held_reason": held,
            "created": comment.created,
            "edited": comment.edited,
            "ip_hash": ip_hash,
            "avatar": self.tokens.avatar(email or author or ip_hash),
            "edited_by_moderator": False,
            "notify": False,
            "import_key": comment.key,
            "import_parent": comment.parent,
        }


def _author(comment: ForeignComment, summary: Summary) -> tuple[str | None, ...]:
    """Name, email and website, cleaned as a new comment's are; an invalid email or website is
    dropped (and counted), never fatal; a long name is cut."""
    name = " ".join(validate.CONTROL.sub("", comment.author or "").split())[: validate.MAX_AUTHOR]
    email = website = None
    if comment.email:
        try:
            email = validate.email({"email": comment.email})
        except Problem:
            summary.emails_dropped += 1
    if comment.website:
        try:
            website = validate.website({"website": comment.website})
        except Problem:
            summary.websites_dropped += 1
    return name or None, email, website


def _target(thread: ForeignThread, options: ImportOptions) -> _Target:
    try:
        uri = map_url(thread.url, options.url_rules) if thread.url else None
    except Problem:
        uri = None
    # Titles come escaped twice now and then (Disqus: "Tom &amp;amp; Jerry").
    title = " ".join(validate.CONTROL.sub("", html.unescape(thread.title)).split())
    return _Target(uri, title[: validate.MAX_TITLE], thread.created)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch
