"""Live streams through a real nginx, configured with the lines docs/production.md gives: each
event and each heartbeat passes at once, through the streams' own location and through the plain
`location /` (a site that never added the stream block, or a moderator's stream before it was
covered). nginx 1.22 passed events at once there even without the app's `X-Accel-Buffering: no`,
so what this holds is the documented configuration, not that header."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import need
from tests.test_cli import free_port
from tests.test_serving import running_server
from tests.test_streams import post, stream

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ROOT / "docs" / "production.md"


def documented(pattern: str) -> str:
    """A block of docs/production.md's nginx configuration, as it is written there."""
    found = re.search(pattern, PRODUCTION.read_text(), re.S)
    assert found, f"docs/production.md no longer has {pattern!r}"
    return found.group(0)


def plain_location() -> str:
    """The documented `location /`, without the stream block's buffering and timeout lines."""
    return documented(r"    location / \{\n.*?\n    \}")


def stream_location() -> str:
    return documented(r"    location ~ \^/\(api\|admin\)/stream\$ \{\n.*?\n    \}")


@contextlib.contextmanager
def nginx(tmp_path: Path, upstream: int, with_stream_block: bool) -> Iterator[int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        need("nginx is not installed (Debian package nginx-light or nginx)")
    port = free_port()
    temp = tmp_path / "nginx"
    temp.mkdir(exist_ok=True)
    conf = temp / "nginx.conf"
    locations = plain_location() + ("\n" + stream_location() if with_stream_block else "")
    conf.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {temp}/nginx.pid;
error_log {temp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream comments_app {{
        server 127.0.0.1:{upstream};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-p", str(temp), "-c", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize("with_stream_block", [True, False], ids=["stream-block", "plain"])
def test_streams_pass_through_nginx_at_once(tmp_path, database_url, with_stream_block):
    settings = {"COMMENTS_STREAM_HEARTBEAT": "1", "COMMENTS_TRUSTED_PROXIES": "127.0.0.1"}
    with (
        running_server(tmp_path, database_url, **settings) as upstream,
        nginx(tmp_path, upstream, with_stream_block) as port,
        stream(port, "/through-nginx/") as s,
    ):
        assert s.response.status == 200
        assert s.response.getheader("content-type").startswith("text/event-stream")
        time.sleep(2.5)  # a buffering proxy would hold these back
        assert s.lines.count(": ping") >= 2, s.lines
        sent = time.monotonic()
        written = post(port, "/through-nginx/", "Through the proxy")
        event = s.next(seconds=2)
        assert time.monotonic() - sent < 1.5
        assert (event["kind"], event["ids"]) == ("new", [written["id"]])
