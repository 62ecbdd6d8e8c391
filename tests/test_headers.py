"""Headers and small leaks: nosniff on every answer, CORS only where the embed fetches, and avatars
that tell people apart without telling who shares a network."""

from __future__ import annotations

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import ORIGIN, post

# Every kind of answer the server gives, by path: the API, its problems, static files, feeds,
# the admin, the pages behind mail links, health and the demo.
ANSWERS = [
    ("GET", "/api/threads?uri=/post/"),
    ("GET", "/api/config"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/comments/999"),
    ("GET", "/nowhere"),
    ("GET", "/static/embed.js"),
    ("GET", "/static/i18n/de.json"),
    ("GET", "/feed/recent.atom"),
    ("GET", "/admin/sign-in"),
    ("GET", "/admin/queue"),
    ("GET", "/mail/action?token=nonsense"),
    ("GET", "/healthz"),
    ("GET", "/demo"),
]


@pytest.mark.parametrize("method, path", ANSWERS)
def test_every_answer_says_nosniff(client, method, path):
    response = client.request(method, path, follow_redirects=False)
    assert response.headers["x-content-type-options"] == "nosniff", response.status_code
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]  # once


def test_posts_preflights_and_crashes_say_nosniff(client):
    created = client.post("/api/comments", json={"uri": "/post/", "text": "Hello"})
    assert created.status_code == 201
    assert created.headers["x-content-type-options"] == "nosniff"
    preflight = client.options(
        "/api/comments",
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["x-content-type-options"] == "nosniff"

    async def broken(request):
        raise RuntimeError("a bug")

    client.app.router.routes.append(Route("/broken", broken))
    # The same app (its lifespan ran already, with `client`), answering as a server would.
    crashed = TestClient(client.app, raise_server_exceptions=False).get("/broken")
    assert crashed.status_code == 500
    assert crashed.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/api/threads?uri=/post/",
        "/api/config",
        "/static/embed.js",
        "/static/i18n/fr.json",
        "/feed/recent.atom",
    ],
)
def test_what_the_embed_fetches_answers_cors(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "path", ["/admin/sign-in", "/admin/queue", "/admin/export", "/mail/action?token=x", "/healthz"]
)
def test_the_admin_and_mail_pages_answer_no_cors(client, path):
    response = client.get(path, follow_redirects=False)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("path", ["/admin/actions", "/admin/sign-in", "/mail/action"])
def test_no_preflight_lets_another_site_post_to_the_admin(client, path):
    response = client.options(
        path,
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_the_embeds_preflight_still_passes(client):
    response = client.options(
        "/api/comments/1",
        headers={
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN


# Avatars


@pytest.fixture
def proxied(make_client):
    """A client behind a trusted proxy, so each post can come from an address of its own."""
    return make_client(TRUSTED_PROXIES="127.0.0.1")


def avatar_of(client, address: str, **fields) -> str:
    headers = {"X-Forwarded-For": address}
    response = client.post(
        "/api/comments", json={"uri": "/post/", "text": address, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["avatar"]


def test_anonymous_neighbours_do_not_share_a_face(proxied):
    # One office, one /24: the address hash stored for rate limits and bans is the same...
    first, second = avatar_of(proxied, "203.0.113.5"), avatar_of(proxied, "203.0.113.77")
    assert first != second  # ...but nobody reading the page can tell
    assert avatar_of(proxied, "2001:db8::1") != avatar_of(proxied, "2001:db8::2")  # one /64


def test_a_name_is_no_face_across_addresses(proxied):
    # Anyone may type "Ada": the name alone must not lend her face to someone else.
    assert avatar_of(proxied, "203.0.113.5", author="Ada") != avatar_of(
        proxied, "198.51.100.9", author="Ada"
    )


def test_one_person_keeps_one_face(proxied):
    # The innocent reader: the same address twice, the same email from two places.
    assert avatar_of(proxied, "203.0.113.5") == avatar_of(proxied, "203.0.113.5")
    assert avatar_of(proxied, "203.0.113.5", author="Ada") == avatar_of(
        proxied, "203.0.113.5", author="Ada"
    )
    email = {"email": "ada@example.org"}
    assert avatar_of(proxied, "203.0.113.5", **email) == avatar_of(proxied, "198.51.100.9", **email)


def test_an_avatar_reveals_no_address(proxied, client):
    avatar = avatar_of(proxied, "203.0.113.5")
    assert len(avatar) == 16 and "203" not in avatar
    assert post(client, "other server's reader")["avatar"] != avatar


def test_a_cached_page_and_its_304_carry_the_headers_of_the_full_path(client):
    """The second read of a page is answered from the worker's cache ahead of Starlette's
    layers; what it sends is what the route sent the first time."""
    origin = {"Origin": ORIGIN, "Accept-Encoding": "gzip"}
    post(client, uri="/same-headers")
    first = client.get("/api/threads?uri=/same-headers", headers=origin)
    second = client.get("/api/threads?uri=/same-headers", headers=origin)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert sorted(first.headers.multi_items()) == sorted(second.headers.multi_items())
    for asked in ({}, origin, {"Origin": "https://elsewhere.example"}):
        full = client.get("/api/threads?uri=/same-headers&limit=7", headers=asked)  # a miss
        cached = client.get("/api/threads?uri=/same-headers&limit=7", headers=asked)
        assert sorted(full.headers.multi_items()) == sorted(cached.headers.multi_items())
        etag = {**asked, "If-None-Match": cached.headers["etag"]}
        again = client.get("/api/threads?uri=/same-headers&limit=7", headers=etag)
        assert again.status_code == 304
        assert again.headers["vary"] == cached.headers["vary"]
        assert again.headers["x-content-type-options"] == "nosniff"
