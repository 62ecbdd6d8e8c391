"""Schemathesis against a real `comments serve`: every operation of /api/openapi.json fuzzed from
the document, answered without a 5xx, with a documented status, content type and body.

The CLI runs in a subprocess (all four phases: examples, coverage, fuzzing, stateful), so its
Hypothesis settings and warnings stay out of this pytest session. Bounded: a fixed seed and
MAX_EXAMPLES per operation; the run takes about 20 s a database on two cores."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import Server
from tests.helpers import ORIGIN, free_port, need

MAX_EXAMPLES = 20
SEED = os.environ.get("COMMENTS_FUZZ_SEED", "20261129")  # fixed: the same run every time
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
]


def schemathesis_command() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        need("Schemathesis not installed: pip install -e '.[test]'")
    return found


def fuzz(server: Server, workdir: Path, token: str, *options: str) -> str:
    """Schemathesis run against the server's document with this Bearer token: its report."""
    started = time.monotonic()
    try:
        run = subprocess.run(
            [
                schemathesis_command(),
                "run",
                f"{server.url}/api/openapi.json",
                f"--header=Origin: {ORIGIN}",
                f"--header=Authorization: Bearer {token}",
                f"--checks={','.join(CHECKS)}",
                f"--max-examples={MAX_EXAMPLES}",
                f"--seed={SEED}",
                "--request-timeout=10",
                "--no-color",
                *options,
            ],
            cwd=workdir,  # its .hypothesis and .schemathesis directories
            env={**os.environ, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.stop()
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"{report}\n--- server log ---\n{server.log.read_text()[-5000:]}"
    print(
        f"schemathesis: {time.monotonic() - started:.1f} s, {MAX_EXAMPLES} examples per operation"
    )
    return report


def test_the_api_keeps_its_openapi_contract(tmp_path, database_url):
    schemathesis_command()
    defenses_off = {"thread_rate_limit": "0", "duplicate_window": "0", "max_links": "0"}
    short_streams = {"stream_idle": "1"}  # a live stream's answer ends, so it can be checked
    server = Server(tmp_path, [ORIGIN], database_url=database_url, **defenses_off, **short_streams)
    # Something to find: comments 1 to 3, and the edit token of the first, which every request
    # carries (the edits and deletes of comment 1 succeed, the others are refused).
    seeded = [server.seed(ORIGIN, "/post/", f"Comment {n}") for n in range(3)]
    server.seed(ORIGIN, "/post/", "A reply", parent=seeded[0]["id"])
    report = fuzz(server, tmp_path, seeded[0]["edit_token"])
    assert "22 selected" in report, report


def test_a_signed_in_readers_calls_keep_the_contract(tmp_path, database_url, smtp_on):
    """The readers' operations again, with a real reader's token (signed in by the link a real
    SMTP server received): their answers when the token is good, until the fuzzer erases her."""
    schemathesis_command()
    mailbox = smtp_on(free_port())
    mail = {"smtp_host": "127.0.0.1", "smtp_port": str(mailbox.port), "smtp_security": "none"}
    server = Server(
        tmp_path, [ORIGIN], database_url=database_url, mail_from="c@blog.example", **mail
    )
    comment = server.seed(ORIGIN, "/post/", "Vote for me")
    page = ORIGIN + "/post/"
    status, _ = server.api(
        "POST", "/api/sign-in", {"email": "rosa@example.org", "page": page}, ORIGIN
    )
    assert status == 202
    deadline = time.monotonic() + 10
    while not mailbox.to("rosa@example.org") and time.monotonic() < deadline:
        time.sleep(0.05)
    text = mailbox.to("rosa@example.org")[0].get_body(("plain",)).get_content()
    link = re.search(r"#comments-sign-in=(\S+)", text)[1]
    status, signed = server.api("POST", "/api/sign-in/complete", {"link": link}, ORIGIN)
    assert status == 200, signed
    assert (
        server.api("POST", f"/api/comments/{comment['id']}/vote", None, ORIGIN, signed["token"])[0]
        == 200
    )
    # Not the calls that end the token (erasing, signing out everywhere): the first run has them.
    readers = r"--include-path-regex=^/api/(me(/export|/votes)?|comments/\{comment_id\}/vote)$"
    report = fuzz(server, tmp_path, signed["token"], readers, "--exclude-method=DELETE")
    assert "5 selected" in report, report
    assert "Authentication failed" not in report, report
