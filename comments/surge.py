"""Surges: a thread that takes comments much faster than usual slows down by itself.

Pressure is every comment that came into the thread in the last minute (held spam included) and
every attempt refused meanwhile. At COMMENTS_SURGE_RATE the thread goes to slow mode (one comment
per reader per COMMENTS_SLOW_MODE_SECONDS), at COMMENTS_SURGE_HOLD_RATE it also holds newcomers'
first comments for review; once the rate stayed below COMMENTS_SURGE_RATE for COMMENTS_SURGE_RELAX
it is back to normal. A moderator's pinned mode wins over all of it. The state is a row per thread
in the database, written under the thread's row lock, so every worker of every server sees it.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

from comments import store
from comments.challenge import Challenges
from comments.config import Config
from comments.db import Connection
from comments.errors import Problem
from comments.models import Submission, Surge, SurgeRow, Thread
from comments.tokens import Tokens

WINDOW = store.surges.WINDOW
# What a refusal of the surge looks like: such attempts are pressure too (see note_refused).
SURGE_REFUSALS = frozenset(
    {"slow_mode", "challenge_required", "challenge_invalid", "challenge_used"}
)


def mode_in_force(row: SurgeRow | None, now: datetime) -> Surge:
    """The pinned mode, else the automatic one while it stands."""
    if row is None:
        return Surge.NORMAL
    if row.pinned is not None:
        return row.pinned
    return row.mode if now < row.hot_until else Surge.NORMAL


def automatic_mode(row: SurgeRow | None, now: datetime) -> Surge:
    if row is None or now >= row.hot_until:
        return Surge.NORMAL
    return row.mode


def refused_lately(row: SurgeRow | None, now: datetime) -> int:
    """Attempts refused within the last minute (the counter restarts each minute)."""
    return row.refused if row is not None and now - row.window_start < WINDOW else 0


def level_of(rate: int, config: Config) -> Surge:
    if config.surge_hold_rate and rate >= config.surge_hold_rate:
        return Surge.HOLD
    if config.surge_rate and rate >= config.surge_rate:
        return Surge.SLOW
    return Surge.NORMAL


def heated(row: SurgeRow | None, thread_id: int, level: Surge, now: datetime, config: Config):
    """The state after pressure of `level`: the mode never steps down while the surge lasts,
    and the surge lasts COMMENTS_SURGE_RELAX past the last moment it was this hot."""
    current = automatic_mode(row, now)
    mode = max(level, current, key=lambda surge: surge.level)
    return SurgeRow(
        thread_id=thread_id,
        mode=mode,
        since=row.since if row is not None and current is not Surge.NORMAL else now,
        hot_until=now + timedelta(seconds=config.surge_relax),
        window_start=row.window_start if row is not None else now,
        refused=row.refused if row is not None else 0,
        pinned=row.pinned if row is not None else None,
    )


class Surges:
    """The surge's part of posting, inside the post's transaction (the thread's row locked)."""

    def __init__(self, config: Config, tokens: Tokens) -> None:
        self.config = config
        self.challenges = Challenges(tokens, config.challenge_difficulty)

    def is_under_pressure(self, conn: Connection, ip_hash: str, mode: Surge, now: datetime) -> bool:
        """The thread is in a surge, or the address (its network) sent half its budget or more
        of comments of any kind in the last minute."""
        if mode is not Surge.NORMAL:
            return True
        if not self.config.rate_limit:
            return False
        sent = store.surges.address_attempts(conn, ip_hash, now - WINDOW)
        return sent >= max(2, self.config.rate_limit // 2)

    def check_challenge(
        self,
        conn: Connection,
        thread: Thread,
        submission: Submission,
        ip_hash: str,
        mode: Surge,
        now: datetime,
    ) -> bool:
        """Under pressure, a post needs a solved bot challenge; at other times none is asked.
        A solution sent along is checked (and spent) either way: whether one was."""
        if not self.config.challenge_difficulty:
            return False
        where, stamp = f"{thread.site}\0{thread.uri}", submission.stamp or ""
        if submission.challenge and submission.solution:
            digest, expires = self.challenges.verify(
                submission.challenge, submission.solution, where, stamp, now
            )
            if not store.surges.spend_challenge(conn, digest, expires, now):
                raise self.challenges.refuse(
                    "challenge_used", "This challenge was solved once already.", where, stamp, now
                )
            return True
        if self.is_under_pressure(conn, ip_hash, mode, now):
            raise self.ask(thread, submission, now, "Many comments come in just now")
        return False

    def ask(self, thread: Thread, submission: Submission, now: datetime, why: str) -> Problem:
        """challenge_required, with a challenge for this thread and form."""
        return self.challenges.refuse(
            "challenge_required",
            f"{why}: solve the challenge and send it along.",
            f"{thread.site}\0{thread.uri}",
            submission.stamp or "",
            now,
        )

    def enter(self, conn: Connection, thread: Thread, now: datetime) -> Surge:
        """Count this attempt into the thread's pressure; the mode it is to be taken in."""
        row = store.surges.get_surge(conn, thread.id)
        if self.config.surge_rate:
            since = now - WINDOW
            rate = store.surges.thread_attempts(conn, thread.id, since) + 1
            level = level_of(rate + refused_lately(row, now), self.config)
            if level is not Surge.NORMAL:
                row = heated(row, thread.id, level, now, self.config)
                store.surges.put_surge(conn, row)
        return mode_in_force(row, now)

    def check_slow_mode(
        self, conn: Connection, thread: Thread, ip_hash: str, mode: Surge, now: datetime
    ) -> None:
        """In slow mode a reader (an address's network) waits between comments in the thread."""
        seconds = self.config.slow_mode_seconds
        if mode is Surge.NORMAL or not seconds:
            return
        since = now - timedelta(seconds=seconds)
        last = store.surges.last_comment_by(conn, thread.id, ip_hash, since)
        if last is None:
            return
        wait = max(1, math.ceil((last - since).total_seconds()))
        raise Problem(
            "slow_mode",
            f"This thread is busy: one comment every {seconds} seconds; "
            f"try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
            extra={"retry_after": wait},
        )

    def note_refused(self, conn: Connection, thread_id: int, now: datetime) -> None:
        """An attempt the surge refused (in its own transaction: the post's rolled back, the
        state it wrote with it). It never became a row, yet it is pressure: the surge lasts
        while such attempts go on."""
        store.threads.lock_thread(conn, thread_id)
        row = store.surges.get_surge(conn, thread_id)
        attempts = store.surges.thread_attempts(conn, thread_id, now - WINDOW)
        if row is None and not attempts:
            return  # a thread made by the refused post itself, gone with it
        fresh = row is None or now - row.window_start >= WINDOW
        row = dataclasses.replace(
            row or SurgeRow(thread_id, Surge.NORMAL, now, now, now, 0, None),
            window_start=now if fresh else row.window_start,
            refused=1 if fresh else row.refused + 1,
        )
        level = level_of(attempts + row.refused, self.config)
        if level is not Surge.NORMAL:
            row = heated(row, thread_id, level, now, self.config)
        store.surges.put_surge(conn, row)

    def mode_of(self, conn: Connection, thread_id: int, now: datetime) -> Surge:
        return mode_in_force(store.surges.get_surge(conn, thread_id), now)
