"""Bringing other systems' comments in: `comments import disqus|wordpress|isso FILE`.

A source (comments/foreign/) is read twice: a first pass checks all of it and lists every record
it cannot use, so by default a file with any invalid record stops before anything is written
(`--skip-invalid` imports the others and lists what it left). The second pass writes the
comments a batch at a time, each batch one transaction. Every comment keeps its key in the
source, scoped by the site (`import_key`: "blog.example/disqus:123"), so a second import of the
same file adds nothing, an interrupted one picks up where it stopped, other sites and sources
import side by side, and an import with a corrected --map-url moves what an earlier one put in
the wrong thread. Parents are linked afterwards in SQL (a reply may come before its parent in the
file), then each thread touched is recounted. Imported HTML goes through the same sanitizer
policy as every new comment (sanitize.render_html), in worker processes when the file is big:
rendering is most of an import's work.
"""

from __future__ import annotations

import enum
import hashlib
import html
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from comments import store, validate
from comments.db import Connection, Engine, rehearsal, transaction
from comments.errors import CommandError, Problem
from comments.foreign import ForeignComment, ForeignThread, Invalid, Scratch, Source, State
from comments.foreign.markup import render_all
from comments.models import Status
from comments.tokens import Tokens

BATCH = 1000  # comments per transaction: short write locks, few round trips
LINK_BATCH = 500  # threads linked and recounted per transaction, a few statements each
NO_ADDRESS = "import"  # hashed like an address when the source kept none (as an invalid one is)
POOL_FROM = 3000  # comments from which rendering goes to worker processes (else: no start-up)
MAX_KEY = 255  # comments.import_key's length


class Keep(enum.StrEnum):
    """What becomes of the source's spam and deleted comments."""

    SKIP = "skip"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class UrlRule:
    """`--map-url OLD=NEW`: pages under OLD (a host, host:port, a path prefix, or host and path)
    move under the path NEW; the rest of their path is kept."""

    host: str | None  # None: any host (OLD was a path); "host:port" matches that port only
    prefix: str  # matched whole segments at a time: /blog matches /blog/x, not /blogger
    new: str

    def rewrite(self, url: str) -> str | None:
        """The page's new path, or None when the rule does not apply to it."""
        parts = urlsplit(url)
        if not parts.netloc and not url.startswith("/"):
            return None  # not a page's address (javascript:..., a bare word): no rule applies
        if self.host is not None and not self._host_matches(parts):
            return None
        rest = url[url.index(parts.netloc) + len(parts.netloc) :] if parts.netloc else url
        prefix = self.prefix.rstrip("/")
        path = urlsplit(rest).path
        if prefix and path != prefix and not path.startswith(prefix + "/"):
            return None
        mapped = self.new.rstrip("/") + rest[len(prefix) :]
        return mapped if mapped.startswith("/") else "/" + mapped

    def _host_matches(self, parts) -> bool:
        name, colon, port = (self.host or "").partition(":")
        try:
            found_port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:  # not a number
            return False
        if (parts.hostname or "").lower() != name:
            return False
        return not colon or str(found_port) == port


_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url_rule(text: str) -> UrlRule:
    """`https://old.example/blog/=/`, `old.example=`, `old.example:8080=`, `/2012/=/2012/`."""
    old, equals, new = text.partition("=")
    old, new = old.strip(), new.strip()
    if not equals or not old:
        raise ValueError(f"{text!r} is not OLD=NEW, e.g. https://old.example.org/blog/=/")
    if "://" in old or old.startswith("//"):
        parts = urlsplit(old)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{text!r}: OLD has no valid port") from None
        host, prefix = (parts.hostname or "").lower(), parts.path
        if host and port:
            host = f"{host}:{port}"
    elif old.startswith("/"):
        host, prefix = None, old
    else:
        name, slash, path = old.partition("/")
        host, prefix = name.lower(), slash + path
        if host.partition(":")[2] and not host.partition(":")[2].isdigit():
            raise ValueError(f"{text!r}: OLD has no valid port")
    if host == "" or (host or "").startswith(":"):
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


def _specificity(rule: UrlRule) -> tuple[bool, bool, int]:
    return rule.host is not None, ":" in (rule.host or ""), len(rule.prefix.rstrip("/"))


@dataclass(frozen=True)
class ImportOptions:
    site: str
    url_rules: tuple[UrlRule, ...] = ()
    spam: Keep = Keep.SKIP
    deleted: Keep = Keep.SKIP
    private: Keep = Keep.HIDDEN  # comments of protected, private or deleted posts and threads
    skip_invalid: bool = False
    dry_run: bool = False
    workers: int | None = None  # rendering processes; None: the cores, for a big file


