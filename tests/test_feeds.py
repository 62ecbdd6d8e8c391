"""Atom feeds: valid for a real feed parser, approved comments only, conditional GET."""

from __future__ import annotations

import feedparser
import pytest

from comments.models import Action
from tests.helpers import ORIGIN, assert_problem, post


def parsed(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


@pytest.fixture
def feed_client(make_client):
    return make_client(public_url="https://comments.example")


def test_thread_feed(feed_client, clock):
    client = feed_client
    first = post(client, "Hello *world* & <friends>", author="Ada", website="https://ada.example")
    clock.advance(minutes=5)
    reply = post(client, "A reply", parent=first["id"], title="A post")
    clock.advance(minutes=5)
    hidden = post(client, "Rude")
    client.app.state.moderation.change_status("mod", Action.HIDE, [hidden["id"]])
    post(client, "Elsewhere", uri="/other/")

    feed = parsed(client.get("/feed/thread.atom", params={"uri": "/post/"}))
    assert feed.feed.title == "Comments on A post"
    assert feed.feed.id == "https://comments.example/feed/thread.atom?uri=%2Fpost%2F"
    assert feed.feed.link == f"{ORIGIN}/post/"
    assert feed.feed.updated == "2026-11-29T12:05:00.000Z"
    assert [entry.id for entry in feed.entries] == [
        f"{ORIGIN}/post/#comment-{reply['id']}",
        f"{ORIGIN}/post/#comment-{first['id']}",
    ]
    newest, oldest = feed.entries
    assert newest.title == "Anonymous on A post"
    assert newest.link == f"{ORIGIN}/post/#comment-{reply['id']}"
    assert oldest.author_detail.name == "Ada"
    assert oldest.author_detail.href == "https://ada.example"
    assert oldest.published == "2026-11-29T12:00:00.000Z"
    assert oldest.content[0].type == "text/html"
    assert oldest.content[0].value == first["html"]
    assert "&lt;friends&gt;" in first["html"]


def test_site_feed(feed_client, clock):
    client = feed_client
    one = post(client, "One", uri="/a/", title="Page A")
    clock.advance(seconds=1)
    two = post(client, "Two", uri="/b/")
    feed = parsed(client.get("/feed/recent.atom"))
    assert feed.feed.title == "Comments on blog.example"
    assert feed.feed.link == f"{ORIGIN}/"
    assert [(entry.id, entry.title) for entry in feed.entries] == [
        (f"{ORIGIN}/b/#comment-{two['id']}", "Anonymous on /b/"),
        (f"{ORIGIN}/a/#comment-{one['id']}", "Anonymous on Page A"),
    ]
    same = parsed(client.get("/feed/recent.atom?site=blog.example"))
    assert same.feed.id == "https://comments.example/feed/recent.atom?site=blog.example"
    assert len(same.entries) == 2
    assert_problem(client.get("/feed/recent.atom?site=evil.example"), 400, "invalid_parameter")


def test_empty_and_invalid(feed_client):
    feed = parsed(feed_client.get("/feed/thread.atom?uri=/nothing/yet/"))
    assert feed.entries == []
    assert feed.feed.updated == "1970-01-01T00:00:00.000Z"
    assert_problem(feed_client.get("/feed/thread.atom"), 400, "invalid_parameter", "uri")
    assert_problem(feed_client.get("/feed/thread.atom?uri=x y"), 400, "invalid_parameter", "uri")


def test_conditional_get(feed_client, clock):
    client = feed_client
    post(client, "First")
    response = client.get("/feed/thread.atom?uri=/post/")
    etag, modified = response.headers["etag"], response.headers["last-modified"]
    assert etag.startswith('W/"')
    assert modified == "Sun, 29 Nov 2026 12:00:00 GMT"

    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = client.get("/feed/thread.atom?uri=/post/", headers=headers)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
    older = {"If-Modified-Since": "Sun, 29 Nov 2026 11:59:59 GMT"}
    assert client.get("/feed/thread.atom?uri=/post/", headers=older).status_code == 200

    clock.advance(minutes=1)
    post(client, "Second")
    fresh = client.get("/feed/thread.atom?uri=/post/", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag
    assert len(parsed(fresh).entries) == 2
