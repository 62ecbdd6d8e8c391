"""How many previews one address may ask for: a sliding minute, counted in this process.

Previews write nothing, so there is no row to count as the posting limits do; and what a limit
protects here is this worker's CPU, so a count per worker process is the right one (with N
workers an address gets at most N times the limit in all). Memory stays bounded: past
MAX_ADDRESSES, addresses whose minute has passed are forgotten, then the oldest.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from comments.ratelimit import RATE_WINDOW, rate_limited

MAX_ADDRESSES = 10_000
PREVIEWS_BUSY = "Too many previews from you"


class PreviewLimiter:
    def __init__(self, limit: int, busy: str = PREVIEWS_BUSY) -> None:
        self.limit = limit  # per address (or other key) and minute; 0 is off
        self.busy = busy  # the problem's detail past the limit
        self.seen: dict[str, deque[datetime]] = {}  # address hash -> its previews' times

    def check(self, ip_hash: str, now: datetime) -> None:
        """Count one preview, or refuse it with 429 `rate_limited` (counting nothing)."""
        if not self.limit:
            return
        times = self.seen.pop(ip_hash, None) or deque()
        while times and times[0] <= now - RATE_WINDOW:
            times.popleft()
        self.seen[ip_hash] = times  # last in the dict: the most recently active
        if len(times) >= self.limit:
            raise rate_limited(self.busy, times[0], now)
        times.append(now)
        if len(self.seen) > MAX_ADDRESSES:
            self._forget(now)

    def _forget(self, now: datetime) -> None:
        for key in [key for key, times in self.seen.items() if times[-1] <= now - RATE_WINDOW]:
            del self.seen[key]
        while len(self.seen) > MAX_ADDRESSES:
            del self.seen[next(iter(self.seen))]  # the least recently active
