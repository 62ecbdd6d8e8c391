"""Mail and webhooks end to end: a real SMTP server (aiosmtpd) and a real HTTP receiver.

The app under test sends nothing by itself (send_in_background=False): each test drives the
outbox with deliver_due() and the hand-moved clock, so nothing here waits on real time except
the one test of the background loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from comments import config as settings
from comments import db, store
from comments.app import create_app
from comments.config import ConfigError
from comments.links import BAN_REASON
from comments.models import Action, OutboxItem, OutboxKind, QueueView, Status
from comments.outbox import LEASE, MAX_ATTEMPTS, Round, retry_delay
from tests.helpers import DEFENSES_OFF, ORIGIN, SECRET, free_port, post

MAIL_FROM = "comments@blog.example"
PUBLIC_URL = "https://comments.example"
ANN, BOB = "ann@mods.example", "bob@mods.example"
LABELS = {"approve": "Approve it", "hide": "Hide it", "ban": "Ban its author (and hide it)"}


# A real webhook receiver


@dataclasses.dataclass
class Hook:
    url: str
    received: list[tuple[object, bytes]] = dataclasses.field(default_factory=list)
    statuses: list[int] = dataclasses.field(default_factory=list)  # answers to come; then 200


@pytest.fixture
def hook() -> Iterator[Hook]:
    received: Hook | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.received.append((self.headers, body))
            status = received.statuses.pop(0) if received.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received = Hook(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()
    thread.join()


# The app


def settings_for(database_url: str, data_dir, **environ: str) -> settings.Config:
    return settings.load(
        {
            "COMMENTS_DATA_DIR": str(data_dir),
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_SECRET_KEY": SECRET,
            "COMMENTS_ORIGINS": ORIGIN,
            **DEFENSES_OFF,
            "COMMENTS_PASSWORD_MEMORY": "8",
            "COMMENTS_SMTP_SECURITY": "none",
            "COMMENTS_MAIL_FROM": MAIL_FROM,
            "COMMENTS_PUBLIC_URL": PUBLIC_URL,
            **{f"COMMENTS_{key.upper()}": value for key, value in environ.items()},
        }
    )


@pytest.fixture
def make(database_url, clock, tmp_path, mailbox) -> Iterator:
    """`make(moderation="pre", ...)`: a client of an app mailing through `mailbox` by default."""
    clients: list[TestClient] = []

    def build(**environ: str) -> TestClient:
        environ = {"smtp_host": "127.0.0.1", "smtp_port": str(mailbox.port), **environ}
        app = create_app(
            settings_for(database_url, tmp_path, **environ), clock, send_in_background=False
        )
        client = TestClient(app, headers={"Origin": ORIGIN}, client=("127.0.0.1", 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def deliver(client: TestClient) -> Round:
    return client.app.state.sender.deliver_due()


def outbox(client: TestClient) -> list[OutboxItem]:
    with db.transaction(client.app.state.service.engine) as conn:
        return sorted(store.outbox.list_outbox(conn), key=lambda item: item.id)


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def action_links(message: EmailMessage) -> dict[str, str]:
    """{"approve": path, ...}: the moderators' links, as paths on the test client."""
    found = {}
    for action, label in LABELS.items():
        match = re.search(re.escape(label) + r":\n(\S+)", text_of(message))
        if match:
            found[action] = local(match[1])
    return found


def link_to(message: EmailMessage, route: str) -> str:
    (url,) = re.findall(r"https://comments\.example" + route + r"\?token=\S+", text_of(message))
    return local(url)


def local(url: str) -> str:
    """A link from a message, on the test client (the public URL is another host)."""
    assert url.startswith(PUBLIC_URL + "/mail/")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def visible_ids(client: TestClient, uri: str = "/post/") -> list[int]:
    comments = client.get("/api/threads", params={"uri": uri}).json()["comments"]
    return [comment["id"] for comment in comments if comment["status"] == "approved"]


def ip_hash_of(client: TestClient, comment_id: int) -> str:
    with db.transaction(client.app.state.service.engine) as conn:
        return store.threads.get_comment(conn, comment_id).ip_hash


