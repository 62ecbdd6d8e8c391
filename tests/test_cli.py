"""The commands a site owner runs, as real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from comments import config as settings
from comments.app import create_app
from tests.helpers import SECRET, free_port, post


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
    assert f"data directory:  {(tmp_path / 'data').resolve()}" in output
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


@pytest.mark.parametrize("command", [["moderator", "list"], ["export"], ["serve"]])
def test_an_unreachable_database_stops_with_one_line(tmp_path, command):
    url = f"postgresql://comments:secret@127.0.0.1:{free_port()}/comments"
    result = subprocess.run(
        [sys.executable, "-m", "comments", *command],
        env=environment(tmp_path, COMMENTS_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("comments: postgresql+psycopg://comments:***@127.0.0.1:")
    assert "Connection refused" in line and "secret" not in line


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


# Moderators and privacy


def run_command(*args: str, env: dict[str, str], answer: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "comments", *args],
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_moderator_commands(tmp_path):
    env = environment(tmp_path / "data", COMMENTS_PUBLIC_URL="https://comments.example")
    added = run_command("moderator", "add", "Ada@Example.org", env=env)  # migrates first
    assert added.returncode == 0, added.stderr
    assert "ada@example.org" in added.stdout
    [link] = re.findall(r"https://comments\.example(/admin/welcome\?token=\S+)", added.stdout)
    listed = run_command("moderator", "list", env=env)
    assert listed.stdout.splitlines() == ["ada@example.org  (no password yet)"]

    # The link opens the password page of a server with the same data directory.
    app = create_app(settings.load(env))
    with TestClient(app) as client:
        page = client.get(link)
    assert page.status_code == 200
    assert "ada@example.org" in page.text

    removed = run_command("moderator", "remove", "ada@example.org", env=env)
    assert removed.returncode == 0, removed.stderr
    again = run_command("moderator", "remove", "ada@example.org", env=env)
    assert again.returncode == 1
    assert again.stderr.strip() == "comments: there is no moderator ada@example.org"
    assert run_command("moderator", "list", env=env).stdout == ""


def test_privacy_commands(make_client, database_url, tmp_path):
    client = make_client()
    mine = post(client, "my words", author="Ada", email="ada@example.org")
    post(client, "a reply", parent=mine["id"], email="bob@example.org")
    post(client, "bob again", email="bob@example.org")
    env = environment(tmp_path, COMMENTS_DATABASE_URL=database_url, COMMENTS_SECRET_KEY=SECRET)

    exported = run_command("privacy", "export", "ada@example.org", env=env)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert [comment["text"] for comment in data["comments"]] == ["my words"]

    declined = run_command("privacy", "erase", "ada@example.org", env=env, answer="no\n")
    assert declined.returncode == 1
    assert "Erase 1 comment and every trace of ada@example.org?" in declined.stdout
    assert declined.stderr.strip() == "comments: nothing erased"
    assert client.get(f"/api/comments/{mine['id']}").json()["author"] == "Ada"

    erased = run_command("privacy", "erase", "ada@example.org", env=env, answer="yes\n")
    assert erased.returncode == 0, erased.stderr
    assert "erased 1 comment and every trace of ada@example.org" in erased.stdout
    [placeholder] = [
        comment
        for comment in client.get("/api/threads?uri=/post/").json()["comments"]
        if comment["id"] == mine["id"]
    ]
    assert placeholder["html"] == "" and placeholder["replies"]  # Bob's reply still hangs there

    unasked = run_command("privacy", "erase", "bob@example.org", "--yes", env=env)
    assert unasked.returncode == 0, unasked.stderr
    assert "erased 2 comments" in unasked.stdout
    entries, _ = client.app.state.moderation.audit()
    assert [entry.action.value for entry in entries] == ["erase", "erase"]
    assert entries[0].moderator.startswith("command line")


# Import and export

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_import_commands(tmp_path):
    env = environment(tmp_path / "data", COMMENTS_ORIGINS="https://blog.example")
    disqus = str(FIXTURES / "disqus.xml")
    dry = run_command("import", "disqus", disqus, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr == ""  # no progress bar when stderr is not a terminal
    assert dry.stdout.splitlines() == [
        "Would import from disqus into blog.example:",
        "  comments: 9 new, 0 there already (12 in the file)",
        "  threads:  2 with new comments (2 new threads)",
        "  skipped:  3 (1 deleted, 1 page address unusable, 1 spam)",
        "  replies whose parent is missing, now top-level: 2",
        "  dropped as invalid: 0 websites, 1 emails (the comments came without them)",
        "Nothing was written (--dry-run).",
    ]
    done = run_command("import", "disqus", disqus, "--spam", "hidden", env=env)
    assert done.returncode == 0, done.stderr
    assert "  comments: 10 new, 0 there already (12 in the file)" in done.stdout
    again = run_command("import", "disqus", disqus, "--spam", "hidden", env=env)
    assert "  comments: 0 new, 10 there already (12 in the file)" in again.stdout

    wordpress = run_command(
        "import",
        "wordpress",
        str(FIXTURES / "wordpress.xml"),
        "--site",
        "news.example",
        "--map-url",
        "old-wp.example/blog=",
        env=env,
    )
    assert wordpress.returncode == 0, wordpress.stderr
    assert wordpress.stderr.strip() == (
        "comments: warning: news.example is not the site of any of COMMENTS_ORIGINS "
        "(blog.example): no page will show these comments"
    )
    isso = run_command("import", "isso", str(FIXTURES / "isso.db"), env=env)
    assert "  comments: 6 new" in isso.stdout

    app = create_app(settings.load(env))
    with TestClient(app) as client:
        hello = client.get("/api/threads?uri=/2012/11/hello-world/").json()
    assert hello["thread"]["count"] == 7


def test_import_of_a_malformed_file_stops_with_one_line(tmp_path):
    env = environment(tmp_path / "data")
    broken = tmp_path / "broken.xml"
    broken.write_text((FIXTURES / "disqus.xml").read_text(encoding="utf-8")[:3000])
    result = run_command("import", "disqus", str(broken), env=env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert re.fullmatch(
        rf"comments: {re.escape(str(broken))}: line \d+: the XML is malformed: .+", line
    )
    wrong = run_command("import", "isso", str(FIXTURES / "disqus.xml"), env=env)
    assert wrong.returncode == 1
    assert "is not an Isso database" in wrong.stderr
    bad_rule = run_command("import", "disqus", str(broken), "--map-url", "nothing", env=env)
    assert bad_rule.returncode == 2
    assert "is not OLD=NEW" in bad_rule.stderr


def test_export_and_restore_commands(tmp_path):
    old = environment(tmp_path / "old")
    assert run_command("import", "disqus", str(FIXTURES / "disqus.xml"), env=old).returncode == 0
    assert run_command("moderator", "add", "ada@example.org", env=old).returncode == 0
    exported = subprocess.run(
        [sys.executable, "-m", "comments", "export"], env=old, capture_output=True, timeout=60
    )
    assert exported.returncode == 0, exported.stderr
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(exported.stdout)

    new = environment(tmp_path / "new")
    restored = run_command("import", "backup", str(backup), env=new)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(
        "restored 2 threads, 9 comments, 1 moderators into sqlite:///"
    )
    again = subprocess.run(
        [sys.executable, "-m", "comments", "export"], env=new, capture_output=True, timeout=60
    )
    assert again.stdout == exported.stdout
    refused = run_command("import", "backup", str(backup), env=new)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "comments: the database is not empty (1 moderators, 2 threads, 9 comments): "
        "restore a backup into an empty database only"
    )
