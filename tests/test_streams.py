"""Live streams against real `comments serve` processes, on SQLite and PostgreSQL (and Redis):
what each write tells, resuming, two app servers on one database, a listener that dies between
a write and a read, the per-worker cap, heartbeats and idle ends, and a shutdown that does not
wait for streams."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy

from comments import config as settings
from comments import db
from comments.accounts import Accounts
from comments.admin.web import COOKIE
from comments.models import Action, ChangeKind
from comments.moderation import ModerationService
from comments.streams import contiguous
from comments.tokens import Tokens
from tests.helpers import need
from tests.test_serving import ORIGIN, running_server

REDIS_URL = os.environ.get("COMMENTS_TEST_REDIS_URL", "")


class Stream:
    """One open GET /api/stream, its events read in a thread of their own."""

    def __init__(
        self,
        port: int,
        uri: str,
        since: int | None = None,
        header: bool = False,
        path: str = "",
        headers: dict[str, str] | None = None,
    ):
        path = path or f"/api/stream?uri={uri}"
        headers = headers or {"Origin": ORIGIN, "Accept": "text/event-stream"}
        if since is not None and header:
            headers["Last-Event-ID"] = str(since)
        elif since is not None:
            path += f"&last_event_id={since}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.events: queue.Queue = queue.Queue()
        self.lines: list[str] = []
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        # Closed from the test's side, http.client fails in several ways: all mean the end.
        with contextlib.suppress(Exception):
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if line == "":
                    if "event" in fields:
                        self.events.put(fields)
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
        self.events.put(None)  # the end

    def next(self, seconds: float = 10) -> dict | None:
        event = self.events.get(timeout=seconds)
        if event is None:
            return None
        return {"id": event.get("id"), "event": event["event"], **json.loads(event["data"])}

    def quiet(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        if self.connection.sock is not None:  # (not after a refusal, which closed it)
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()


@contextlib.contextmanager
def stream(port: int, uri: str, **options) -> Iterator[Stream]:
    opened = Stream(port, uri, **options)
    try:
        yield opened
    finally:
        opened.close()


def call(port: int, method: str, path: str, body=None, token: str = "") -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, json.dumps(body) if body else None, headers)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, json.loads(answer) if answer else {}


def post(port: int, uri: str, text: str, **fields) -> dict:
    status, body = call(port, "POST", "/api/comments", {"uri": uri, "text": text, **fields})
    assert status == 201, body
    return body


def version_of(port: int, uri: str) -> int:
    status, body = call(port, "GET", f"/api/threads?uri={uri}")
    assert status == 200, body
    return body["thread"]["version"]


def approve_elsewhere(database_url: str, comment_id: int) -> None:
    """A moderator's approval from another process than the server's (a mail's link, the
    queue on another app server)."""
    engine = db.create_engine(database_url)
    try:
        config = settings.load({"COMMENTS_DATABASE_URL": database_url})
        ModerationService(engine, config).change_status(
            "mod@example.org", Action.APPROVE, [comment_id]
        )
    finally:
        engine.dispose()


def change(kind: str, ids: list[int]) -> dict:
    return {"event": "change", "kind": kind, "ids": ids}


def without_versions(event: dict) -> dict:
    return {key: value for key, value in event.items() if key not in ("id", "version")}


def test_each_write_is_told_with_its_version(tmp_path, database_url):
    with running_server(tmp_path, database_url) as port, stream(port, "/live/", since=0) as s:
        assert s.response.headers["content-type"].startswith("text/event-stream")
        assert s.response.headers["cache-control"] == "no-store"
        assert s.response.headers["x-accel-buffering"] == "no"
        assert s.response.headers["access-control-allow-origin"] == ORIGIN
        first = post(port, "/live/", "The first")
        event = s.next()
        assert without_versions(event) == change("new", [first["id"]])
        assert event["id"] == str(event["version"]) == str(version_of(port, "/live/"))
        reply = post(port, "/live/", "A reply", parent=first["id"])
        assert without_versions(s.next()) == change("new", [reply["id"]])
        token = first["edit_token"]
        call(port, "PATCH", f"/api/comments/{first['id']}", {"text": "Edited"}, token)
        assert without_versions(s.next()) == change("edit", [first["id"]])
        call(port, "DELETE", f"/api/comments/{reply['id']}", token=reply["edit_token"])
        assert without_versions(s.next()) == change("remove", [reply["id"]])
        post(port, "/elsewhere/", "Another thread")  # not this stream's news
        assert s.quiet(1.5)
        assert s.lines[0] == "retry: 5000"


def test_a_held_comment_tells_readers_nothing_until_approved(tmp_path, database_url):
    with (
        running_server(tmp_path, database_url, COMMENTS_MODERATION="pre") as port,
        stream(port, "/held/", since=0) as s,
    ):
        held = post(port, "/held/", "Waiting")
        assert s.quiet(1.5)
        approve_elsewhere(database_url, held["id"])
        event = s.next()
        assert without_versions(event) == change("new", [held["id"]])
        # The held version came first: the approval's is two past the thread's creation.
        assert int(event["id"]) == version_of(port, "/held/")


def test_resuming_replays_what_was_missed_or_starts_over(tmp_path, database_url):
    with running_server(tmp_path, database_url) as port:
        one = post(port, "/resume/", "One")
        since = version_of(port, "/resume/")
        two = post(port, "/resume/", "Two")
        three = post(port, "/resume/", "Three")
        with stream(port, "/resume/", since=since, header=True) as s:  # as EventSource resumes
            assert without_versions(s.next()) == change("new", [two["id"]])
            assert without_versions(s.next()) == change("new", [three["id"]])
            assert s.quiet(1)
        with stream(port, "/resume/", since=version_of(port, "/resume/")) as s:
            assert s.quiet(1)  # up to date: nothing to tell
        with stream(port, "/resume/") as s:  # no version: from now on
            assert s.quiet(1)
        # Changes pruned (or never written, as after a restore): the stream starts over.
        engine = sqlalchemy.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DELETE FROM thread_changes"))
        engine.dispose()
        with stream(port, "/resume/", since=since) as s:
            event = s.next()
            assert without_versions(event) == change("reset", [])
            assert int(event["id"]) == version_of(port, "/resume/")
        assert one["id"] < two["id"]


def test_the_version_given_must_be_one(tmp_path, database_url):
    with running_server(tmp_path, database_url) as port:
        for bad in ("x", "-1", "99999999999"):
            status, body = call(port, "GET", f"/api/stream?uri=/a/&last_event_id={bad}")
            assert (status, body["code"], body["field"]) == (
                400,
                "invalid_parameter",
                "last_event_id",
            )
        status, body = call(port, "GET", "/api/stream")
        assert (status, body["code"], body["field"]) == (400, "invalid_parameter", "uri")


def two_servers(tmp_path, database_url, **extra):
    """Two app servers on one database, as behind a load balancer."""
    stack = contextlib.ExitStack()
    shared = {"COMMENTS_SECRET_KEY": "s" * 40, **extra}
    first = stack.enter_context(running_server(tmp_path / "a", database_url, **shared))
    second = stack.enter_context(running_server(tmp_path / "b", database_url, **shared))
    return stack, first, second


@pytest.fixture
def postgresql_url(fresh_database) -> str:
    """A migrated PostgreSQL database of the test's own, for what only PostgreSQL does."""
    return migrated(fresh_database("postgresql"))