# Moderators' mail


def test_a_held_comment_is_mailed_to_every_moderator_with_links(make, mailbox):
    client = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}")
    created = post(
        client,
        "Is this **spam**?\nSecond line",
        uri="/2026/post/",
        title="A post",
        author="Eve",
        email="eve@example.org",
        website="https://eve.example",
    )
    assert created["status"] == "pending"

    assert deliver(client) == Round(sent=2)
    assert sorted(recipients[0] for recipients, _message in mailbox.received) == [ANN, BOB]
    for moderator in (ANN, BOB):
        (message,) = mailbox.to(moderator)
        text = text_of(message)
        assert message["From"] == MAIL_FROM
        assert message["Subject"] == "[blog.example] Comment to review on “A post”"
        assert message["Auto-Submitted"] == "auto-generated"
        for expected in (
            "> Is this **spam**?",
            "> Second line",
            "https://blog.example/2026/post/",
            "Eve",
            "eve@example.org",
            "https://eve.example",
            "every comment is reviewed before it appears",
            f"in your name ({moderator})",
        ):
            assert expected in text
        assert set(action_links(message)) == {"approve", "hide", "ban"}
        assert ip_hash_of(client, created["id"]) not in text
    # Each moderator's links act in that moderator's name.
    assert action_links(mailbox.to(ANN)[0]) != action_links(mailbox.to(BOB)[0])
    assert deliver(client) == Round()


def test_without_a_list_every_moderator_account_is_mailed(make, mailbox):
    client = make(moderation="pre")
    for moderator in (ANN, BOB):
        client.app.state.accounts.add(moderator)
    post(client, "for the accounts")
    assert deliver(client) == Round(sent=2)
    assert len(mailbox.to(ANN)) == len(mailbox.to(BOB)) == 1


def test_the_approve_link_shows_then_acts_once(make, mailbox):
    client = make(moderation="pre", moderator_emails=ANN)
    created = post(client, "Please approve me")
    deliver(client)
    approve = action_links(mailbox.to(ANN)[0])["approve"]

    # A bare GET (a mail scanner, a link preview) only shows what would happen.
    shown = client.get(approve)
    assert shown.status_code == 200
    assert "Please approve me" in shown.text
    assert '<form method="post"><button type="submit">Approve</button></form>' in shown.text
    assert "<script" not in shown.text
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert shown.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert visible_ids(client) == []
    assert client.app.state.moderation.audit()[0] == []

    done = client.post(approve)
    assert done.status_code == 200, done.text
    assert "The comment is approved." in done.text
    assert visible_ids(client) == [created["id"]]
    (entry,) = client.app.state.moderation.audit()[0]
    assert (entry.moderator, entry.action, entry.comment_id) == (ANN, Action.APPROVE, created["id"])

    for again in (client.post(approve), client.get(approve)):
        assert again.status_code == 409
        assert "used already" in again.text
    assert len(client.app.state.moderation.audit()[0]) == 1


def test_tampered_and_expired_links_are_refused(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=ANN, link_lifetime="1h")
    created = post(client, "Wait for me")
    deliver(client)
    approve = action_links(mailbox.to(ANN)[0])["approve"]
    tampered = approve[:-2] + ("xy" if not approve.endswith("xy") else "zz")
    for response in (client.get(tampered), client.post(tampered)):
        assert response.status_code == 400
        assert "not valid" in response.text
    assert client.post("/mail/action").status_code == 400  # no token at all

    clock.advance(minutes=59)
    assert client.get(approve).status_code == 200
    clock.advance(minutes=2)
    for response in (client.get(approve), client.post(approve)):
        assert response.status_code == 400
    assert visible_ids(client) == []
    with db.transaction(client.app.state.service.engine) as conn:
        assert store.threads.get_comment(conn, created["id"]).status is Status.PENDING


