"""Serialized thread pages kept in this process, keyed by the thread's version.

Correct with any number of workers and app servers: the version lives in the database and moves
on every write in the thread, so a page cached here is never served after its thread changed;
stale entries simply stop being asked for and age out.

Bounded by the memory the entries really hold: each one is charged its key, its page object,
both bodies and its slot in the table, not just the bodies' length (for the small pages most
threads have, the bodies are a fraction of an entry; counting only them let a "64 MiB" cache
hold ten times that). tests/test_pagecache.py holds the charge against tracemalloc.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import hashlib
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# What one more key costs an OrderedDict beyond the objects themselves: its slot in the hash
# table (which grows by half again when it fills) and its node in the order list. Measured
# with tracemalloc on CPython 3.11 to 3.13: 100 to 130 bytes; the high end is charged.
ENTRY_OVERHEAD = 136


@dataclasses.dataclass(frozen=True, slots=True)
class CachedPage:
    version: int
    body: bytes
    gzipped: bytes


def size_of(value: object) -> int:
    """The bytes a key or a page holds, itself and what it alone refers to.

    Shared objects cost nothing more: None, booleans, enum members, small ints (CPython keeps
    one of each from -5 to 256).
    """
    if value is None or isinstance(value, bool | enum.Enum):
        return 0
    if isinstance(value, int) and -5 <= value <= 256:
        return 0
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(size_of(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = sum(size_of(getattr(value, field.name)) for field in dataclasses.fields(value))
        own = sys.getsizeof(value)
        if hasattr(value, "__dict__"):
            own += sys.getsizeof(value.__dict__)
        return own + inner
    return sys.getsizeof(value)


def cost_of(key: Hashable, page: CachedPage) -> int:
    return ENTRY_OVERHEAD + size_of(key) + size_of(page)


class PageCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, tuple[CachedPage, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # handlers run in a thread pool

    @property
    def size(self) -> int:
        """The bytes the entries hold, as charged."""
        return self._size

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable) -> CachedPage | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None:
                return None
            self._pages.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, version: int, body: bytes) -> CachedPage:
        # orjson hands out its output in a buffer of 4 KiB or more whatever the length (a page
        # of 60 bytes held 4 KiB): kept, the copy of its exact size is what the cache holds.
        body = bytes(memoryview(body))
        # Compressed once here rather than by the middleware on every request.
        page = CachedPage(version, body, gzip.compress(body, compresslevel=6, mtime=0))
        cost = cost_of(key, page)
        if cost > self.max_bytes:
            return page
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._pages[key] = (page, cost)
            self._size += cost
            while self._size > self.max_bytes:
                _, (_, evicted) = self._pages.popitem(last=False)
                self._size -= evicted
        return page


class KnownVersions:
    """Threads' versions as announced to this worker (comments/streams.py), so that a cached
    page on PostgreSQL is served without asking the database for its version.

    Trusted only while the worker's LISTEN connection is up: announcements reach it in commit
    order from every writer (other workers, other app servers, commands), so a version here is
    the thread's, give or take the instants between a commit and its notification. When the
    connection drops, everything here is forgotten at once, and versions are asked for again
    until it is back. A version read from the database is kept only if no announcement came in
    while it was read (it might be older than one), and none is kept longer than `lifetime`
    seconds: were an announcement ever lost, a page would be stale for that long at most.
    """

    def __init__(self, lifetime: float = 5.0, most: int = 100_000) -> None:
        self.lifetime = lifetime
        self.most = most
        self.trusted = False
        self.heard = 0  # announcements so far: a read begun before one may be stale
        self._known: dict[tuple[str, str], tuple[int, float]] = {}

    def get(self, site: str, uri: str) -> int | None:
        if not self.trusted:
            return None
        found = self._known.get((site, uri))
        if found is None or time.monotonic() - found[1] > self.lifetime:
            return None
        return found[0]

    def read(self, site: str, uri: str, version: int, heard_before: int) -> None:
        """A version read from the database, by a read begun when `heard` was `heard_before`.

        Version 0 (no such thread yet) is not kept: anyone can ask for any address, and the
        addresses that have no thread must not fill this worker's memory.
        """
        if version and self.trusted and self.heard == heard_before:
            self._keep((site, uri), version)

    def announced(self, site: str, uri: str, version: int) -> None:
        self.heard += 1
        if self.trusted:
            key = (site, uri)
            found = self._known.get(key)
            self._keep(key, max(version, found[0]) if found else version)

    def forget(self, trusted: bool) -> None:
        """Everything, and whether to learn again (the listener is up) or not."""
        self.heard += 1
        self._known.clear()
        self.trusted = trusted

    def _keep(self, key: tuple[str, str], version: int) -> None:
        self._known.pop(key, None)
        self._known[key] = (version, time.monotonic())
        if len(self._known) > self.most:  # the oldest goes
            del self._known[next(iter(self._known))]


def tagged_counts(
    site: str, uris: list[str], keys: dict[str, str], found: dict[str, tuple[int, int]]
) -> tuple[dict[str, int], str]:
    """Counts keyed as asked, and a tag that changes whenever they may: a hash of the site and
    of each URI as asked with its thread's version and count (every write in a thread moves its
    version), so a reader's index page revalidates with one short answer while nothing changed."""
    tag = hashlib.blake2b(site.encode(), digest_size=12)
    counts = {}
    for raw in uris:
        count, version = found.get(keys[raw], (0, 0)) if raw in keys else (0, 0)
        counts[raw] = count
        tag.update(b"\0%s\0%d\0%d" % (raw.encode(errors="surrogatepass"), version, count))
    return counts, tag.hexdigest()