@pytest.fixture
def sqlite_url(fresh_database) -> str:
    return migrated(fresh_database("sqlite"))


def migrated(url: str) -> str:
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    return url


def test_a_comment_posted_on_one_server_reaches_a_stream_on_the_other(tmp_path, database_url):
    fan_out_between_two_servers(tmp_path, database_url, redis=False)


def test_on_sqlite_redis_carries_a_comment_to_the_other_server_at_once(tmp_path, sqlite_url):
    if not REDIS_URL:
        need("Redis not configured: set COMMENTS_TEST_REDIS_URL")
    fan_out_between_two_servers(tmp_path, sqlite_url, redis=True)


def fan_out_between_two_servers(tmp_path, database_url: str, redis: bool) -> None:
    extra = {"COMMENTS_REDIS_URL": REDIS_URL} if redis else {}
    stack, first, second = two_servers(tmp_path, database_url, **extra)
    with (
        stack,
        stream(first, "/both/", since=0) as here,
        stream(second, "/both/", since=0) as there,
    ):
        started = time.monotonic()
        created = post(first, "/both/", "Posted on the first")
        assert without_versions(there.next()) == change("new", [created["id"]])
        elapsed = time.monotonic() - started
        assert without_versions(here.next()) == change("new", [created["id"]])
        # SQLite without Redis polls once a second; NOTIFY and Redis are at once.
        assert elapsed < (3 if database_url.startswith("sqlite") and not redis else 1), elapsed
        edited = post(second, "/both/", "Posted on the second")
        assert without_versions(here.next()) == change("new", [edited["id"]])