def test_the_hide_link(make, mailbox):
    client = make(notify_moderators="all", moderator_emails=ANN)
    created = post(client, "Published at once")
    deliver(client)
    (message,) = mailbox.to(ANN)
    assert message["Subject"] == "[blog.example] New comment on /post/"
    links = action_links(message)
    assert set(links) == {"hide", "ban"}  # nothing to approve
    assert visible_ids(client) == [created["id"]]

    assert client.post(links["hide"]).status_code == 200
    assert visible_ids(client) == []
    (entry,) = client.app.state.moderation.audit()[0]
    assert (entry.moderator, entry.action) == (ANN, Action.HIDE)


def test_the_ban_link(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=ANN)
    created = post(client, "troll", email="troll@example.org")
    deliver(client)
    ban = action_links(mailbox.to(ANN)[0])["ban"]
    page = client.get(ban).text
    assert "This comment will be hidden" in page
    assert re.search(r'name="scope" value="both" checked', page)
    assert re.search(r'name="days" type="number" min="1" max="3650" value="7"', page)

    done = client.post(ban)  # the button alone: the page's defaults
    assert done.status_code == 200
    until = "until 2026-12-06 12:00 UTC"
    assert f"The author is banned by both, {until}, and the comment is hidden." in done.text
    (found,) = client.app.state.moderation.bans()
    assert (found.email, found.moderator) == ("troll@example.org", ANN)
    assert found.expires == clock() + timedelta(days=7)  # no longer permanent
    with db.transaction(client.app.state.service.engine) as conn:
        assert store.threads.get_comment(conn, created["id"]).status is Status.HIDDEN
    actions = [entry.action for entry in client.app.state.moderation.audit()[0]]
    assert sorted(actions) == [Action.BAN, Action.HIDE]
    refused = client.post(
        "/api/comments", json={"uri": "/post/", "text": "again", "email": "troll@example.org"}
    )
    assert refused.json()["code"] == "banned"
    # Same network, no email: held for a moderator, not refused.
    assert post(client, "a neighbour")["status"] == "pending"


def test_the_ban_link_page_chooses_scope_reason_and_duration(make, mailbox, clock):
    client = make(moderator_emails=ANN, notify_moderators="all", moderator_mail_window="0")
    first = post(client, "troll", email="troll@example.org")
    second = post(client, "troll again", email="troll@example.org")
    deliver(client)
    links = [action_links(message)["ban"] for message in mailbox.to(ANN)]
    assert len(links) == 2

    wrong = client.post(links[0], data={"scope": "both", "days": "9999"})
    assert wrong.status_code == 422 and "Days is a whole number" in wrong.text
    email_only = client.post(links[0], data={"scope": "email", "reason": "insults", "days": "3"})
    assert "banned by email, until 2026-12-02 12:00 UTC" in email_only.text
    forever = client.post(links[1], data={"scope": "network", "days": "7", "permanent": "yes"})
    assert "banned by network, permanently" in forever.text
    network, email = client.app.state.moderation.bans()
    assert (email.email, email.ip_hash, email.reason) == ("troll@example.org", None, "insults")
    assert email.expires == clock() + timedelta(days=3)
    assert (network.email, network.expires, network.reason) == (None, None, BAN_REASON)
    notes = [entry.note for entry in client.app.state.moderation.audit()[0] if entry.note]
    assert f"ban {network.id} by network, permanent: {BAN_REASON}" in notes
    assert {first["id"], second["id"]} == {
        entry.comment_id
        for entry in client.app.state.moderation.audit()[0]
        if entry.action is Action.BAN
    }


def test_a_comment_readers_report_away_is_mailed_to_moderators(make, mailbox):
    client = make(report_threshold="1", moderator_emails=ANN)
    created = post(client, "Offensive")
    assert deliver(client) == Round()  # published: review mode says nothing
    reported = client.post(f"/api/comments/{created['id']}/report", json={"reason": "rude"})
    assert reported.status_code == 201
    assert deliver(client) == Round(sent=1)
    text = text_of(mailbox.to(ANN)[0])
    assert "waiting for your review: readers reported it" in text
    assert "> Offensive" in text


