"""Moderators' mail that scales: coalescing and digests, against a real SMTP server (aiosmtpd).

As in test_mail.py, the app sends nothing by itself: each test drives the outbox with
deliver_due() and the hand-moved clock.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest

from comments import config as settings
from comments import db, mail, store
from comments.config import ConfigError
from comments.models import ModeratorMail, OutboxKind, Status
from tests import test_mail
from tests.helpers import free_port, post
from tests.test_mail import ANN, BOB, deliver, local, text_of

# The SMTP server and the app, as test_mail.py builds them.
# (smtp_on and mailbox are conftest's)
make = test_mail.make


def listed(message) -> list[int]:
    """The comment ids a moderators' message lists, in order."""
    return [int(found) for found in re.findall(r"^Comment:\s+#(\d+)", text_of(message), re.M)]


def links_of(message, label: str) -> list[str]:
    return [local(url) for url in re.findall(re.escape(label) + r":\n(\S+)", text_of(message))]


def flood(client, clock, count: int, seconds: float, deliver_each: bool = True) -> list[int]:
    """`count` held comments spread over `seconds`, the sender running after each one."""
    ids = []
    for number in range(count):
        ids.append(post(client, f"Flood comment {number}", author=f"Troll {number}")["id"])
        if deliver_each:
            deliver(client)
        clock.advance(seconds=seconds / count)
    return ids


def test_a_flood_at_once_mode_gives_one_message_per_moderator_per_window(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}")
    first, *rest = flood(client, clock, 50, 120)  # 50 held comments in 2 minutes

    # The first is told at once, alone, as before; the 49 after it wait for the window's end.
    for moderator in (ANN, BOB):
        (message,) = mailbox.to(moderator)
        assert listed(message) == [first]
        assert message["Subject"] == "[blog.example] Comment to review on /post/"
    clock.advance(minutes=2, seconds=59)  # 4:59 after the first
    assert deliver(client).sent == 0
    clock.advance(seconds=1)
    assert deliver(client).sent == 2
    for moderator in (ANN, BOB):
        message = mailbox.to(moderator)[-1]
        assert listed(message) == rest
        assert message["Subject"] == "[blog.example] 49 comments to review"
        assert "49 comments arrived since 2026-11-29 12:00 UTC" in text_of(message)
        assert len(links_of(message, "Approve it")) == 49
        assert f"in your name ({moderator})" in text_of(message)
    assert len(mailbox.received) == 4

    # A comment after a quiet window is told at once again.
    clock.advance(minutes=6)
    later = post(client, "Later, alone")["id"]
    assert deliver(client).sent == 2
    assert [listed(mailbox.to(moderator)[-1]) for moderator in (ANN, BOB)] == [[later], [later]]


def test_an_hourly_digest_lists_all_fifty_and_its_links_work(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}", moderator_mail="hourly")
    clock.advance(minutes=10)  # 12:10
    ids = flood(client, clock, 50, 120)
    assert mailbox.received == []
    clock.now = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    assert deliver(client).sent == 2
    for moderator in (ANN, BOB):
        (message,) = mailbox.to(moderator)
        assert listed(message) == ids
        assert message["Subject"] == "[blog.example] 50 comments to review"
    digest = mailbox.to(ANN)[0]
    approve, hide = links_of(digest, "Approve it"), links_of(digest, "Hide it")
    assert client.post(approve[0]).status_code == 200
    assert client.post(hide[1]).status_code == 200
    assert client.post(approve[0]).status_code == 409  # once only
    with db.transaction(client.app.state.service.engine) as conn:
        statuses = [store.threads.get_comment(conn, id).status for id in ids[:3]]
    assert statuses == [Status.APPROVED, Status.HIDDEN, Status.PENDING]
    entries = client.app.state.moderation.audit()[0]
    assert {(entry.moderator, entry.comment_id) for entry in entries} == {
        (ANN, ids[0]),
        (ANN, ids[1]),
    }

    # The next comment goes in the next hour's digest, which also says what is left.
    clock.advance(minutes=20)
    later = post(client, "After the digest")["id"]
    assert deliver(client).sent == 0
    clock.now = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
    assert deliver(client).sent == 2
    assert listed(mailbox.to(BOB)[-1]) == [later]


