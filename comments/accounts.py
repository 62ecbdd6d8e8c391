"""Moderator accounts: sign-in links, passwords (argon2id), sessions, and sign-in throttling.

A password sign-in cannot be raced or used to lock its owner out:
- the attempt is counted before any hash is computed, in one write transaction that waits for
  the network's other attempts (store.accounts.lock_network), so of 60 guesses at once exactly
  the allowed few are checked, on every worker of every app server sharing the database;
- the count is per (account, network) and per network: a guesser locks out only their own
  network, and the owner still signs in from any other, or with a link by mail;
- each worker computes at most HASHING_THREADS hashes at a time, in threads of its own, so a
  storm of attempts from many networks waits in line instead of taking the memory (64 MiB per
  hash) and the threads every other request needs;
- an unknown email, or a moderator without a password, is checked against a dummy hash of the
  same parameters: the answer takes as long as for a real account.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from comments import store
from comments.config import Config
from comments.db import Connection, Engine, transaction
from comments.errors import Problem
from comments.models import Moderator
from comments.service import Notifier, utc_now
from comments.tokens import Purpose, Tokens

MIN_PASSWORD = 10
SIGN_IN_LINK_LIFETIME = timedelta(hours=24)
# "Email me a sign-in link": short, and good for one sign-in.
MAIL_LINK_LIFETIME = timedelta(minutes=15)
THROTTLE_WINDOW = timedelta(minutes=15)
# Failed sign-ins tolerated in THROTTLE_WINDOW for one account from one network, and from one
# network whatever the accounts (a few moderators behind one office's address).
ACCOUNT_FAILURES = 5
NETWORK_FAILURES = 20
# Links by mail asked in THROTTLE_WINDOW, per account and per network: enough for a moderator
# who lost one, too few to fill their mailbox.
ACCOUNT_LINKS = 3
NETWORK_LINKS = 10
# argon2 hashes one worker computes at once (64 MiB each with the default memory).
HASHING_THREADS = 2


@dataclass(frozen=True)
class Attempt:
    """A counted sign-in attempt: its rows (a failure until the password proves right)."""

    moderator: Moderator | None
    rows: list[int]


class Accounts:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        tokens: Tokens,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.tokens = tokens
        self.clock = clock
        self.notifier = notifier
        self.hasher = PasswordHasher(
            memory_cost=config.password_memory,
            time_cost=3 if config.password_memory >= 65536 else 1,
            parallelism=1,
        )
        self._hashing = concurrent.futures.ThreadPoolExecutor(
            HASHING_THREADS, thread_name_prefix="argon2"
        )
        self._hashes = 0  # computed so far: what the tests of the throttle count
        self._hashes_lock = threading.Lock()

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)

    @property
    def hashes_computed(self) -> int:
        return self._hashes

    # The command line

    def add(self, email: str) -> str:
        """Create a moderator (or find one) and return a one-time link to choose a password."""
        email = email.strip().lower()
        with transaction(self.engine, write=True) as conn:
            moderator = store.accounts.get_moderator_by_email(
                conn, email
            ) or store.accounts.add_moderator(conn, email, self.clock())
        return self.sign_in_link(moderator)

    def list(self) -> list[Moderator]:
        with transaction(self.engine) as conn:
            return store.accounts.list_moderators(conn)

    def remove(self, email: str) -> bool:
        with transaction(self.engine, write=True) as conn:
            return store.accounts.remove_moderator(conn, email.strip().lower())

    def sign_in_link(self, moderator: Moderator) -> str:
        token = self.tokens.sign(
            Purpose.SIGN_IN,
            {"m": moderator.id, "e": moderator.session_epoch},
            self.clock() + SIGN_IN_LINK_LIFETIME,
        )
        return f"{self.config.public_url}/admin/welcome?token={token}"

    # Choosing a password

    def redeem_link(self, token: str) -> Moderator:
        """The moderator a sign-in link was made for, while it is unused and unexpired."""
        claim = self.tokens.read(Purpose.SIGN_IN, token, self.clock())
        with transaction(self.engine) as conn:
            moderator = store.accounts.get_moderator(conn, claim["m"]) if claim else None
        # Choosing a password bumps the epoch, so a used link stops working.
        if moderator is None or claim is None or claim.get("e") != moderator.session_epoch:
            raise Problem("link_invalid", "This link is invalid, used or expired.")
        return moderator

    def set_password(self, token: str, password: str) -> Moderator:
        moderator = self.redeem_link(token)
        if len(password) < MIN_PASSWORD:
            raise Problem(
                "password_too_short",
                f"Choose a password of at least {MIN_PASSWORD} characters.",
                field="password",
            )
        hashed = self._hashing.submit(self._hash, password).result()
        with transaction(self.engine, write=True) as conn:
            return store.accounts.set_password(conn, moderator.id, hashed)

    # Signing in with a password

    async def authenticate(self, email: str, password: str, ip_hash: str) -> Moderator:
        """The moderator with this email and password; throttled against guessing."""
        email = email.strip().lower()
        if "_dummy_hash" not in self.__dict__:  # made once, by the first attempt of any kind
            await self._run_hashing(lambda: self._dummy_hash)
        attempt = await anyio.to_thread.run_sync(self._count_attempt, email, ip_hash)
        stored = attempt.moderator.password_hash if attempt.moderator else None
        is_right = await self._run_hashing(self._verify, stored or self._dummy_hash, password)
        if not (is_right and stored and attempt.moderator):
            raise Problem("sign_in_failed", "Wrong email or password.")
        await anyio.to_thread.run_sync(self._signed_in, attempt)
        return attempt.moderator

    def _count_attempt(self, email: str, ip_hash: str) -> Attempt:
        """Count this attempt, as a failure for now, or refuse it: all before any hashing."""
        now = self.clock()
        limits = {
            f"net:{ip_hash}": NETWORK_FAILURES,
            f"acct:{_key(email)}:net:{ip_hash}": ACCOUNT_FAILURES,
        }
        with transaction(self.engine, write=True) as conn:
            rows = count_attempt(conn, ip_hash, limits, now)
            if rows is None:
                raise _throttled(self.config.mail_enabled)
            store.accounts.prune_failures(conn, now - THROTTLE_WINDOW)
            moderator = store.accounts.get_moderator_by_email(conn, email)
        return Attempt(moderator, rows)

    def _signed_in(self, attempt: Attempt) -> None:
        with transaction(self.engine, write=True) as conn:
            store.accounts.forget_failures(conn, attempt.rows)  # it was no failure
            store.accounts.signed_in(conn, attempt.moderator.id, self.clock())

    async def _run_hashing(self, work: Callable, *args):
        """In this worker's hashing threads: a few at a time, the event loop left free."""
        return await asyncio.wrap_future(self._hashing.submit(work, *args))

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """What an unknown email's guess is checked against: the same parameters, no account."""
        return self._hash(secrets.token_urlsafe(16))

    def _hash(self, password: str) -> str:
        self._count_hash()
        return self.hasher.hash(password)

    def _verify(self, hashed: str, password: str) -> bool:
        self._count_hash()
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _count_hash(self) -> None:
        with self._hashes_lock:
            self._hashes += 1

    # Signing in with a link by mail

    def mail_sign_in_link(self, email: str, ip_hash: str) -> None:
        """Mail a moderator a one-time sign-in link. The same for any email, known or not, and
        nothing at all past the throttle: the answer never tells whether an account exists."""
        email, now = email.strip().lower(), self.clock()
        limits = {f"link-net:{ip_hash}": NETWORK_LINKS, f"link:{_key(email)}": ACCOUNT_LINKS}
        with transaction(self.engine, write=True) as conn:
            if count_attempt(conn, ip_hash, limits, now) is None:
                return
            moderator = store.accounts.get_moderator_by_email(conn, email)
            if moderator is None or self.notifier is None:
                return
            token = self.tokens.sign(
                Purpose.MAIL_SIGN_IN,
                {"m": moderator.id, "e": moderator.session_epoch},
                now + MAIL_LINK_LIFETIME,
            )
            link = f"{self.config.public_url}/admin/sign-in/link?token={token}"
            self.notifier.sign_in_link_asked(conn, moderator.email, link, now + MAIL_LINK_LIFETIME)

    def read_mail_link(self, token: str) -> Moderator:
        """The moderator of an unused, unexpired link by mail, their sessions unchanged since."""
        claim = self.tokens.read(Purpose.MAIL_SIGN_IN, token, self.clock())
        with transaction(self.engine) as conn:
            moderator = store.accounts.get_moderator(conn, claim["m"]) if claim else None
            used = store.links.link_used_at(conn, Tokens.digest(token))
        if moderator is None or claim is None or claim.get("e") != moderator.session_epoch:
            raise Problem("link_invalid", "This link is invalid, used or expired.")
        if used is not None:
            raise Problem("link_used", "This link was used already; ask for another one.")
        return moderator

    def redeem_mail_link(self, token: str) -> Moderator:
        moderator = self.read_mail_link(token)
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            # Spent in the transaction that signs in: of two clicks at once, one signs in.
            if not store.links.use_link(conn, Tokens.digest(token), now):
                raise Problem("link_used", "This link was used already; ask for another one.")
            store.accounts.signed_in(conn, moderator.id, now)
        return moderator

    # Sessions

    def start_session(self, moderator: Moderator) -> str:
        """A new session, kept on the server; its cookie's value."""
        session_id, now = secrets.token_hex(16), self.clock()
        expires = now + timedelta(seconds=self.config.session_lifetime)
        with transaction(self.engine, write=True) as conn:
            store.accounts.add_session(conn, session_id, moderator.id, now, expires)
        claim = {"m": moderator.id, "e": moderator.session_epoch, "s": session_id}
        return self.tokens.sign(Purpose.SESSION, claim, expires)

    def session_moderator(self, token: str | None) -> Moderator | None:
        """The moderator of a session cookie still in force, else None."""
        claim = self.tokens.read(Purpose.SESSION, token, self.clock()) if token else None
        if claim is None or not isinstance(claim.get("s"), str):
            return None
        with transaction(self.engine) as conn:
            moderator = store.accounts.session_moderator(conn, claim["s"], self.clock())
        if moderator is None or moderator.id != claim.get("m"):
            return None
        if moderator.session_epoch != claim.get("e"):
            return None
        return moderator

    def sign_out(self, token: str | None) -> None:
        """End the session of this cookie on the server: a copy of it no longer works."""
        claim = self.tokens.read(Purpose.SESSION, token, self.clock()) if token else None
        if claim is not None and isinstance(claim.get("s"), str):
            with transaction(self.engine, write=True) as conn:
                store.accounts.end_session(conn, claim["s"])

    def sign_out_everywhere(self, moderator: Moderator) -> None:
        """Every session and every link in mail of this moderator stop working."""
        with transaction(self.engine, write=True) as conn:
            store.accounts.bump_epoch(conn, moderator.id)
            store.accounts.end_sessions(conn, moderator.id)


def _key(email: str) -> str:
    """How the throttle names an email: not the address itself."""
    return Tokens.digest(email)[:32]


def count_attempt(
    conn: Connection, ip_hash: str, limits: dict[str, int], now: datetime
) -> list[int] | None:
    """Count one attempt against each key, after the network's lock (so concurrent attempts
    from it are counted one at a time): None, and nothing counted, when a key has reached its
    limit within THROTTLE_WINDOW; else the ids of the rows written."""
    since = now - THROTTLE_WINDOW
    store.accounts.lock_network(conn, ip_hash)
    if any(store.accounts.count_failures(conn, key, since) >= n for key, n in limits.items()):
        return None
    return [store.accounts.add_failure(conn, key, now) for key in limits]


def _throttled(mail_enabled: bool) -> Problem:
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    way_out = ", or ask for a sign-in link by mail" if mail_enabled else ""
    return Problem(
        "too_many_attempts",
        f"Too many failed sign-ins from your network; try again in {minutes} minutes{way_out}.",
        headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
    )
