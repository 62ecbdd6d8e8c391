"""Mail and webhooks out: who is told what, and the two ways of telling (SMTP, a signed POST).

The notifier runs inside the transaction of the event it reports and only queues messages in
the outbox, so a message exists exactly when its event committed; the sender (outbox.py) sends
them later, in the background. This is the only module that speaks SMTP or builds mail.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from comments import db, links, store
from comments.config import Config
from comments.db import Connection
from comments.models import (
    Action,
    Comment,
    ModeratorMail,
    Notify,
    OutboxKind,
    SmtpSecurity,
    Status,
    Thread,
)
from comments.service import Notifier, utc_now
from comments.tokens import Tokens

log = logging.getLogger("comments.mail")

SMTP_TIMEOUT = 30  # seconds per network step; the outbox lease is far longer
WEBHOOK_TIMEOUT = 15
# A stranger's address typed into the form gets at most one confirmation link per day.
CONFIRMATION_INTERVAL = timedelta(days=1)
EXCERPT = 300  # characters of the parent comment quoted in a reply notification
# Why a comment waits, as moderators read it (the codes are the service's held_reason).
HELD_REASONS = {
    "pre": "every comment is reviewed before it appears",
    "trusted": "a new commenter's comments are reviewed until one is approved",
    "newcomer": "its thread is under a surge, and its author's first comments are reviewed",
    "links": "it has many links",
    "words": "it contains a blocked word",
    "too_fast": "it was sent faster than people write",
    "no_stamp": "it came without the comment form's stamp (a script?)",
    "honeypot": "it filled in a field people never see (a bot?)",
    "banned": "its author is banned",
    "banned_network": "it comes from a banned network under another email: a neighbour, or "
    "the banned author under a new name",
    "reported": "readers reported it",
}
STATUS_WORDS = {
    Status.APPROVED: "published",
    Status.PENDING: "waiting for review",
    Status.HIDDEN: "hidden",
    Status.DELETED: "deleted",
}


class DeliveryError(Exception):
    """A message did not go out; `is_permanent` when trying again cannot help."""

    def __init__(self, message: str, *, is_permanent: bool = False) -> None:
        super().__init__(message)
        self.is_permanent = is_permanent


class MailNotifier(Notifier):
    """Queues moderators' mail, reply notifications, confirmation links and webhooks.

    Every method runs inside the caller's write transaction and only writes outbox rows.
    `wake` is called after that transaction commits, to send without waiting for the next poll.
    """

    def __init__(
        self,
        config: Config,
        tokens: Tokens,
        clock: Callable[[], datetime] = utc_now,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.clock = clock
        self.wake = wake

    # Events

    def comment_posted(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        self._queue_webhook(conn, "comment.created", [(comment, thread)])
        if comment.status is Status.PENDING or self.config.notify_moderators is Notify.ALL:
            self._tell_moderators(conn, comment, thread)
        if comment.status is Status.APPROVED:
            self._comment_published(conn, comment, thread)

    def comment_held(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        """Readers' reports took a published comment back for review."""
        self._queue_webhook(conn, "comment.held", [(comment, thread)])
        self._tell_moderators(conn, comment, thread)

    def sign_in_link_asked(self, conn: Connection, email: str, link: str, until: datetime) -> None:
        """A moderator asked for a sign-in link on the sign-in page."""
        self._queue_mail(
            conn,
            email,
            "Your sign-in link",
            paragraphs(
                "Someone, probably you, asked for a link to sign in to moderate comments at "
                f"{self.config.public_url}. It signs you in once, until {until:%H:%M} UTC:\n{link}",
                "If it was not you, ignore this message: nobody can sign in without the link. "
                "Someone may be guessing your password: sign-ins with it stay possible from "
                "other networks than theirs.",
            ),
        )

    def reader_link_asked(
        self, conn: Connection, email: str, site: str, link: str, until: datetime
    ) -> None:
        """A reader asked the embed for a sign-in link."""
        self._queue_mail(
            conn,
            email,
            f"[{site}] Your sign-in link",
            paragraphs(
                f"Someone, probably you, asked to sign in to comment on {site}. This link signs "
                f"you in there, once, until {until:%H:%M} UTC:\n{link}",
                "Signed in, your name is yours on the site: nobody else can comment under it. "
                "If it was not you, ignore this message: nobody can sign in without the link.",
            ),
        )

    def moderator_acted(
        self, conn: Connection, moderator: str, action: Action, changed: list[Comment]
    ) -> None:
        """ModerationService's on_action: a webhook, and news of comments now published."""
        threads: dict[int, Thread] = {}
        for comment in changed:
            if comment.thread_id not in threads:
                threads[comment.thread_id] = store.threads.get_thread_by_id(conn, comment.thread_id)
        pairs = [(comment, threads[comment.thread_id]) for comment in changed]
        if pairs:
            self._queue_webhook(
                conn, "comment.moderated", pairs, action=action.value, moderator=moderator
            )
        if action in (Action.APPROVE, Action.RESTORE):
            for comment, thread in pairs:
                if comment.status is Status.APPROVED:
                    self._comment_published(conn, comment, thread)

    # Who is told

    def _comment_published(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        """Readers can see it now: tell its parent's author, and ask its author to confirm.

        Held comments wait until a moderator approves them, so a spammer's comment that is
        never published never makes the server mail the address typed into the form.
        """
        if not self.config.mail_enabled:
            return
        self._tell_parent_author(conn, comment, thread)
        self._ask_to_confirm(conn, comment, thread)

    def _tell_moderators(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        if not self.config.mail_enabled or self.config.notify_moderators is Notify.OFF:
            return
        addresses = self.config.moderator_emails or tuple(store.accounts.moderator_emails(conn))
        epochs = store.accounts.session_epochs(conn)
        for address in _unique(addresses):
            if is_coalescing(self.config):
                self._queue_notice(conn, address, comment)
                continue
            self._queue_mail(
                conn,
                address,
                self.moderators_subject(comment, thread),
                self.moderators_text(comment, thread, address, epochs.get(address.lower())),
            )

    def _tell_parent_author(self, conn: Connection, reply: Comment, thread: Thread) -> None:
        if reply.parent_id is None:
            return
        parent = store.threads.get_comment(conn, reply.parent_id)
        # A verified reader's wish is their reader page's (their address's confirmation), not the
        # box they ticked on this comment.
        if parent is None or not (parent.notify or parent.reader_id) or not parent.email:
            return
        if parent.status is Status.DELETED:
            return
        if reply.email and reply.email.lower() == parent.email.lower():
            return  # answering oneself is no news
        # Once per reply, even if it is hidden and restored later; and a reply that came while
        # the address was unconfirmed is not announced later either.
        if not store.subscriptions.note_reply_notice(conn, reply.id, self.clock()):
            return
        if not store.subscriptions.email_confirmation(conn, parent.email):
            return  # never mail an address its owner did not confirm (or unsubscribed)
        unsubscribe = links.unsubscribe_link(self.config, self.tokens, parent.email, self.clock())
        self._queue_mail(
            conn,
            parent.email,
            f"[{thread.site}] New reply to your comment on {_title(thread)}",
            self._reply_text(reply, parent, thread, unsubscribe),
            {
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )

    def _ask_to_confirm(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        """Double opt-in, first step: a link to the address, at most once a day."""
        if not comment.notify or not comment.email:
            return
        if store.subscriptions.email_confirmation(conn, comment.email):
            return
        if not is_mailable(comment.email):
            return
        now = self.clock()
        if not store.subscriptions.ask_confirmation(
            conn, comment.email, now, now - CONFIRMATION_INTERVAL
        ):
            return
        link = links.confirm_link(self.config, self.tokens, comment.email, now)
        until = date_of(now + links.CONFIRM_LIFETIME)
        # Nothing a commenter wrote goes into this message: it may reach a stranger.
        self._queue_mail(
            conn,
            comment.email,
            f"[{thread.site}] Confirm reply notifications",
            paragraphs(
                f"Someone, probably you, commented on {thread.site} with this address and asked "
                "to be told by mail when somebody replies.",
                f"To receive these messages, confirm your address:\n{link}",
                "If it was not you, ignore this message: nothing more will be sent to this "
                f"address unless it is confirmed. The link works until {until}.",
            ),
        )

    # What they are told

    def moderators_subject(self, comment: Comment, thread: Thread) -> str:
        what = "Comment to review" if comment.status is Status.PENDING else "New comment"
        return f"[{thread.site}] {what} on {_title(thread)}"

    def moderators_text(
        self, comment: Comment, thread: Thread, moderator: str, epoch: int | None
    ) -> str:
        if comment.status is Status.PENDING:
            reason = HELD_REASONS.get(comment.held_reason or "", comment.held_reason or "")
            opening = "A comment is waiting for your review" + (f": {reason}." if reason else ".")
        else:
            opening = f"A new comment was {STATUS_WORDS[comment.status]}."
        return paragraphs(
            opening,
            self.moderators_section(comment, thread, moderator, epoch),
            self.moderators_footer(moderator),
        )

    def moderators_section(
        self, comment: Comment, thread: Thread, moderator: str, epoch: int | None
    ) -> str:
        """One comment as moderators are told of it: where, who, what, and the one-click links
        (carrying the moderator's session epoch: "Sign out everywhere" ends them too)."""
        reply = f", a reply to #{comment.parent_id}" if comment.parent_id else ""
        details = [
            ("Thread", f"{_title(thread)}\n{thread_url(self.config, thread)}"),
            ("Author", comment.author or "(no name)"),
            ("Email", comment.email or "(none)"),
            ("Website", comment.website or "(none)"),
            ("Comment", f"#{comment.id}{reply}"),
        ]
        if comment.status is Status.APPROVED:  # readers see it: its permalink opens it there
            details.append(("Link", f"{thread_url(self.config, thread)}#comment-{comment.id}"))
        offered = [Action.APPROVE] if comment.status is not Status.APPROVED else []
        if comment.status is not Status.HIDDEN:
            offered.append(Action.HIDE)
        offered.append(Action.BAN)
        labels = {
            Action.APPROVE: "Approve it",
            Action.HIDE: "Hide it",
            Action.BAN: "Ban its author (and hide it)",
        }
        now = self.clock()
        actions = "\n\n".join(
            f"{labels[action]}:\n"
            + links.action_link(self.config, self.tokens, comment.id, action, moderator, now, epoch)
            for action in offered
        )
        return "\n\n".join(
            [
                "\n".join(_field(name, value) for name, value in details),
                _quote(comment.text),
                actions,
            ]
        )

    def moderators_footer(self, moderator: str) -> str:
        expires = self.clock() + timedelta(seconds=self.config.link_lifetime)
        return paragraphs(
            "Each link opens a page that asks you to confirm; it works once, until "
            f"{date_of(expires)}, in your name ({moderator}).",
            f"The moderation queue: {self.config.public_url}/admin",
        ).rstrip("\n")

    def _reply_text(self, reply: Comment, parent: Comment, thread: Thread, unsubscribe: str) -> str:
        excerpt = parent.text if len(parent.text) <= EXCERPT else parent.text[:EXCERPT] + "…"
        return paragraphs(
            f"{reply.author or 'Someone'} replied to your comment on {_title(thread)}:",
            _quote(reply.text),
            f"Read the thread and answer:\n{thread_url(self.config, thread)}#comment-{reply.id}",
            f"Your comment:\n{_quote(excerpt)}",
            "You get this message because you asked to be told of replies to your comments on "
            f"{thread.site}. To stop all of them, open this link:\n{unsubscribe}",
        )

    # Into the outbox

    def _queue_notice(self, conn: Connection, address: str, comment: Comment) -> None:
        """Note the comment for the address's next digest, and plan that digest if none waits.

        The digest is written when it is sent, from what arrived by then (digests.py).
        """
        if not is_mailable(address):
            log.warning("not mailing %r: not an address mail can go to", address)
            return
        now = self.clock()
        store.digests.add_notice(conn, address, comment.id, now)
        last = store.digests.last_digest_to(conn, address)
        due = digest_due(self.config, json.loads(last.payload)["planned"] if last else None, now)
        payload = json.dumps({"to": address, "planned": _iso(due)})
        if store.digests.plan_digest(conn, address, payload, due, now) and due <= now:
            db.after_commit(conn, self.wake)

    def _queue_mail(
        self,
        conn: Connection,
        to: str,
        subject: str,
        text: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not is_mailable(to):
            log.warning("not mailing %r: not an address mail can go to", to)
            return
        now = self.clock()
        payload = {
            "to": to,
            "subject": " ".join(subject.split()),  # no line breaks can reach a header
            "text": text,
            "headers": headers or {},
            # Fixed now, so a message sent twice (a sender died before noting it sent) is
            # recognisably one message.
            "date": format_datetime(now),
            "message_id": make_msgid(domain=domain_of(self.config)),
        }
        store.outbox.queue_message(conn, OutboxKind.EMAIL, json.dumps(payload), now, recipient=to)
        db.after_commit(conn, self.wake)

    def _queue_webhook(
        self,
        conn: Connection,
        event: str,
        pairs: Iterable[tuple[Comment, Thread]],
        **details: str,
    ) -> None:
        if not self.config.webhook_url:
            return
        now = self.clock()
        delivery = uuid.uuid4().hex
        body = {
            "id": delivery,
            "event": event,
            "created": _iso(now),
            **details,
            "comments": [webhook_comment(self.config, *pair) for pair in pairs],
        }
        payload = {
            "event": event,
            "delivery": delivery,
            # Kept as the exact bytes to sign and send.
            "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        }
        store.outbox.queue_message(conn, OutboxKind.WEBHOOK, json.dumps(payload), now)
        db.after_commit(conn, self.wake)


def is_coalescing(config: Config) -> bool:
    """Whether moderators' mail goes in digests (else one message per comment, at once)."""
    return config.moderator_mail is not ModeratorMail.IMMEDIATE or config.moderator_mail_window > 0


def digest_due(config: Config, previous: str | None, now: datetime) -> datetime:
    """When the next digest to a moderator goes: at once, at the next full hour, or at the
    daily hour (UTC), and never sooner than one window or period after the previous one."""
    if config.moderator_mail is ModeratorMail.IMMEDIATE:
        period, due = timedelta(seconds=config.moderator_mail_window), now
    elif config.moderator_mail is ModeratorMail.HOURLY:
        period = timedelta(hours=1)
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        due = hour if hour == now else hour + period
    else:
        period = timedelta(days=1)
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        due = day + timedelta(seconds=config.moderator_mail_time)
        due = due if due >= now else due + period
    if previous is not None:
        due = max(due, datetime.fromisoformat(previous) + period)
    return due


def webhook_comment(config: Config, comment: Comment, thread: Thread) -> dict[str, Any]:
    """A comment as the webhook tells it: no email, no address hash."""
    url = thread_url(config, thread)
    return {
        "id": comment.id,
        "parent": comment.parent_id,
        "status": comment.status.value,
        "held_reason": comment.held_reason,
        "author": comment.author,
        "website": comment.website,
        "text": comment.text,
        "html": comment.html,
        "created": _iso(comment.created),
        "edited": _iso(comment.edited),
        "url": f"{url}#comment-{comment.id}",
        "thread": {"site": thread.site, "uri": thread.uri, "title": thread.title, "url": url},
    }


def thread_url(config: Config, thread: Thread) -> str:
    """Where readers find the thread: on its site's origin (or this server, for its demo)."""
    return (config.origin_of_site(thread.site) or config.public_url) + thread.uri


def is_mailable(address: str) -> bool:
    """One plain address a message can be sent to (no display name, no list, no line breaks)."""
    try:
        parsed = Address(addr_spec=address)
    except (HeaderParseError, ValueError, IndexError):
        return False
    return parsed.addr_spec == address and "@" in address


# Sending


def send_email(config: Config, payload: dict[str, Any]) -> None:
    """Hand one queued message to the SMTP server; DeliveryError when it does not take it."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = config.mail_from
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = payload["date"]
    message["Message-ID"] = payload["message_id"]
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    for name, value in payload["headers"].items():
        message[name] = value
    message.set_content(payload["text"])
    try:
        with _connect(config) as smtp:
            smtp.send_message(message, from_addr=config.mail_from, to_addrs=[payload["to"]])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _text in error.recipients.values()]
        raise DeliveryError(
            f"the server refused the recipient: {_smtp_reasons(error.recipients)}",
            # 5xx: the address does not exist or is not wanted; asking again will not help.
            is_permanent=all(500 <= code < 600 for code in codes),
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}") from error


def _connect(config: Config) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.smtp_security is SmtpSecurity.SSL:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT, context=context
        )
    else:
        smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT)
    try:
        if config.smtp_security is SmtpSecurity.STARTTLS:
            # Raises when the server offers no STARTTLS: never fall back to plain text.
            smtp.starttls(context=context)
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _smtp_reasons(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {text.decode(errors='replace')}"
        for address, (code, text) in recipients.items()
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a GET without its body: count it as a failure."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def webhook_signature(secret: str, body: bytes) -> str:
    """`X-Comments-Signature`: the HMAC-SHA256 of the body, keyed with the webhook secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(config: Config, payload: dict[str, Any], now: datetime) -> None:
    """POST one queued event to the webhook; DeliveryError unless it answers 2xx."""
    body = payload["body"].encode()
    request = urllib.request.Request(
        config.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "comments-webhook/1",
            "X-Comments-Event": payload["event"],
            "X-Comments-Delivery": payload["delivery"],
            "X-Comments-Timestamp": str(int(now.timestamp())),
            "X-Comments-Signature": webhook_signature(config.webhook_secret, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=WEBHOOK_TIMEOUT) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        # The error is the unread response: left open, its socket lingers until some garbage
        # collection, long after this message was rescheduled.
        error.close()
        raise DeliveryError(f"the webhook answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}") from error


# Little helpers


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    found = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    return found


def domain_of(config: Config) -> str:
    return config.mail_from.rpartition("@")[2] or "localhost"


def _title(thread: Thread) -> str:
    return f"“{thread.title}”" if thread.title else thread.uri


def _field(name: str, value: str) -> str:
    lines = value.splitlines() or [""]
    return "\n".join([f"{name + ':':<9} {lines[0]}", *(f"{'':<9} {line}" for line in lines[1:])])


def _quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in (text.splitlines() or [""]))


def paragraphs(*parts: str) -> str:
    return "\n\n".join(parts) + "\n"


def date_of(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # As the HTTP API writes times, so receivers parse one format.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
