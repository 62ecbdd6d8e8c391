"""One-click links in mail: signed for one purpose and one person, read back, used once.

Following a link never changes anything by itself (mail scanners fetch links to look at them);
the page it opens has a button, and only that button's POST acts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from comments import store
from comments.config import Config
from comments.db import Connection, Engine, transaction
from comments.errors import Problem
from comments.models import Action, Ban, BanTerms, Comment, Thread
from comments.moderation import TRANSITIONS, ModerationService
from comments.service import utc_now
from comments.tokens import Purpose, Tokens
from comments.validate import DEFAULT_BAN_DAYS

# What a moderator's mail offers to do in one click.
LINK_ACTIONS = (Action.APPROVE, Action.HIDE, Action.BAN)
CONFIRM_LIFETIME = timedelta(days=7)
# Long: every notification carries a fresh link, and an unsubscribe link has to keep working.
UNSUBSCRIBE_LIFETIME = timedelta(days=365)
BAN_REASON = "banned with the link in a moderators' mail"


def action_link(
    config: Config,
    tokens: Tokens,
    comment_id: int,
    action: Action,
    moderator: str,
    now: datetime,
    epoch: int | None = None,
) -> str:
    """A link for one moderator to do one thing to one comment, until the link lifetime ends
    or the moderator's account signs out everywhere (`epoch`: its session epoch; None for an
    address of COMMENTS_MODERATOR_EMAILS that has no account)."""
    token = tokens.sign(
        Purpose.MAIL_ACTION,
        {"c": comment_id, "a": action.value, "m": moderator, "e": epoch},
        now + timedelta(seconds=config.link_lifetime),
    )
    return f"{config.public_url}/mail/action?token={token}"


def confirm_link(config: Config, tokens: Tokens, email: str, now: datetime) -> str:
    token = tokens.sign(Purpose.CONFIRM_EMAIL, {"e": email}, now + CONFIRM_LIFETIME)
    return f"{config.public_url}/mail/confirm?token={token}"


def unsubscribe_link(config: Config, tokens: Tokens, email: str, now: datetime) -> str:
    token = tokens.sign(Purpose.UNSUBSCRIBE, {"e": email}, now + UNSUBSCRIBE_LIFETIME)
    return f"{config.public_url}/mail/unsubscribe?token={token}"


@dataclasses.dataclass(frozen=True)
class LinkAction:
    """What a moderator's link asks for, about which comment, in whose name."""

    action: Action
    moderator: str
    comment: Comment
    thread: Thread

    @property
    def is_moot(self) -> bool:
        """The comment is already where the action would take it (someone was quicker)."""
        if self.action is Action.BAN:
            return False
        allowed_from, _target = TRANSITIONS[self.action]
        return self.comment.status not in allowed_from


@dataclasses.dataclass(frozen=True)
class LinkOutcome:
    done: LinkAction
    changed: bool
    ban: Ban | None = None


@dataclasses.dataclass(frozen=True)
class Subscriber:
    """The address a confirm or unsubscribe link was made for, and whether it gets replies now."""

    email: str
    is_subscribed: bool


class MailLinks:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        tokens: Tokens,
        moderation: ModerationService,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.config = config
        self.tokens = tokens
        self.moderation = moderation
        self.clock = clock

    # Moderators' links

    def read_action(self, token: str) -> LinkAction:
        """What the link asks; refused when forged, expired, used, or its moderator is gone."""
        claim = _action_claim(self.tokens.read(Purpose.MAIL_ACTION, token, self.clock()))
        with transaction(self.engine) as conn:
            used = store.links.link_used_at(conn, Tokens.digest(token))
            if used is not None:
                raise _used(used)
            if not self._is_moderator(conn, claim["m"], claim.get("e")):
                raise _invalid()
            comment = store.threads.get_comment(conn, claim["c"])
            if comment is None:
                raise Problem("comment_not_found", f"Comment {claim['c']} is gone.")
            thread = store.threads.get_thread_by_id(conn, comment.thread_id)
        return LinkAction(Action(claim["a"]), claim["m"], comment, thread)

    def perform_action(self, token: str, terms: BanTerms | None = None) -> LinkOutcome:
        """Do what the link asks, once, through the moderation service (so it is audited).

        A ban takes the terms the moderator chose on the link's page (by default: 7 days, by
        email and network, or by network when the comment has no email)."""
        asked = self.read_action(token)
        terms = terms or BanTerms(None, BAN_REASON, DEFAULT_BAN_DAYS)
        digest = Tokens.digest(token)
        # Spent first, in its own transaction: of two clicks at once, exactly one acts.
        with transaction(self.engine, write=True) as conn:
            if not store.links.use_link(conn, digest, self.clock()):
                raise _used(store.links.link_used_at(conn, digest))
        try:
            if asked.action is Action.BAN:
                expires = self.clock() + timedelta(days=terms.days) if terms.days else None
                ban = self.moderation.ban(
                    asked.moderator, asked.comment.id, terms.reason, expires, True, terms.scope
                )
                return LinkOutcome(asked, True, ban)
            changed = self.moderation.change_status(
                asked.moderator, asked.action, [asked.comment.id]
            )
            return LinkOutcome(asked, bool(changed))
        except Exception:
            # Nothing was done, so the moderator may try again.
            with transaction(self.engine, write=True) as conn:
                store.links.release_link(conn, digest)
            raise

    def _is_moderator(self, conn: Connection, email: object, epoch: object) -> bool:
        """Links stop working for a moderator who was removed (or dropped from the list), and
        when their account signed out everywhere (or changed its password) since."""
        if not isinstance(email, str):
            return False
        account = store.accounts.get_moderator_by_email(conn, email.lower())
        if account is not None and account.session_epoch != epoch:
            return False
        if self.config.moderator_emails:
            return email.lower() in {address.lower() for address in self.config.moderator_emails}
        return account is not None

    # Commenters' links

    def read_subscriber(self, purpose: Purpose, token: str) -> Subscriber:
        claim = self.tokens.read(purpose, token, self.clock())
        email = claim.get("e") if claim else None
        if not isinstance(email, str) or not email:
            raise _invalid()
        with transaction(self.engine) as conn:
            return Subscriber(email, store.subscriptions.email_confirmation(conn, email))

    def confirm(self, token: str) -> Subscriber:
        """Double opt-in, second step: the owner of the address wants reply notifications."""
        subscriber = self.read_subscriber(Purpose.CONFIRM_EMAIL, token)
        with transaction(self.engine, write=True) as conn:
            store.subscriptions.confirm_email(conn, subscriber.email, self.clock())
        return Subscriber(subscriber.email, True)

    def unsubscribe(self, token: str) -> Subscriber:
        subscriber = self.read_subscriber(Purpose.UNSUBSCRIBE, token)
        with transaction(self.engine, write=True) as conn:
            store.subscriptions.unsubscribe_email(conn, subscriber.email, self.clock())
        return Subscriber(subscriber.email, False)


def _action_claim(claim: dict | None) -> dict:
    """A moderator link's payload, if it is one: a comment id and an action links may do."""
    if (
        claim is None
        or not isinstance(claim.get("c"), int)
        or claim.get("a") not in {action.value for action in LINK_ACTIONS}
    ):
        raise _invalid()
    return claim


def _invalid() -> Problem:
    return Problem(
        "link_invalid",
        "This link is not valid: it has expired, or it was changed on the way.",
    )


def _used(when: datetime | None) -> Problem:
    moment = f" on {when:%Y-%m-%d at %H:%M} UTC" if when else ""
    return Problem("link_used", f"This link was used already{moment}; it works only once.")