def test_links_stop_working_for_a_removed_moderator(make, mailbox):
    client = make(moderation="pre")
    client.app.state.accounts.add(ANN)
    post(client, "held")
    deliver(client)
    approve = action_links(mailbox.to(ANN)[0])["approve"]
    client.app.state.accounts.remove(ANN)
    assert client.get(approve).status_code == 400
    assert client.post(approve).status_code == 400
    assert visible_ids(client) == []


def test_a_link_to_a_comment_gone_since(make, mailbox):
    client = make(moderation="pre", moderator_emails=ANN)
    created = post(client, "soon purged")
    deliver(client)
    approve = action_links(mailbox.to(ANN)[0])["approve"]
    client.app.state.moderation.purge(BOB, [created["id"]])
    assert client.get(approve).status_code == 404
    assert client.post(approve).status_code == 404


def test_notify_moderators_all_off_and_no_smtp(make, mailbox):
    everything = make(notify_moderators="all", moderator_emails=ANN)
    published = post(everything, "published and mailed")
    assert deliver(everything) == Round(sent=1)
    # A published comment's message links to it on its page, where the embed opens it.
    assert f"{ORIGIN}/post/#comment-{published['id']}" in text_of(mailbox.received[0][1])

    quiet = make(moderation="pre", notify_moderators="off", moderator_emails=ANN)
    post(quiet, "held, not mailed")
    assert deliver(quiet) == Round()

    review = make(notify_moderators="review", moderator_emails=ANN)
    post(review, "published, not mailed")
    assert deliver(review) == Round()

    no_mail = make(smtp_host="", moderation="pre", moderator_emails=ANN)
    post(no_mail, "no server, no mail", email="x@example.org", notify=True)
    assert deliver(no_mail) == Round()
    assert len(mailbox.received) == 1
    # The first one's: moderators' mail is a digest, written when sent (coalesced by default).
    assert [item.kind for item in outbox(no_mail)] == [OutboxKind.DIGEST]


# Reply notifications


