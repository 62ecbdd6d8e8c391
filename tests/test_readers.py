"""Verified readers end to end through the API: sign-in by a link mailed by a real SMTP server,
reserved names, verified-only threads, badges, bans and trust by person, votes, the reader's own
page, export and erasure."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from comments import db, store
from comments.models import Action, QueueView
from comments.names import name_key
from tests import test_mail
from tests.helpers import ORIGIN, Mailbox, assert_problem, post
from tests.test_admin import signed_in

PAGE = ORIGIN + "/post/"
ROSA, LUIS = "rosa@readers.example", "luis@readers.example"


# The app as test_mail.py builds it: mailing through the test's own SMTP server (`mailbox`),
# sending only when told.
make = test_mail.make


@pytest.fixture
def client(make) -> TestClient:
    return make()


def mailed_link(client: TestClient, mailbox: Mailbox, email: str) -> str:
    """Deliver the outbox; the link of the newest sign-in message to `email`."""
    client.app.state.sender.deliver_due()
    text = mailbox.to(email)[-1].get_body(("plain",)).get_content()
    (url,) = re.findall(r"\S+#comments-sign-in=\S+", text)
    assert url.startswith(PAGE + "#comments-sign-in=")
    return url.split("#comments-sign-in=")[1]


def sign_in(client: TestClient, mailbox: Mailbox, email: str, name: str | None = None) -> dict:
    body = {"email": email, "page": PAGE, **({"name": name} if name else {})}
    asked = client.post("/api/sign-in", json=body)
    assert asked.status_code == 202, asked.text
    done = client.post("/api/sign-in/complete", json={"link": mailed_link(client, mailbox, email)})
    assert done.status_code == 200, done.text
    return done.json()


def bearer(signed: dict) -> dict[str, str]:
    return {"Authorization": "Bearer " + signed["token"]}


def comments_of(client: TestClient, sort: str = "oldest") -> list[dict]:
    return client.get("/api/threads", params={"uri": "/post/", "sort": sort}).json()["comments"]


# Signing in


def test_sign_in_by_a_mailed_link_then_post_as_verified(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    assert rosa["reader"]["name"] == "Rosa" and rosa["reader"]["email"] == ROSA
    assert rosa["name_taken"] is False
    (message,) = mailbox.to(ROSA)
    assert "blog.example" in message["Subject"]
    me = client.get("/api/me", headers=bearer(rosa)).json()
    assert me["reader"]["name"] == "Rosa" and me["comments"] == []
    # The reader's name and address are theirs: what the form sends for them is not used.
    posted = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "Verified", "author": "Someone", "email": "x@y.example"},
        headers=bearer(rosa),
    ).json()
    assert posted["author"] == "Rosa" and posted["verified"] is True
    (shown,) = comments_of(client)
    assert shown["verified"] is True and shown["author"] == "Rosa" and shown["votes"] == 0
    assert client.get("/api/me", headers=bearer(rosa)).json()["comments"][0]["id"] == shown["id"]
    anonymous = post(client, "Not verified", author="Luis")
    assert anonymous["verified"] is False


def test_a_link_works_once_and_not_for_long(client, mailbox, clock):
    client.post("/api/sign-in", json={"email": ROSA, "page": PAGE})
    link = mailed_link(client, mailbox, ROSA)
    assert client.post("/api/sign-in/complete", json={"link": link}).status_code == 200
    assert_problem(client.post("/api/sign-in/complete", json={"link": link}), 409, "link_used")
    client.post("/api/sign-in", json={"email": ROSA, "page": PAGE})
    late = mailed_link(client, mailbox, ROSA)
    clock.advance(minutes=16)
    assert_problem(client.post("/api/sign-in/complete", json={"link": late}), 400, "link_invalid")
    forged = late[:-2] + ("aa" if not late.endswith("aa") else "bb")
    assert_problem(client.post("/api/sign-in/complete", json={"link": forged}), 400, "link_invalid")


def test_a_link_opens_only_a_page_of_the_site_asking(client, mailbox):
    for page in ("https://evil.example/post/", "javascript:alert(1)", "/post/"):
        asked = client.post("/api/sign-in", json={"email": ROSA, "page": page})
        assert_problem(asked, 400, "invalid_parameter", "page")
    client.app.state.sender.deliver_due()
    assert mailbox.to(ROSA) == []
    other = client.post(
        "/api/sign-in",
        json={"email": ROSA, "page": PAGE},
        headers={"Origin": "https://evil.example"},
    )
    assert_problem(other, 403, "origin_forbidden")


def test_a_token_is_for_its_site_and_ends_with_sign_out_everywhere(client, mailbox, clock):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    again = sign_in(client, mailbox, ROSA)  # a second device
    assert again["reader"]["id"] == rosa["reader"]["id"]
    assert client.post("/api/me/sign-out-everywhere", headers=bearer(again)).status_code == 200
    for token in (rosa, again):
        assert_problem(client.get("/api/me", headers=bearer(token)), 401, "reader_token_invalid")
        posted = client.post(
            "/api/comments", json={"uri": "/post/", "text": "x"}, headers=bearer(token)
        )
        assert_problem(posted, 401, "reader_token_invalid")
    later = sign_in(client, mailbox, ROSA)
    assert client.get("/api/me", headers=bearer(later)).status_code == 200
    clock.advance(days=31)  # COMMENTS_READER_SESSION_LIFETIME: 30 days
    assert_problem(client.get("/api/me", headers=bearer(later)), 401, "reader_token_invalid")


def test_the_lifetime_is_a_setting(make, mailbox, clock):
    client = make(reader_session_lifetime="1h")
    rosa = sign_in(client, mailbox, ROSA)
    clock.advance(minutes=59)
    assert client.get("/api/me", headers=bearer(rosa)).status_code == 200
    clock.advance(minutes=2)
    assert_problem(client.get("/api/me", headers=bearer(rosa)), 401, "reader_token_invalid")


def test_links_are_throttled_per_address(client, mailbox):
    for _ in range(3):
        assert client.post("/api/sign-in", json={"email": ROSA, "page": PAGE}).status_code == 202
    fourth = client.post("/api/sign-in", json={"email": ROSA, "page": PAGE})
    assert_problem(fourth, 429, "too_many_attempts")
    assert fourth.headers["retry-after"] == "900"
    # Another reader of the same network still gets theirs.
    assert client.post("/api/sign-in", json={"email": LUIS, "page": PAGE}).status_code == 202


def test_no_sign_in_without_mail(make_client):
    client = make_client()
    assert client.get("/api/config").json()["sign_in"] is False
    asked = client.post("/api/sign-in", json={"email": ROSA, "page": PAGE})
    assert_problem(asked, 404, "sign_in_unavailable")


# A name that belongs to someone


@pytest.mark.parametrize(
    ("name", "same"),
    [
        ("Rosa", True),
        ("ROSA", True),
        ("R0sa", True),
        ("R\u043esa", True),  # a Cyrillic o
        ("\U0001d4e1\U0001d4f8\U0001d4fc\U0001d4ea", True),  # mathematical script letters
        ("R.o.s.a", True),
        ("Rosa\u200b", True),  # a zero-width space
        (" Rósa ", True),
        ("Rosalind", False),
        ("Rosa2", False),
        ("Rasa", False),
    ],
)
def test_names_that_look_alike_have_one_key(name, same):
    assert (name_key(name) == name_key("Rosa")) is same


def test_others_cannot_post_under_a_verified_name_or_address(client, mailbox):
    sign_in(client, mailbox, ROSA, "Rosa")
    for lookalike in ("Rosa", "rosa", "R0sa", "R\u043esa", "R o s a"):
        posted = client.post(
            "/api/comments", json={"uri": "/post/", "text": "x", "author": lookalike}
        )
        assert_problem(posted, 422, "name_reserved", "author")
    stolen = client.post(
        "/api/comments", json={"uri": "/post/", "text": "x", "email": ROSA.upper()}
    )
    assert_problem(stolen, 422, "email_reserved", "email")
    # The innocent neighbours of the name are not hit.
    post(client, "x", author="Rosalind")
    post(client, "y", author="Rasa")
    assert len(comments_of(client)) == 2
    # Nor can another reader take it.
    asked = client.post("/api/sign-in", json={"email": LUIS, "page": PAGE, "name": "R0SA"})
    assert_problem(asked, 409, "name_taken", "name")
    luis = sign_in(client, mailbox, LUIS)
    renamed = client.patch("/api/me", json={"name": "R\u043esa"}, headers=bearer(luis))
    assert_problem(renamed, 409, "name_taken", "name")


def test_a_name_is_reserved_on_its_site_only(make, mailbox):
    client = make(origins=f"{ORIGIN},https://other.example")
    sign_in(client, mailbox, ROSA, "Rosa")
    other = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "x", "author": "Rosa"},
        headers={"Origin": "https://other.example"},
    )
    assert other.status_code == 201


def test_a_reader_without_a_name_takes_the_first_one_they_write(client, mailbox):
    luis = sign_in(client, mailbox, LUIS)
    assert luis["reader"]["name"] is None
    posted = client.post(
        "/api/comments", json={"uri": "/post/", "text": "x", "author": "Luis"}, headers=bearer(luis)
    ).json()
    assert posted["author"] == "Luis"
    assert client.get("/api/me", headers=bearer(luis)).json()["reader"]["name"] == "Luis"
    assert_problem(
        client.post("/api/comments", json={"uri": "/post/", "text": "y", "author": "LUIS"}),
        422,
        "name_reserved",
        "author",
    )


def test_moderators_and_authors_carry_badges(make, mailbox):
    client = make(moderator_emails="mod@blog.example", site_authors="blog.example=ed@blog.example")
    for email, badge in (
        ("mod@blog.example", "moderator"),
        ("ed@blog.example", "author"),
        (ROSA, None),
    ):
        signed = sign_in(client, mailbox, email)
        assert signed["reader"]["badge"] == badge
        client.post("/api/comments", json={"uri": "/post/", "text": email}, headers=bearer(signed))
    assert [c["badge"] for c in comments_of(client)] == ["moderator", "author", None]


# Who may comment


def test_a_verified_only_site_takes_signed_in_readers(make, mailbox):
    client = make(site_commenters="blog.example=verified-only")
    assert (
        client.get("/api/config", params={"uri": "/post/"}).json()["commenters"] == "verified-only"
    )
    anonymous = client.post("/api/comments", json={"uri": "/post/", "text": "x"})
    assert_problem(anonymous, 403, "sign_in_required")
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    posted = client.post("/api/comments", json={"uri": "/post/", "text": "x"}, headers=bearer(rosa))
    assert posted.status_code == 201


def test_moderators_make_one_thread_verified_only(make, mailbox):
    client = make(public_url="http://testserver")  # the admin's cookie is Secure on https
    moderator = signed_in(client)
    first = post(client, "x")
    page = moderator.get(f"/admin/comments/{first['id']}")
    assert "anyone the site allows" in page.text
    thread_id = int(re.search(r"/admin/threads/(\d+)/verified-only", page.text)[1])
    switched = moderator.post(
        f"/admin/threads/{thread_id}/verified-only", {"verified_only": "yes", "next": "/admin/"}
    )
    assert switched.headers["location"] == "/admin/?done=verified-only"
    assert "signed-in readers only" in moderator.get(f"/admin/comments/{first['id']}").text
    config = client.get("/api/config", params={"uri": "/post/"}).json()
    assert config["commenters"] == "verified-only"
    assert client.get("/api/config", params={"uri": "/other/"}).json()["commenters"] == "anonymous"
    assert_problem(
        client.post("/api/comments", json={"uri": "/post/", "text": "y", "parent": first["id"]}),
        403,
        "sign_in_required",
    )
    post(client, "elsewhere", uri="/other/")
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    posted = client.post("/api/comments", json={"uri": "/post/", "text": "y"}, headers=bearer(rosa))
    assert posted.status_code == 201
    moderator.post(f"/admin/threads/{thread_id}/verified-only", {"verified_only": "no"})
    post(client, "anyone again")
    with db.transaction(client.app.state.moderation.engine) as conn:
        actions = [e.action.value for e in store.audit.audit_entries(conn, None, 10)[0]]
    assert actions[:2] == ["anyone", "verified-only"]
    # The moderator's queue shows who is verified; so does the page without JavaScript.
    queue = moderator.get("/admin/queue?view=recent").text
    reader_id = rosa["reader"]["id"]
    assert f'href="/admin/audit?reader={reader_id}"' in queue
    assert "✓ verified" in client.get("/thread", params={"uri": "/post/"}).text
    moderator.post(f"/admin/comments/{posted.json()['id']}/ban", {"reason": "abuse"})
    bans = moderator.get("/admin/bans").text
    assert f"verified reader #{reader_id}" in bans
    audit = moderator.get(f"/admin/audit?reader={reader_id}").text
    assert f"of verified reader #{reader_id}" in audit and "abuse" in audit
    assert "anyone" not in audit.split("<table", 1)[-1]  # the thread's switches were not about her


# Moderation by person


def test_a_ban_of_a_verified_reader_follows_them_to_any_network(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    comment = client.post(
        "/api/comments", json={"uri": "/post/", "text": "troll"}, headers=bearer(rosa)
    ).json()
    ban = client.app.state.moderation.ban("mod@blog.example", comment["id"], "abuse")
    assert ban.reader_id == rosa["reader"]["id"] and ban.email == ROSA
    elsewhere = TestClient(client.app, headers={"Origin": ORIGIN}, client=("203.0.113.9", 1))
    again = elsewhere.post(
        "/api/comments", json={"uri": "/post/", "text": "me again"}, headers=bearer(rosa)
    )
    assert_problem(again, 403, "banned")
    # The address is banned too: posting it anonymously from the new network is refused.
    anonymous = elsewhere.post("/api/comments", json={"uri": "/post/", "text": "x", "email": ROSA})
    assert anonymous.status_code in (403, 422)
    with db.transaction(client.app.state.moderation.engine) as conn:
        (entry, *_), _ = store.audit.audit_entries(conn, None, 10)
    assert entry.action.value in ("ban", "hide") and entry.reader_id == rosa["reader"]["id"]


def test_the_queue_counts_a_verified_readers_record_by_person(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    elsewhere = TestClient(client.app, headers={"Origin": ORIGIN}, client=("203.0.113.9", 1))
    ids = [
        via.post(
            "/api/comments", json={"uri": "/post/", "text": text}, headers=bearer(rosa)
        ).json()["id"]
        for via, text in ((client, "one"), (elsewhere, "two"), (elsewhere, "three"))
    ]
    moderation = client.app.state.moderation
    moderation.change_status("mod@blog.example", Action.HIDE, [ids[2]])
    post(client, "an anonymous neighbour", author="Ana")  # same network, not her record
    items = {item.comment.id: item for item in moderation.queue(QueueView.RECENT).items}
    assert (items[ids[0]].approved_before, items[ids[0]].hidden_before) == (2, 1)
    assert (items[ids[1]].approved_before, items[ids[1]].hidden_before) == (2, 1)
    neighbour = next(item for item in items.values() if item.comment.author == "Ana")
    assert (neighbour.approved_before, neighbour.hidden_before) == (1, 0)


def test_trust_goes_to_the_person(make, mailbox):
    client = make(moderation="trusted")
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    first = client.post(
        "/api/comments", json={"uri": "/post/", "text": "first"}, headers=bearer(rosa)
    )
    assert first.json()["status"] == "pending"
    client.app.state.moderation.change_status(
        "mod@blog.example", Action.APPROVE, [first.json()["id"]]
    )
    second = client.post(
        "/api/comments", json={"uri": "/post/", "text": "second"}, headers=bearer(rosa)
    )
    assert second.json()["status"] == "approved"
    # An anonymous reader cannot borrow her trust by typing her address.
    borrowed = client.post("/api/comments", json={"uri": "/post/", "text": "x", "email": ROSA})
    assert_problem(borrowed, 422, "email_reserved", "email")


# Votes


def test_one_vote_per_verified_reader(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    luis = sign_in(client, mailbox, LUIS, "Luis")
    comment = client.post(
        "/api/comments", json={"uri": "/post/", "text": "vote me"}, headers=bearer(rosa)
    ).json()
    path = f"/api/comments/{comment['id']}/vote"
    assert client.post(path, headers=bearer(luis)).json() == {"votes": 1, "voted": True}
    assert client.post(path, headers=bearer(luis)).json() == {"votes": 1, "voted": True}
    assert_problem(client.post(path, headers=bearer(rosa)), 403, "own_comment")
    assert_problem(client.post(path), 401, "reader_token_invalid")  # anonymous readers do not vote
    etag = client.get("/api/threads", params={"uri": "/post/"}).headers["etag"]
    assert comments_of(client)[0]["votes"] == 1
    assert client.get("/api/me/votes", params={"uri": "/post/"}, headers=bearer(luis)).json() == {
        "votes": [comment["id"]],
        "mine": [],
    }
    mine = client.get("/api/me/votes", params={"uri": "/post/"}, headers=bearer(rosa)).json()
    assert mine == {"votes": [], "mine": [comment["id"]]}
    assert client.delete(path, headers=bearer(luis)).json() == {"votes": 0, "voted": False}
    fresh = client.get("/api/threads", params={"uri": "/post/"}, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["comments"][0]["votes"] == 0
    assert_problem(
        client.post("/api/comments/999999/vote", headers=bearer(luis)), 404, "comment_not_found"
    )


def test_votes_are_limited_per_reader(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    luis = sign_in(client, mailbox, LUIS, "Luis")
    comment = post(client, "toggle me")
    path = f"/api/comments/{comment['id']}/vote"
    for n in range(30):
        answer = (client.post if n % 2 == 0 else client.delete)(path, headers=bearer(rosa))
        assert answer.status_code == 200
    assert_problem(client.post(path, headers=bearer(rosa)), 429, "rate_limited")
    assert client.post(path, headers=bearer(luis)).json()["votes"] == 1  # others still vote


def test_best_puts_the_voted_comment_first(client, mailbox):
    readers = [sign_in(client, mailbox, f"r{n}@readers.example") for n in range(3)]
    first = post(client, "old and good")
    post(client, "newer")
    post(client, "newest")
    for reader in readers:
        client.post(f"/api/comments/{first['id']}/vote", headers=bearer(reader))
    best = [c["html"] for c in comments_of(client, "best")]
    assert best[0] == "<p>old and good</p>"


# The reader's own page


def test_reply_mail_needs_no_confirmation_once_verified(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    patched = client.patch("/api/me", json={"notify_replies": True}, headers=bearer(rosa)).json()
    assert patched["reader"]["notify_replies"] is True
    mine = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "mine", "notify": True},
        headers=bearer(rosa),
    ).json()
    post(client, "an answer", parent=mine["id"], author="Luis")
    client.app.state.sender.deliver_due()
    subjects = [message["Subject"] for message in mailbox.to(ROSA)]
    assert any("New reply" in subject for subject in subjects), subjects
    assert not any("onfirm" in subject for subject in subjects), subjects
    off = client.patch("/api/me", json={"notify_replies": False}, headers=bearer(rosa)).json()
    assert off["reader"]["notify_replies"] is False
    post(client, "unheard", parent=mine["id"], author="Ana")
    client.app.state.sender.deliver_due()
    assert len(mailbox.to(ROSA)) == len(subjects)
    # Turned on again later, it covers the comments written before (ticked or not).
    earlier = client.post(
        "/api/comments", json={"uri": "/post/", "text": "no box ticked"}, headers=bearer(rosa)
    ).json()
    client.patch("/api/me", json={"notify_replies": True}, headers=bearer(rosa))
    post(client, "heard", parent=earlier["id"], author="Ana")
    client.app.state.sender.deliver_due()
    assert len(mailbox.to(ROSA)) == len(subjects) + 1


def test_export_then_erase_everything(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    luis = sign_in(client, mailbox, LUIS, "Luis")
    kept = client.post(
        "/api/comments", json={"uri": "/post/", "text": "answered"}, headers=bearer(rosa)
    ).json()
    client.post("/api/comments", json={"uri": "/post/", "text": "alone"}, headers=bearer(rosa))
    answer = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "reply", "parent": kept["id"]},
        headers=bearer(luis),
    ).json()
    client.post(f"/api/comments/{answer['id']}/vote", headers=bearer(rosa))
    exported = client.get("/api/me/export", headers=bearer(rosa))
    assert "attachment" in exported.headers["content-disposition"]
    everything = exported.json()
    assert everything["reader"]["email"] == ROSA
    assert {c["text"] for c in everything["comments"]} == {"answered", "alone"}
    assert everything["votes"] == [answer["id"]]
    erased = client.delete("/api/me", headers=bearer(rosa)).json()
    assert erased == {"erased": {"comments": 2, "votes": 1, "ids": [kept["id"], kept["id"] + 1]}}
    shown = comments_of(client)
    assert len(shown) == 1 and shown[0]["status"] == "deleted" and shown[0]["author"] is None
    assert shown[0]["replies"][0]["votes"] == 0
    assert_problem(client.get("/api/me", headers=bearer(rosa)), 401, "reader_token_invalid")
    # Nothing of her text or address is left in the comments; her name is free again.
    with db.transaction(client.app.state.service.engine) as conn:
        assert store.privacy.comments_by_email(conn, ROSA) == []
    post(client, "I am another Rosa", author="Rosa")


def test_inputs_are_checked(client, mailbox):
    assert_problem(client.post("/api/sign-in", json={"page": PAGE}), 422, "field_required", "email")
    assert_problem(
        client.post("/api/sign-in", json={"email": "nope", "page": PAGE}),
        422,
        "email_invalid",
        "email",
    )
    assert_problem(
        client.post("/api/sign-in", json={"email": ROSA, "page": PAGE, "name": "!!!"}),
        422,
        "name_invalid",
        "name",
    )
    assert_problem(
        client.post("/api/sign-in", json={"email": ROSA, "page": PAGE, "extra": 1}),
        422,
        "unknown_field",
    )
    assert_problem(client.post("/api/sign-in/complete", json={}), 422, "field_required", "link")
    assert_problem(client.get("/api/me"), 401, "reader_token_invalid")
    rosa = sign_in(client, mailbox, ROSA)
    assert_problem(
        client.patch("/api/me", json={"notify_replies": "yes"}, headers=bearer(rosa)),
        422,
        "field_invalid",
    )
    assert_problem(client.get("/api/me/votes", headers=bearer(rosa)), 400, "invalid_parameter")


def test_a_moderator_erasing_an_address_erases_its_readers(client, mailbox):
    rosa = sign_in(client, mailbox, ROSA, "Rosa")
    luis = sign_in(client, mailbox, LUIS, "Luis")
    theirs = client.post(
        "/api/comments", json={"uri": "/post/", "text": "his"}, headers=bearer(luis)
    ).json()
    client.post(f"/api/comments/{theirs['id']}/vote", headers=bearer(rosa))
    exported = client.app.state.moderation.export_email(ROSA)
    assert exported["signed_in_as"][0]["name"] == "Rosa"
    client.app.state.moderation.erase_email("mod@blog.example", ROSA)
    assert comments_of(client)[0]["votes"] == 0
    assert_problem(client.get("/api/me", headers=bearer(rosa)), 401, "reader_token_invalid")
    post(client, "the name is free again", author="Rosa")
