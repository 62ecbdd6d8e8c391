"""Serialized thread pages kept in this process, keyed by the thread's version.

Correct with any number of workers and app servers: the version lives in the database and moves
on every write in the thread, so a page cached here is never served after its thread changed;
stale entries simply stop being asked for and age out.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedPage:
    version: int
    body: bytes
    gzipped: bytes


class PageCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # handlers run in a thread pool

    def get(self, key: Hashable) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, version: int, body: bytes) -> CachedPage:
        # Compressed once here rather than by the middleware on every request.
        page = CachedPage(version, body, gzip.compress(body, compresslevel=6, mtime=0))
        cost = len(body) + len(page.gzipped)
        if cost > self.max_bytes:
            return page
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._size -= len(old.body) + len(old.gzipped)
            self._pages[key] = page
            self._size += cost
            while self._size > self.max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self._size -= len(evicted.body) + len(evicted.gzipped)
        return page
