"""Verified readers: sign-in by a mailed link, their page, their votes, export and erasure.

A reader proves an address by following a link mailed to it (single use, minutes long) and is
then signed in on that site with a token the embed keeps in localStorage: no password, no
cookie, no third party. The token names the reader and their sign-in epoch, so "sign out
everywhere" (a new epoch) ends every copy of it at once. One intent, one transaction each.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from comments import identity, store
from comments.accounts import ACCOUNT_LINKS, NETWORK_LINKS, THROTTLE_WINDOW, count_attempt
from comments.config import Config
from comments.db import Engine, transaction
from comments.errors import Problem
from comments.models import Badge, Change, ChangeKind, Comment, Reader, Status
from comments.names import name_key
from comments.previews import PreviewLimiter
from comments.service import Notifier, utc_now
from comments.tokens import Purpose, Tokens

LINK_LIFETIME = timedelta(minutes=15)
LINK_MARK = "#comments-sign-in="  # the embed reads the link's token from the page's fragment
MY_COMMENTS = 50  # a page of the reader's own comments
# Votes given or taken back per reader and minute, in each worker: one every two seconds keeps
# up with any reader going down a thread, while each vote moves the thread's version (its pages
# are read again), so nobody may toggle a hot thread's cache away.
VOTES_PER_MINUTE = 30


@dataclass(frozen=True)
class SignedIn:
    """A reader just signed in: the token for the embed, until when, and who they are."""

    token: str
    expires: datetime
    reader: Reader
    badge: Badge | None
    notify_replies: bool
    name_taken: bool  # the name asked for went to someone else meanwhile


@dataclass(frozen=True)
class ReaderPage:
    reader: Reader
    badge: Badge | None
    notify_replies: bool
    comments: list[tuple[Comment, str, str]]  # (comment, thread URI, thread title)
    next_before: int | None


class ReaderService:
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
        self.notifier = notifier or Notifier()
        self.votes = PreviewLimiter(VOTES_PER_MINUTE, "You are voting too fast")

    # Signing in

    def ask_link(self, site: str, email: str, name: str | None, page: str, ip_hash: str) -> None:
        """Mail a sign-in link that opens `page` (a page of the site) and signs in there."""
        if not self.config.readers_sign_in:
            raise Problem("sign_in_unavailable", "This site has no sign-in (no mail is set up).")
        key = identity.key_of(name, "name") if name is not None else None
        now, email = self.clock(), email.lower()
        limits = {
            f"reader-link-net:{ip_hash}": NETWORK_LINKS,
            f"reader-link:{site}:{Tokens.digest(email)[:32]}": ACCOUNT_LINKS,
        }
        with transaction(self.engine, write=True) as conn:
            if key is not None:
                holder = store.readers.reader_by_name_key(conn, site, key)
                if holder is not None and holder.email != email:
                    raise identity.name_taken(name or "", "name")
            if count_attempt(conn, ip_hash, limits, now) is None:
                minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
                raise Problem(
                    "too_many_attempts",
                    f"Several links went to this address or network already; look for them in "
                    f"the mail, or ask again in {minutes} minutes.",
                    headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
                )
            until = now + LINK_LIFETIME
            # A nonce: two links asked within a second are two links, each good for one use.
            claim = {"s": site, "e": email, "j": secrets.token_urlsafe(6)}
            claim |= {"n": name} if name else {}
            token = self.tokens.sign(Purpose.READER_LINK, claim, until)
            link = page.split("#")[0] + LINK_MARK + token
            self.notifier.reader_link_asked(conn, email, site, link, until)

    def complete(self, site: str, link: str) -> SignedIn:
        """Spend a mailed link (once) and sign its reader in: the reader is created on their
        first sign-in, and given the name they asked for if nobody holds it."""
        now = self.clock()
        claim = self.tokens.read(Purpose.READER_LINK, link, now)
        if claim is None or claim.get("s") != site or not isinstance(claim.get("e"), str):
            raise Problem("link_invalid", "This sign-in link is invalid or expired; ask again.")
        with transaction(self.engine, write=True) as conn:
            if not store.links.use_link(conn, Tokens.digest(link), now):
                raise Problem("link_used", "This sign-in link was used already; ask again.")
            reader = store.readers.ensure_reader(conn, site, claim["e"], now)
            store.readers.signed_in(conn, reader.id, now)
            name, taken = claim.get("n"), False
            if isinstance(name, str) and name != reader.name:
                taken = not store.readers.claim_name(conn, reader.id, name, name_key(name))
            reader = store.readers.get_reader(conn, reader.id) or reader
            badge = identity.badge_of(conn, self.config, reader)
            notify = store.subscriptions.email_confirmation(conn, reader.email)
        expires = now + timedelta(seconds=self.config.reader_session_lifetime)
        token = self.tokens.sign(
            Purpose.READER, {"r": reader.id, "v": reader.session_epoch, "s": site}, expires
        )
        return SignedIn(token, expires, reader, badge, notify, taken)

    def reader_of(self, site: str, token: str | None) -> Reader:
        if not token:
            raise Problem("reader_token_invalid", "Sign in first: send your reader token.")
        with transaction(self.engine) as conn:
            return identity.signed_in_reader(conn, self.tokens, site, token, self.clock())

    def sign_out_everywhere(self, reader: Reader) -> None:
        """Every token of this reader, on every device, stops working."""
        with transaction(self.engine, write=True) as conn:
            store.readers.bump_epoch(conn, reader.id)

    # The reader's own page

    def page(self, reader: Reader, before: int | None = None) -> ReaderPage:
        with transaction(self.engine) as conn:
            found = store.readers.reader_comments(conn, reader.id, MY_COMMENTS + 1, before)
            badge = identity.badge_of(conn, self.config, reader)
            notify = store.subscriptions.email_confirmation(conn, reader.email)
        more = len(found) > MY_COMMENTS
        found = found[:MY_COMMENTS]
        return ReaderPage(reader, badge, notify, found, found[-1][0].id if more and found else None)

    def update(self, reader: Reader, name: str | None, notify_replies: bool | None) -> ReaderPage:
        """A new name (reserved at once, if nobody holds it) and the wish for reply mail, which
        needs no confirmation link: the address was proved by signing in."""
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            if name is not None:
                identity.claim_name(conn, reader, name, "name")
            if notify_replies is True:
                store.subscriptions.confirm_email(conn, reader.email, now)
            elif notify_replies is False:
                store.subscriptions.unsubscribe_email(conn, reader.email, now)
            reader = store.readers.get_reader(conn, reader.id) or reader
        return self.page(reader)

    def export(self, reader: Reader) -> dict[str, Any]:
        """Everything stored about the reader, as JSON: who they are, every comment with its
        text, their votes, and whether replies are mailed to them."""
        with transaction(self.engine) as conn:
            found = store.readers.reader_comments(conn, reader.id, 1_000_000)
            voted = store.readers.voted_comment_ids(conn, reader.id)
            notify = store.subscriptions.email_confirmation(conn, reader.email)
        return {
            "reader": {
                "id": reader.id,
                "site": reader.site,
                "email": reader.email,
                "name": reader.name,
                "created": _iso(reader.created),
                "last_sign_in": _iso(reader.last_sign_in),
                "notify_replies": notify,
            },
            "comments": [
                {
                    "id": comment.id,
                    "uri": uri,
                    "title": title,
                    "parent": comment.parent_id,
                    "text": comment.text,
                    "website": comment.website,
                    "status": comment.status.value,
                    "created": _iso(comment.created),
                    "edited": _iso(comment.edited),
                    "votes": comment.votes,
                }
                for comment, uri, title in found
            ],
            "votes": voted,
        }

    def erase(self, reader: Reader) -> dict[str, int]:
        """Forget the reader: their comments are deleted as an author deletes one (replies to
        them stay, under a placeholder), their votes taken back, reply mail and queued mail to
        them dropped, and the reader removed, which frees their name. A ban of them is kept,
        with their address, so that erasing cannot lift it."""
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            gone = store.readers.erase_comments(conn, reader.id, now)
            recounted = store.readers.erase_votes(conn, reader.id)
            removed: dict[int, list[int]] = {}
            for comment in gone:
                shown = comment.status is Status.APPROVED
                removed.setdefault(comment.thread_id, []).extend([comment.id] if shown else [])
            for thread_id in sorted(removed.keys() | recounted.keys()):
                if removed.get(thread_id) and recounted.get(thread_id):
                    change = Change(ChangeKind.RESET)
                elif thread_id in removed:
                    change = Change(ChangeKind.REMOVE, tuple(removed[thread_id]))
                else:
                    change = Change(ChangeKind.EDIT, tuple(recounted[thread_id]))
                store.threads.refresh_thread(conn, thread_id, change)
            store.subscriptions.unsubscribe_email(conn, reader.email, now)
            store.outbox.forget_mail_to(conn, reader.email)
            store.readers.delete_reader(conn, reader.id)
        votes = sum(len(ids) for ids in recounted.values())
        return {"comments": len(gone), "votes": votes, "ids": [c.id for c in gone]}

    # Votes

    def vote(self, reader: Reader, comment_id: int, up: bool) -> int:
        """The reader's one upvote on a comment, given or taken back: the comment's votes."""
        now = self.clock()
        self.votes.check(str(reader.id), now)
        with transaction(self.engine, write=True) as conn:
            comment = store.threads.get_comment(conn, comment_id)
            thread = store.threads.find_thread(conn, comment.thread_id) if comment else None
            if (
                comment is None
                or comment.status is not Status.APPROVED
                or (thread is None or thread.site != reader.site)
            ):
                raise Problem("comment_not_found", f"There is no comment {comment_id}.")
            if comment.reader_id == reader.id:
                raise Problem("own_comment", "Your own comments take no votes from you.")
            store.threads.lock_thread(conn, comment.thread_id)
            changed = (
                store.readers.add_vote(conn, comment_id, reader.id, now)
                if up
                else store.readers.remove_vote(conn, comment_id, reader.id)
            )
            if changed:  # the page shows the count: its cached copies go out of date
                edit = Change(ChangeKind.EDIT, (comment_id,))
                store.threads.refresh_thread(conn, comment.thread_id, edit)
            return store.readers.vote_count(conn, comment_id)

    def votes_in(self, reader: Reader, uri: str) -> tuple[list[int], list[int]]:
        """The comments of a thread the reader upvoted, and those they wrote (pages are the
        same for everyone: this is how the embed marks the reader's votes and own comments)."""
        with transaction(self.engine) as conn:
            thread = store.threads.get_thread(conn, reader.site, uri)
            if thread is None:
                return [], []
            voted = store.readers.voted_comment_ids(conn, reader.id, thread.id)
            return voted, store.readers.own_comment_ids(conn, reader.id, thread.id)


def page_origin(page: str) -> str | None:
    """The origin of an http(s) page address, or None for anything else."""
    try:
        parts = urlsplit(page)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
