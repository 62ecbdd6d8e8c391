"""The two commands a site owner runs, as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")}
    return {**kept, "COMMENTS_DATA_DIR": str(data_dir), **extra}


def wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {seconds}s")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_starts_from_nothing(tmp_path, workers):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "comments", "serve", "--port", str(port), "--workers", str(workers)],
        env=environment(tmp_path / "data", COMMENTS_MIN_WRITE_SECONDS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", process)
        request = urllib.request.Request(
            f"{base}/api/comments",
            data=json.dumps({"uri": "/hello/", "text": "first!"}).encode(),
            headers={"Content-Type": "application/json", "Origin": "http://localhost:4000"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        with urllib.request.urlopen(f"{base}/api/threads?uri=/hello/", timeout=5) as response:
            assert json.load(response)["thread"]["count"] == 1
        with urllib.request.urlopen(f"{base}/static/embed.js", timeout=5) as response:
            assert response.headers["Cache-Control"] == "public, max-age=3600"
            assert response.headers["ETag"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"{base}/demo" in output
    assert f'<script src="{base}/static/embed.js" async></script>' in output
    assert "COMMENTS_ORIGINS is not set" in output
    assert (tmp_path / "data" / "comments.db").exists()
    assert (tmp_path / "data" / "secret.key").exists()


def test_bad_setting_stops_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "comments", "serve"],
        env=environment(tmp_path, COMMENTS_MODERATION="later"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "comments: COMMENTS_MODERATION: invalid value 'later': expected one of post, pre, trusted"
    ]


def test_migrate_command(tmp_path):
    env = environment(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "comments", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "schema at head" in result.stdout
    down = subprocess.run(
        [sys.executable, "-m", "comments", "migrate", "base"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 0, down.stderr
