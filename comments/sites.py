"""What site owners do to whole sites: list them, rename one, merge two, move threads to new
addresses. One function per intent, one transaction each, each written to the audit log.

Threads that land on the same key are merged as migration 0006 merges them: the oldest stays,
every comment joins it, its count is recounted, its version passes every merged one's (pages are
cached by version), it is closed if any was, and it keeps the first title that is not empty (a
moderator's first, and then it stays the site's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from comments import store, validate
from comments.config import Config
from comments.db import Connection, Engine, rehearsal, transaction
from comments.errors import CommandError, Problem
from comments.models import Action, SiteChanges, SiteSummary, Thread, ThreadMove
from comments.service import utc_now


@dataclass(frozen=True)
class Unreached:
    """A site with comments that no configured origin reaches, and where they could go."""

    site: str
    comments: int
    target: str

    @property
    def command(self) -> str:
        return f"comments sites merge {self.site} {self.target}"


class SiteService:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def list_sites(self) -> list[SiteSummary]:
        with transaction(self.engine) as conn:
            return store.sites.site_summaries(conn)

    def unreached(self, config: Config) -> list[Unreached]:
        """Sites holding comments that no origin or alias reaches any more (their pages show
        nothing), each with the configured site they most likely belong to."""
        found = []
        for summary in self.list_sites():
            if summary.comments and summary.site not in config.sites:
                target = config.known_site(summary.site) or config.default_site
                found.append(Unreached(summary.site, summary.comments, target))
        return found

    def rename(self, who: str, old: str, new: str, *, dry_run: bool = False) -> SiteChanges:
        """Every thread of `old` now belongs to `new`, which must have none yet."""
        old, new = _site_name(old), _site_name(new)
        with self._writing(dry_run) as conn:
            moving = _threads_or_refuse(conn, old)
            if store.sites.threads_of_site(conn, new):
                raise CommandError(f"{new} has threads already: merge into it instead")
            moves = _relocate(conn, [(thread, new, thread.uri) for thread in moving])
            return self._record(conn, who, Action.RENAME_SITE, old, new, moves, dry_run)

    def merge(self, who: str, source: str, target: str, *, dry_run: bool = False) -> SiteChanges:
        """Every thread of `source` joins `target`; one already there at the same URI merges."""
        source, target = _site_name(source), _site_name(target)
        if source == target:
            raise CommandError(f"merging {source} into itself changes nothing")
        with self._writing(dry_run) as conn:
            moving = _threads_or_refuse(conn, source)
            moves = _relocate(conn, [(thread, target, thread.uri) for thread in moving])
            return self._record(conn, who, Action.MERGE_SITES, source, target, moves, dry_run)

    def move(
        self, who: str, site: str, old_prefix: str, new_prefix: str, *, dry_run: bool = False
    ) -> SiteChanges:
        """Threads of `site` whose URI starts with `old_prefix` start with `new_prefix` instead
        (a new permalink scheme); one landing on a thread already there merges."""
        site = _site_name(site)
        for prefix in (old_prefix, new_prefix):
            if not prefix.startswith("/"):
                raise CommandError(f"{prefix!r} is not a path prefix like /2019/05/")
        with self._writing(dry_run) as conn:
            moving = _threads_or_refuse(conn, site, old_prefix)
            targets = []
            for thread in moving:
                try:
                    uri = validate.uri(new_prefix + thread.uri[len(old_prefix) :])
                except Problem as problem:
                    raise CommandError(f"{thread.uri}: {problem.detail}") from None
                targets.append((thread, site, uri))
            moves = _relocate(conn, targets)
            before, after = site + old_prefix, site + new_prefix
            return self._record(conn, who, Action.MOVE_THREADS, before, after, moves, dry_run)

    @contextlib.contextmanager
    def _writing(self, dry_run: bool):
        """A write transaction; a dry run's does everything and is rolled back."""
        with rehearsal(self.engine) if dry_run else transaction(self.engine, write=True) as conn:
            yield conn

    def _record(
        self,
        conn: Connection,
        who: str,
        action: Action,
        before: str,
        after: str,
        moves: list[ThreadMove],
        dry_run: bool,
    ) -> SiteChanges:
        changes = SiteChanges(action, tuple(moves), dry_run)
        touched = sum(len(move.threads) for move in moves)
        store.audit.record(
            conn,
            at=self.clock(),
            moderator=who,
            action=action,
            before=before,
            after=after,
            note=f"{touched} threads moved, {changes.merged} of them merged into another",
        )
        return changes


def _site_name(text: str) -> str:
    name = text.strip().lower()
    if not name or "/" in name or any(ch.isspace() for ch in name):
        raise CommandError(f"{text!r} is not a site name like blog.example.org")
    return name


def _threads_or_refuse(conn: Connection, site: str, prefix: str = "") -> list[Thread]:
    found = store.sites.threads_of_site(conn, site, prefix)
    if not found:
        under = f" under {prefix}" if prefix else ""
        raise CommandError(f"{site} has no threads{under}")
    return found


def _relocate(conn: Connection, targets: list[tuple[Thread, str, str]]) -> list[ThreadMove]:
    """Move each thread to its (site, uri), merging the threads that meet there."""
    changing = [
        (thread, site, uri)
        for thread, site, uri in targets
        if (site, uri)
        != (
            thread.site,
            thread.uri,
        )
    ]
    store.sites.park_threads(conn, [thread.id for thread, _, _ in changing])
    arriving: dict[tuple[str, str], list[Thread]] = {}
    for thread, site, uri in changing:
        arriving.setdefault((site, uri), []).append(thread)
    for site in {site for site, _ in arriving}:
        keys = [uri for other, uri in arriving if other == site]
        for there in store.sites.threads_at(conn, site, keys):
            arriving[(site, there.uri)].append(there)
    moves = []
    for (site, uri), group in sorted(arriving.items()):
        group.sort(key=lambda thread: thread.id)
        move = ThreadMove(site, uri, tuple(group))
        store.sites.merge_threads(
            conn,
            move.survivor.id,
            [thread.id for thread in move.merged],
            site=site,
            uri=uri,
            version=max(thread.version for thread in group) + 1,
            closed=any(thread.closed for thread in group),
            # A moderator's title wins over any a reader's page gave, and stays the site's.
            title=next(
                (thread.title for thread in sorted(group, key=_by_moderated_title) if thread.title),
                "",
            ),
            title_moderated=any(thread.title_moderated for thread in group),
        )
        moves.append(move)
    return moves


def _by_moderated_title(thread: Thread) -> bool:
    return not thread.title_moderated  # False sorts first; the sort keeps id order otherwise
