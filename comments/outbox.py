"""The background sender: takes due messages from the outbox, sends them, retries with backoff.

Every worker process of every server runs one, and they share the outbox safely: a message is
claimed and leased in one short transaction (store.outbox.claim_due), sent outside any transaction,
then noted sent, or rescheduled with its error. Sending happens in a worker thread, never in a
request and never on the event loop. A sender that dies mid-send leaves a lease that ends, and
another sender tries again: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio.to_thread

from comments import db, mail, store
from comments.config import Config
from comments.db import Engine, transaction
from comments.digests import Digests
from comments.models import OutboxItem, OutboxKind
from comments.service import utc_now

log = logging.getLogger("comments.outbox")

POLL_SECONDS = 1.5
MAX_PAUSE_SECONDS = 60  # between rounds that fail (the database is down): a quieter log
# Longer than any one send may take (each network step of one gives up after a timeout).
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 12  # about a day of trying; then the row stays, with its last error
KEEP_SENT = timedelta(days=30)
TIDY_EVERY = timedelta(hours=1)
MAIL_KINDS = {OutboxKind.EMAIL, OutboxKind.DIGEST}


def retry_delay(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 1 min, 2 min, 4 min, ... at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


@dataclasses.dataclass(frozen=True)
class Round:
    """What one call of deliver_due did."""

    sent: int = 0
    failed: int = 0


class Sender:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        clock: Callable[[], datetime] = utc_now,
        digests: Digests | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.digests = digests  # writes moderators' digests when they are due
        # Set by run(), on the event loop that runs it; wake() may come from any thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._tidied: datetime | None = None

    @property
    def kinds(self) -> tuple[OutboxKind, ...]:
        """What this server can send. Messages of a kind switched off wait in the outbox."""
        enabled = []
        if self.config.mail_enabled:
            enabled.append(OutboxKind.EMAIL)
            if self.digests is not None:
                enabled.append(OutboxKind.DIGEST)
        if self.config.webhook_url:
            enabled.append(OutboxKind.WEBHOOK)
        return tuple(enabled)

    # One round, callable from tests and from the loop

    def deliver_due(self, now: datetime | None = None) -> Round:
        """Send every message due by `now` (by the clock, if not given), one claim at a time.

        When a kind's transport fails (the SMTP server is down), the other kind goes on and that
        one waits for the next round, rather than spending a timeout on each message.
        """
        kinds = set(self.kinds)
        sent = failed = 0
        while kinds and not self._stopping.is_set():
            moment = now or self.clock()
            with transaction(self.engine) as conn:
                if not store.outbox.has_due(conn, kinds, moment, MAX_ATTEMPTS):
                    break
            with transaction(self.engine, write=True) as conn:
                claimed = store.outbox.claim_due(
                    conn, kinds, moment, moment + LEASE, limit=1, max_attempts=MAX_ATTEMPTS
                )
            if not claimed:
                break
            item = claimed[0]
            error = self._send(item, moment)
            if error is None:
                sent += 1
                continue
            failed += 1
            if not error.is_permanent:
                # Digests go through the same SMTP server as the rest of the mail.
                kinds -= MAIL_KINDS if item.kind in MAIL_KINDS else {item.kind}
        return Round(sent, failed)

    def _send(self, item: OutboxItem, now: datetime) -> mail.DeliveryError | None:
        try:
            payload = json.loads(item.payload)
            if item.kind is OutboxKind.EMAIL:
                mail.send_email(self.config, payload)
            elif item.kind is OutboxKind.DIGEST and self.digests is not None:
                self.digests.send(item, now)
            else:
                mail.send_webhook(self.config, payload, now)
        except mail.DeliveryError as error:
            self._note_failure(item, error, now)
            return error
        except Exception as error:  # a bug or a bad row: keep it, with the reason
            log.exception("outbox message %d could not be sent", item.id)
            failure = mail.DeliveryError(f"{type(error).__name__}: {error}")
            self._note_failure(item, failure, now)
            return failure
        with transaction(self.engine, write=True) as conn:
            store.outbox.mark_sent(conn, item.id, now)
        return None

    def _note_failure(self, item: OutboxItem, error: mail.DeliveryError, now: datetime) -> None:
        what = f"{item.kind} {item.id} (attempt {item.attempts})"
        with transaction(self.engine, write=True) as conn:
            if error.is_permanent or item.attempts >= MAX_ATTEMPTS:
                store.outbox.give_up(conn, item.id, str(error), max(item.attempts, MAX_ATTEMPTS))
                log.error("giving up on %s: %s", what, error)
            else:
                retry = now + retry_delay(item.attempts)
                store.outbox.retry_later(conn, item.id, str(error), retry)
                log.warning("%s failed, trying again at %s: %s", what, retry, error)

    def tidy(self, now: datetime | None = None) -> None:
        """Forget what no longer matters: old sent messages, expired used links, old requests."""
        now = now or self.clock()
        with transaction(self.engine, write=True) as conn:
            store.outbox.prune_outbox(conn, now - KEEP_SENT)
            # A link used this long ago has expired anyway (a day of slack for a changed lifetime).
            lifetime = timedelta(seconds=self.config.link_lifetime) + timedelta(days=1)
            store.links.prune_used_links(conn, now - lifetime)
            store.subscriptions.prune_confirmation_requests(conn, now - mail.CONFIRMATION_INTERVAL)
            store.digests.prune_notices(conn, now - KEEP_SENT)
        self._tidied = now

    # The loop in the app's lifespan

    async def run(self) -> None:
        """Poll every POLL_SECONDS, or at once when woken, until stop() is called."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        if self.config.mail_enabled and not self.config.public_url_setting:
            log.warning(
                "COMMENTS_PUBLIC_URL is not set: links in mail point to %s", self.config.public_url
            )
        pause = POLL_SECONDS
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                await anyio.to_thread.run_sync(self._round)
                pause = POLL_SECONDS
            except Exception as error:
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
                # A database that is down is said in one line, a bug with its traceback.
                if not db.logged_fault(error, f"the outbox sender (next try in {pause} s)"):
                    log.exception("the outbox sender failed; trying again in %d s", pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), pause)

    def _round(self) -> None:
        self.deliver_due()
        now = self.clock()
        if self._tidied is None or now - self._tidied >= TIDY_EVERY:
            self.tidy(now)

    def wake(self) -> None:
        """Send now rather than at the next poll; safe from any thread, a no-op if not running."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wakeup.set)

    def stop(self) -> None:
        """Finish the message in hand, then leave run()."""
        self._stopping.set()
        self.wake()
