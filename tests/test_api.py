"""The public JSON API, end to end through the app, on every configured database."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import ANY

import pytest
import sqlalchemy

from comments import db, validate
from comments.tables import threads
from tests.helpers import ORIGIN, assert_problem, post


def thread(client, uri="/post/", **params) -> dict:
    response = client.get("/api/threads", params={"uri": uri, **params})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(created: dict) -> dict:
    return {"Authorization": f"Bearer {created['edit_token']}"}


# Reading and writing threads


def test_unknown_thread_is_an_empty_list(client):
    body = thread(client, "/never/")
    assert body == {
        "thread": {
            "uri": "/never/",
            "title": "",
            "count": 0,
            "closed": False,
            "closes": None,
            "version": 0,
        },
        "comments": [],
        "next": None,
        "prev": None,
        "target": None,
        "missing": None,
    }


def test_post_returns_the_comment_with_an_edit_token(client, clock):
    created = post(
        client,
        "Hello *world*",
        author="Ada",
        email="ada@example.org",
        website="https://ada.example",
        title="A post",
    )
    assert created["html"] == "<p>Hello <em>world</em></p>"
    assert created["author"] == "Ada"
    assert created["website"] == "https://ada.example"
    assert created["status"] == "approved"
    assert created["parent"] is None
    assert created["created"] == "2026-11-29T12:00:00.000Z"
    assert created["editable_until"] == "2026-11-29T12:15:00.000Z"
    assert created["edit_token"]
    assert "email" not in created and "ip_hash" not in created and "text" not in created
    assert len(created["avatar"]) == 16 and "ada" not in created["avatar"]
    body = thread(client)
    assert body["thread"] == {
        "uri": "/post/",
        "title": "A post",
        "count": 1,
        "closed": False,
        "closes": None,
        "version": ANY,
    }
    assert [comment["id"] for comment in body["comments"]] == [created["id"]]
    assert "edit_token" not in body["comments"][0]


def test_replies_nest_at_any_depth(client, clock):
    top = post(client, "top")
    chain = [top]
    for depth in range(5):
        clock.advance(seconds=1)
        chain.append(post(client, f"reply {depth}", parent=chain[-1]["id"]))
    clock.advance(seconds=1)
    second = post(client, "second reply to top", parent=top["id"])
    body = thread(client)
    assert body["thread"]["count"] == 7
    [root] = body["comments"]
    assert [reply["id"] for reply in root["replies"]] == [chain[1]["id"], second["id"]]
    node = root
    for expected in chain[1:]:
        [node] = [reply for reply in node["replies"] if reply["id"] == expected["id"]]
        assert node["parent"] == expected["parent"]
    assert node["replies"] == []


def test_very_deep_replies_are_flattened_not_fatal(client):
    parent = post(client, "root")
    for _ in range(70):
        parent = post(client, "deeper", parent=parent["id"])
    body = thread(client)
    depth, node = 0, body["comments"][0]
    while node["replies"]:
        node = node["replies"][-1]
        depth += 1
    assert depth == 49  # the 50th level and below are shown beside their parent
    assert node["parent"] == parent["id"] - 1
    assert body["thread"]["count"] == 71


def test_same_uri_on_two_sites_is_two_threads(make_client):
    client = make_client(origins=f"{ORIGIN},https://other.example")
    post(client, "on blog")
    other = {"Origin": "https://other.example"}
    response = client.post("/api/comments", json={"uri": "/post/", "text": "x"}, headers=other)
    assert response.status_code == 201
    assert thread(client)["thread"]["count"] == 1
    response = client.get("/api/threads", params={"uri": "/post/"}, headers=other)
    assert response.json()["thread"]["count"] == 1
    assert response.headers["access-control-allow-origin"] == "https://other.example"


def test_uri_is_normalized(client):
    post(client, "x", uri="https://blog.example/2026/11/post/#comments")
    assert thread(client, "/2026/11/post/")["thread"]["count"] == 1
    assert thread(client, "/2026//11/post/")["thread"]["count"] == 1


def test_pagination_by_cursor_oldest_and_newest(client, clock):
    ids = []
    for index in range(7):
        clock.advance(seconds=1)
        ids.append(post(client, f"top {index}")["id"])
        post(client, f"reply to {index}", parent=ids[-1])
    for sort, expected in (("oldest", ids), ("newest", ids[::-1])):
        seen, after = [], None
        while True:
            params = {"limit": 3, "sort": sort, **({"after": after} if after else {})}
            body = thread(client, **params)
            assert len(body["comments"]) <= 3
            assert all(len(comment["replies"]) == 1 for comment in body["comments"])
            seen += [comment["id"] for comment in body["comments"]]
            after = body["next"]
            if after is None:
                break
        assert seen == expected
        assert body["thread"]["count"] == 14


def test_same_second_comments_page_without_loss(client):
    ids = [post(client, f"burst {index}")["id"] for index in range(5)]
    first = thread(client, limit=2)
    second = thread(client, limit=2, after=first["next"])
    third = thread(client, limit=2, after=second["next"])
    pages = [first, second, third]
    assert [c["id"] for page in pages for c in page["comments"]] == ids
    assert third["next"] is None


def test_placeholder_keeps_visible_replies(client):
    top = post(client, "parent")
    reply = post(client, "reply", parent=top["id"])
    alone = post(client, "alone")
    assert client.delete(f"/api/comments/{top['id']}", headers=bearer(top)).status_code == 200
    assert client.delete(f"/api/comments/{alone['id']}", headers=bearer(alone)).status_code == 200
    body = thread(client)
    [placeholder] = body["comments"]
    assert placeholder["id"] == top["id"]
    assert placeholder["status"] == "deleted"
    assert placeholder["author"] is None and placeholder["html"] == ""
    assert placeholder["avatar"] is None
    assert [r["id"] for r in placeholder["replies"]] == [reply["id"]]
    assert body["thread"]["count"] == 1


def test_thread_etag_answers_304_until_a_write(client):
    post(client, "one")
    first = client.get("/api/threads", params={"uri": "/post/"})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"
    again = client.get("/api/threads", params={"uri": "/post/"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    post(client, "two")
    changed = client.get("/api/threads", params={"uri": "/post/"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_thread_responses_are_compressed(client):
    for index in range(30):
        post(client, f"comment number {index} with some text to make the page big enough")
    response = client.get("/api/threads", params={"uri": "/post/"})
    assert response.headers["content-encoding"] == "gzip"


def test_a_304_varies_like_its_200_and_gzip_can_be_refused(client):
    post(client, "one")
    first = client.get("/api/threads", params={"uri": "/post/"})
    again = client.get(
        "/api/threads", params={"uri": "/post/"}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["vary"] == first.headers["vary"] == "Accept-Encoding, Origin"
    for refusal in ("gzip;q=0", "gzip; q=0.0, identity", "br, gzip;q=0.000"):
        plain = client.get(
            "/api/threads", params={"uri": "/post/"}, headers={"Accept-Encoding": refusal}
        )
        assert "content-encoding" not in plain.headers, refusal
    for accepted in ("gzip", "deflate, gzip;q=0.5", "GZIP;q=1"):
        zipped = client.get(
            "/api/threads", params={"uri": "/post/"}, headers={"Accept-Encoding": accepted}
        )
        assert zipped.headers["content-encoding"] == "gzip", accepted


def test_other_responses_are_compressed_where_they_are_big(client):
    for index in range(30):
        post(client, f"comment number {index} with some text to make the feed big enough")
    gzip = {"Accept-Encoding": "gzip"}
    for path in ("/static/embed.js", "/feed/recent.atom", "/admin/sign-in"):
        response = client.get(path, headers=gzip)
        assert response.status_code == 200, path
        assert response.headers["content-encoding"] == "gzip", path
    small = client.post("/api/counts", json={"uris": ["/post/"]}, headers=gzip)
    assert "content-encoding" not in small.headers


def test_thread_pages_and_counts_come_from_the_read_replica(make_client, fresh_database, request):
    backend = request.node.callspec.params["migrated_url"]
    replica_url = fresh_database(backend)
    engine = db.create_engine(replica_url)
    db.migrate(engine)
    client = make_client(READ_DATABASE_URL=replica_url)
    post(client, "written to the primary")
    # The replica has not caught up (here: never will): readers see the thread as it is there.
    assert thread(client)["comments"] == []
    counts = client.post("/api/counts", json={"uris": ["/post/"]}).json()["counts"]
    assert counts == {"/post/": 0}
    with engine.begin() as conn:  # replication arrives
        conn.execute(
            sqlalchemy.insert(threads).values(
                site="blog.example", uri="/post/", version=7, created=datetime.now(UTC)
            )
        )
    engine.dispose()
    page = client.get("/api/threads", params={"uri": "/post/"})
    assert page.headers["etag"] == '"t7"'  # the ETag comes from where the page comes from
    # Writes and their checks still go to the primary.
    reply = post(client, "a reply", parent=post(client, "parent")["id"])
    assert reply["parent"] is not None


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "uri"),
        ({"uri": "relative/path"}, "uri"),
        ({"uri": "javascript:alert(1)"}, "uri"),
        ({"uri": "/p/", "sort": "random"}, "sort"),
        ({"uri": "/p/", "limit": "0"}, "limit"),
        ({"uri": "/p/", "limit": "201"}, "limit"),
        ({"uri": "/p/", "limit": "ten"}, "limit"),
        ({"uri": "/p/", "after": "not-a-cursor"}, "after"),
        ({"uri": "/p/", "after": "bm90fGE"}, "after"),
        ({"uri": "/p/", "before": "not-a-cursor"}, "before"),
        ({"uri": "/p/", "around": "0"}, "around"),
        ({"uri": "/p/", "around": "2147483648"}, "around"),
        ({"uri": "/p/", "around": "٣"}, "around"),
        ({"uri": "/p/", "around": "3", "after": "bm90fGE"}, "around"),
    ],
)
def test_thread_query_errors(client, params, field):
    for _ in range(2):  # valid queries are remembered once parsed; refusals never are
        assert_problem(client.get("/api/threads", params=params), 400, "invalid_parameter", field)


def test_cursor_round_trip():
    from datetime import UTC, datetime

    from comments.models import Cursor

    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), 42)
    assert validate.parse_cursor(validate.cursor_token(cursor)) == cursor


# Posting: validation


@pytest.mark.parametrize(
    "payload, status, code, field",
    [
        ({"text": "x"}, 422, "field_required", "uri"),
        ({"uri": "/p/"}, 422, "field_required", "text"),
        ({"uri": "/p/", "text": "   \n "}, 422, "field_required", "text"),
        ({"uri": "/p/", "text": 5}, 422, "field_invalid", "text"),
        ({"uri": "/p/", "text": "x", "parent": "1"}, 422, "field_invalid", "parent"),
        ({"uri": "/p/", "text": "x", "parent": True}, 422, "field_invalid", "parent"),
        ({"uri": "/p/", "text": "x", "author": ["a"]}, 422, "field_invalid", "author"),
        ({"uri": "/p/", "text": "x", "author": "a" * 101}, 422, "field_too_long", "author"),
        ({"uri": "/p/", "text": "x", "title": "t" * 301}, 422, "field_too_long", "title"),
        ({"uri": "/p/", "text": "x", "email": "not-an-address"}, 422, "email_invalid", "email"),
        (
            {"uri": "/p/", "text": "x", "website": "javascript:alert(1)"},
            422,
            "website_invalid",
            "website",
        ),
        (
            {"uri": "/p/", "text": "x", "website": "ftp://files.example"},
            422,
            "website_invalid",
            "website",
        ),
        (
            {"uri": "/p/", "text": "x", "website": "data:text/html,x"},
            422,
            "website_invalid",
            "website",
        ),
        ({"uri": "p/", "text": "x"}, 422, "uri_invalid", "uri"),
        ({"uri": "/p/", "text": "x", "admin": True}, 422, "unknown_field", "admin"),
        ({"uri": "/p/", "text": "x", "parent": 999999}, 422, "parent_not_found", "parent"),
    ],
)
def test_post_validation_errors_change_nothing(client, payload, status, code, field):
    assert_problem(client.post("/api/comments", json=payload), status, code, field)
    assert thread(client, "/p/")["thread"]["count"] == 0


def test_text_too_long_and_body_too_large(make_client):
    client = make_client(max_length="100")
    assert_problem(
        client.post("/api/comments", json={"uri": "/p/", "text": "x" * 101}),
        422,
        "text_too_long",
        "text",
    )
    post(client, "x" * 100, uri="/p/")
    huge = client.post(
        "/api/comments",
        content=b'{"uri": "/p/", "text": "' + b"x" * 1_000_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(huge, 413, "body_too_large")


def test_body_must_be_a_json_object(client):
    assert_problem(client.post("/api/comments", content=b"uri=/p/"), 415, "unsupported_media_type")
    not_json = client.post(
        "/api/comments", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_problem(not_json, 400, "invalid_json")
    assert_problem(client.post("/api/comments", json=[1, 2]), 400, "invalid_json")


def test_names_and_websites_are_plain_data(client):
    created = post(
        client, "x", author="<script>alert(1)</script>\u0000 Bob", website="bob.example/blog"
    )
    assert created["author"] == "<script>alert(1)</script> Bob"  # the embed shows it as text
    assert created["website"] == "https://bob.example/blog"


def test_reply_to_a_comment_of_another_thread_is_refused(client):
    elsewhere = post(client, "elsewhere", uri="/other/")
    response = client.post(
        "/api/comments", json={"uri": "/post/", "text": "x", "parent": elsewhere["id"]}
    )
    assert_problem(response, 422, "parent_not_found", "parent")


def test_closed_thread_takes_no_comments(client, database_url):
    import sqlalchemy

    post(client, "first")
    engine = sqlalchemy.create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE threads SET closed = true")
    engine.dispose()
    assert thread(client)["thread"]["closed"] is True
    assert_problem(
        client.post("/api/comments", json={"uri": "/post/", "text": "x"}), 403, "thread_closed"
    )


# Origins and CORS


def test_writes_need_an_allowed_origin(client):
    payload = {"uri": "/p/", "text": "x"}
    assert_problem(
        client.post("/api/comments", json=payload, headers={"Origin": "https://evil.example"}),
        403,
        "origin_forbidden",
    )
    client.headers.pop("Origin")
    assert_problem(client.post("/api/comments", json=payload), 403, "origin_forbidden")
    own = client.post("/api/comments", json=payload, headers={"Origin": "http://testserver"})
    assert own.status_code == 201
    assert thread(client, "/p/")["thread"]["count"] == 1


def test_without_configured_origins_localhost_pages_may_post(make_client):
    client = make_client(origins="")
    local = {"Origin": "http://localhost:4000"}
    assert client.post("/api/comments", json={"uri": "/p/", "text": "x"}, headers=local).is_success
    response = client.post(
        "/api/comments", json={"uri": "/p/", "text": "x"}, headers={"Origin": ORIGIN}
    )
    assert_problem(response, 403, "origin_forbidden")


def test_cors_preflight_for_allowed_origin_only(client):
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = client.options("/api/comments/1", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in allowed.headers["access-control-allow-methods"]
    refused = client.options(
        "/api/comments/1", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in refused.headers
    read = client.get("/api/threads", params={"uri": "/p/"})
    assert read.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in read.headers["access-control-expose-headers"]


# Pre-moderation


def test_pre_moderation_holds_comments_for_everyone_but_the_author(make_client):
    client = make_client(moderation="pre")
    created = post(client, "wait for me")
    assert created["status"] == "pending"
    assert thread(client)["comments"] == []
    assert thread(client)["thread"]["count"] == 0
    assert_problem(client.get(f"/api/comments/{created['id']}"), 404, "comment_not_found")
    own = client.get(f"/api/comments/{created['id']}", headers=bearer(created))
    assert own.status_code == 200 and own.json()["status"] == "pending"
    assert own.json()["html"] == "<p>wait for me</p>"
    assert_problem(
        client.post("/api/comments", json={"uri": "/post/", "text": "x", "parent": created["id"]}),
        422,
        "parent_not_found",
        "parent",
    )


# Edit and delete with the edit token


def test_author_edits_within_the_window(client, clock):
    created = post(client, "frist")
    clock.advance(minutes=5)
    response = client.patch(
        f"/api/comments/{created['id']}", json={"text": "**first**"}, headers=bearer(created)
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["html"] == "<p><strong>first</strong></p>"
    assert edited["edited"] == "2026-11-29T12:05:00.000Z"
    assert edited["editable_until"] == created["editable_until"]  # an edit does not extend it
    assert thread(client)["comments"][0]["html"] == "<p><strong>first</strong></p>"
    # The old token was bound to the old text; the new one works.
    assert_problem(
        client.patch(f"/api/comments/{created['id']}", json={"text": "x"}, headers=bearer(created)),
        409,
        "comment_changed",
    )
    again = client.patch(
        f"/api/comments/{created['id']}", json={"text": "third"}, headers=bearer(edited)
    )
    assert again.status_code == 200


def test_edit_window_closes(client, clock):
    created = post(client, "original")
    clock.advance(minutes=15)
    path = f"/api/comments/{created['id']}"
    assert_problem(
        client.patch(path, json={"text": "x"}, headers=bearer(created)), 403, "edit_window_closed"
    )
    assert_problem(client.delete(path, headers=bearer(created)), 403, "edit_window_closed")
    assert thread(client)["comments"][0]["html"] == "<p>original</p>"


def test_shorter_configured_window_applies_to_old_tokens(make_client, clock):
    created = post(make_client(), "original")
    clock.advance(minutes=2)
    shorter = make_client(edit_window="60s")
    assert_problem(
        shorter.patch(
            f"/api/comments/{created['id']}", json={"text": "x"}, headers=bearer(created)
        ),
        403,
        "edit_window_closed",
    )


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_bad_tokens_change_nothing(client, method):
    mine = post(client, "mine")
    theirs = post(client, "theirs")
    path = f"/api/comments/{mine['id']}"

    def call(headers):
        if method == "patch":
            return client.patch(path, json={"text": "hacked"}, headers=headers)
        return client.delete(path, headers=headers)

    assert_problem(call({}), 401, "token_missing")
    assert_problem(call({"Authorization": "Basic abc"}), 401, "token_missing")
    assert_problem(call({"Authorization": "Bearer nonsense"}), 401, "token_invalid")
    token = mine["edit_token"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_problem(call({"Authorization": f"Bearer {tampered}"}), 401, "token_invalid")
    _payload, _, signature = token.partition(".")
    forged = theirs["edit_token"].split(".")[0] + "." + signature
    assert_problem(call({"Authorization": f"Bearer {forged}"}), 401, "token_invalid")
    assert_problem(call(bearer(theirs)), 403, "token_foreign")
    body = thread(client)
    assert [c["html"] for c in body["comments"]] == ["<p>mine</p>", "<p>theirs</p>"]


def test_token_signed_with_another_secret_is_invalid(make_client):
    created = post(make_client(secret_key="another-secret"), "x")
    client = make_client()
    response = client.delete(f"/api/comments/{created['id']}", headers=bearer(created))
    assert_problem(response, 401, "token_invalid")


def test_author_deletes_and_the_text_is_gone(client, database_url):
    created = post(client, "regret", author="Bob", email="bob@example.org")
    response = client.delete(f"/api/comments/{created['id']}", headers=bearer(created))
    assert response.status_code == 200
    assert response.json()["status"] == "deleted"
    assert thread(client)["comments"] == []
    assert thread(client)["thread"]["count"] == 0
    assert_problem(client.get(f"/api/comments/{created['id']}"), 404, "comment_not_found")
    assert_problem(
        client.delete(f"/api/comments/{created['id']}", headers=bearer(created)),
        403,
        "comment_not_editable",
    )
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT author, email, text, html FROM comments").one()
    engine.dispose()
    assert tuple(row) == (None, None, "", "")


def test_get_one_comment(client):
    created = post(client, "hi")
    response = client.get(f"/api/comments/{created['id']}")
    assert response.status_code == 200
    assert response.json()["html"] == "<p>hi</p>"
    assert_problem(client.get("/api/comments/999999"), 404, "comment_not_found")
    assert_problem(client.get("/api/comments/abc"), 404, "comment_not_found")


# Counts, preview, config, health, description


def test_counts_in_one_request(client):
    for _ in range(3):
        post(client, "x", uri="/a/")
    post(client, "x", uri="/b/")
    response = client.post(
        "/api/counts",
        json={"uris": ["/a/", "https://blog.example/b/#comments", "/none/", "#bad"]},
    )
    assert response.status_code == 200
    assert response.json() == {
        "counts": {"/a/": 3, "https://blog.example/b/#comments": 1, "/none/": 0, "#bad": 0}
    }
    assert_problem(client.post("/api/counts", json={"uris": ["/"] * 101}), 422, "too_many_uris")
    assert_problem(client.post("/api/counts", json={"uris": "/a/"}), 422, "field_invalid", "uris")


def test_counts_by_get_are_cached_and_revalidated(client):
    """The index page's counts as a GET: the same answer as the POST, with an ETag over the
    threads' versions, 304 while nothing changed, a new ETag after a post or a deletion."""
    post(client, "x", uri="/a/")
    mine = post(client, "y", uri="/b/")
    asked = [("uri", "/a/"), ("uri", "/b/"), ("uri", "/none/"), ("uri", "#bad"), ("_", "1")]
    first = client.get("/api/counts", params=asked)
    assert first.status_code == 200
    assert first.json() == {"counts": {"/a/": 1, "/b/": 1, "/none/": 0, "#bad": 0}}
    assert first.headers["cache-control"] == "public, no-cache"
    etag = first.headers["etag"]
    by_post = client.post("/api/counts", json={"uris": ["/a/", "/b/", "/none/", "#bad"]})
    assert by_post.json() == first.json() and by_post.headers["etag"] == etag
    assert (
        client.post(
            "/api/counts",
            json={"uris": ["/a/", "/b/", "/none/", "#bad"]},
            headers={"If-None-Match": etag},
        ).status_code
        == 200
    )  # a POST is never answered 304
    again = client.get("/api/counts", params=asked, headers={"If-None-Match": f'W/"t1", {etag}'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["vary"] == first.headers["vary"]
    other = client.get("/api/counts", params=[("uri", "/b/"), ("uri", "/a/")])
    assert other.headers["etag"] != etag  # another list, another answer

    post(client, "z", uri="/a/")
    moved = client.get("/api/counts", params=asked, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.json()["counts"]["/a/"] == 2
    assert moved.headers["etag"] != etag
    deleted = client.delete(
        f"/api/comments/{mine['id']}", headers={"Authorization": f"Bearer {mine['edit_token']}"}
    )
    assert deleted.status_code == 200
    after = client.get(
        "/api/counts", params=asked, headers={"If-None-Match": moved.headers["etag"]}
    )
    assert after.status_code == 200 and after.json()["counts"]["/b/"] == 0


def test_counts_by_get_refuse_a_bad_query_and_change_nothing(client):
    assert_problem(client.get("/api/counts"), 400, "invalid_parameter", "uri")
    assert_problem(client.get("/api/counts?other=1"), 400, "invalid_parameter", "uri")
    too_many = [("uri", f"/{n}/") for n in range(101)]
    assert_problem(client.get("/api/counts", params=too_many), 422, "too_many_uris", "uri")
    assert client.get("/api/counts", params=[("uri", "/a/")]).json() == {"counts": {"/a/": 0}}


def test_previews_render_two_at_a_time(client, monkeypatch):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from comments import api

    rendering, most = 0, 0
    lock = threading.Lock()

    def slow_render(text: str) -> str:
        nonlocal rendering, most
        with lock:
            rendering += 1
            most = max(most, rendering)
        time.sleep(0.2)
        with lock:
            rendering -= 1
        return text

    monkeypatch.setattr(api, "render_markdown", slow_render)

    def preview(index: int) -> int:
        return client.post("/api/preview", json={"text": f"t{index}"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(preview, range(6))) == [200] * 6
    assert most == 2
    # Meanwhile reads are not held up by the previews' queue.
    assert client.get("/api/threads", params={"uri": "/post/"}).status_code == 200


def test_preview_is_what_a_post_shows(client):
    text = "Hi <script>alert(1)</script> **there** https://example.org"
    preview = client.post("/api/preview", json={"text": text})
    assert preview.status_code == 200
    assert preview.json()["html"] == post(client, text)["html"]
    assert "<script" not in preview.json()["html"]
    assert_problem(client.post("/api/preview", json={"text": ""}), 422, "field_required", "text")


def test_previews_come_from_the_sites_only(client):
    for headers in ({"Origin": "https://evil.example"}, {"Origin": ""}):
        refused = client.post("/api/preview", json={"text": "*hi*"}, headers=headers)
        assert_problem(refused, 403, "origin_forbidden")
    assert client.post("/api/preview", json={"text": "*hi*"}).json() == {
        "html": "<p><em>hi</em></p>"
    }


def test_previews_are_limited_per_address(make_client, clock):
    client = make_client(preview_rate_limit="3", trusted_proxies="127.0.0.1")

    def preview(address: str):
        return client.post(
            "/api/preview", json={"text": "draft"}, headers={"X-Forwarded-For": address}
        )

    assert [preview("198.51.100.1").status_code for _ in range(3)] == [200] * 3
    refused = assert_problem(preview("198.51.100.1"), 429, "rate_limited")
    assert "previews" in refused["detail"]
    assert preview("198.51.100.1").headers["retry-after"] == "61"
    # Another reader elsewhere writes on; and the first one again once the minute has passed.
    assert preview("203.0.113.5").status_code == 200
    clock.advance(seconds=61)
    assert preview("198.51.100.1").status_code == 200


def test_config_for_the_embed(make_client):
    body = make_client(moderation="pre", edit_window="10m").get("/api/config").json()
    assert body == {
        "moderation": "pre",
        "moderation_until": None,
        "edit_window": 600,
        "max_length": 10000,
        "surge": "normal",
        "slow_mode_seconds": 30,
        "live": True,
        "sign_in": False,
        "commenters": "anonymous",
    }


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_openapi_describes_every_route(client):
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths["/api/comments/{comment_id}"]) >= {"get", "patch", "delete"}
    routes = {route.path for route in client.app.routes if route.path.startswith("/api/")}
    assert routes - {"/api/openapi.json"} == set(paths)


def test_unknown_route_and_method(client):
    assert_problem(client.get("/api/nothing"), 404, "not_found")
    assert_problem(client.put("/api/comments/1", json={}), 405, "method_not_allowed")


# Abuse


def test_rate_limit_per_address(make_client, clock):
    client = make_client(rate_limit="3")
    for _ in range(3):
        post(client, "x")
    limited = client.post("/api/comments", json={"uri": "/post/", "text": "x"})
    assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert thread(client)["thread"]["count"] == 3
    clock.advance(seconds=61)
    post(client, "x")


def test_trusted_proxy_forwarded_address_is_rate_limited_per_reader(make_client):
    client = make_client(rate_limit="1", trusted_proxies="127.0.0.0/8")
    first = {"X-Forwarded-For": "203.0.113.7"}
    second = {"X-Forwarded-For": "198.51.100.9"}
    for headers in (first, second):
        response = client.post("/api/comments", json={"uri": "/p/", "text": "x"}, headers=headers)
        assert response.status_code == 201, response.text
    again = client.post("/api/comments", json={"uri": "/p/", "text": "x"}, headers=first)
    assert_problem(again, 429, "rate_limited")


def test_cached_pages_follow_writes_made_by_another_server(make_client):
    first, second = make_client(), make_client()  # two processes, each with its own cache
    post(first, "one")
    assert [c["html"] for c in thread(second)["comments"]] == ["<p>one</p>"]
    post(first, "two")
    assert [c["html"] for c in thread(second)["comments"]] == ["<p>one</p>", "<p>two</p>"]
    created = thread(second)["comments"][0]
    assert created["status"] == "approved"


def test_cached_page_served_compressed_or_plain(client):
    post(client, "hello " * 100)
    plain = client.get(
        "/api/threads", params={"uri": "/post/"}, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    zipped = client.get(
        "/api/threads", params={"uri": "/post/"}, headers={"Accept-Encoding": "gzip"}
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()
    assert zipped.headers["etag"] == plain.headers["etag"]


# One page, one thread; one site, one set of threads


def test_addresses_of_one_page_are_one_thread(client):
    post(client, "a", uri="/2026/11/post")
    post(client, "b", uri="https://blog.example/2026/11/post/index.html#comments")
    post(client, "c", uri="/2026/11/./x/../post/?utm_source=feed")
    body = thread(client, "/2026/11/post/")
    assert body["thread"]["uri"] == "/2026/11/post/"
    assert body["thread"]["count"] == 3
    assert thread(client, "/2026/11/post")["thread"]["count"] == 3
    counts = client.post(
        "/api/counts", json={"uris": ["/2026/11/post", "/2026/11/post/?ref=x", "/other/"]}
    ).json()["counts"]
    assert counts == {"/2026/11/post": 3, "/2026/11/post/?ref=x": 3, "/other/": 0}


def test_www_and_http_origins_are_one_site(make_client):
    client = make_client(origins=f"{ORIGIN},https://www.blog.example,http://blog.example")
    post(client, "from the bare name")
    for count, origin in enumerate(("https://www.blog.example", "http://blog.example"), 2):
        response = client.post(
            "/api/comments", json={"uri": "/post/", "text": origin}, headers={"Origin": origin}
        )
        assert response.status_code == 201
        page = client.get("/api/threads", params={"uri": "/post/"}, headers={"Origin": origin})
        assert page.json()["thread"]["count"] == count
        assert page.headers["access-control-allow-origin"] == origin


def test_an_alias_written_as_an_origin_may_post_into_its_site(make_client):
    client = make_client(site_aliases="blog.example=http://blog.example:8080,old.example")
    dev = {"Origin": "http://blog.example:8080"}
    assert (
        client.post("/api/comments", json={"uri": "/p/", "text": "x"}, headers=dev).status_code
        == 201
    )
    assert thread(client, "/p/")["thread"]["count"] == 1
    # A bare name maps to the site but does not let its pages post.
    old = {"Origin": "https://old.example"}
    refused = client.post("/api/comments", json={"uri": "/p/", "text": "y"}, headers=old)
    assert_problem(refused, 403, "origin_forbidden")


def test_query_parameters_the_site_lists_make_threads(make_client):
    client = make_client(site_query_parameters="blog.example=p")
    post(client, "one", uri="/?p=1&utm_source=feed")
    post(client, "two", uri="/?p=2")
    post(client, "front", uri="/?s=search")
    assert thread(client, "/?p=1")["thread"] == {
        "uri": "/?p=1",
        "title": "",
        "count": 1,
        "closed": False,
        "closes": None,
        "version": ANY,
    }
    assert thread(client, "/?utm_source=x&p=2")["thread"]["count"] == 1
    assert thread(client, "/")["thread"]["count"] == 1
    counts = client.post("/api/counts", json={"uris": ["/?p=1", "/?p=2&x=y", "/"]}).json()
    assert counts["counts"] == {"/?p=1": 1, "/?p=2&x=y": 1, "/": 1}
    # The feed of a thread finds it by the same rule.
    feed = client.get("/feed/thread.atom", params={"uri": "/?p=1&utm_source=x"})
    assert feed.status_code == 200 and b"one" in feed.content


def test_the_query_of_a_site_that_lists_no_parameter_is_ignored(make_client):
    client = make_client(
        origins=f"{ORIGIN},https://other.example", site_query_parameters="blog.example=p"
    )
    other = {"Origin": "https://other.example"}
    for uri in ("/?p=1", "/?p=2"):
        response = client.post("/api/comments", json={"uri": uri, "text": uri}, headers=other)
        assert response.status_code == 201
    page = client.get("/api/threads", params={"uri": "/"}, headers=other).json()
    assert page["thread"]["count"] == 2


def test_a_threads_title_comes_from_the_sites_pages_only(client):
    # The server's own demo page may post, but its title is not the site's page's.
    demo = {"Origin": "http://testserver"}
    own = client.post(
        "/api/comments", json={"uri": "/t/", "text": "demo", "title": "Demo"}, headers=demo
    )
    assert own.status_code == 201
    assert client.get("/api/threads", params={"uri": "/t/"}).json()["thread"]["title"] == ""
    post(client, "from the blog", uri="/t/", title="  The   real\tpost ")
    assert client.get("/api/threads", params={"uri": "/t/"}).json()["thread"]["title"] == (
        "The real post"
    )
    long = client.post("/api/comments", json={"uri": "/u/", "text": "x", "title": "t" * 301})
    assert_problem(long, 422, "field_too_long", "title")
