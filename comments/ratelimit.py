"""Rate limits on posting: comments from one address, or into one thread, in the last minute.

Counted in the database by default (the comment rows themselves, inside the write transaction, so
the limit is exact across workers and servers), or in Redis when `COMMENTS_REDIS_URL` is set. When
Redis does not answer, the database counts instead: no comment is lost for want of a counter.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from comments import store
from comments.config import Config
from comments.db import Connection, after_rollback
from comments.errors import Problem
from comments.tokens import Tokens

log = logging.getLogger("comments.ratelimit")

RATE_WINDOW = timedelta(minutes=1)
ADDRESS_BUSY = "Too many comments from you"
THREAD_BUSY = "This thread is busy"
# A post waits this long at most for Redis before the database counts instead.
REDIS_TIMEOUT = 0.5

# A sliding window, atomic in Redis: forget what left the window, then either refuse (answering
# when the oldest counted comment came, in ms) or count this one (answering -1).
SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
if redis.call('ZCARD', KEYS[1]) >= limit then
    return tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""


class RateLimiter(Protocol):
    """Refuses with 429 `rate_limited` when `limit` comments came in the last minute (from the
    address, or into the thread); a limit of 0 is off. Called inside the write transaction, for
    comments that are accepted only (published, or held by ordinary moderation): what is held as
    doubtful is neither checked nor counted."""

    def check_address(self, conn: Connection, ip_hash: str, limit: int, now: datetime) -> None: ...

    def check_thread(self, conn: Connection, thread_id: int, limit: int, now: datetime) -> None: ...

    def close(self) -> None: ...


def rate_limited(why: str, first: datetime, now: datetime) -> Problem:
    """The refusal, with `Retry-After` when the oldest counted comment leaves the window."""
    wait = max(1, int((first + RATE_WINDOW - now).total_seconds()) + 1)
    return Problem(
        "rate_limited", f"{why}; try again in {wait} seconds.", headers={"Retry-After": str(wait)}
    )


class DatabaseRateLimiter:
    """Counts the comment rows of the last minute."""

    def check_address(self, conn: Connection, ip_hash: str, limit: int, now: datetime) -> None:
        if not limit:
            return
        # Without it, two posts from one address into two threads (two different row locks)
        # could both count limit - 1 on PostgreSQL and both go in.
        store.defenses.lock_address(conn, ip_hash)
        self._check(conn, limit, now, ADDRESS_BUSY, ip_hash=ip_hash)

    def check_thread(self, conn: Connection, thread_id: int, limit: int, now: datetime) -> None:
        # Exact as it is: the caller holds the thread's row lock (store.threads.ensure_thread).
        if limit:
            self._check(conn, limit, now, THREAD_BUSY, thread_id=thread_id)

    def _check(self, conn: Connection, limit: int, now: datetime, why: str, **who) -> None:
        count, first = store.defenses.recent_comments(conn, now - RATE_WINDOW, **who)
        if count >= limit and first is not None:
            raise rate_limited(why, first, now)

    def close(self) -> None:
        pass


class RedisRateLimiter:
    """Counts in Redis, under `prefix`: one sorted set of post times per address and per thread.

    A post counted here and then refused (by the thread's limit, a closed thread, a duplicate)
    gives its place back when its transaction rolls back, so Redis counts what the database
    keeps. Falls back to `fallback` while Redis does not answer.
    """

    def __init__(self, url: str, prefix: str, fallback: RateLimiter) -> None:
        self.prefix = prefix
        self.fallback = fallback
        self.redis = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # a retry would only make the post wait longer
        )
        self._sliding_window = self.redis.register_script(SLIDING_WINDOW)
        self._is_down = False  # to warn once per outage, not once per post

    def check_address(self, conn: Connection, ip_hash: str, limit: int, now: datetime) -> None:
        if limit:
            self._check(
                conn,
                f"ip:{ip_hash}",
                limit,
                now,
                ADDRESS_BUSY,
                lambda: self.fallback.check_address(conn, ip_hash, limit, now),
            )

    def check_thread(self, conn: Connection, thread_id: int, limit: int, now: datetime) -> None:
        if limit:
            self._check(
                conn,
                f"thread:{thread_id}",
                limit,
                now,
                THREAD_BUSY,
                lambda: self.fallback.check_thread(conn, thread_id, limit, now),
            )

    def _check(
        self,
        conn: Connection,
        key: str,
        limit: int,
        now: datetime,
        why: str,
        fallback: Callable[[], None],
    ) -> None:
        key, post = self.prefix + key, secrets.token_hex(8)
        now_ms = int(now.timestamp() * 1000)
        window_ms = int(RATE_WINDOW.total_seconds() * 1000)
        try:
            first_ms = self._sliding_window(keys=[key], args=[now_ms, window_ms, limit, post])
        except redis.RedisError as error:
            if not self._is_down:
                log.warning(
                    "Redis does not answer (%s): counting rate limits in the database", error
                )
            self._is_down = True
            fallback()
            return
        if self._is_down:
            log.warning("Redis answers again: counting rate limits in Redis")
            self._is_down = False
        if first_ms >= 0:
            raise rate_limited(why, datetime.fromtimestamp(first_ms / 1000, UTC), now)
        after_rollback(conn, lambda: self._give_back(key, post))

    def _give_back(self, key: str, post: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it leaves the window in a minute
            self.redis.zrem(key, post)

    def close(self) -> None:
        self.redis.close()


def create_rate_limiter(config: Config, tokens: Tokens) -> RateLimiter:
    """Redis when configured, else (and whenever Redis is down) the database."""
    database = DatabaseRateLimiter()
    if not config.redis_url:
        return database
    # Keyed by the installation, so two servers (or a staging copy) sharing one Redis never
    # count each other's threads, whose ids repeat from one database to the next.
    prefix = f"comments:rate:{tokens.namespace()}:"
    return RedisRateLimiter(config.redis_url, prefix, database)
