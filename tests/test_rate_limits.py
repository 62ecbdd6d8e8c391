"""Rate limits hold exactly across worker processes, counted in the database or in Redis, and a
Redis that does not answer hands the counting back to the database."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from sqlalchemy import func, select

from comments import db
from comments.tables import comments
from comments.tokens import Tokens
from tests.e2e.conftest import Server, free_port
from tests.helpers import ORIGIN, assert_problem, need, post

POSTS = 20
LIMIT = 5


@pytest.fixture
def redis_url() -> str:
    """The test Redis (COMMENTS_TEST_REDIS_URL); each test keys its counts by its own secret."""
    url = os.environ.get("COMMENTS_TEST_REDIS_URL")
    if not url:
        need("Redis not configured: set COMMENTS_TEST_REDIS_URL")
    return url


def forget_counts(url: str, secret: str) -> None:
    """Delete the counters of the installation with this secret, and nobody else's."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"comments:rate:{Tokens(secret).namespace()}:*"))
        if keys:
            client.delete(*keys)


def redis_counts(url: str, secret: str, kind: str) -> list[int]:
    """How many posts each counter of that kind (`ip` or `thread`) holds."""
    with redis.Redis.from_url(url) as client:
        pattern = f"comments:rate:{Tokens(secret).namespace()}:{kind}:*"
        return [client.zcard(key) for key in client.scan_iter(match=pattern)]


# Two workers, many posts at once


