"""The best order of a thread: by votes, decaying as the discussion moves on, paged by place."""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from comments import store, validate
from comments.db import transaction
from comments.models import Action, Change, ChangeKind, Sort
from comments.tables import comments
from tests.helpers import ORIGIN, assert_problem, post
from tests.test_permalinks import statements_run


def thread(client, uri="/post/", **params) -> dict:
    response = client.get("/api/threads", params={"uri": uri, "sort": "best", **params})
    assert response.status_code == 200, response.text
    return response.json()


def top_ids(body: dict) -> list[int]:
    return [comment["id"] for comment in body["comments"]]


def seed(client, clock, count: int, uri: str = "/post/") -> list[int]:
    """`count` top-level comments, a second apart, oldest first."""
    ids = []
    for index in range(count):
        clock.advance(seconds=1)
        ids.append(post(client, f"top {index}", uri=uri)["id"])
    return ids


def set_votes(client, votes: dict[int, int], *, bump: bool = True) -> None:
    """What the votes API will do: the comments' counts, then (unless not) the thread's version
    moved as for an edit of them."""
    engine = client.app.state.service.engine
    with transaction(engine, write=True) as conn:
        for comment_id, count in votes.items():
            conn.execute(update(comments).where(comments.c.id == comment_id).values(votes=count))
        if bump:
            thread_id = store.threads.get_comment(conn, next(iter(votes))).thread_id
            change = Change(ChangeKind.EDIT, tuple(votes))
            store.threads.refresh_thread(conn, thread_id, change)


def best_order(votes: list[int]) -> list[int]:
    """The places, best first, of comments with these votes listed oldest first: the rule as
    written, in floating point (the cases here have no equal scores)."""
    count = len(votes)
    score = {place: (votes[place] + 1) / (count - 1 - place + 2) ** 0.8 for place in range(count)}
    return sorted(range(count), key=lambda place: (-score[place], -place))


def test_votes_keep_a_comment_up_and_a_new_one_comes_in_near_the_top(client, clock):
    ids = seed(client, clock, 5)
    # The oldest, well voted, stays first; the newest, with none, comes next, above the older
    # unvoted ones; one vote holds the second oldest above two newer ones but not above the
    # newest: its score has decayed with the three comments since.
    set_votes(client, {ids[0]: 10, ids[1]: 1})
    assert top_ids(thread(client)) == [ids[0], ids[4], ids[1], ids[3], ids[2]]
    # A new comment comes in second, and moves every older one a place on: the vote of ids[1]
    # now outweighs the decay of ids[4], no longer the newest (2 / 6 ** 0.8 > 1 / 3 ** 0.8).
    clock.advance(seconds=1)
    newest = post(client, "just now")["id"]
    assert top_ids(thread(client)) == [ids[0], newest, ids[1], ids[4], ids[3], ids[2]]
    # Many comments later, ten votes are not enough to stay first.
    later = seed(client, clock, 40)
    assert top_ids(thread(client, limit=1)) == [later[-1]]


def test_replies_keep_their_oldest_first_order(client, clock):
    ids = seed(client, clock, 3)
    replies = []
    for n in range(3):
        clock.advance(seconds=1)
        replies.append(post(client, f"reply {n}", parent=ids[0])["id"])
    deeper = post(client, "deeper", parent=replies[0])["id"]
    set_votes(client, {replies[2]: 50, deeper: 9, ids[0]: 5})
    body = thread(client)
    assert top_ids(body) == [ids[0], ids[2], ids[1]]
    first = body["comments"][0]
    assert [reply["id"] for reply in first["replies"]] == replies
    assert [reply["id"] for reply in first["replies"][0]["replies"]] == [deeper]


def test_equal_scores_put_the_newer_first(client, clock):
    # 15 votes on a comment 62 comments back make (15 + 1) / 64 ** 0.8 = 1 / 2 ** 0.8, the
    # newest one's score without votes: exactly equal, though not in floating point.
    ids = seed(client, clock, 63)
    assert 16 / 64**0.8 != 1 / 2**0.8
    set_votes(client, {ids[0]: 15})
    assert top_ids(thread(client, limit=3)) == [ids[62], ids[0], ids[61]]
    set_votes(client, {ids[0]: 16})
    assert top_ids(thread(client, limit=3)) == [ids[0], ids[62], ids[61]]


def test_only_the_thread_s_listed_comments_count_and_rank(make_client, clock):
    client = make_client(moderation="pre")
    moderation = client.app.state.moderation
    ids = seed(client, clock, 4)
    held = post(client, "never approved")["id"]
    moderation.change_status("admin", Action.APPROVE, ids)
    elsewhere = seed(client, clock, 2, uri="/other/")
    moderation.change_status("admin", Action.APPROVE, elsewhere)
    # Places count the listed comments only: with a vote, ids[0] has 2 / 5 ** 0.8 = 0.55,
    # under the newest's 1 / 2 ** 0.8 = 0.57. Were the held comment counted, ids[0] would have
    # 2 / 6 ** 0.8 = 0.48 and ids[3] 1 / 3 ** 0.8 = 0.42: ids[0] first.
    set_votes(client, {ids[0]: 1})
    assert top_ids(thread(client)) == [ids[3], ids[0], ids[2], ids[1]]
    assert held not in top_ids(thread(client)) and thread(client)["next"] is None
    assert top_ids(thread(client, uri="/other/")) == elsewhere[::-1]


