"""Moderators' digests, written when sent: every comment that arrived for one moderator since the
last message, in one message with one-click links for each.

The notifier (mail.py) only notes each comment for each moderator and plans one waiting digest
per address (an outbox row; a partial unique index keeps it to one). The sender claims that row
with its lease like any message, then calls `send`: the notices are taken for this digest in one
transaction, so of two senders each notice goes out in one message only, and a retried digest
takes the ones it took before along with any that came since.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from comments import mail, store
from comments.db import Engine, transaction
from comments.mail import MailNotifier
from comments.models import Comment, OutboxItem, Status, Thread
from comments.service import utc_now

# Past this many comments a digest names how many more wait in the queue instead.
MAX_LISTED = 100


class Digests:
    def __init__(
        self, engine: Engine, notifier: MailNotifier, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.clock = clock

    def send(self, item: OutboxItem, now: datetime) -> None:
        """Write and send one digest; DeliveryError when the SMTP server does not take it."""
        address = json.loads(item.payload)["to"]
        with transaction(self.engine, write=True) as conn:
            found = store.digests.gather_notices(conn, item.id, address)
            epoch = store.accounts.session_epochs(conn).get(address.lower())
        # The same comment noted twice (held, then reported) is listed once.
        unique = list({comment.id: (comment, thread) for comment, thread, _ in found}.values())
        if not unique:
            return  # another digest took them (or they were erased): nothing to say
        if len(unique) == 1:
            subject = self.notifier.moderators_subject(*unique[0])
            text = self.notifier.moderators_text(*unique[0], address, epoch)
        else:
            subject, text = self._digest(unique, address, epoch, found[0][2])
        config = self.notifier.config
        payload = {
            "to": address,
            "subject": " ".join(subject.split()),
            "text": text,
            "headers": {},
            # Fixed by the outbox row, so a digest sent twice is recognisably one message.
            "date": mail.format_datetime(item.created),
            "message_id": f"<digest.{item.id}@{mail.domain_of(config)}>",
        }
        mail.send_email(config, payload)

    def _digest(
        self, found: list[tuple[Comment, Thread]], address: str, epoch: int | None, since: datetime
    ) -> tuple[str, str]:
        pending = sum(comment.status is Status.PENDING for comment, _ in found)
        sites = sorted({thread.site for _, thread in found})
        where = sites[0] if len(sites) == 1 else f"{len(sites)} sites"
        what = f"{pending} comments to review" if pending else f"{len(found)} new comments"
        subject = f"[{where}] {what}" + (
            f" ({len(found)} new)" if pending and pending != len(found) else ""
        )
        sections = [
            f"{number}. {self._state(comment)}\n\n"
            + self.notifier.moderators_section(comment, thread, address, epoch)
            for number, (comment, thread) in enumerate(found[:MAX_LISTED], 1)
        ]
        rest = len(found) - MAX_LISTED
        text = mail.paragraphs(
            f"{len(found)} comments arrived since {mail.date_of(since)}"
            + (f", {pending} of them waiting for your review." if pending else "."),
            *(("-" * 40 + "\n\n" + section) for section in sections),
            *([f"... and {rest} more: see the moderation queue."] if rest > 0 else []),
            "-" * 40,
            self.notifier.moderators_footer(address),
        )
        return subject, text

    @staticmethod
    def _state(comment: Comment) -> str:
        if comment.status is Status.PENDING:
            reason = mail.HELD_REASONS.get(comment.held_reason or "", comment.held_reason or "")
            return "Waiting for review" + (f": {reason}." if reason else ".")
        return f"Now {mail.STATUS_WORDS[comment.status]}."
