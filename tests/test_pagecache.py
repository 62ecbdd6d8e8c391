"""The page cache holds what it says it holds: its charge tracks tracemalloc, its bound is the
memory really kept, and addresses with no thread leave nothing in it."""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import UTC, datetime, timedelta

import orjson

from comments import api
from comments.api import page_json
from comments.models import Cursor, Sort, ThreadPage
from comments.pagecache import PageCache
from tests.helpers import ORIGIN, post

MIB = 1024 * 1024
# How far the charge may be from what tracemalloc sees the entries hold (measured: 0.96 to 1.0).
CHARGE_TOLERANCE = 1.15


def page_body(uri: str, words: int) -> bytes:
    """A page as the API serializes it: orjson's output, as the handler hands it over."""
    page = orjson.loads(orjson.dumps(page_json(ThreadPage(None, uri, [], None))))
    page["comments"] = [{"id": n, "html": "<p>" + "word " * words + "</p>"} for n in range(3)]
    return orjson.dumps(page)


def fill(cache: PageCache, count: int, seed: int = 1) -> None:
    """Entries in the shapes the API makes: varied paths and sizes, some with a cursor."""
    chance = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(count):
        uri = f"/{number}/{'p' * chance.randint(0, 80)}/"
        after = Cursor(start + timedelta(seconds=number), 10**6 + number) if number % 3 else None
        key = ("blog.example", uri, Sort.OLDEST, 20, after)
        cache.put(key, number + 1000, page_body(uri, chance.choice((0, 2, 20, 400))))


def traced(action) -> int:
    """The bytes still held after `action`, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_the_charge_tracks_the_memory_held():
    cache = PageCache(max_bytes=1 << 40)
    held = traced(lambda: fill(cache, 5_000))
    assert len(cache) == 5_000
    assert 1 / CHARGE_TOLERANCE < held / cache.size < CHARGE_TOLERANCE, (held, cache.size)


def test_the_bound_is_the_memory_kept():
    cache = PageCache(max_bytes=2 * MIB)
    held = traced(lambda: fill(cache, 20_000))
    assert cache.size <= 2 * MIB
    assert 300 < len(cache) < 20_000  # it evicted, and still holds many pages
    assert held <= 2 * MIB * CHARGE_TOLERANCE, held


def test_a_page_larger_than_the_bound_is_served_not_kept():
    cache = PageCache(max_bytes=4096)
    page = cache.put("key", 1, b"x" * 5000)
    assert page.body == b"x" * 5000 and len(page.gzipped) < 100
    assert cache.get("key") is None and cache.size == 0


async def get_threads(app, uris: list[str]) -> int:
    """GET /api/threads for each address through the whole app, as the server calls it; how
    many answered 200."""
    answered = 0
    for uri in uris:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message, sent=sent):
            sent.append(message)

        await app(
            {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": "/api/threads",
                "raw_path": b"/api/threads",
                "root_path": "",
                "query_string": f"uri={uri}".encode(),
                "headers": [(b"host", b"testserver"), (b"origin", ORIGIN.encode())],
                "client": ("127.0.0.1", 50000),
                "server": ("testserver", 80),
            },
            receive,
            send,
        )
        answered += sent[0]["status"] == 200
    return answered


def test_unknown_addresses_leave_nothing_in_the_cache(client):
    post(client, "a thread that exists")
    assert client.get("/api/threads", params={"uri": "/post/"}).json()["thread"]["count"] == 1
    cache: PageCache = client.app.state.page_cache
    assert len(cache) == 1
    size = cache.size
    uris = [f"/unknown/{number}/{random.random()}/" for number in range(50_000)]
    # In the app's own event loop (whose database connection it keeps). The first 5,000 fill
    # what is bounded by design: the 4,096 query strings whose parse is remembered
    # (api.thread_query), and the standard library's own little caches. Those go on replacing
    # their entries, and tracemalloc counts the new ones but not the old ones freed (they came
    # before it started): about 1 MiB seen, however many requests follow.
    assert client.portal.call(get_threads, client.app, uris[:5_000]) == 5_000

    answered = []
    held = traced(
        lambda: answered.append(client.portal.call(get_threads, client.app, uris[5_000:]))
    )

    assert answered == [45_000]
    assert len(cache) == 1 and cache.size == size
    assert held < 2 * MIB, held  # as many entries used to hold over 100 MiB
    empty = client.get("/api/threads", params={"uri": "/unknown/7/"})
    assert empty.status_code == 200 and empty.headers["etag"] == '"t0"'
    assert empty.json()["thread"]["uri"] == "/unknown/7/" and empty.json()["comments"] == []


def test_the_bound_is_a_setting_and_zero_keeps_nothing(make_client):
    assert make_client(page_cache_mb="1").app.state.page_cache.max_bytes == MIB
    client = make_client(page_cache_mb="0")
    post(client, "served, never kept")
    for _ in range(2):
        page = client.get("/api/threads", params={"uri": "/post/"})
        assert page.status_code == 200 and page.json()["thread"]["count"] == 1
    assert len(client.app.state.page_cache) == 0


def test_long_thread_queries_are_parsed_every_time_not_remembered(client):
    api.remembered_thread_query.cache_clear()
    long_uri = "/" + "long-path/" * 150
    for number in range(50):
        page = client.get("/api/threads", params={"uri": f"{long_uri}{number}/"})
        assert page.status_code == 200 and page.json()["thread"]["uri"] == f"{long_uri}{number}/"
    assert api.remembered_thread_query.cache_info().currsize == 0
    client.get("/api/threads", params={"uri": "/short/"})
    assert api.remembered_thread_query.cache_info().currsize == 1