def test_reply_notifications_with_double_opt_in(make, mailbox):
    client = make()
    parent = post(client, "Parent text", author="Ada", email="Ada@Example.org", notify=True)
    assert deliver(client) == Round(sent=1)
    (confirmation,) = mailbox.to("ada@example.org")
    assert confirmation["Subject"] == "[blog.example] Confirm reply notifications"
    assert "Parent text" not in text_of(confirmation)  # it may reach a stranger
    confirm = link_to(confirmation, "/mail/confirm")

    post(client, "Early reply", parent=parent["id"], author="Bob", email="bob@example.org")
    assert deliver(client) == Round()  # not confirmed: nothing

    # Looking at the page (as a mail scanner does) confirms nothing.
    shown = client.get(confirm)
    assert shown.status_code == 200
    assert "Yes, send me replies" in shown.text
    post(client, "Scanned reply", parent=parent["id"], author="Bob", email="bob@example.org")
    assert deliver(client) == Round()

    confirmed = client.post(confirm)
    assert confirmed.status_code == 200
    assert "Address confirmed" in confirmed.text
    assert "already gets replies" in client.get(confirm).text

    reply = post(client, "Welcome reply", parent=parent["id"], author="Bob", email="bob@x.org")
    assert deliver(client) == Round(sent=1)
    notification = mailbox.to("ada@example.org")[-1]
    text = text_of(notification)
    assert notification["To"] == "Ada@Example.org"
    assert notification["Subject"] == "[blog.example] New reply to your comment on /post/"
    assert "Bob replied to your comment" in text
    assert "> Welcome reply" in text and "> Parent text" in text
    assert f"https://blog.example/post/#comment-{reply['id']}" in text
    assert "bob@x.org" not in text and "Early reply" not in text
    unsubscribe = notification["List-Unsubscribe"]
    assert re.fullmatch(r"<https://comments\.example/mail/unsubscribe\?token=\S+>", unsubscribe)
    assert notification["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert local(unsubscribe[1:-1]) in local(re.search(r"\S+unsubscribe\S+", text)[0])

    # Answering oneself is no news.
    post(client, "Self reply", parent=parent["id"], author="Ada", email="ada@example.org")
    assert deliver(client) == Round()

    # RFC 8058: the mail program posts this body to the List-Unsubscribe address.
    one_click = client.post(local(unsubscribe[1:-1]), data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert "No more replies" in one_click.text
    post(client, "Unheard reply", parent=parent["id"], author="Bob")
    assert deliver(client) == Round()
    assert "No replies are sent" in client.get(local(unsubscribe[1:-1])).text
    assert len(mailbox.to("ada@example.org")) == 2
    for route in ("/mail/confirm", "/mail/unsubscribe"):
        assert client.get(f"{route}?token=forged").status_code == 400
        assert client.post(f"{route}?token=forged").status_code == 400
    # A confirmation link is no unsubscribe link (each purpose signs with its own salt).
    assert client.post(confirm.replace("/mail/confirm", "/mail/unsubscribe")).status_code == 400


def test_an_unconfirmed_address_gets_one_confirmation_a_day_and_nothing_else(make, mailbox, clock):
    client = make()
    first = post(client, "one", email="carol@example.org", notify=True)
    post(client, "two", email="Carol@example.org", notify=True, uri="/other/")
    for text in ("reply a", "reply b"):
        post(client, text, parent=first["id"], author="Dan", email="dan@example.org")
    deliver(client)
    (only,) = mailbox.to("carol@example.org")
    assert "Confirm" in only["Subject"]

    clock.advance(hours=23)
    post(client, "three", email="carol@example.org", notify=True)
    deliver(client)
    assert len(mailbox.to("carol@example.org")) == 1
    clock.advance(hours=2)
    post(client, "four", email="carol@example.org", notify=True)
    deliver(client)
    assert [message["Subject"] for message in mailbox.to("carol@example.org")] == [
        "[blog.example] Confirm reply notifications"
    ] * 2


def test_a_held_reply_is_announced_once_when_approved(make, mailbox):
    # One moderators' message per comment, at once: the test clicks the reply's own link.
    client = make(moderation="pre", moderator_emails=ANN, moderator_mail_window="0")
    moderation = client.app.state.moderation
    parent = post(client, "Parent", email="dan@example.org", notify=True)
    assert deliver(client) == Round(sent=1)  # the moderators; no confirmation while held
    moderation.change_status(BOB, Action.APPROVE, [parent["id"]])
    deliver(client)
    client.post(link_to(mailbox.to("dan@example.org")[0], "/mail/confirm"))

    reply = post(client, "Held reply", parent=parent["id"], author="Eve")
    deliver(client)
    assert len(mailbox.to("dan@example.org")) == 1  # only the confirmation so far
    client.post(action_links(mailbox.to(ANN)[-1])["approve"])
    assert deliver(client) == Round(sent=1)
    assert "> Held reply" in text_of(mailbox.to("dan@example.org")[-1])

    moderation.change_status(BOB, Action.HIDE, [reply["id"]])
    moderation.change_status(BOB, Action.RESTORE, [reply["id"]])
    deliver(client)
    assert len(mailbox.to("dan@example.org")) == 2


def test_erasing_an_address_erases_its_queued_mail(make, mailbox):
    client = make(smtp_port=str(free_port()))  # nothing listens: the mail stays queued
    post(client, "mine", email="gone@example.org", notify=True)
    deliver(client)
    assert [item.recipient for item in outbox(client)] == ["gone@example.org"]
    client.app.state.moderation.erase_email(ANN, "Gone@example.org")
    assert outbox(client) == []


# Failures and retries


def test_a_dead_smtp_server_loses_nothing(make, smtp_on, clock):
    port = free_port()
    client = make(smtp_port=str(port), moderation="pre", moderator_emails=ANN)
    created = post(client, "Kept safe")
    assert created["status"] == "pending"

    assert deliver(client) == Round(failed=1)
    (item,) = outbox(client)
    assert (item.attempts, item.sent, item.due) == (1, None, clock.now + timedelta(seconds=30))
    assert "Connection refused" in item.last_error or "ConnectionRefused" in item.last_error
    assert deliver(client) == Round()  # not due again yet

    clock.advance(seconds=30)
    assert deliver(client) == Round(failed=1)
    (item,) = outbox(client)
    assert (item.attempts, item.due) == (2, clock.now + timedelta(seconds=60))

    revived = smtp_on(port)
    clock.advance(seconds=60)
    assert deliver(client) == Round(sent=1)
    (item,) = outbox(client)
    assert (item.attempts, item.sent, item.last_error) == (3, clock.now, None)
    (message,) = revived.to(ANN)
    assert "> Kept safe" in text_of(message)


def test_backoff_doubles_up_to_six_hours_and_gives_up_after_twelve_attempts(make, clock):
    assert [retry_delay(n).total_seconds() for n in range(1, 13)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3840,
        7680,
        15360,
        21600,
        21600,
    ]
    client = make(smtp_port=str(free_port()), moderation="pre", moderator_emails=ANN)
    post(client, "never delivered")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver(client) == Round(failed=1)
        clock.advance(seconds=retry_delay(attempt).total_seconds())
    clock.advance(days=30)
    assert deliver(client) == Round()
    (item,) = outbox(client)
    assert (item.attempts, item.sent) == (MAX_ATTEMPTS, None)
    assert item.last_error  # kept, with why, for the owner to see


def test_a_refused_recipient_is_not_retried(make, mailbox, clock):
    mailbox.refused.add(BOB)
    client = make(moderation="pre", moderator_emails=f"{ANN}, {BOB}")
    post(client, "one recipient is unknown")
    assert deliver(client) == Round(sent=1, failed=1)
    clock.advance(days=1)
    assert deliver(client) == Round()
    refused = next(item for item in outbox(client) if item.recipient == BOB)
    assert refused.sent is None and "550" in refused.last_error
    assert len(mailbox.to(ANN)) == 1


def test_starttls_is_required_when_configured(make, mailbox):
    client = make(smtp_security="starttls", moderation="pre", moderator_emails=ANN)
    post(client, "never in clear text")
    assert deliver(client) == Round(failed=1)
    assert "STARTTLS" in outbox(client)[0].last_error
    assert mailbox.received == []


# Webhooks


def test_webhooks_are_signed_and_retried(make, hook, clock):
    client = make(smtp_host="", webhook_url=hook.url, webhook_secret="whsec")
    hook.statuses.append(500)
    created = post(client, "Hooked", author="Ada", email="secret@example.org", title="T")

    assert deliver(client) == Round(failed=1)
    assert "HTTP 500" in outbox(client)[0].last_error
    clock.advance(seconds=30)
    assert deliver(client) == Round(sent=1)
    assert len(hook.received) == 2
    (first_headers, first_body), (headers, body) = hook.received
    assert first_body == body  # the same event, delivered again
    assert headers["X-Comments-Delivery"] == first_headers["X-Comments-Delivery"]
    expected = "sha256=" + hmac.new(b"whsec", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Comments-Signature"], expected)
    assert headers["X-Comments-Timestamp"] == str(int(clock.now.timestamp()))
    assert headers["X-Comments-Event"] == "comment.created"
    assert headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert event["event"] == "comment.created"
    (comment,) = event["comments"]
    assert (comment["id"], comment["text"], comment["author"]) == (created["id"], "Hooked", "Ada")
    assert comment["thread"] == {
        "site": "blog.example",
        "uri": "/post/",
        "title": "T",
        "url": "https://blog.example/post/",
    }
    assert b"secret@example.org" not in body
    assert ip_hash_of(client, created["id"]).encode() not in body

    client.app.state.moderation.change_status(ANN, Action.HIDE, [created["id"]])
    assert deliver(client) == Round(sent=1)
    event = json.loads(hook.received[-1][1])
    assert (event["event"], event["action"], event["moderator"]) == (
        "comment.moderated",
        "hide",
        ANN,
    )
    assert event["comments"][0]["status"] == "hidden"

    client.app.state.moderation.ban(ANN, created["id"], "spam")
    assert deliver(client) == Round(sent=1)
    event = json.loads(hook.received[-1][1])
    assert (event["action"], event["comments"][0]["id"]) == ("ban", created["id"])


def test_settings_that_only_work_together(tmp_path):
    with pytest.raises(ConfigError, match="mail_from"):
        settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_SMTP_HOST": "smtp.example"})
    with pytest.raises(ConfigError, match="webhook_secret"):
        settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_WEBHOOK_URL": "https://h.io"})


# Several senders, one outbox


def test_claims_are_leased_and_skip_what_another_sender_holds(database_url, clock):
    engine = db.create_engine(database_url)
    now = clock.now
    kinds = [OutboxKind.EMAIL]
    try:
        with db.transaction(engine, write=True) as conn:
            ids = [store.outbox.queue_message(conn, OutboxKind.EMAIL, "{}", now) for _ in range(3)]

        def claim(conn, at=now, limit=3):
            claimed = store.outbox.claim_due(conn, kinds, at, at + LEASE, limit, MAX_ATTEMPTS)
            return [item.id for item in claimed]

        if database_url.startswith("postgresql"):
            # While one sender's claim is not yet committed, another skips its row, unblocked.
            with engine.connect() as holding, holding.begin():
                assert claim(holding, limit=1) == ids[:1]
                with db.transaction(engine, write=True) as other:
                    assert claim(other) == ids[1:]
        else:
            with db.transaction(engine, write=True) as conn:
                assert claim(conn, limit=1) == ids[:1]
            with db.transaction(engine, write=True) as conn:
                assert claim(conn) == ids[1:]
        with db.transaction(engine, write=True) as conn:
            assert claim(conn) == []  # all leased
            # A sender that died mid-send: when its lease ends, the message is tried again.
            assert claim(conn, at=now + LEASE) == ids
            assert {item.attempts for item in store.outbox.list_outbox(conn)} == {2}
    finally:
        engine.dispose()


def test_tidy_forgets_old_sent_mail_and_expired_used_links(make, mailbox, clock):
    client = make(moderation="pre", moderator_emails=ANN)
    post(client, "x")
    assert deliver(client) == Round(sent=1), outbox(client)
    assert client.post(action_links(mailbox.to(ANN)[0])["approve"]).status_code == 200
    with db.transaction(client.app.state.service.engine, write=True) as conn:
        store.outbox.queue_message(conn, OutboxKind.EMAIL, "{}", clock.now)  # never sent
    clock.advance(days=31)
    client.app.state.sender.tidy()
    with db.transaction(client.app.state.service.engine) as conn:
        assert [item.sent for item in store.outbox.list_outbox(conn)] == [None]
        assert conn.exec_driver_sql("SELECT count(*) FROM used_links").scalar() == 0


# The background sender in the app


def test_the_app_sends_in_the_background(database_url, clock, tmp_path, mailbox):
    config = settings_for(
        database_url,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=str(mailbox.port),
        moderation="pre",
        moderator_emails=ANN,
    )
    with TestClient(create_app(config, clock), headers={"Origin": ORIGIN}) as client:
        post(client, "sent by itself")
        deadline = time.monotonic() + 20
        while not mailbox.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(mailbox.to(ANN)) == 1


def test_moderators_mail_names_the_thread_by_its_moderated_title(make, mailbox):
    client = make(moderation="pre", moderator_emails=ANN, moderator_mail_window="0")
    first = post(client, "first", title="FREE MONEY")
    moderation = client.app.state.moderation
    [item] = moderation.queue(QueueView.RECENT).items
    moderation.set_title(ANN, item.comment.thread_id, "A post about tea")
    post(client, "second", title="FREE MONEY again")
    deliver(client)
    subjects = [message["Subject"] for message in mailbox.to(ANN)]
    assert subjects[-1] == "[blog.example] Comment to review on “A post about tea”"
    assert first["id"] and "MONEY" not in text_of(mailbox.to(ANN)[-1])
