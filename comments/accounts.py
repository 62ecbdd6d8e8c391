"""Moderator accounts: sign-in links, passwords (argon2id), sessions, and sign-in throttling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from comments import store
from comments.config import Config
from comments.db import Engine, transaction
from comments.errors import Problem
from comments.models import Moderator
from comments.service import utc_now
from comments.tokens import Purpose, Tokens

MIN_PASSWORD = 10
SIGN_IN_LINK_LIFETIME = timedelta(hours=24)
# Failed sign-ins tolerated per account and per address in THROTTLE_WINDOW.
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


class Accounts:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        tokens: Tokens,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.config = config
        self.tokens = tokens
        self.clock = clock
        self.hasher = PasswordHasher(
            memory_cost=config.password_memory,
            time_cost=3 if config.password_memory >= 65536 else 1,
            parallelism=1,
        )

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

    # Signing in

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
        hashed = self.hasher.hash(password)
        with transaction(self.engine, write=True) as conn:
            return store.accounts.set_password(conn, moderator.id, hashed)

    def authenticate(self, email: str, password: str, ip_hash: str) -> Moderator:
        """The moderator with this email and password; throttled against guessing."""
        email = email.strip().lower()
        now = self.clock()
        keys = (f"email:{email}", f"ip:{ip_hash}")
        with transaction(self.engine, write=True) as conn:
            failures = max(
                store.accounts.count_failures(conn, key, now - THROTTLE_WINDOW) for key in keys
            )
            if failures >= THROTTLE_FAILURES:
                minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
                raise Problem(
                    "too_many_attempts",
                    f"Too many failed sign-ins; try again in {minutes} minutes.",
                    headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
                )
            moderator = store.accounts.get_moderator_by_email(conn, email)
        if moderator is not None and self._verify(moderator, password):
            with transaction(self.engine, write=True) as conn:
                store.accounts.signed_in(conn, moderator.id, now)
            return moderator
        with transaction(self.engine, write=True) as conn:
            for key in keys:
                store.accounts.add_failure(conn, key, now)
        raise Problem("sign_in_failed", "Wrong email or password.")

    def _verify(self, moderator: Moderator, password: str) -> bool:
        if not moderator.password_hash:
            return False
        try:
            return self.hasher.verify(moderator.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # Sessions

    def session_token(self, moderator: Moderator) -> str:
        return self.tokens.sign(
            Purpose.SESSION,
            {"m": moderator.id, "e": moderator.session_epoch},
            self.clock() + timedelta(seconds=self.config.session_lifetime),
        )

    def session_moderator(self, token: str | None) -> Moderator | None:
        """The moderator of a session cookie still in force, else None."""
        claim = self.tokens.read(Purpose.SESSION, token, self.clock()) if token else None
        if claim is None:
            return None
        with transaction(self.engine) as conn:
            moderator = store.accounts.get_moderator(conn, claim["m"])
        if moderator is None or moderator.session_epoch != claim.get("e"):
            return None
        return moderator

    def sign_out_everywhere(self, moderator: Moderator) -> None:
        with transaction(self.engine, write=True) as conn:
            store.accounts.bump_epoch(conn, moderator.id)