def test_a_listener_killed_between_a_write_and_a_read_loses_nothing(tmp_path, postgresql_url):
    database_url = postgresql_url
    stack, first, second = two_servers(tmp_path, database_url)
    engine = sqlalchemy.create_engine(database_url)
    kill = sqlalchemy.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
    )
    with stack, engine.connect() as admin, stream(second, "/killed/", since=0) as s:
        created = post(first, "/killed/", "Before the kill")
        assert without_versions(s.next()) == change("new", [created["id"]])
        killed = admin.execute(kill, {"name": db.LISTENER_NAME}).all()
        admin.commit()
        assert len(killed) >= 2  # each server's listener
        during = post(first, "/killed/", "While nobody listens")
        assert without_versions(s.next()) == change("new", [during["id"]])
        time.sleep(2.5)  # the listener is back
        after = post(first, "/killed/", "After")
        assert without_versions(s.next(seconds=5)) == change("new", [after["id"]])
    engine.dispose()


def test_streams_past_the_cap_are_refused_and_none_when_off(tmp_path, database_url):
    with (
        running_server(tmp_path / "cap", database_url, COMMENTS_MAX_STREAMS="2") as port,
        stream(port, "/cap/") as one,
        stream(port, "/cap/") as two,
    ):
        assert one.response.status == two.response.status == 200
        with stream(port, "/cap/") as three:
            assert three.response.status == 503
            assert three.response.headers["retry-after"] == "30"
            assert json.loads(three.response.read())["code"] == "too_many_streams"
        two.close()
        time.sleep(0.5)
        with stream(port, "/cap/") as again:
            assert again.response.status == 200
    with running_server(tmp_path / "off", database_url, COMMENTS_MAX_STREAMS="0") as port:
        status, body = call(port, "GET", "/api/stream?uri=/off/")
        assert (status, body["code"]) == (404, "streams_off")
        assert call(port, "GET", "/api/config")[1]["live"] is False


def test_heartbeats_then_an_idle_end_and_a_shutdown_that_does_not_wait(tmp_path, database_url):
    settings = {"COMMENTS_STREAM_HEARTBEAT": "1", "COMMENTS_STREAM_IDLE": "3"}
    with running_server(tmp_path, database_url, **settings) as port:
        with stream(port, "/quiet/") as s:
            time.sleep(1.5)
            assert ": ping" in s.lines
            assert s.next(seconds=5) == {"id": None, "event": "idle"}
            assert s.next(seconds=2) is None  # and the server ended it
        with stream(port, "/quiet/") as held_open:
            assert held_open.response.status == 200
            started = time.monotonic()
    # running_server's exit stopped the server with the stream open, and it did not wait.
    assert time.monotonic() - started < 5


def test_contiguous_changes_stop_at_a_gap():
    rows = [(3, "new", "7"), (4, "edit", "7"), (6, "remove", "7,8")]
    changes, broken = contiguous(rows, 2)
    assert [c.version for c in changes] == [3, 4] and broken
    assert changes[1].kind is ChangeKind.EDIT
    changes, broken = contiguous([(2, "new", "1")], 0)  # version 1 is the thread's creation
    assert [c.ids for c in changes] == [(1,)] and not broken
    assert contiguous([(5, "new", "1")], 3) == ([], True)