def test_pages_walk_the_whole_order_both_ways(client, clock):
    ids = seed(client, clock, 23)
    for n, comment_id in enumerate(ids[:-1]):
        post(client, f"a reply to {n}", parent=comment_id)
    votes = [(n * 7) % 5 + (3 if n % 6 == 0 else 0) for n in range(len(ids))]
    set_votes(client, dict(zip(ids, votes, strict=True)))
    expected = [ids[place] for place in best_order(votes)]
    pages, after = [], None
    while True:
        body = thread(client, limit=5, **({"after": after} if after else {}))
        assert (body["prev"] is None) == (not pages)
        pages.append(top_ids(body))
        assert all(len(c["replies"]) == (c["id"] != ids[-1]) for c in body["comments"])
        after = body["next"]
        if after is None:
            break
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == expected
    # Back from the last page, page by page, to the first.
    back, before = [], body["prev"]
    while before:
        earlier = thread(client, limit=5, before=before)
        assert earlier["next"]  # the page it came from follows
        back.insert(0, top_ids(earlier))
        before = earlier["prev"]
    assert back == pages[:-1]


def test_before_is_the_page_ending_just_before_its_place(client, clock):
    ids = seed(client, clock, 8)  # no votes: newest first
    at = {n: validate.cursor_token(validate.offset_cursor(n)) for n in (0, 3, 6, 99)}
    short = thread(client, limit=5, before=at[3])
    assert top_ids(short) == ids[:4:-1] and short["prev"] is None
    assert thread(client, limit=5, after=short["next"]) == thread(client, limit=5, after=at[3])
    assert top_ids(thread(client, limit=2, before=at[6])) == [ids[3], ids[2]]
    assert thread(client, limit=5, before=at[0])["comments"] == []
    # A place past the end (the thread shrank since): after it nothing, before it the last page.
    beyond = thread(client, limit=5, after=at[99])
    assert beyond["comments"] == [] and beyond["next"] is None
    assert top_ids(thread(client, limit=5, before=beyond["prev"])) == ids[4::-1]
    assert top_ids(thread(client, limit=5, before=at[99])) == ids[4::-1]


def test_a_permalink_opens_page_three_at_its_place(client, clock):
    ids = seed(client, clock, 16)  # newest first without votes: ids[15] has place 0
    set_votes(client, {ids[0]: 30})  # first: 31 / 17 ** 0.8 = 3.2
    order = [ids[0], *ids[:0:-1]]
    assert top_ids(thread(client, limit=16)) == order
    root = order[9]
    reply = post(client, "an answer", parent=root)["id"]
    deep = post(client, "deeper", parent=reply)["id"]
    body = thread(client, limit=4, around=deep)
    assert top_ids(body) == order[9:13]
    assert body["target"] == {"id": deep, "ancestors": [root, reply], "position": 10}
    assert body["missing"] is None
    assert top_ids(thread(client, limit=4, after=body["next"])) == order[13:]
    earlier = thread(client, limit=4, before=body["prev"])
    assert top_ids(earlier) == order[5:9]
    assert top_ids(thread(client, limit=4, before=earlier["prev"])) == order[1:5]
    assert thread(client, limit=4, around=order[0])["prev"] is None


def test_a_permalink_to_what_is_not_shown(make_client, clock):
    client = make_client(moderation="pre")
    moderation = client.app.state.moderation
    ids = seed(client, clock, 6)
    moderation.change_status("admin", Action.APPROVE, ids)
    # A hidden reply: the page opens at its top-level comment, and says it is not shown.
    hidden = post(client, "hidden", parent=ids[1])["id"]
    moderation.change_status("admin", Action.APPROVE, [hidden])
    moderation.change_status("admin", Action.HIDE, [hidden])
    body = thread(client, limit=2, around=hidden)
    assert top_ids(body) == [ids[1], ids[0]] and body["target"] is None
    assert body["missing"] == {"id": hidden, "reason": "not_shown"}
    # A pending top-level comment has no place in the order; one elsewhere or never written
    # neither: the first page, saying so.
    pending = post(client, "pending")["id"]
    other = post(client, "elsewhere", uri="/other/")["id"]
    for missing in (pending, other, 999_999):
        body = thread(client, limit=2, around=missing)
        assert top_ids(body) == [ids[5], ids[4]] and body["target"] is None
        assert body["missing"] == {"id": missing, "reason": "not_shown"} and body["prev"] is None


