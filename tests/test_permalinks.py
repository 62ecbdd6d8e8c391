"""Permalinks: the page that holds a comment, in one request, and paging both ways from it."""

from __future__ import annotations

import contextlib

import sqlalchemy

from comments.models import Action, Sort
from tests.helpers import ORIGIN, post


def thread(client, uri="/post/", **params) -> dict:
    response = client.get("/api/threads", params={"uri": uri, **params})
    assert response.status_code == 200, response.text
    return response.json()


def top_ids(body: dict) -> list[int]:
    return [comment["id"] for comment in body["comments"]]


def seed(client, clock, count: int) -> list[int]:
    """`count` top-level comments, a second apart, each with one reply."""
    ids = []
    for index in range(count):
        clock.advance(seconds=1)
        ids.append(post(client, f"top {index}")["id"])
        post(client, f"reply {index}", parent=ids[-1])
    return ids


def test_around_opens_the_page_with_the_comment_and_its_ancestors(client, clock):
    ids = seed(client, clock, 12)
    chain = [ids[8]]
    for depth in range(3):
        clock.advance(seconds=1)
        chain.append(post(client, f"deep {depth}", parent=chain[-1])["id"])
    body = thread(client, limit=3, around=chain[-1])
    assert top_ids(body) == ids[8:11]
    assert body["target"] == {"id": chain[-1], "ancestors": chain[:-1], "position": 9}
    # Newer from there, and older back to the start, without a gap or a repeat.
    assert top_ids(thread(client, limit=3, after=body["next"])) == ids[11:]
    seen, before = [], body["prev"]
    while before:
        earlier = thread(client, limit=3, before=before)
        assert 1 <= len(earlier["comments"]) <= 3
        assert earlier["next"]  # the page it came from follows
        seen = top_ids(earlier) + seen
        before = earlier["prev"]
    assert seen == ids[:8]


def test_around_in_newest_first_order(client, clock):
    ids = seed(client, clock, 7)
    body = thread(client, limit=2, sort="newest", around=ids[2])
    assert top_ids(body) == [ids[2], ids[1]]
    assert body["target"] == {"id": ids[2], "ancestors": [], "position": 5}
    assert top_ids(thread(client, limit=2, sort="newest", before=body["prev"])) == ids[4:2:-1]
    assert top_ids(thread(client, limit=2, sort="newest", after=body["next"])) == [ids[0]]


def test_first_page_has_no_prev_and_later_ones_do(client, clock):
    ids = seed(client, clock, 4)
    first = thread(client, limit=2)
    assert first["prev"] is None and first["target"] is None
    second = thread(client, limit=2, after=first["next"])
    assert top_ids(thread(client, limit=2, before=second["prev"])) == ids[:2]
    assert thread(client, limit=2, around=ids[0])["prev"] is None


def test_a_comment_not_shown_here_gives_the_first_page(client, clock):
    ids = seed(client, clock, 3)
    other = post(client, "elsewhere", uri="/other/")
    for missing in (other["id"], 999_999):
        body = thread(client, limit=2, around=missing)
        assert top_ids(body) == ids[:2] and body["target"] is None
        # One answer for a comment elsewhere and one never written: a link tells nothing more.
        assert body["missing"] == {"id": missing, "reason": "not_shown"}
    assert thread(client, limit=2)["missing"] is None
    assert thread(client, limit=2, around=ids[1])["missing"] is None


def test_a_link_to_a_removed_comment_opens_where_it_was_and_says_so(make_client, clock):
    client = make_client()
    ids = seed(client, clock, 6)
    gone = post(client, "to be removed", parent=ids[4])
    moderation = client.app.state.moderation
    moderation.change_status("admin", Action.HIDE, [gone["id"]])
    body = thread(client, limit=2, around=gone["id"])
    assert top_ids(body) == ids[4:6] and body["target"] is None
    assert body["missing"] == {"id": gone["id"], "reason": "not_shown"}
    # A removed comment that still has replies shows as a placeholder: the link opens on it.
    clock.advance(seconds=1)
    parent_removed = post(client, "removed, answered", parent=ids[2])
    post(client, "an answer", parent=parent_removed["id"])
    moderation.change_status("admin", Action.DELETE, [parent_removed["id"]])
    body = thread(client, limit=2, around=parent_removed["id"])
    assert body["target"]["ancestors"] == [ids[2]]
    assert body["missing"] == {"id": parent_removed["id"], "reason": "not_shown"}


@contextlib.contextmanager
def statements_run(engine):
    """The statements an engine runs inside the block."""
    run: list[str] = []

    def count(conn, cursor, statement, *args):
        run.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        yield run
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)


def test_a_permalink_costs_the_round_trips_of_a_first_page(client, clock):
    ids = seed(client, clock, 30)
    service = client.app.state.service
    site = client.app.state.config.site_of_origin(ORIGIN)
    with statements_run(service.read_engine) as first:
        service.read_thread(site, "/post/", Sort.OLDEST, 5, None)
    with statements_run(service.read_engine) as permalink:
        page = service.read_thread(site, "/post/", Sort.OLDEST, 5, None, around=ids[20])
    assert page.target is not None and page.target.position == 21
    assert [c.comment.id for c in page.comments] == ids[20:25]
    assert len(permalink) == len(first), (first, permalink)


def test_a_hidden_comment_is_no_target(make_client, clock):
    client = make_client(moderation="pre")
    # Pending comments are shown to nobody: the page opens at its top-level comment's place,
    # which here holds nothing visible, so the next visible one comes first.
    held = post(client, "waiting")
    body = thread(client, around=held["id"])
    assert body["target"] is None and body["comments"] == []


def test_permalink_pages_are_cached_and_revalidated(client, clock):
    ids = seed(client, clock, 5)
    first = client.get("/api/threads", params={"uri": "/post/", "limit": 2, "around": ids[3]})
    etag = first.headers["etag"]
    again = client.get(
        "/api/threads",
        params={"uri": "/post/", "limit": 2, "around": ids[3]},
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 304
    reply = post(client, "a new reply", parent=ids[3])
    fresh = client.get(
        "/api/threads",
        params={"uri": "/post/", "limit": 2, "around": ids[3]},
        headers={"If-None-Match": etag},
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    replies = fresh.json()["comments"][0]["replies"]
    assert reply["id"] in [comment["id"] for comment in replies]
