"""Single requests from Python: the check before each load, cold reads, the walk by cursor."""

from __future__ import annotations

import gzip
import http.client
import json
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from scenarios import EMBED_HEADERS, Ours, Request, count_comments
from servers import HOST


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    wire: bytes  # the body as sent (compressed or not)

    @property
    def body(self) -> bytes:
        is_gzip = self.headers.get("content-encoding") == "gzip"
        return gzip.decompress(self.wire) if is_gzip else self.wire

    def json(self) -> dict:
        return json.loads(self.body)


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST, port, timeout=300)


def send(connection: http.client.HTTPConnection, request: Request, **headers: str) -> Answer:
    connection.request(
        request.method,
        request.path,
        body=request.body,
        headers={**EMBED_HEADERS, **request.headers, **headers},
    )
    response = connection.getresponse()
    wire = response.read()
    found = {name.lower(): value for name, value in response.getheaders()}
    return Answer(response.status, found, wire)


def fetch(port: int, request: Request, **headers: str) -> Answer:
    connection = connect(port)
    try:
        return send(connection, request, **headers)
    finally:
        connection.close()


def first_reads_after_writes(port: int, uri: str, samples: int, around: int | None = None) -> dict:
    """Post a comment, then time one read of the thread's first page (or of the page holding
    the comment `around`), at one connection."""
    connection = connect(port)
    timings = []
    try:
        for serial in range(samples):
            text = f"Cold read {serial}: a *fresh* comment, so the next read finds a new version."
            posted = send(connection, Ours.post(uri, text))
            if posted.status != 201:
                raise RuntimeError(f"posting answered {posted.status}: {posted.body[:300]!r}")
            began = time.perf_counter()
            answer = send(
                connection, Ours.thread(uri, 50, **({"around": around} if around else {}))
            )
            timings.append((time.perf_counter() - began) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"reading answered {answer.status}")
    finally:
        connection.close()
    timings.sort()
    return {
        "samples": samples,
        "p50_ms": statistics.median(timings),
        "p90_ms": timings[int(0.9 * (len(timings) - 1))],
        "p99_ms": timings[int(0.99 * (len(timings) - 1))],
    }


def nth_comment(port: int, uri: str, n: int) -> int:
    """The id of the thread's n-th comment (from 1, oldest first), found by walking its pages."""
    connection = connect(port)
    ids, cursor = [], None
    try:
        while True:
            anchor = {"after": cursor} if cursor else {}
            page = send(connection, Ours.thread(uri, 200, **anchor)).json()
            stack = list(page["comments"])
            while stack:
                node = stack.pop()
                ids.append(node["id"])
                stack.extend(node["replies"])
            cursor = page["next"]
            if not cursor:
                break
    finally:
        connection.close()
    return sorted(ids)[n - 1]


def walk_thread(port: int, uri: str) -> dict:
    """Every page of a thread by cursor, largest pages: proof the last page is reachable."""
    connection = connect(port)
    pages, comments, cursor = 0, 0, None
    began = time.perf_counter()
    try:
        while True:
            path = Ours.thread(uri, 200).path + (
                "&" + urlencode({"after": cursor}) if cursor else ""
            )
            answer = send(connection, Request("GET", path))
            if answer.status != 200:
                raise RuntimeError(f"page {pages + 1} answered {answer.status}")
            page = answer.json()
            pages += 1
            comments += count_comments(page, Ours.comments_key)
            cursor = page["next"]
            if not cursor:
                break
    finally:
        connection.close()
    return {"pages": pages, "comments": comments, "seconds": time.perf_counter() - began}