@dataclass
class Summary:
    """What an import did (or, in a dry run, would do)."""

    source: str
    site: str
    dry_run: bool
    found: int = 0  # valid comments in the file
    comments: int = 0  # added now
    already: int = 0  # there from an earlier import of the same comments
    moved: int = 0  # there already, in another thread (an earlier --map-url): moved now
    emptied: int = 0  # threads the moves left with no comment, removed
    threads: int = 0  # threads that got (or lost) comments
    new_threads: int = 0  # of which created now
    top_level: int = 0  # replies whose parent is missing (or was skipped), now top-level
    websites_dropped: int = 0  # not http(s) URLs: the comment came without its website
    emails_dropped: int = 0  # not email addresses
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> comments left out
    invalid: list[Invalid] = field(default_factory=list)  # records left out (--skip-invalid)


@dataclass(frozen=True)
class _Kept:
    """A comment to bring in, and where: its thread here and the status it gets."""

    comment: ForeignComment
    uri: str
    thread: ForeignThread
    status: Status
    held: str | None


class Importer:
    def __init__(self, engine: Engine, tokens: Tokens) -> None:
        self.engine = engine
        self.tokens = tokens

    def run(self, source: Source, options: ImportOptions) -> Summary:
        with Scratch() as scratch:
            plan = source.check(scratch)  # raises CommandError when the file cannot be read on
            if plan.invalid and not options.skip_invalid:
                raise CommandError(refusal(source, plan.invalid))
            summary = Summary(source.name, options.site, options.dry_run, found=plan.comments)
            summary.invalid = plan.invalid
            comments = source.comments({record.where for record in plan.invalid})
            workers = options.workers
            if workers is None:
                workers = min(os.cpu_count() or 1, 4) if plan.comments >= POOL_FROM else 0
            if options.dry_run:
                with rehearsal(self.engine) as conn:
                    begin = lambda: nullcontext(conn)  # noqa: E731
                    self._write(comments, scratch, options, summary, begin, workers)
            else:
                begin = lambda: transaction(self.engine, write=True)  # noqa: E731
                self._write(comments, scratch, options, summary, begin, workers)
        return summary

    def _write(
        self,
        comments: Iterator[ForeignComment],
        scratch: Scratch,
        options: ImportOptions,
        summary: Summary,
        begin: Callable[[], AbstractContextManager[Connection]],
        workers: int,
    ) -> None:
        batches = (_keep(batch, scratch, options, summary) for batch in _batches(comments, BATCH))
        for number, (kept, rendered) in enumerate(_rendered(batches, workers), 1):
            rows = []
            for item, (text, html_) in zip(kept, rendered, strict=True):
                row = self._row(item, text, html_, options, summary)
                if row is not None:
                    rows.append((item, row))
            with begin() as conn:
                _store(conn, rows, options, summary)
                if number & (number - 1) == 0:
                    # The tables have doubled: statistics from when they were small would have
                    # PostgreSQL scan them whole for each batch's lookups by key.
                    store.transfer.refresh_statistics(conn)

        after = 0  # every thread with unlinked comments, a chunk at a time, in order of id
        while True:
            with begin() as conn:
                chunk = store.transfer.unlinked_threads(conn, after, LINK_BATCH)
                store.threads.lock_threads(conn, chunk)
                summary.top_level += store.transfer.link_imported(conn, chunk)
                store.threads.refresh_threads(conn, chunk)
            if not chunk:
                break
            summary.threads += len(chunk)
            after = chunk[-1]
        with begin() as conn:  # the site's first reads plan with the tables as they are now
            store.transfer.refresh_statistics(conn)

    def _row(
        self, item: _Kept, text: str, html_: str, options: ImportOptions, summary: Summary
    ) -> dict[str, Any] | None:
        """The comment as a row of ours, or None (counted in the summary) to leave it out."""
        comment, status, held = item.comment, item.status, item.held
        author, email, website = _author(comment, summary)
        if not text:
            if comment.state is not State.DELETED:
                summary.skipped["empty"] += 1
                return None
            # A deleted comment the source kept no words of: a placeholder, as our own deleted
            # comments are, where its replies hang.
            status, held, author, email, website = Status.DELETED, None, None, None, None
            html_ = ""
        ip_hash = self.tokens.hash_ip(comment.ip or NO_ADDRESS)
        return {
            "author": author,
            "email": email,
            "website": website,
            "text": text,
            "html": html_,
            "status": status.value,
            "held_reason": held,
            "created": comment.created,
            "edited": comment.edited,
            "ip_hash": ip_hash,
            "avatar": self.tokens.avatar(email, author, comment.ip or NO_ADDRESS),
            "edited_by_moderator": False,
            "notify": False,
            "import_key": scoped_key(options.site, comment.key),
            "import_parent": scoped_key(options.site, comment.parent) if comment.parent else None,
        }


