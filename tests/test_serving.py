"""The HTTP server's own bounds, against a real `comments serve`: hundreds of slow connections are
cut after the header timeout while ordinary requests are answered at once, a body that stalls
is cut after the body timeout, and connections past the maximum are refused with an answer."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from comments import config as settings
from comments import serving
from tests.test_cli import environment, free_port, wait_for

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
SLOW = 300  # slow connections held at once
ORIGIN = "http://localhost:4000"


@contextlib.contextmanager
def running_server(tmp_path: Path, database_url: str, **extra: str) -> Iterator[int]:
    port = free_port()
    env = environment(
        tmp_path / "data",
        COMMENTS_DATABASE_URL=database_url,
        COMMENTS_MIN_WRITE_SECONDS="0",
        COMMENTS_RATE_LIMIT="0",
        COMMENTS_THREAD_RATE_LIMIT="0",
        COMMENTS_DUPLICATE_WINDOW="0",
        COMMENTS_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        COMMENTS_BODY_TIMEOUT=str(BODY_TIMEOUT),
        **extra,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "comments", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert "Traceback" not in output, output


@pytest.fixture
def connect() -> Iterator:
    """`connect(port)` -> a socket to the server, closed after the test whatever happened."""
    sockets: list[socket.socket] = []

    def make(port: int) -> socket.socket:
        sockets.append(socket.create_connection(("127.0.0.1", port)))
        return sockets[-1]

    yield make
    for sock in sockets:
        sock.close()


def timed_request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    connection.request(method, path, json.dumps(body) if body else None, headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.monotonic() - started


def answer_of(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (or `seconds` pass)."""
    sock.settimeout(seconds)
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(4096):
            received += chunk
    return received


def stalled_post(sock: socket.socket) -> None:
    """A request whose headers are complete (so the app has it in hand) and its body not."""
    sock.sendall(
        b"POST /api/comments HTTP/1.1\r\nHost: x\r\nOrigin: " + ORIGIN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )


def test_slow_headers_are_cut_while_ordinary_requests_are_answered(tmp_path, database_url, connect):
    with running_server(tmp_path, database_url) as port:
        slow = [connect(port) for _ in range(SLOW)]
        opened = time.monotonic()
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        latencies = []
        # A header line from each slow client every half second, never the blank line that
        # ends them; meanwhile readers and writers come and go.
        while time.monotonic() - opened < HEADER_TIMEOUT - 0.5:
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")
            for status, seconds in (
                timed_request(port, "GET", "/api/threads?uri=/post/"),
                timed_request(port, "POST", "/api/comments", {"uri": "/post/", "text": "hi"}),
            ):
                assert status in (200, 201)
                latencies.append(seconds)
            time.sleep(0.3)
        assert max(latencies) < 1, latencies  # answered at once, not after the slow ones
        answers = [answer_of(sock, HEADER_TIMEOUT + 3) for sock in slow]
        cut = time.monotonic() - opened
    assert cut < HEADER_TIMEOUT + 3
    timed_out = [answer for answer in answers if answer.startswith(b"HTTP/1.1 408 ")]
    assert len(timed_out) == SLOW, {answer[:40] for answer in answers}
    assert b"application/problem+json" in timed_out[0]
    assert b'"code":"request_timeout"' in timed_out[0]
    assert b"connection: close" in timed_out[0]


def test_a_stalled_body_and_a_slow_second_request_are_cut(tmp_path, database_url, connect):
    with running_server(tmp_path, database_url) as port:
        stalled = connect(port)
        stalled_post(stalled)
        kept = connect(port)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += kept.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
        started = time.monotonic()
        body_answer = answer_of(stalled, BODY_TIMEOUT + 3)
        assert time.monotonic() - started < BODY_TIMEOUT + 1
        assert body_answer.startswith(b"HTTP/1.1 408 "), body_answer
        assert b"body did not arrive" in body_answer
        assert answer_of(kept, HEADER_TIMEOUT + 3).startswith(b"HTTP/1.1 408 ")
        assert timed_request(port, "GET", "/healthz")[0] == 200


