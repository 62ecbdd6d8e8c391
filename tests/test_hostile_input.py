"""Inputs in the shapes a fuzzer (or an attacker) sends: each answered with a 4xx and a stable
code, on SQLite and PostgreSQL alike, and beside each the innocent request it must not refuse."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import assert_problem, post

BIG_ID = 2**31  # one past PostgreSQL's integer
HUGE = "9" * 5000  # more digits than int() takes


def thread(client, **params: str):
    return client.get("/api/threads", params={"uri": "/post/", **params})


def cursor(created: str, comment_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created}|{comment_id}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("comment_id", [str(BIG_ID), str(2**63), "¹", "²3", HUGE, "-1", "0"])
def test_ids_that_name_no_comment_in_paths(client, comment_id):
    path = f"/api/comments/{comment_id}"
    assert_problem(client.get(path), 404, "comment_not_found")
    assert_problem(client.patch(path, json={"text": "x"}), 404, "comment_not_found")
    assert_problem(client.delete(path), 404, "comment_not_found")
    assert_problem(client.post(path + "/report", json={}), 404, "comment_not_found")


def test_the_largest_id_is_still_an_id(client):
    assert_problem(client.get(f"/api/comments/{BIG_ID - 1}"), 404, "comment_not_found")
    comment = post(client)
    assert client.get(f"/api/comments/{comment['id']}").status_code == 200


@pytest.mark.parametrize("parent", [BIG_ID, -(2**63), 0])
def test_parent_past_the_id_range(client, parent):
    response = client.post("/api/comments", json={"uri": "/p/", "text": "x", "parent": parent})
    assert_problem(response, 422, "field_invalid", "parent")


def test_parent_in_range_that_does_not_exist(client):
    response = client.post("/api/comments", json={"uri": "/p/", "text": "x", "parent": BIG_ID - 1})
    assert_problem(response, 422, "parent_not_found", "parent")


@pytest.mark.parametrize(
    "after",
    [
        cursor("2026-11-29T12:00:00+00:00", str(BIG_ID)),
        cursor("2026-11-29T12:00:00+00:00", "²"),
        cursor("2026-11-29T12:00:00+00:00", HUGE),
        cursor("0001-01-01T00:00:00+05:00", "1"),
    ],
)
def test_cursors_past_the_id_range_or_the_calendar(client, after):
    assert_problem(thread(client, after=after), 400, "invalid_parameter", "after")


def test_a_real_cursor_still_pages(client):
    for _ in range(3):
        post(client)
    first = thread(client, limit="2").json()
    assert first["next"]
    assert len(thread(client, limit="2", after=first["next"]).json()["comments"]) == 1


@pytest.mark.parametrize("limit", ["¹", "²", "1²", "٣", HUGE, "0", "201"])
def test_limits_in_other_digits_or_out_of_range(client, limit):
    assert_problem(thread(client, limit=limit), 400, "invalid_parameter", "limit")


def test_plain_limits_pass(client):
    assert thread(client, limit="200").status_code == 200
    assert thread(client, limit="1").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/api/comments", "/api/preview", "/api/counts", "/api/comments/1", "/api/comments/1/report"],
)
@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"a": ' * 1000 + "1" + "}" * 1000])
def test_json_nested_too_deep(client, path, body):
    method = client.patch if path == "/api/comments/1" else client.post
    response = method(path, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_json")


def test_integers_of_thousands_of_digits(client):
    for key in ("parent", "text"):
        body = '{"uri": "/p/", "text": "x", "%s": %s}' % (key, HUGE)  # noqa: UP031
        response = client.post(
            "/api/comments", content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400, "invalid_json")


def send_raw(client, method, path: str, data: dict):
    """JSON as a client may send it: ensure_ascii keeps a lone surrogate as its \\u escape."""
    body = json.dumps(data)
    return client.request(method, path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "data, field",
    [
        ({"uri": "/p/", "text": "a\ud800b"}, "text"),
        ({"uri": "/p/\ud800", "text": "x"}, "uri"),
        ({"uri": "/p/", "text": "x", "author": "\udfff"}, "author"),
        ({"uri": "/p/", "text": "x", "email": "a\ud800@b.example"}, "email"),
        ({"uri": "/p/", "text": "x", "website": "https://\ud800.example"}, "website"),
        ({"uri": "/p/", "text": "x", "title": "\ud800"}, "title"),
        ({"uri": "/p/", "text": "x", "stamp": "\ud800"}, "stamp"),
        ({"uri": "/p/", "text": "x", "honeypot": "\ud800"}, "honeypot"),
    ],
)
def test_lone_surrogates_in_a_post(client, data, field):
    assert_problem(send_raw(client, "POST", "/api/comments", data), 422, "field_invalid", field)


def test_lone_surrogates_elsewhere(client):
    comment = post(client)
    edit = f"/api/comments/{comment['id']}"
    headers = {"Authorization": f"Bearer {comment['edit_token']}"}
    body = json.dumps({"text": "\ud800"})
    patched = client.patch(
        edit, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_problem(patched, 422, "field_invalid", "text")
    for path, data, field in [
        ("/api/preview", {"text": "\ud800"}, "text"),
        ("/api/counts", {"uris": ["/p/", "\ud800"]}, "uris"),
        (f"{edit}/report", {"reason": "\ud800"}, "reason"),
    ]:
        assert_problem(send_raw(client, "POST", path, data), 422, "field_invalid", field)
    unknown = send_raw(client, "POST", "/api/preview", {"text": "x", "\ud800": 1})
    assert_problem(unknown, 422, "unknown_field")


def test_characters_beyond_the_basic_plane_are_text(client):
    """A pair of surrogates is one character (an emoji), not a lone one."""
    comment = send_raw(client, "POST", "/api/comments", {"uri": "/p/", "text": "yes \U0001f600"})
    assert comment.status_code == 201, comment.text
    assert "\U0001f600" in comment.json()["html"]


def test_405_allows_every_method_of_the_comment_route(client):
    response = client.put("/api/comments/1", json={})
    assert_problem(response, 405, "method_not_allowed")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed
    assert_problem(client.put("/api/comments", json={}), 405, "method_not_allowed")
    assert client.head(f"/api/comments/{post(client)['id']}").status_code == 200