@pytest.fixture(params=["database", "redis"])
def counter(request) -> str | None:
    """Where the server counts: the database, or the test Redis."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else None


@pytest.fixture
def start_server(tmp_path, database_url, counter) -> Iterator:
    """`start_server(secret, rate_limit=..)` -> `comments serve --workers 2` on this test's
    database, counting in `counter`; its counts in Redis are deleted at the end."""
    servers: list[tuple[Server, str]] = []

    def start(secret: str, **settings: str) -> Server:
        defenses_off = {
            "rate_limit": "0",
            "thread_rate_limit": "0",
            "min_write_seconds": "0",
            "duplicate_window": "0",
            "max_links": "0",
            "surge_rate": "0",
            "surge_hold_rate": "0",
            "challenge_difficulty": "0",
        }
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        server = Server(
            workdir,
            [ORIGIN],
            **{**defenses_off, **settings},
            workers="2",
            database_url=database_url,
            secret_key=secret,
            redis_url=counter or "",
        )
        servers.append((server, secret))
        return server

    yield start
    for server, secret in servers:
        server.stop()
        if counter:
            forget_counts(counter, secret)


def post_all(server: Server, uris: list[str]) -> list[tuple[int, str | None, dict]]:
    """POST one comment to each URI, all at once; (status, Retry-After, body) of each."""
    ready = threading.Barrier(len(uris))

    def send(index: int) -> tuple[int, str | None, dict]:
        body = json.dumps({"uri": uris[index], "text": f"comment {index}"}).encode()
        request = urllib.request.Request(
            server.url + "/api/comments",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Origin": ORIGIN},
        )
        ready.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Retry-After"), json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers.get("Retry-After"), json.load(error)

    with ThreadPoolExecutor(len(uris)) as pool:
        return list(pool.map(send, range(len(uris))))


def assert_exactly_limited(answers: list[tuple[int, str | None, dict]]) -> None:
    statuses = [status for status, _, _ in answers]
    assert statuses.count(201) == LIMIT, answers
    assert statuses.count(429) == POSTS - LIMIT, answers
    for status, retry_after, body in answers:
        if status == 429:
            assert body["code"] == "rate_limited", body
            assert retry_after is not None and 1 <= int(retry_after) <= 61


def stored_comments(database_url: str) -> int:
    engine = db.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(comments)).scalar_one()
    finally:
        engine.dispose()


def test_address_limit_is_exact_across_two_workers(start_server, database_url, counter):
    secret = secrets.token_urlsafe(16)
    server = start_server(secret, rate_limit=str(LIMIT))
    # One address, a thread each: only the address's count can stop them.
    answers = post_all(server, [f"/post-{index}/" for index in range(POSTS)])
    assert_exactly_limited(answers)
    assert stored_comments(database_url) == LIMIT
    if counter:
        assert redis_counts(counter, secret, "ip") == [LIMIT]


def test_thread_limit_is_exact_across_two_workers(start_server, database_url, counter):
    secret = secrets.token_urlsafe(16)
    server = start_server(secret, thread_rate_limit=str(LIMIT))
    answers = post_all(server, ["/busy/"] * POSTS)
    assert_exactly_limited(answers)
    assert stored_comments(database_url) == LIMIT
    if counter:
        assert redis_counts(counter, secret, "thread") == [LIMIT]


# In one process, with the test clock


def test_address_and_thread_limits_count_the_same_either_way(make_client, clock, counter):
    secret = secrets.token_urlsafe(16)
    client = make_client(
        redis_url=counter or "", secret_key=secret, rate_limit="3", thread_rate_limit="2"
    )
    try:
        post(client, "one", uri="/a/")
        post(client, "two", uri="/a/")
        busy = client.post("/api/comments", json={"uri": "/a/", "text": "three"})
        assert_problem(busy, 429, "rate_limited")
        assert int(busy.headers["retry-after"]) == 61
        # Refused by the thread's limit, that post did not count against the address.
        post(client, "three", uri="/b/")
        limited = client.post("/api/comments", json={"uri": "/c/", "text": "four"})
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) == 61
        if counter:
            assert redis_counts(counter, secret, "ip") == [3]
        clock.advance(seconds=30)
        limited = client.post("/api/comments", json={"uri": "/c/", "text": "four"})
        assert int(limited.headers["retry-after"]) == 31
        clock.advance(seconds=31)
        post(client, "four", uri="/c/")
        post(client, "five", uri="/a/")
    finally:
        if counter:
            forget_counts(counter, secret)


def test_redis_down_falls_back_to_the_database(make_client, caplog):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = make_client(redis_url=closed, rate_limit="2", thread_rate_limit="0")
    with caplog.at_level(logging.WARNING, logger="comments.ratelimit"):
        post(client, "one", uri="/a/")
        post(client, "two", uri="/b/")
        limited = client.post("/api/comments", json={"uri": "/c/", "text": "three"})
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) == 61
    warnings = [r for r in caplog.records if r.name == "comments.ratelimit"]
    assert len(warnings) == 1, "one warning per outage, not one per post"
    assert "database" in warnings[0].getMessage()


# What spends a budget: accepted comments only


def spam_from(client, network: str, count: int, uri: str) -> None:
    """`count` stampless posts (held as no_stamp) from hosts of one /24 network."""
    for index in range(count):
        answer = client.post(
            "/api/comments",
            json={"uri": uri, "text": f"buy now {network} {index}"},
            headers={"X-Forwarded-For": f"{network}.{index % 250 + 1}"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "pending"


def test_comments_held_as_doubtful_spend_no_budget(make_client, clock, counter):
    secret = secrets.token_urlsafe(16)
    client = make_client(
        redis_url=counter or "",
        secret_key=secret,
        rate_limit="10",
        thread_rate_limit="30",
        min_write_seconds="3",
        trusted_proxies="127.0.0.1",
    )
    try:
        for network in ("198.51.100", "203.0.113", "192.0.2"):
            spam_from(client, network, 12, "/hot/")  # 36 held: more than either budget
        stamp = client.get("/api/stamp").json()["stamp"]
        clock.advance(seconds=20)
        reader = {"X-Forwarded-For": "198.51.100.77"}  # a real reader on a spammer's network
        answer = client.post(
            "/api/comments",
            json={"uri": "/hot/", "text": "A real thought", "stamp": stamp},
            headers=reader,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "approved"
        if counter:
            assert redis_counts(counter, secret, "thread") == [1]
    finally:
        if counter:
            forget_counts(counter, secret)
