"""The moderators' pages through HTTP: sessions, CSRF, every action, the queue and its filters."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from comments.models import QueueFilter, QueueView
from tests.helpers import ORIGIN, assert_problem, post

PASSWORD = "correct horse battery"
MODERATOR = "mod@example.org"
# Admin forms come from the admin's own pages; the test client's default Origin is the blog's.
OWN = {"Origin": "http://testserver"}


class Browser:
    """A moderator's browser: keeps the session cookie, sends forms with the page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, status: int = 200):
        response = self.client.get(path, follow_redirects=False)
        assert response.status_code == status, response.text
        found = re.search(r'name="csrf" value="([^"]*)"', response.text)
        if found and found[1]:
            self.csrf = found[1]
        return response

    def post(self, path: str, data: dict | None = None, csrf: str | None = None, **kwargs):
        fields = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        headers = {**OWN, **kwargs.pop("headers", {})}
        return self.client.post(
            path, data=fields, headers=headers, follow_redirects=False, **kwargs
        )


def welcome_path(client: TestClient, email: str = MODERATOR) -> str:
    link = client.app.state.accounts.add(email)
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def set_password(client: TestClient, path: str, password: str = PASSWORD, confirm=None):
    token = parse_qs(urlsplit(path).query)["token"][0]
    return client.post(
        "/admin/welcome",
        data={
            "token": token,
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
        headers=OWN,
        follow_redirects=False,
    )


def sign_in(client: TestClient, email: str = MODERATOR, password: str = PASSWORD, next=""):
    return client.post(
        "/admin/sign-in",
        data={"email": email, "password": password, "next": next},
        headers=OWN,
        follow_redirects=False,
    )


def signed_in(client: TestClient, email: str = MODERATOR) -> Browser:
    response = set_password(client, welcome_path(client, email))
    assert response.status_code == 303, response.text
    browser = Browser(client)
    browser.get("/admin/queue")
    return browser


def text_of(response) -> str:
    """The page's visible words, roughly: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def notice(response) -> str:
    found = re.search(r'<p class="notice"[^>]*>([^<]*)</p>', response.text)
    return html.unescape(found[1]) if found else ""


def shown_ids(response) -> list[int]:
    return [
        int(found) for found in re.findall(r'<li class="item"[^>]* data-id="(\d+)"', response.text)
    ]


def status_of(client: TestClient, comment_id: int) -> str:
    moderation = client.app.state.moderation
    [item] = moderation.queue(QueueView.RECENT, QueueFilter(ids=(comment_id,)), limit=1).items
    return item.comment.status.value


def audit_actions(client: TestClient) -> list[tuple[str, str, int | None]]:
    entries, _ = client.app.state.moderation.audit()
    return [(entry.moderator, entry.action.value, entry.comment_id) for entry in entries]


@pytest.fixture
def pre(make_client) -> TestClient:
    """A server holding every comment for review."""
    return make_client(moderation="pre")


@pytest.fixture
def moderator(pre) -> Browser:
    return signed_in(pre)


# Signing in


def test_sign_in_from_a_command_line_link(make_client):
    client = make_client()
    path = welcome_path(client)
    page = client.get(path)
    assert page.status_code == 200
    assert MODERATOR in page.text

    response = set_password(client, path)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/queue?done=welcome"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("comments_admin=")
    for attribute in ("HttpOnly", "Path=/admin", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    queue = client.get("/admin/queue?done=welcome", follow_redirects=False)
    assert queue.status_code == 200
    assert notice(queue) == "Your password is set. Welcome!"
    assert MODERATOR in queue.text

    # The link worked once.
    again = client.get(path)
    assert again.status_code == 400
    assert "invalid, used or expired" in again.text
    assert set_password(client, path).status_code == 400

    # Sign out, then in with the password, landing where we wanted to go.
    browser = Browser(client)
    browser.get("/admin/queue")
    out = browser.post("/admin/sign-out")
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/sign-in?done=signed-out"
    assert 'comments_admin=""' in out.headers["set-cookie"]
    assert client.get("/admin/bans", follow_redirects=False).status_code == 303
    back = sign_in(client, MODERATOR.upper(), next="/admin/bans")
    assert back.status_code == 303
    assert back.headers["location"] == "/admin/bans"
    assert client.get("/admin/bans", follow_redirects=False).status_code == 200


def test_session_cookie_is_secure_behind_https(make_client):
    client = make_client(public_url="https://comments.example")
    response = set_password(client, welcome_path(client))
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "password, confirm, code",
    [("short", "short", "password_too_short"), (PASSWORD, PASSWORD + "!", "password_mismatch")],
)
def test_welcome_refuses_a_bad_password_and_keeps_the_link(client, password, confirm, code):
    path = welcome_path(client)
    response = set_password(client, path, password, confirm)
    assert response.status_code == 422
    assert "set-cookie" not in response.headers
    assert MODERATOR in response.text  # the same form again, with the message
    assert 'class="error"' in response.text
    assert set_password(client, path).status_code == 303


def test_wrong_password_is_refused(client):
    signed_in(client)
    client.cookies.clear()
    response = sign_in(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert "set-cookie" not in response.headers
    assert f'value="{MODERATOR}"' in response.text  # the email stays in the form
    assert sign_in(client, "nobody@example.org").status_code == 401


def test_sign_in_is_throttled_after_five_failures(client, clock):
    signed_in(client)
    client.cookies.clear()
    for _ in range(5):
        assert sign_in(client, password="guess").status_code == 401
    throttled = sign_in(client)  # even the right password, now
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "900"
    assert "Too many failed sign-ins" in throttled.text
    assert "set-cookie" not in throttled.headers
    clock.advance(minutes=16)
    assert sign_in(client).status_code == 303


def test_signed_out_pages_redirect_and_forms_are_refused(pre):
    comment = post(pre, "wait for me")
    response = pre.get("/admin/queue?view=hidden&q=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/admin/sign-in?next=%2Fadmin%2Fqueue%3Fview%3Dhidden%26q%3Dx"
    )
    sign_in_page = pre.get(response.headers["location"])
    assert 'name="next" value="/admin/queue?view=hidden&amp;q=x"' in sign_in_page.text
    refused = Browser(pre).post("/admin/actions", {"row_action": f"approve:{comment['id']}"})
    assert refused.status_code == 403
    assert "sign_in_required" in refused.text
    assert status_of(pre, comment["id"]) == "pending"


def test_sign_in_never_leads_off_the_admin(client):
    signed_in(client)
    client.cookies.clear()
    for target in ("https://evil.example/", "//evil.example/admin", "/api/threads", "/\\evil"):
        response = sign_in(client, next=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/queue"


def test_sign_out_everywhere_ends_every_session(make_client):
    laptop = make_client()
    phone = make_client()
    signed_in(laptop)
    assert sign_in(phone).status_code == 303
    assert phone.get("/admin/queue", follow_redirects=False).status_code == 200

    browser = Browser(laptop)
    browser.get("/admin/queue")
    response = browser.post("/admin/sign-out-everywhere")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/sign-in?done=signed-out-everywhere"
    for client in (laptop, phone):
        assert client.get("/admin/queue", follow_redirects=False).status_code == 303
    # The old cookie itself no longer opens a session, even when sent again.
    stale = phone.cookies.get("comments_admin")
    assert laptop.app.state.accounts.session_moderator(stale) is None


# CSRF and headers


@pytest.mark.parametrize("token", ["", "0" * 32, "another session"])
def test_forms_without_the_right_csrf_token_change_nothing(pre, moderator, token):
    comment = post(pre, "wait for me")
    if token == "another session":
        token = pre.app.state.tokens.csrf("a-different-session-token")
    for path, data in [
        ("/admin/actions", {"row_action": f"approve:{comment['id']}"}),
        ("/admin/actions", {"action": "hide", "ids": [comment["id"]]}),
        (f"/admin/comments/{comment['id']}/edit", {"text": "changed"}),
        (f"/admin/comments/{comment['id']}/ban", {"reason": "x"}),
        ("/admin/purge", {"ids": [comment["id"]], "confirmed": "yes"}),
        ("/admin/privacy/erase", {"email": "a@example.org", "confirmed": "yes"}),
        ("/admin/sign-out-everywhere", {}),
    ]:
        response = moderator.post(path, data, csrf=token)
        assert response.status_code == 403, path
        assert "csrf_failed" in response.text
    assert status_of(pre, comment["id"]) == "pending"
    assert audit_actions(pre) == []
    assert pre.get("/admin/queue", follow_redirects=False).status_code == 200  # still signed in


def test_forms_from_another_site_are_refused(pre, moderator):
    comment = post(pre, "wait for me")
    data = {"row_action": f"approve:{comment['id']}"}
    response = moderator.post("/admin/actions", data, headers={"Origin": ORIGIN})
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert status_of(pre, comment["id"]) == "pending"
    # Signing in from another site's form is refused too (no session to bind a token to yet).
    forged = pre.post(
        "/admin/sign-in",
        data={"email": MODERATOR, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged.status_code == 403


@pytest.mark.parametrize(
    "path, signed_in_first",
    [("/admin/sign-in", False), ("/admin/queue", False), ("/admin/queue", True), ("/nope", True)],
)
def test_admin_responses_carry_security_headers(client, path, signed_in_first):
    if signed_in_first:
        signed_in(client)
    response = client.get(f"/admin{path}" if path == "/nope" else path, follow_redirects=False)
    headers = response.headers
    if response.status_code == 303:  # redirects too; then the page it leads to
        assert headers["x-frame-options"] == "DENY"
        response = client.get(headers["location"])
        headers = response.headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"].startswith("text/html")
    assert "<script>" not in response.text and " style=" not in response.text


def test_problems_are_pages_with_their_status(moderator):
    missing = moderator.get("/admin/comments/999", status=404)
    assert "There is no comment 999." in text_of(missing)
    assert (
        moderator.get("/admin/queue?view=later", status=400)
        .headers["content-type"]
        .startswith("text/html")
    )
    assert moderator.get("/admin/queue?before=abc", status=400)
    assert moderator.get("/admin/queue?before=%C2%B2", status=400)  # "²" is a digit to Python
    assert moderator.get("/admin/audit?comment=x", status=400)
    assert moderator.get("/admin/nope", status=404)


# Acting on comments


@pytest.mark.parametrize(
    "action, start, end",
    [
        ("approve", "pending", "approved"),
        ("hide", "pending", "hidden"),
        ("hide", "approved", "hidden"),
        ("delete", "approved", "deleted"),
        ("restore", "hidden", "approved"),
        ("restore", "deleted", "approved"),
    ],
)
def test_each_action_changes_the_status_and_is_audited(pre, moderator, action, start, end):
    comment = post(pre, "a comment", author="Ada")
    setup = {"approved": ["approve"], "hidden": ["hide"], "deleted": ["approve", "delete"]}
    for step in setup.get(start, []):
        moderator.post("/admin/actions", {"row_action": f"{step}:{comment['id']}"})
    assert status_of(pre, comment["id"]) == start

    response = moderator.post(
        "/admin/actions",
        {"row_action": f"{action}:{comment['id']}", "next": "/admin/queue?view=recent"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/queue?view=recent&done={action}&n=1"
    assert status_of(pre, comment["id"]) == end
    assert audit_actions(pre)[0] == (MODERATOR, action, comment["id"])
    log = moderator.get("/admin/audit")
    assert f"{start} → {end}" in text_of(log)
    visible = pre.get(f"/api/comments/{comment['id']}").status_code == 200
    assert visible is (end == "approved")


def test_an_action_that_does_not_apply_changes_nothing(pre, moderator):
    comment = post(pre, "pending")
    response = moderator.post("/admin/actions", {"row_action": f"restore:{comment['id']}"})
    assert notice(moderator.client.get(response.headers["location"])).startswith("Nothing changed")
    assert status_of(pre, comment["id"]) == "pending"
    assert audit_actions(pre) == []


def test_row_buttons_answer_json_for_the_script(pre, moderator):
    comment = post(pre, "pending")
    response = moderator.post(
        "/admin/actions",
        {"row_action": f"hide:{comment['id']}"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"changed": [{"id": comment["id"], "status": "hidden"}]}
    refused = moderator.post(
        "/admin/actions",
        {"row_action": f"hide:{comment['id']}"},
        csrf="wrong",
        headers={"Accept": "application/json"},
    )
    assert_problem(refused, 403, "csrf_failed")


def test_bulk_actions_act_on_the_ticked_comments(pre, moderator):
    ids = [post(pre, f"comment {n}")["id"] for n in range(3)]
    response = moderator.post(
        "/admin/actions", {"action": "approve", "ids": ids[:2], "next": "/admin/queue"}
    )
    assert response.headers["location"] == "/admin/queue?done=approve&n=2"
    page = moderator.get(response.headers["location"])
    assert notice(page) == "Approved 2 comments."
    assert shown_ids(page) == [ids[2]]
    assert [status_of(pre, i) for i in ids] == ["approved", "approved", "pending"]
    assert sorted(entry[2] for entry in audit_actions(pre)) == ids[:2]

    moderator.post("/admin/actions", {"action": "hide", "ids": ids})
    assert [status_of(pre, i) for i in ids] == ["hidden"] * 3

    nothing_ticked = moderator.post("/admin/actions", {"action": "approve"})
    assert nothing_ticked.status_code == 422
    assert "Select at least one comment" in nothing_ticked.text
    unknown = moderator.post("/admin/actions", {"action": "purge", "ids": ids})
    assert unknown.status_code == 422
    assert [status_of(pre, i) for i in ids] == ["hidden"] * 3


def test_edit_sanitizes_again_and_audits_before_and_after(make_client):
    client = make_client()
    moderator = signed_in(client)
    comment = post(client, "Original *text*")
    page_url = f"/admin/comments/{comment['id']}?back=%2Fadmin%2Fqueue%3Fview%3Drecent"
    assert "Original *text*" in moderator.get(page_url).text
    response = moderator.post(
        f"/admin/comments/{comment['id']}/edit",
        {"text": "Fixed <script>alert(1)</script> **text**", "next": page_url},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/admin/comments/{comment['id']}?back=")
    assert notice(moderator.get(response.headers["location"])) == "Saved the new text."
    shown = client.get(f"/api/comments/{comment['id']}").json()
    assert "<script>" not in shown["html"]
    assert "<strong>text</strong>" in shown["html"]
    assert shown["edited"] is not None
    log = moderator.get("/admin/audit")
    assert '<del class="before">Original *text*</del>' in log.text
    assert "Fixed &lt;script&gt;" in log.text  # escaped in the page too

    too_long = moderator.post(f"/admin/comments/{comment['id']}/edit", {"text": "x" * 10_001})
    assert too_long.status_code == 422
    assert "at most 10000" in too_long.text
    empty = moderator.post(f"/admin/comments/{comment['id']}/edit", {"text": "  "})
    assert empty.status_code == 422
    assert len(audit_actions(client)) == 1


def test_ban_refuses_the_authors_next_comment_until_lifted(make_client):
    client = make_client()
    moderator = signed_in(client)
    troll = post(client, "you are all idiots", author="Troll", email="troll@example.org")
    response = moderator.post(
        f"/admin/comments/{troll['id']}/ban",
        {"reason": "insults", "days": "7", "next": f"/admin/comments/{troll['id']}"},
    )
    assert response.status_code == 303
    assert notice(moderator.get(response.headers["location"])) == "Banned the author."
    assert status_of(client, troll["id"]) == "hidden"

    again = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "let me in", "email": "TROLL@example.org"},
    )
    assert_problem(again, 403, "banned")
    bans = moderator.get("/admin/bans")
    assert "troll@example.org" in bans.text and "insults" in bans.text
    # Until the real moment it ends; "permanent" only for a permanent ban.
    assert "2026-12-06 12:00 UTC" in bans.text and "permanent" not in bans.text
    [ban_id] = re.findall(r'action="/admin/bans/(\d+)/lift"', bans.text)
    assert [action for _, action, _ in audit_actions(client)][:2] == ["hide", "ban"]

    lifted = moderator.post(f"/admin/bans/{ban_id}/lift")
    assert lifted.headers["location"] == "/admin/bans?done=lift-ban"
    assert "Nobody is banned" in moderator.get("/admin/bans").text
    post(client, "sorry", email="troll@example.org")
    assert audit_actions(client)[0][1] == "lift-ban"
    assert moderator.post(f"/admin/bans/{ban_id}/lift").status_code == 404


def test_the_moderator_chooses_what_a_ban_covers_and_for_how_long(make_client):
    client = make_client(trusted_proxies="127.0.0.1")
    moderator = signed_in(client)
    troll = post(client, "insults", email="troll@example.org")
    page = moderator.get(f"/admin/comments/{troll['id']}").text
    assert re.search(r'name="scope" value="both" checked', page)
    assert re.search(r'name="days" type="number"[^>]* value="7"', page)
    banned = moderator.post(
        f"/admin/comments/{troll['id']}/ban",
        {"reason": "insults", "scope": "email", "days": "", "permanent": "yes"},
    )
    assert banned.status_code == 303
    bans = moderator.get("/admin/bans").text
    assert re.search(r"<td>email</td>\s*<td>troll@example.org</td>\s*<td><code title=\"\">", bans)
    assert "permanent" in bans
    # By email only: the troll's neighbours post as before, the troll's email is refused.
    neighbour = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "hi", "email": "student@example.org"},
        headers={"X-Forwarded-For": "127.0.0.9"},
    )
    assert neighbour.json()["status"] == "approved"

    anonymous = post(client, "more insults")
    page = moderator.get(f"/admin/comments/{anonymous['id']}").text
    assert re.search(r'name="scope" value="network" checked', page)
    assert re.search(r'name="scope" value="email" disabled', page)
    moderator.post(f"/admin/comments/{anonymous['id']}/ban", {"reason": "again", "days": "2"})
    [network, email] = client.app.state.moderation.bans()
    assert (network.scope.value, email.scope.value) == ("network", "email")
    assert network.expires == client.app.state.moderation.clock() + timedelta(days=2)
    held = client.post("/api/comments", json={"uri": "/post/", "text": "me", "email": "x@y.org"})
    assert held.json()["status"] == "pending"
    queue = moderator.get("/admin/queue").text
    assert "banned network" in queue and "comes from a banned network" in queue


@pytest.mark.parametrize(
    "form, message",
    [
        ({"reason": ""}, "Say why"),
        ({"reason": "spam", "days": "0"}, "Days is a whole number"),
        ({"reason": "spam", "scope": "everything"}, "Ban by email, network or both"),
    ],
)
def test_ban_needs_a_reason_and_sane_days(client, form, message):
    moderator = signed_in(client)
    comment = post(client, "spam spam", email="s@example.org")
    response = moderator.post(f"/admin/comments/{comment['id']}/ban", form)
    assert response.status_code == 422
    assert message in response.text
    assert client.app.state.moderation.bans() == []


def test_closing_a_thread_refuses_new_comments_until_reopened(make_client):
    client = make_client()
    moderator = signed_in(client)
    comment = post(client, "first", uri="/heated/")
    page = moderator.get(f"/admin/comments/{comment['id']}")
    thread_id = int(re.search(r"/admin/threads/(\d+)/closed", page.text)[1])
    closed = moderator.post(
        f"/admin/threads/{thread_id}/closed", {"closed": "yes", "next": "/admin/queue"}
    )
    assert closed.headers["location"] == "/admin/queue?done=close"
    refused = client.post("/api/comments", json={"uri": "/heated/", "text": "but"})
    assert_problem(refused, 403, "thread_closed")
    assert client.get("/api/threads?uri=/heated/").json()["thread"]["closed"] is True
    assert "Reopen the thread" in moderator.get(f"/admin/comments/{comment['id']}").text

    moderator.post(f"/admin/threads/{thread_id}/closed", {"closed": "no"})
    post(client, "calmer now", uri="/heated/")
    assert [action for _, action, _ in audit_actions(client)] == ["reopen", "close"]


def test_purge_asks_first_then_erases_for_good(make_client):
    client = make_client()
    moderator = signed_in(client)
    parent = post(client, "parent text", author="Ada")
    reply = post(client, "a reply", parent=parent["id"])
    lonely = post(client, "alone", author="Bob")
    ids = [parent["id"], lonely["id"]]

    asked = moderator.post("/admin/purge", {"ids": ids, "next": "/admin/queue?view=recent"})
    assert asked.status_code == 200
    assert "Purge 2 comments for good?" in text_of(asked)
    assert status_of(client, parent["id"]) == "approved"
    assert audit_actions(client) == []

    done = moderator.post(
        "/admin/purge",
        {"ids": ids, "confirmed": "yes", "next": "/admin/queue?view=recent"},
    )
    assert done.headers["location"] == "/admin/queue?view=recent&done=purge&n=2"
    thread = client.get("/api/threads?uri=/post/").json()
    [placeholder] = thread["comments"]
    assert placeholder["id"] == parent["id"]
    assert placeholder["status"] == "deleted" and placeholder["html"] == ""
    assert placeholder["replies"][0]["id"] == reply["id"]
    assert shown_ids(moderator.get("/admin/queue?view=recent")) == [reply["id"], parent["id"]]
    restored = moderator.post("/admin/actions", {"row_action": f"restore:{parent['id']}"})
    assert notice(moderator.get(restored.headers["location"])).startswith("Nothing changed")
    assert {entry[1] for entry in audit_actions(client)} == {"purge"}


# The queue


def test_views_and_counts(make_client):
    client = make_client(moderation="pre", report_threshold="0")
    moderator = signed_in(client)
    waiting = post(client, "waiting")
    hidden = post(client, "to hide")
    reported = post(client, "reported one")
    for comment_id, action in [(hidden["id"], "hide"), (reported["id"], "approve")]:
        moderator.post("/admin/actions", {"row_action": f"{action}:{comment_id}"})
    response = client.post(
        f"/api/comments/{reported['id']}/report", json={"reason": "off topic, rude"}
    )
    assert response.status_code == 201

    assert shown_ids(moderator.get("/admin/queue")) == [waiting["id"]]
    assert shown_ids(moderator.get("/admin/queue?view=hidden")) == [hidden["id"]]
    reported_page = moderator.get("/admin/queue?view=reported")
    assert shown_ids(reported_page) == [reported["id"]]
    assert "off topic, rude" in reported_page.text and "1 report" in reported_page.text
    recent = moderator.get("/admin/queue?view=recent")
    assert shown_ids(recent) == [reported["id"], hidden["id"], waiting["id"]]
    counts = dict(
        re.findall(r">(Pending|Reported|Hidden) <span class=\"count\"[^>]*>(\d+)<", recent.text)
    )
    assert counts == {"Pending": "1", "Reported": "1", "Hidden": "1"}

    # Approving it, though it is shown already, keeps it and dismisses the reports.
    assert 'data-from="approved hidden pending"' in reported_page.text
    moderator.post("/admin/actions", {"row_action": f"approve:{reported['id']}"})
    assert shown_ids(moderator.get("/admin/queue?view=reported")) == []
    assert status_of(client, reported["id"]) == "approved"
    assert audit_actions(client)[0] == (MODERATOR, "approve", reported["id"])


def test_each_row_shows_the_comment_in_context(make_client):
    client = make_client(moderation="trusted")
    moderator = signed_in(client)
    parent = post(client, "What about the bridge?", title="City & council", uri="/2026/11/bridge/")
    moderator.post("/admin/actions", {"row_action": f"approve:{parent['id']}"})
    older = post(client, "older", author="Ada", email="ada@example.org", uri="/2026/11/bridge/")
    moderator.post("/admin/actions", {"action": "hide", "ids": [older["id"]]})
    reply = post(
        client,
        "Rebuild it <b>now</b>",
        author="Ada",
        email="ada@example.org",
        website="https://ada.example/blog",
        parent=parent["id"],
        uri="/2026/11/bridge/",
    )
    page = moderator.get("/admin/queue")
    assert shown_ids(page) == [reply["id"]]
    row = text_of(page)
    for expected in [
        "pending",
        "trusted",  # why it waits
        "Ada",
        "ada@example.org",
        "ada.example",
        "✓0 ✕1",  # Ada's record: none approved, one hidden
        "City & council",
        "reply to What about the bridge?",
        "Rebuild it <b>now</b>",  # the reader's markup, shown as text
    ]:
        assert expected in row, expected
    assert 'href="https://blog.example/2026/11/bridge/"' in page.text  # pending: no permalink
    recent = moderator.get("/admin/queue?view=recent").text
    assert f'href="https://blog.example/2026/11/bridge/#comment-{parent["id"]}"' in recent
    thread_only = "view=recent&amp;site=blog.example&amp;thread=%2F2026%2F11%2Fbridge%2F"
    assert f'href="/admin/queue?{thread_only}"' in page.text
    assert "<b>now</b>" not in page.text
    ip_hash = client.app.state.tokens.hash_ip("127.0.0.1")
    assert ip_hash[:8] in page.text


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["b2", "b1", "a2", "a1"]),
        ("site=other.example", ["b2", "b1"]),
        ("thread=/one/", ["b1", "a1"]),
        ("thread=https://blog.example/one/%23comments", ["b1", "a1"]),
        ("author=ADA", ["a2", "a1"]),
        ("author=grace@", ["b2", "b1"]),
        ("q=bridge", ["b1", "a2"]),
        ("site=blog.example&author=ada&q=BRIDGE", ["a2"]),
        ("q=100%25", []),  # LIKE wildcards are literal
    ],
)
def test_filters(make_client, query, expected):
    client = make_client(moderation="pre", origins=f"{ORIGIN},https://other.example")
    moderator = signed_in(client)
    made = {}
    for name, origin, uri, text, author, email in [
        ("a1", ORIGIN, "/one/", "about trains", "Ada", "ada@example.org"),
        ("a2", ORIGIN, "/two/", "about the bridge", "Ada", "ada@example.org"),
        ("b1", "https://other.example", "/one/", "the Bridge again", "Grace", "grace@example.org"),
        ("b2", "https://other.example", "/two/", "boats", "Grace", "grace@example.org"),
    ]:
        response = client.post(
            "/api/comments",
            json={"uri": uri, "text": text, "author": author, "email": email},
            headers={"Origin": origin},
        )
        made[response.json()["id"]] = name
    page = moderator.get(f"/admin/queue?view=pending&{query}")
    assert [made[i] for i in shown_ids(page)] == expected


def test_pages_of_fifty_newest_first(pre, moderator):
    ids = [post(pre, f"comment number {n}")["id"] for n in range(53)]
    first = moderator.get("/admin/queue")
    assert shown_ids(first) == ids[::-1][:50]
    older = re.search(r'<a href="([^"]+)" rel="next">Older', first.text)
    assert older, "no link to older comments"
    second = moderator.get(html.unescape(older[1]))
    assert shown_ids(second) == ids[::-1][50:]
    assert 'rel="next"' not in second.text
    assert "← Newest" in second.text


# Privacy


def test_privacy_export_and_erase(make_client):
    client = make_client()
    moderator = signed_in(client)
    mine = post(client, "my opinion", author="Ada", email="ada@example.org")
    post(client, "a reply to Ada", parent=mine["id"], email="bob@example.org")
    post(client, "second thought", author="Ada", email="Ada@Example.org")

    export = moderator.post("/admin/privacy/export", {"email": "ada@example.org"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json")
    assert export.headers["content-disposition"].startswith("attachment")
    data = export.json()
    assert [comment["text"] for comment in data["comments"]] == ["my opinion", "second thought"]
    assert data["email"] == "ada@example.org"

    invalid = moderator.post("/admin/privacy/export", {"email": "not an address"})
    assert invalid.status_code == 422
    assert "not an email address" in invalid.text

    asked = moderator.post("/admin/privacy/erase", {"email": "ada@example.org"})
    assert asked.status_code == 200
    assert "2 comments" in text_of(asked)
    assert (
        len(
            moderator.post("/admin/privacy/export", {"email": "ada@example.org"}).json()["comments"]
        )
        == 2
    )

    erased = moderator.post(
        "/admin/privacy/erase", {"email": "ada@example.org", "confirmed": "yes"}
    )
    assert erased.headers["location"] == "/admin/privacy?done=erase&n=2"
    assert notice(moderator.get(erased.headers["location"])) == "Erased the address and 2 comments."
    assert (
        moderator.post("/admin/privacy/export", {"email": "ada@example.org"}).json()["comments"]
        == []
    )
    thread = client.get("/api/threads?uri=/post/").json()
    [placeholder] = thread["comments"]  # the first one holds up Bob's reply
    assert placeholder["html"] == "" and placeholder["replies"][0]["html"]
    assert audit_actions(client)[0][:2] == (MODERATOR, "erase")


def test_moderators_set_a_threads_title_which_readers_no_longer_change(make_client):
    client = make_client()
    moderator = signed_in(client)
    first = post(client, "first", title="Buy cheap pills")  # the first caller named it
    [item] = client.app.state.moderation.queue(QueueView.RECENT).items
    page = moderator.get(f"/admin/comments/{first['id']}").text
    assert 'value="Buy cheap pills"' in page and "Taken from the page" in page

    saved = moderator.post(
        f"/admin/threads/{item.comment.thread_id}/title",
        {"title": "  A post\nabout   tea ", "next": f"/admin/comments/{first['id']}"},
    )
    assert saved.status_code == 303
    assert notice(moderator.get(saved.headers["location"])) == "Saved the thread's title."
    post(client, "second", title="Something else entirely")
    thread = client.get("/api/threads", params={"uri": "/post/"}).json()["thread"]
    assert thread["title"] == "A post about tea"
    feed = client.get("/feed/thread.atom", params={"uri": "/post/"}).text
    assert "A post about tea" in feed and "pills" not in feed and "entirely" not in feed
    assert "Set by a moderator" in moderator.get(f"/admin/comments/{first['id']}").text
    [entry] = [e for e in client.app.state.moderation.audit()[0] if e.action.value == "retitle"]
    assert (entry.before, entry.after, entry.thread_id, entry.moderator) == (
        "Buy cheap pills",
        "A post about tea",
        item.comment.thread_id,
        MODERATOR,
    )
    assert "retitle" in moderator.get("/admin/audit").text

    empty = moderator.post(f"/admin/threads/{item.comment.thread_id}/title", {"title": " "})
    assert empty.status_code == 422
    too_long = moderator.post(
        f"/admin/threads/{item.comment.thread_id}/title", {"title": "x" * 301}
    )
    assert too_long.status_code == 422
    assert moderator.post("/admin/threads/999999/title", {"title": "x"}).status_code == 404
    assert len([e for e in client.app.state.moderation.audit()[0] if e.action == "retitle"]) == 1


def test_the_queue_groups_reports_by_reason(make_client):
    client = make_client(report_threshold="0")
    moderator = signed_in(client)
    comment = post(client, "buy now")
    for number, body in enumerate(
        [
            {"category": "abuse"},
            {"category": "spam"},
            {"category": "spam", "reason": "a link farm"},
            {"category": "other", "reason": "wrong <thread>"},
        ]
    ):
        reader = TestClient(client.app, headers={"Origin": ORIGIN}, client=(f"10.0.{number}.1", 1))
        assert reader.post(f"/api/comments/{comment['id']}/report", json=body).status_code == 201
    page = moderator.get("/admin/queue?view=reported").text
    reasons = re.search(
        r'<ul class="reasons" aria-label="Reports by reason">(.*?)</ul>', page, re.S
    )
    lines = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", item)).split())
        for item in re.findall(r"<li>(.*?)</li>", reasons.group(1), re.S)
    ]
    assert lines == ["spam (2): a link farm", "abuse (1)", "other (1): wrong <thread>"]
    assert "&lt;thread&gt;" in reasons.group(1)