def test_a_permalink_costs_the_round_trips_of_a_first_page(client, clock):
    ids = seed(client, clock, 30)
    service = client.app.state.service
    site = client.app.state.config.site_of_origin(ORIGIN)
    with statements_run(service.read_engine) as first:
        service.read_thread(site, "/post/", Sort.BEST, 5, None)
    with statements_run(service.read_engine) as permalink:
        page = service.read_thread(site, "/post/", Sort.BEST, 5, None, around=ids[9])
    assert page.target is not None and page.target.position == 21
    assert [node.comment.id for node in page.comments] == ids[9:4:-1]
    assert len(permalink) == len(first), (first, permalink)


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_cursors_of_one_order_are_refused_in_the_other(client, clock, sort):
    seed(client, clock, 4)
    timed = client.get("/api/threads", params={"uri": "/post/", "sort": sort, "limit": 2}).json()
    placed = thread(client, limit=2)
    for name, token in (("after", timed["next"]), ("before", timed["next"])):
        response = client.get("/api/threads", params={"uri": "/post/", "sort": "best", name: token})
        assert_problem(response, 400, "invalid_parameter", name)
    for name, token in (("after", placed["next"]), ("before", placed["next"])):
        response = client.get("/api/threads", params={"uri": "/post/", "sort": sort, name: token})
        body = assert_problem(response, 400, "invalid_parameter", name)
        assert sort in body["detail"]
    assert_problem(  # the default order is oldest
        client.get("/api/threads", params={"uri": "/post/", "after": placed["next"]}),
        400,
        "invalid_parameter",
        "after",
    )


@pytest.mark.parametrize("raw", ["offset|", "offset|-1", "offset|a", "offset|2147483648", "offset"])
def test_malformed_offset_cursors_are_refused(client, raw):
    token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    for name in ("after", "before"):
        response = client.get("/api/threads", params={"uri": "/p/", "sort": "best", name: token})
        assert_problem(response, 400, "invalid_parameter", name)


def test_an_unknown_sort_names_best_among_the_orders(client):
    response = client.get("/api/threads", params={"uri": "/p/", "sort": "top"})
    body = assert_problem(response, 400, "invalid_parameter", "sort")
    assert body["detail"] == "sort is oldest, newest or best."


def test_offset_cursor_round_trip():
    for offset in (0, 1, 50, validate.MAX_ID):
        cursor = validate.offset_cursor(offset)
        assert validate.parse_cursor(validate.cursor_token(cursor)) == cursor


def test_pages_are_cached_by_version_and_a_vote_reorders_the_next_read(client, clock):
    ids = seed(client, clock, 4)
    params = {"uri": "/post/", "sort": "best", "limit": 2}
    first = client.get("/api/threads", params=params)
    oldest = client.get("/api/threads", params={**params, "sort": "oldest"})
    assert first.headers["etag"] == oldest.headers["etag"]  # the thread's version, as ever
    assert top_ids(first.json()) == [ids[3], ids[2]]
    etag = first.headers["etag"]
    again = client.get("/api/threads", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    # Votes counted without the version moved: the cached page, still valid, stays as it was.
    set_votes(client, {ids[0]: 9}, bump=False)
    assert (
        client.get("/api/threads", params=params, headers={"If-None-Match": etag}).status_code
        == 304
    )
    assert top_ids(client.get("/api/threads", params=params).json()) == [ids[3], ids[2]]
    # The version moved, as the votes API moves it: a new ETag, and the new order.
    set_votes(client, {ids[0]: 9})
    fresh = client.get("/api/threads", params=params, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert top_ids(fresh.json()) == [ids[0], ids[3]]
    later = client.get("/api/threads", params={**params, "after": fresh.json()["next"]})
    assert top_ids(later.json()) == [ids[2], ids[1]]


def test_the_page_without_javascript_pages_the_best_order(client, clock):
    ids = seed(client, clock, 5)
    set_votes(client, {ids[1]: 4})
    params = {"uri": "/post/", "site": "blog.example", "sort": "best", "limit": "2"}
    page = client.get("/thread", params=params)
    assert page.status_code == 200, page.text
    shown = [int(n) for n in re.findall(r'id="comment-(\d+)"', page.text)]
    assert shown == [ids[1], ids[4]]
    link = html.unescape(re.search(r'href="([^"]+)" rel="next"', page.text).group(1))
    query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    assert query["sort"] == "best"
    following = client.get("/thread", params=query)
    assert [int(n) for n in re.findall(r'id="comment-(\d+)"', following.text)] == ids[3:1:-1]
    assert 'rel="prev"' in following.text
    refused = client.get("/thread", params={**params, "sort": "oldest", "after": query["after"]})
    assert_problem(refused, 400, "invalid_parameter", "after")


def test_rank_best_by_the_rule():
    # (id, votes), oldest first: scores 4 / 4 ** 0.8 = 1.32, 1 / 3 ** 0.8 = 0.42, 1 / 2 ** 0.8.
    assert store.best.rank([(7, 3), (8, 0), (9, 0)]) == [7, 9, 8]
    assert store.best.rank([]) == []
    assert store.best.rank([(5, 2**31 - 1), (6, 0)]) == [5, 6]