def test_past_the_maximum_the_longest_waiting_connection_makes_room(
    tmp_path, database_url, connect
):
    with running_server(tmp_path, database_url, COMMENTS_MAX_CONNECTIONS="50") as port:
        slow = []
        for _ in range(50):
            slow.append(connect(port))
            slow[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
        time.sleep(0.3)
        readers = []
        for _ in range(10):  # each takes the place of the slow client that waited longest
            readers.append(http.client.HTTPConnection("127.0.0.1", port, timeout=5))
            started = time.monotonic()
            readers[-1].request("GET", "/api/threads?uri=/post/")  # kept alive: a place held
            response = readers[-1].getresponse()
            response.read()
            assert (response.status, time.monotonic() - started < 1) == (200, True)
        answered, _, _ = select.select(slow, [], [], 0.2)
        # The oldest made room (a few more, maybe, for the server's own count of connections
        # that are closing); the rest still wait for their timeout.
        assert 10 <= len(answered) <= 15
        assert set(answered) <= set(slow[:15])  # the oldest (as the server accepted them)
        busy = [answer_of(sock, 0.5) for sock in answered]
        assert sum(answer.startswith(b"HTTP/1.1 503 ") for answer in busy) >= 8, busy
        assert b'"code":"server_busy"' in next(a for a in busy if a.startswith(b"HTTP/1.1 503"))
        for reader in readers:
            reader.close()


def test_connections_past_the_maximum_are_refused_when_all_are_busy(
    tmp_path, database_url, connect
):
    with running_server(tmp_path, database_url, COMMENTS_MAX_CONNECTIONS="50") as port:
        for _ in range(50):
            stalled_post(connect(port))
        time.sleep(0.3)  # all accepted, each request in hand
        extra = connect(port)
        extra.sendall(b"GET /api/threads?uri=/post/ HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = answer_of(extra, 1)
        assert refused.startswith(b"HTTP/1.1 503 "), refused
        head, _, body = refused.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in head
        assert b"retry-after: 5" in head and b"connection: close" in head
        assert json.loads(body)["code"] == "server_busy"
        time.sleep(BODY_TIMEOUT)  # the stalled bodies time out, their connections close
        assert timed_request(port, "GET", "/healthz")[0] == 200  # room again


def test_the_file_limit_is_raised_and_bounds_the_connections(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        limit = serving.raise_file_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
        assert limit == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    config = settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_MAX_CONNECTIONS": "5000"})
    assert serving.connection_limit(config, 1024) == 1024 - serving.RESERVED_FILES
    assert serving.connection_limit(config, 65536) == 5000


def test_streams_leave_reads_room_among_the_connections(tmp_path, caplog):
    def limit(streams: str, connections: int) -> int:
        config = settings.load(
            {"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_MAX_STREAMS": streams}
        )
        return serving.stream_limit(config, connections)

    assert limit("500", 1000) == 500  # the defaults fit
    assert limit("0", 1000) == 0  # off stays off
    with caplog.at_level(logging.WARNING, logger="comments"):
        assert limit("10000", 896) == 807  # 1,024 open files: a tenth stays for reads
        assert limit("500", 50) == 34  # and at least 16
    assert "COMMENTS_MAX_STREAMS=10000 leaves no room" in caplog.text


def test_a_lowered_stream_cap_reaches_the_workers(tmp_path, database_url):
    settings_ = {"COMMENTS_MAX_CONNECTIONS": "40", "COMMENTS_MAX_STREAMS": "500"}
    with running_server(tmp_path, database_url, **settings_) as port:
        held = []
        try:
            for _ in range(24):  # 40 connections hold 24 streams; the next is refused
                held.append(http.client.HTTPConnection("127.0.0.1", port, timeout=10))
                held[-1].request("GET", "/api/stream?uri=/cap/", headers={"Origin": ORIGIN})
                assert held[-1].getresponse().status == 200
            refused = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            refused.request("GET", "/api/stream?uri=/cap/", headers={"Origin": ORIGIN})
            answer = refused.getresponse()
            assert answer.status == 503
            assert json.loads(answer.read())["code"] == "too_many_streams"
            refused.close()
            # and a read still finds room
            reader = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            reader.request("GET", "/api/threads?uri=/cap/", headers={"Origin": ORIGIN})
            assert reader.getresponse().status == 200
            reader.close()
        finally:
            for connection in held:
                connection.close()


@pytest.mark.parametrize("value", ["0", "2h", "soon"])
def test_timeouts_out_of_range_stop_start_up(tmp_path, value):
    with pytest.raises(settings.ConfigError, match="COMMENTS_HEADER_TIMEOUT"):
        settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_HEADER_TIMEOUT": value})


@pytest.mark.parametrize(("setting", "logged"), [("on", True), ("off", False)])
def test_the_access_log_is_a_setting(tmp_path, setting, logged):
    """A line per request, or none behind a proxy that logs them already; the server's own
    messages stay either way."""
    port = free_port()
    env = environment(tmp_path / "data", COMMENTS_ACCESS_LOG=setting)
    process = subprocess.Popen(
        [sys.executable, "-m", "comments", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        assert timed_request(port, "GET", "/api/threads?uri=/logged-or-not")[0] == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert ("GET /api/threads?uri=/logged-or-not HTTP/1.1" in output) is logged, output
    assert "Application startup complete" in output


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_an_access_log_setting_that_is_neither_on_nor_off_stops_start_up(tmp_path, value):
    with pytest.raises(settings.ConfigError, match=r"COMMENTS_ACCESS_LOG.*expected on or off"):
        settings.load({"COMMENTS_DATA_DIR": str(tmp_path), "COMMENTS_ACCESS_LOG": value})


@pytest.mark.parametrize(("line", "expected"), [("access_log = false", False), ("", True)])
def test_the_access_log_setting_reads_a_toml_boolean(tmp_path, line, expected):
    path = tmp_path / "comments.toml"
    path.write_text(line + "\n")
    config = settings.load({"COMMENTS_DATA_DIR": str(tmp_path)}, path)
    assert config.access_log is expected