def test_a_daily_digest_goes_at_its_hour(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=ANN, moderator_mail="daily 07:30")
    ids = [post(client, f"Comment {number}")["id"] for number in range(3)]
    clock.now = datetime(2026, 11, 30, 7, 29, tzinfo=UTC)
    assert deliver(client).sent == 0
    clock.advance(minutes=1)
    assert deliver(client).sent == 1
    assert listed(mailbox.to(ANN)[0]) == ids


def test_two_senders_send_one_digest(make, mailbox, clock):
    """Two workers' senders at once: each moderator still gets one message listing everything."""
    first = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}", moderator_mail="hourly")
    second = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}", moderator_mail="hourly")
    clock.advance(minutes=1)
    ids = [post(client, f"Comment {n}")["id"] for n in range(10) for client in (first, second)]
    with db.transaction(first.app.state.service.engine) as conn:
        waiting = [item for item in store.outbox.list_outbox(conn) if item.sent is None]
    assert [item.kind for item in waiting] == [OutboxKind.DIGEST] * 2  # one per moderator
    clock.now = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    start = threading.Barrier(2)

    def send(client):
        start.wait()
        deliver(client)

    workers = [threading.Thread(target=send, args=(client,)) for client in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(recipients[0] for recipients, _ in mailbox.received) == [ANN, BOB]
    for moderator in (ANN, BOB):
        assert listed(mailbox.to(moderator)[0]) == ids


def test_a_failed_digest_is_retried_with_what_came_meanwhile(make, smtp_on, clock):
    port = free_port()
    client = make(moderation="pre", moderator_emails=ANN, smtp_port=str(port))
    first = post(client, "While the server is down")["id"]
    assert deliver(client).failed == 1
    clock.advance(seconds=10)
    second = post(client, "Also while down")["id"]
    box = smtp_on(port)
    clock.advance(seconds=25)  # the retry is due 30 s after the failure
    assert deliver(client).sent == 1
    assert [listed(message) for _, message in box.received] == [[first, second]]
    clock.advance(minutes=10)
    deliver(client)  # the digest planned for the second finds it taken and stays silent
    assert len(box.received) == 1


def test_window_zero_keeps_one_message_per_comment(make, mailbox):
    client = make(moderation="pre", moderator_emails=ANN, moderator_mail_window="0")
    for number in range(3):
        post(client, f"Comment {number}")
    assert deliver(client).sent == 3


@pytest.mark.parametrize(
    ("value", "mode", "hour"),
    [
        ("immediate", ModeratorMail.IMMEDIATE, 7 * 3600),
        ("hourly", ModeratorMail.HOURLY, 7 * 3600),
        ("daily", ModeratorMail.DAILY, 7 * 3600),
        ("Daily 18:45", ModeratorMail.DAILY, 18 * 3600 + 45 * 60),
    ],
)
def test_moderator_mail_settings(tmp_path, value, mode, hour):
    config = settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_MODERATOR_MAIL": value})
    assert (config.moderator_mail, config.moderator_mail_time) == (mode, hour)


@pytest.mark.parametrize("value", ["weekly", "hourly 07:00", "daily 25:00", "daily 7"])
def test_moderator_mail_refuses_what_it_cannot_do(tmp_path, value):
    with pytest.raises(ConfigError, match="COMMENTS_MODERATOR_MAIL: invalid value"):
        settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_MODERATOR_MAIL": value})


def test_digest_times(tmp_path):
    def due(value, now, previous=None, window="5m"):
        config = settings.load(
            {
                "COMMENTS_DATA_DIR": str(tmp_path),
                "COMMENTS_MODERATOR_MAIL": value,
                "COMMENTS_MODERATOR_MAIL_WINDOW": window,
            }
        )
        return mail.digest_due(config, previous, datetime.fromisoformat(now))

    assert due("immediate", "2026-11-29T12:00:00+00:00") == datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert due("immediate", "2026-11-29T12:01:00+00:00", "2026-11-29T12:00:00Z") == datetime(
        2026, 11, 29, 12, 5, tzinfo=UTC
    )
    assert due("hourly", "2026-11-29T12:00:01+00:00") == datetime(2026, 11, 29, 13, tzinfo=UTC)
    assert due("daily", "2026-11-29T08:00:00+01:00") == datetime(2026, 11, 29, 7, tzinfo=UTC)
    assert due("daily", "2026-11-29T08:00:01+00:00") == datetime(2026, 11, 30, 7, tzinfo=UTC)