def scoped_key(site: str, key: str) -> str:
    """The import_key of a source's comment in a site: "blog.example/disqus:123". A key too
    long for the column is shortened to a digest of itself, still unique."""
    scoped = f"{site}/{key}"
    if len(scoped) <= MAX_KEY:
        return scoped
    return f"{site}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def refusal(source: Source, invalid: list[Invalid]) -> str:
    """The message of an import refused for its invalid records: one line for each."""
    lines = [f"{source.path}: {record}" for record in invalid]
    if len(invalid) > 1:
        lines.append(
            f"{source.path}: {len(invalid)} invalid records: nothing was imported "
            "(--skip-invalid imports the others)"
        )
    return "\n".join(lines)


def _keep(
    batch: list[ForeignComment], scratch: Scratch, options: ImportOptions, summary: Summary
) -> list[_Kept]:
    """The comments of a batch to bring in (those left out are counted in the summary)."""
    threads = scratch.threads(comment.thread for comment in batch)
    uris = {key: _uri(thread, options) for key, thread in threads.items()}
    kept = []
    for comment in batch:
        if comment.excluded:
            summary.skipped[comment.excluded] += 1
            continue
        thread = threads.get(comment.thread)
        if thread is None:
            summary.skipped["thread not in the file"] += 1
            continue
        uri = uris[comment.thread]
        if uri is None:
            summary.skipped["page address unusable"] += 1
            continue
        status, held = Status.APPROVED, None
        if comment.state is State.PENDING:
            status, held = Status.PENDING, "import"
        elif comment.state in (State.SPAM, State.DELETED):
            keep = options.spam if comment.state is State.SPAM else options.deleted
            if keep is Keep.SKIP:
                summary.skipped[comment.state.value] += 1
                continue
            status, held = Status.HIDDEN, comment.state.value
        if thread.hidden and status is not Status.HIDDEN:
            # Readers could not see it there (a protected or private post, a deleted thread):
            # nor can they here, unless a moderator decides otherwise.
            if options.private is Keep.SKIP:
                summary.skipped[thread.hidden] += 1
                continue
            status, held = Status.HIDDEN, thread.hidden
        kept.append(_Kept(comment, uri, thread, status, held))
    return kept


def _rendered(
    batches: Iterable[list[_Kept]], workers: int
) -> Iterator[tuple[list[_Kept], list[tuple[str, str]]]]:
    """Each batch with its comments' (text, html), in order; rendered `workers` processes at a
    time (a few batches ahead, so memory stays bounded), or here when workers is 0."""
    if workers < 1:
        for kept in batches:
            yield kept, render_all([(item.comment.markup, item.comment.body) for item in kept])
        return
    # spawn, not fork: the parent holds database connections and a progress bar's thread.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[tuple[list[_Kept], Future]] = deque()
    try:
        for kept in batches:
            items = [(item.comment.markup, item.comment.body) for item in kept]
            pending.append((kept, pool.submit(render_all, items)))
            if len(pending) > 2 * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _store(
    conn: Connection, rows: list[tuple[_Kept, dict[str, Any]]], options, summary: Summary
) -> None:
    """Write a batch: new comments in, comments an earlier import put elsewhere moved."""
    before = store.transfer.imported_by_key(conn, [row["import_key"] for _, row in rows])
    wanted: dict[str, dict[str, Any]] = {}
    for item, _row in rows:
        if item.uri not in wanted:
            title = _title(item.thread)
            created = item.thread.created or item.comment.created
            wanted[item.uri] = {"uri": item.uri, "title": title, "created": created}
            wanted[item.uri]["closed"] = False
        wanted[item.uri]["closed"] |= item.thread.closed
    ids, new_threads = store.transfer.import_threads(conn, options.site, list(wanted.values()))
    summary.new_threads += new_threads
    fresh, moves, left = [], [], set()
    for item, row in rows:
        thread_id = ids[item.uri]
        there = before.get(row["import_key"])
        if there is None:
            fresh.append({**row, "thread_id": thread_id})
        elif there[1] != thread_id:
            moves.append((there[0], thread_id, row["import_parent"]))
            left.add(there[1])
        else:
            summary.already += 1
    added = store.transfer.insert_imported(conn, fresh)
    summary.comments += len(added)
    summary.already += len(fresh) - len(added)
    store.transfer.move_imported(conn, moves)
    store.transfer.unlink_strays(conn, sorted(left))
    # A thread that comments left is recounted here (the linking pass may see none of it), and
    # goes if none is left: the page's old address would otherwise linger in lists and feeds.
    store.threads.refresh_threads(conn, sorted(left))
    summary.emptied += store.transfer.drop_empty_threads(conn, sorted(left))
    summary.moved += len(moves)


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


def _uri(thread: ForeignThread, options: ImportOptions) -> str | None:
    """The thread key here of a source's page; None when its URL cannot be one."""
    try:
        return map_url(thread.url, options.url_rules) if thread.url else None
    except Problem:
        return None


def _title(thread: ForeignThread) -> str:
    # Titles come escaped twice now and then (Disqus: "Tom &amp;amp; Jerry").
    title = " ".join(validate.CONTROL.sub("", html.unescape(thread.title)).split())
    return title[: validate.MAX_TITLE]


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch
