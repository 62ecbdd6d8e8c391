"""Helpers the tests share: the problem assertion, posting, and the CI rule for missing parts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from starlette.testclient import TestClient

ORIGIN = "https://blog.example"
SECRET = "test-secret-key"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(reason: str) -> None:
    """A missing dependency fails the run in CI and skips the test on a laptop."""
    if IN_CI:
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def assert_problem(response, status: int, code: str, field: str | None = None) -> dict:
    """The one way tests check an error: status, media type, stable code, field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def post(client: TestClient, text: str = "Hello", uri: str = "/post/", **fields) -> dict:
    response = client.post("/api/comments", json={"uri": uri, "text": text, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def run_async(coroutine):
    """asyncio.run, in a thread of its own: the browser tests' sync API keeps a loop running in
    this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# Every posting defense off, for tests of something else: each would hold or refuse their posts.
# A test of a defense turns its own back on.
DEFENSES_OFF = {
    "COMMENTS_RATE_LIMIT": "0",
    "COMMENTS_THREAD_RATE_LIMIT": "0",
    "COMMENTS_PREVIEW_RATE_LIMIT": "0",
    "COMMENTS_MIN_WRITE_SECONDS": "0",
    "COMMENTS_DUPLICATE_WINDOW": "0",
    "COMMENTS_SURGE_RATE": "0",
    "COMMENTS_SURGE_HOLD_RATE": "0",
    "COMMENTS_CHALLENGE_DIFFICULTY": "0",
}


# A real SMTP server (aiosmtpd): what it received


@dataclasses.dataclass
class Mailbox:
    port: int
    received: list[tuple[list[str], EmailMessage]] = dataclasses.field(default_factory=list)
    refused: set[str] = dataclasses.field(default_factory=set)

    def to(self, address: str) -> list[EmailMessage]:
        return [
            message
            for recipients, message in self.received
            if address.lower() in (recipient.lower() for recipient in recipients)
        ]

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
