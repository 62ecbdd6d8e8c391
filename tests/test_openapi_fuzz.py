"""Schemathesis against a real `comments serve`: every operation of /api/openapi.json fuzzed from
the document, answered without a 5xx, with a documented status, content type and body.

The CLI runs in a subprocess (all four phases: examples, coverage, fuzzing, stateful), so its
Hypothesis settings and warnings stay out of this pytest session. Bounded: a fixed seed and
MAX_EXAMPLES per operation; the run takes about 20 s a database on two cores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import Server
from tests.helpers import ORIGIN, need

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


def test_the_api_keeps_its_openapi_contract(tmp_path, database_url):
    command = schemathesis_command()
    defenses_off = {"thread_rate_limit": "0", "duplicate_window": "0", "max_links": "0"}
    short_streams = {"stream_idle": "1"}  # a live stream's answer ends, so it can be checked
    server = Server(tmp_path, [ORIGIN], database_url=database_url, **defenses_off, **short_streams)
    try:
        # Something to find: comments 1 to 3, and the edit token of the first, which every
        # request carries (the edits and deletes of comment 1 succeed, the others are refused).
        seeded = [server.seed(ORIGIN, "/post/", f"Comment {n}") for n in range(3)]
        server.seed(ORIGIN, "/post/", "A reply", parent=seeded[0]["id"])
        started = time.monotonic()
        run = subprocess.run(
            [
                command,
                "run",
                f"{server.url}/api/openapi.json",
                f"--header=Origin: {ORIGIN}",
                f"--header=Authorization: Bearer {seeded[0]['edit_token']}",
                f"--checks={','.join(CHECKS)}",
                f"--max-examples={MAX_EXAMPLES}",
                f"--seed={SEED}",
                "--request-timeout=10",
                "--no-color",
            ],
            cwd=tmp_path,  # its .hypothesis and .schemathesis directories
            env={**os.environ, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"{report}\n--- server log ---\n{server.log.read_text()[-5000:]}"
    assert "22 selected" in report, report
    print(f"schemathesis: {elapsed:.1f} s, {MAX_EXAMPLES} examples per operation")