def etag_of(port: int, uri: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", f"/api/threads?uri={uri}", headers={"Origin": ORIGIN})
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200
    return response.headers["etag"]


def test_on_postgresql_cached_pages_follow_announcements_not_reads(tmp_path, postgresql_url):
    database_url = postgresql_url
    stack, first, second = two_servers(tmp_path, database_url)
    engine = sqlalchemy.create_engine(database_url)
    bump = sqlalchemy.text("UPDATE threads SET version = version + 1 WHERE uri = '/known/'")
    kill = sqlalchemy.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
    )
    with stack, engine.connect() as admin:
        post(first, "/known/", "One")
        seen = etag_of(second, "/known/")
        assert seen == f'"t{version_of(first, "/known/")}"'
        # A write on the other server is announced: the next read shows it.
        post(first, "/known/", "Two")
        time.sleep(0.2)
        assert etag_of(second, "/known/") != seen
        # A version moved behind the announcements' back is not asked for (the server did not
        # read it), and is read again within the lifetime of what it knows, 5 s.
        known = etag_of(second, "/known/")
        admin.execute(bump)
        admin.commit()
        assert etag_of(second, "/known/") == known
        time.sleep(5.5)
        assert etag_of(second, "/known/") != known
        # The listener killed between a write and a read: no stale page.
        before = etag_of(second, "/known/")
        admin.execute(kill, {"name": db.LISTENER_NAME})
        admin.commit()
        post(first, "/known/", "Three, while nobody listens")
        assert etag_of(second, "/known/") != before
        time.sleep(2.5)  # listening again
        before = etag_of(second, "/known/")
        post(first, "/known/", "Four")
        time.sleep(0.2)
        assert etag_of(second, "/known/") != before
    engine.dispose()


def moderator_cookie(database_url: str, secret: str) -> str:
    """A signed-in moderator's session cookie, made as the server's sign-in makes it."""
    engine = db.create_engine(database_url)
    try:
        config = settings.load(
            {"COMMENTS_DATABASE_URL": database_url, "COMMENTS_SECRET_KEY": secret}
        )
        accounts = Accounts(engine, config, Tokens(secret))
        accounts.add("mod@example.org")
        moderator = next(m for m in accounts.list() if m.email == "mod@example.org")
        token = accounts.start_session(moderator)
        accounts.close()
        return f"{COOKIE}={token}"
    finally:
        engine.dispose()


def test_the_moderators_stream_counts_the_queue_as_it_changes(tmp_path, database_url):
    secret = "a secret for the moderators' stream test"
    settings_ = {"COMMENTS_MODERATION": "pre", "COMMENTS_SECRET_KEY": secret}
    with running_server(tmp_path, database_url, **settings_) as port:
        headers = {"Accept": "text/event-stream"}
        anonymous = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        anonymous.request("GET", "/admin/stream", headers=headers)
        refused = anonymous.getresponse()
        assert refused.status == 303 and "/admin/sign-in" in refused.getheader("location")
        anonymous.close()

        cookie = moderator_cookie(database_url, secret)
        with stream(port, "", path="/admin/stream", headers={**headers, "Cookie": cookie}) as s:
            assert s.response.getheader("content-type").startswith("text/event-stream")
            assert s.next() == {
                "id": None,
                "event": "queue",
                "pending": 0,
                "reported": 0,
                "hidden": 0,
            }
            held = post(port, "/queue/", "Waiting for a moderator")
            assert s.next(seconds=3)["pending"] == 1  # at once, not at the next poll
            post(port, "/queue/", "Another")
            assert s.next(seconds=3)["pending"] == 2
            approve_elsewhere(database_url, held["id"])
            assert s.next(seconds=8)["pending"] == 1
            report = {"category": "spam"}
            status, body = call(port, "POST", f"/api/comments/{held['id']}/report", report)
            assert status < 300, body
            event = s.next(seconds=8)  # a report announces nothing: the next poll finds it
            assert (event["pending"], event["reported"]) == (1, 1)
