"""ModerationService and Accounts on their own: transitions, purge, bans, reports, the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from comments.accounts import Accounts
from comments.errors import Problem
from comments.models import Action, BanScope, QueueFilter, QueueView, Report, ReportCategory
from comments.moderation import ModerationService
from tests.helpers import ORIGIN, assert_problem, post, run_async

MODERATOR = "mod@example.org"


def services(client: TestClient) -> tuple[ModerationService, Accounts]:
    return client.app.state.moderation, client.app.state.accounts


def authenticate(accounts: Accounts, email: str, password: str, ip_hash: str):
    return run_async(accounts.authenticate(email, password, ip_hash))


def status(moderation: ModerationService, comment_id: int) -> str | None:
    items = moderation.queue(QueueView.RECENT, QueueFilter(ids=(comment_id,)), limit=1).items
    return items[0].comment.status.value if items else None


def in_status(client: TestClient, wanted: str, text: str = "text", **fields) -> int:
    """A new comment brought to `wanted` the way moderators would."""
    moderation, _ = services(client)
    comment_id = post(client, text, **fields)["id"]
    steps = {"approved": [], "hidden": [Action.HIDE], "deleted": [Action.DELETE]}
    for step in steps[wanted]:
        moderation.change_status("setup", step, [comment_id])
    return comment_id


# Status changes


@pytest.mark.parametrize(
    "start, action, end",
    [
        ("approved", Action.APPROVE, "approved"),  # nothing to do
        ("approved", Action.HIDE, "hidden"),
        ("approved", Action.DELETE, "deleted"),
        ("approved", Action.RESTORE, "approved"),  # nothing to do
        ("hidden", Action.APPROVE, "approved"),
        ("hidden", Action.HIDE, "hidden"),
        ("hidden", Action.DELETE, "deleted"),
        ("hidden", Action.RESTORE, "approved"),
        ("deleted", Action.APPROVE, "deleted"),  # a deleted comment comes back by restore only
        ("deleted", Action.HIDE, "deleted"),
        ("deleted", Action.RESTORE, "approved"),
    ],
)
def test_transitions(client, start, action, end):
    moderation, _ = services(client)
    comment_id = in_status(client, start)
    changed = moderation.change_status(MODERATOR, action, [comment_id])
    assert status(moderation, comment_id) == end
    assert [comment.id for comment in changed] == ([comment_id] if end != start else [])
    entries, _ = moderation.audit(comment_id=comment_id)
    mine = [entry for entry in entries if entry.moderator == MODERATOR]
    assert [(e.action, e.before, e.after) for e in mine] == (
        [(action, start, end)] if end != start else []
    )


def test_pending_comments_can_be_approved_hidden_or_deleted(make_client):
    client = make_client(moderation="pre")
    moderation, _ = services(client)
    ids = [post(client, f"held {n}")["id"] for n in range(4)]
    assert moderation.queue_counts()[QueueView.PENDING] == 4
    for comment_id, action in zip(ids, [Action.APPROVE, Action.HIDE, Action.DELETE], strict=False):
        moderation.change_status(MODERATOR, action, [comment_id])
    assert [status(moderation, i) for i in ids] == ["approved", "hidden", "deleted", "pending"]
    assert moderation.change_status(MODERATOR, Action.RESTORE, [ids[3]]) == []
    assert moderation.queue_counts() == {
        QueueView.PENDING: 1,
        QueueView.REPORTED: 0,
        QueueView.HIDDEN: 1,
    }
    thread = client.get("/api/threads?uri=/post/").json()
    assert [comment["id"] for comment in thread["comments"]] == [ids[0]]
    assert thread["thread"]["count"] == 1


def test_restoring_a_comment_its_author_deleted_is_refused(client):
    moderation, _ = services(client)
    created = post(client, "I take it back")
    response = client.delete(
        f"/api/comments/{created['id']}",
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert response.status_code == 200
    assert moderation.change_status(MODERATOR, Action.RESTORE, [created["id"]]) == []
    assert status(moderation, created["id"]) == "deleted"
    assert moderation.audit()[0] == []


def test_a_moderators_delete_keeps_the_text_for_a_restore(client):
    moderation, _ = services(client)
    comment_id = in_status(client, "deleted", "worth keeping")
    [restored] = moderation.change_status(MODERATOR, Action.RESTORE, [comment_id])
    assert restored.text == "worth keeping"
    assert client.get(f"/api/comments/{comment_id}").json()["html"] == "<p>worth keeping</p>"


def test_unknown_ids_are_ignored(client):
    moderation, _ = services(client)
    assert moderation.change_status(MODERATOR, Action.HIDE, [987654]) == []


# Edit and purge


def test_edit_sanitizes_and_audits_before_and_after(client):
    moderation, _ = services(client)
    comment_id = post(client, "Original")["id"]
    edited = moderation.edit(
        MODERATOR, comment_id, "New <img src=x onerror=alert(1)> [link](javascript:x)"
    )
    assert "<img" not in edited.html and "href" not in edited.html
    assert "&lt;img" in edited.html  # shown as the text it is
    assert edited.edited_by_moderator
    [entry], _ = moderation.audit(comment_id=comment_id)
    assert (entry.moderator, entry.action) == (MODERATOR, Action.EDIT)
    assert entry.before == "Original"
    assert entry.after.startswith("New <img")
    with pytest.raises(Problem) as missing:
        moderation.edit(MODERATOR, 987654, "x")
    assert missing.value.code == "comment_not_found"


def test_purge_keeps_a_placeholder_only_where_replies_hang(client):
    moderation, _ = services(client)
    parent = post(client, "parent", author="Ada", email="ada@example.org")
    reply = post(client, "reply", parent=parent["id"])
    alone = post(client, "alone", author="Bob")
    assert moderation.purge(MODERATOR, [parent["id"], alone["id"]]) == 2

    [kept] = moderation.queue(QueueView.RECENT, QueueFilter(ids=(parent["id"],))).items
    assert kept.comment.status.value == "deleted"
    assert (kept.comment.text, kept.comment.author, kept.comment.email) == ("", None, None)
    assert status(moderation, alone["id"]) is None  # the row is gone
    assert status(moderation, reply["id"]) == "approved"
    # Purged means final: nothing to restore.
    assert moderation.change_status(MODERATOR, Action.RESTORE, [parent["id"]]) == []
    entries, _ = moderation.audit()
    assert {(entry.action, entry.comment_id) for entry in entries} == {
        (Action.PURGE, parent["id"]),
        (Action.PURGE, alone["id"]),
    }


# Moderation modes, reports, bans


def test_trusted_mode_holds_a_first_comment_then_publishes(make_client):
    client = make_client(moderation="trusted")
    moderation, _ = services(client)
    first = post(client, "first", email="new@example.org")
    second = post(client, "second", email="new@example.org")
    assert (first["status"], second["status"]) == ("pending", "pending")
    [item, _] = moderation.queue(QueueView.PENDING).items
    assert item.comment.held_reason == "trusted"

    moderation.change_status(MODERATOR, Action.APPROVE, [first["id"]])
    assert post(client, "third", email="NEW@example.org")["status"] == "approved"
    assert post(client, "a stranger", email="other@example.org")["status"] == "pending"


def test_reports_past_the_threshold_hide_and_approving_resolves_them(make_client):
    client = make_client(report_threshold="2")
    moderation, _ = services(client)
    comment_id = post(client, "controversial")["id"]
    for address, reason in [("10.0.1.1", "rude"), ("10.0.2.1", "off topic")]:
        # Another reader: one report per address (network) and comment.
        reader = TestClient(client.app, headers={"Origin": ORIGIN}, client=(address, 1234))
        body = {"reason": reason, **({"category": "abuse"} if reason == "rude" else {})}
        response = reader.post(f"/api/comments/{comment_id}/report", json=body)
        assert response.status_code == 201, response.text

    [held] = moderation.queue(QueueView.PENDING).items
    assert (held.comment.id, held.comment.held_reason, held.reports) == (
        comment_id,
        "reported",
        2,
    )
    assert moderation.report_reasons([comment_id]) == {
        comment_id: [
            Report(ReportCategory.ABUSE, "rude"),
            Report(ReportCategory.OTHER, "off topic"),  # no category: other, with the note
        ]
    }
    assert client.get(f"/api/comments/{comment_id}").status_code == 404  # hidden from readers
    assert moderation.queue_counts()[QueueView.REPORTED] == 1

    moderation.change_status(MODERATOR, Action.APPROVE, [comment_id])
    assert moderation.queue(QueueView.REPORTED).items == []
    assert moderation.report_reasons([comment_id]) == {}
    assert moderation.queue_counts()[QueueView.REPORTED] == 0
    assert client.get(f"/api/comments/{comment_id}").status_code == 200


def test_approving_a_shown_reported_comment_dismisses_the_reports(make_client):
    client = make_client(report_threshold="0")
    moderation, _ = services(client)
    comment_id = post(client, "fine, really")["id"]
    assert (
        client.post(f"/api/comments/{comment_id}/report", json={"reason": "x"}).status_code == 201
    )
    [changed] = moderation.change_status(MODERATOR, Action.APPROVE, [comment_id])
    assert changed.status.value == "approved"
    assert moderation.queue(QueueView.REPORTED).items == []
    [entry], _ = moderation.audit(comment_id=comment_id)
    assert (entry.before, entry.after, entry.note) == ("approved", "approved", "reports dismissed")
    # Without open reports, approving an approved comment is nothing to do.
    assert moderation.change_status(MODERATOR, Action.APPROVE, [comment_id]) == []


NEIGHBOUR = "198.51.100.7"  # another address of the troll's /24: the same network
ELSEWHERE = "203.0.113.9"


def post_from(client: TestClient, address: str, text: str, **fields) -> dict:
    """A comment from `address`, as a trusted proxy says (the test client is 127.0.0.1)."""
    response = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": text, **fields},
        headers={"X-Forwarded-For": address},
    )
    assert response.status_code in (201, 403), response.text
    body = response.json()
    return body if response.status_code == 201 else {"status": body["code"]}


def held(moderation: ModerationService, comment: dict) -> tuple[str, str | None]:
    [item] = moderation.queue(QueueView.RECENT, QueueFilter(ids=(comment["id"],))).items
    return item.comment.status.value, item.comment.held_reason


@pytest.fixture
def proxied(make_client) -> TestClient:
    return make_client(trusted_proxies="127.0.0.1")


def test_ban_hides_refuses_and_expires(proxied, clock):
    moderation, _ = services(proxied)
    troll = post_from(proxied, "198.51.100.1", "insults", email="troll@example.org")
    ban = moderation.ban(MODERATOR, troll["id"], "insults", expires=clock() + timedelta(days=1))
    assert (ban.email, ban.reason, ban.moderator) == ("troll@example.org", "insults", MODERATOR)
    assert ban.ip_hash == proxied.app.state.tokens.hash_ip("198.51.100.1")
    assert ban.scope.value == "both"
    assert status(moderation, troll["id"]) == "hidden"
    assert [b.id for b in moderation.bans()] == [ban.id]
    # The email is refused from anywhere; the network, under another email or none, is held.
    assert post_from(proxied, ELSEWHERE, "again", email="TROLL@example.org")["status"] == "banned"
    for fields in ({}, {"email": "neighbour@example.org"}):
        neighbour = post_from(proxied, NEIGHBOUR, "hello", **fields)
        assert held(moderation, neighbour) == ("pending", "banned_network")
    assert post_from(proxied, ELSEWHERE, "unrelated")["status"] == "approved"

    clock.advance(days=1, seconds=1)  # expired: nothing lifts it, it stops by itself
    assert moderation.bans() == []
    assert post_from(proxied, NEIGHBOUR, "reformed", email="troll@example.org")["status"] == (
        "approved"
    )
    actions = [entry.action for entry in moderation.audit()[0]]
    assert actions == [Action.HIDE, Action.BAN]
    ban_entry = moderation.audit()[0][1]
    assert ban_entry.after == "both"
    assert ban_entry.note == f"ban {ban.id} by both, until 2026-11-30 12:00 UTC: insults"


def test_a_ban_by_email_leaves_the_network_alone(proxied):
    moderation, _ = services(proxied)
    troll = post_from(proxied, "198.51.100.1", "insults", email="troll@example.org")
    ban = moderation.ban(MODERATOR, troll["id"], "insults", scope=BanScope.EMAIL)
    assert (ban.email, ban.ip_hash, ban.expires) == ("troll@example.org", None, None)
    assert post_from(proxied, NEIGHBOUR, "campus", email="student@example.org")["status"] == (
        "approved"
    )
    assert post_from(proxied, ELSEWHERE, "me", email="troll@example.org")["status"] == "banned"
    [ban_entry] = [entry for entry in moderation.audit()[0] if entry.action is Action.BAN]
    assert ban_entry.note == f"ban {ban.id} by email, permanent: insults"


def test_a_ban_by_network_holds_and_never_refuses(make_client):
    client = make_client(trusted_proxies="127.0.0.1", ban_action="reject")
    moderation, _ = services(client)
    troll = post_from(client, "198.51.100.1", "insults", email="troll@example.org")
    ban = moderation.ban(MODERATOR, troll["id"], "insults", scope=BanScope.NETWORK)
    assert (ban.email, ban.scope.value) == (None, "network")
    for email in ("troll@example.org", "student@example.org", None):
        fields = {"email": email} if email else {}
        comment = post_from(client, NEIGHBOUR, "from the campus", **fields)
        assert held(moderation, comment) == ("pending", "banned_network")
    assert post_from(client, ELSEWHERE, "away", email="troll@example.org")["status"] == ("approved")


def test_no_email_to_ban(client):
    moderation, _ = services(client)
    anonymous = post(client, "insults")
    for scope in (BanScope.EMAIL, BanScope.BOTH):
        with pytest.raises(Problem) as refused:
            moderation.ban(MODERATOR, anonymous["id"], "insults", scope=scope)
        assert (refused.value.code, refused.value.field) == ("field_invalid", "scope")
    assert moderation.bans() == []
    assert moderation.ban(MODERATOR, anonymous["id"], "insults").scope is BanScope.NETWORK


def test_lifting_a_ban(make_client):
    client = make_client(ban_action="hold")
    moderation, _ = services(client)
    troll = post(client, "insults", email="troll@example.org")
    ban = moderation.ban(MODERATOR, troll["id"], "insults")
    assert post(client, "held, not refused", email="troll@example.org")["status"] == "pending"
    moderation.lift_ban(MODERATOR, ban.id)
    assert moderation.bans() == []
    assert post(client, "free again", email="troll@example.org")["status"] == "approved"
    with pytest.raises(Problem) as again:
        moderation.lift_ban(MODERATOR, ban.id)
    assert again.value.code == "ban_not_found"


def test_closing_and_reopening_a_thread(client):
    moderation, _ = services(client)
    post(client, "first", uri="/closing/")
    [item] = moderation.queue(QueueView.RECENT).items
    moderation.set_closed(MODERATOR, item.comment.thread_id, True)
    assert_problem(
        client.post("/api/comments", json={"uri": "/closing/", "text": "late"}),
        403,
        "thread_closed",
    )
    moderation.set_closed(MODERATOR, item.comment.thread_id, False)
    post(client, "welcome back", uri="/closing/")
    assert [entry.action for entry in moderation.audit()[0]] == [Action.REOPEN, Action.CLOSE]


def test_audit_log_pages_newest_first(client):
    moderation, _ = services(client)
    comment_id = post(client, "busy comment")["id"]
    for _ in range(3):
        moderation.change_status(MODERATOR, Action.HIDE, [comment_id])
        moderation.change_status(MODERATOR, Action.RESTORE, [comment_id])
    first, older = moderation.audit(limit=4)
    assert [entry.action for entry in first] == [Action.RESTORE, Action.HIDE] * 2
    rest, none = moderation.audit(before=older, limit=4)
    assert len(rest) == 2 and none is None
    assert [entry.id for entry in first + rest] == sorted(
        (e.id for e in first + rest), reverse=True
    )


# Privacy


def test_export_and_erase_an_address(client):
    moderation, _ = services(client)
    mine = post(client, "mine", author="Ada", email="ada@example.org")
    post(client, "a reply", parent=mine["id"])
    post(client, "also mine", email="ADA@example.org")
    moderation.ban(MODERATOR, mine["id"], "testing", hide_comments=False)

    found = moderation.export_email("ada@example.org")
    assert [comment["text"] for comment in found["comments"]] == ["mine", "also mine"]
    assert [ban["reason"] for ban in found["bans"]] == ["testing"]

    assert moderation.erase_email(MODERATOR, "Ada@Example.org") == 2
    after = moderation.export_email("ada@example.org")
    assert after["comments"] == [] and after["bans"] == []
    [placeholder] = client.get("/api/threads?uri=/post/").json()["comments"]
    assert placeholder["id"] == mine["id"] and placeholder["html"] == ""
    assert moderation.audit()[0][0].action is Action.ERASE


# Accounts


def test_a_sign_in_link_works_once_and_sets_a_password(client, clock):
    _, accounts = services(client)
    link = accounts.add(" Mod@Example.org ")
    token = link.split("token=")[1]
    assert accounts.redeem_link(token).email == MODERATOR
    with pytest.raises(Problem) as short:
        accounts.set_password(token, "short")
    assert short.value.code == "password_too_short"
    moderator = accounts.set_password(token, "a long enough password")
    with pytest.raises(Problem) as used:
        accounts.redeem_link(token)
    assert used.value.code == "link_invalid"
    assert authenticate(accounts, MODERATOR, "a long enough password", "ip").id == moderator.id

    expired = accounts.add(MODERATOR).split("token=")[1]
    clock.advance(hours=25)
    with pytest.raises(Problem) as late:
        accounts.redeem_link(expired)
    assert late.value.code == "link_invalid"


def test_sessions_end_with_sign_out_everywhere_a_new_password_or_removal(client):
    _, accounts = services(client)
    token = accounts.add(MODERATOR).split("token=")[1]
    moderator = accounts.set_password(token, "a long enough password")
    session = accounts.start_session(moderator)
    assert accounts.session_moderator(session).email == MODERATOR
    assert accounts.session_moderator("forged." + session) is None

    accounts.sign_out_everywhere(moderator)
    assert accounts.session_moderator(session) is None

    moderator = authenticate(accounts, MODERATOR, "a long enough password", "ip")
    session = accounts.start_session(moderator)
    assert accounts.remove(MODERATOR)
    assert accounts.session_moderator(session) is None
    assert not accounts.remove(MODERATOR)
    assert accounts.list() == []


def test_sign_in_throttling_counts_per_account_and_network_and_per_network(client, clock):
    _, accounts = services(client)
    token = accounts.add(MODERATOR).split("token=")[1]
    accounts.set_password(token, "a long enough password")
    for _ in range(5):
        with pytest.raises(Problem) as wrong:
            authenticate(accounts, MODERATOR, "guess", "guessers")
        assert wrong.value.code == "sign_in_failed"
    with pytest.raises(Problem) as throttled:
        authenticate(accounts, MODERATOR, "a long enough password", "guessers")
    assert throttled.value.code == "too_many_attempts"
    assert throttled.value.headers["Retry-After"] == "900"
    # The owner, elsewhere, is not locked out; nor are other accounts from the guessers' network.
    assert authenticate(accounts, MODERATOR, "a long enough password", "home").email == MODERATOR
    for n in range(15):
        with pytest.raises(Problem) as other:
            authenticate(accounts, f"other-{n}@example.org", "guess", "guessers")
        assert other.value.code == "sign_in_failed"
    # Twenty failures from one network close it to every account.
    with pytest.raises(Problem) as closed:
        authenticate(accounts, "someone@example.org", "guess", "guessers")
    assert closed.value.code == "too_many_attempts"
    clock.advance(minutes=15, seconds=1)
    back = authenticate(accounts, MODERATOR, "a long enough password", "guessers")
    assert back.email == MODERATOR
