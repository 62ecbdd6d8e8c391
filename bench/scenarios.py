"""What is asked of each server: the embed's real requests, for our API and for Isso's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from servers import ORIGIN

# Every request is the embed's: compressed if the server can, from the blog's page.
EMBED_HEADERS = {"Accept-Encoding": "gzip", "Origin": ORIGIN}
JSON_BODY = {"Content-Type": "application/json"}

# (row, thread size, limit). Both APIs page top-level comments, each with all its replies; 200 is
# our largest page, so "whole" is the whole thread for 10 and 100 comments and the first 200
# top-level comments (of about 700) with their replies for 1,000.
READS = (
    ("thread of 10, first page", 10, 50),
    ("thread of 10, whole (limit=200)", 10, 200),
    ("thread of 100, first page", 100, 50),
    ("thread of 100, whole (limit=200)", 100, 200),
    ("thread of 1,000, first page", 1_000, 50),
    ("thread of 1,000, limit=200", 1_000, 200),
    ("thread of 10,000, first page", 10_000, 50),
)
# The first page of the thread of 100 in the best order (its comments carry votes), beside the
# same page oldest first (READS[2]): ours only, Isso has no such order.
BEST_READ = ("thread of 100, first page, sort=best", 100, 50)
# The first read after a write, at one connection: the page cache cannot help.
COLD_READS = (
    ("first read after a write, thread of 100", 100),
    ("first read after a write, thread of 10,000", 10_000),
)
# A permalink deep in the largest thread (its 9,990th comment): the page that holds it, in one
# request (`around=`), against that thread's first page; warm, then as the first read after a write.
PERMALINK = ("thread of 10,000, permalink to its 9,990th comment", 10_000, 9_990)
COLD_PERMALINK = "first read after a write, permalink in the thread of 10,000"
COUNTS = "counts for 20 URIs"
CONDITIONAL = "conditional GET answered 304"
POSTING = "posting comments"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Ours:
    name = "ours"
    ready = "/healthz"
    comments_key = "comments"
    warms_up = True  # fills the page cache of each worker
    restarts = False

    @staticmethod
    def thread(uri: str, limit: int, **anchor: object) -> Request:
        query = {"uri": uri, "limit": limit, **anchor}
        return Request("GET", "/api/threads?" + urlencode(query))

    @staticmethod
    def counts(uris: list[str]) -> Request:
        # As the embed asks since counts are cacheable: a GET (POST answers the same).
        return Request("GET", "/api/counts?" + urlencode({"uri": uris}, doseq=True))

    @staticmethod
    def post(uri: str, text: str) -> Request:
        body = json.dumps({"uri": uri, "text": text, "author": "Bench"}).encode()
        return Request("POST", "/api/comments", body, JSON_BODY)


class Isso:
    name = "isso"
    ready = "/?uri=/bench/thread-10/"
    comments_key = "replies"
    # Isso caches nothing, and a warm-up would leave its sync workers a queue of requests to finish.
    warms_up = False
    restarts = True  # rather than wait for that queue after each run

    @staticmethod
    def thread(uri: str, limit: int) -> Request:
        return Request("GET", "/?" + urlencode({"uri": uri, "limit": limit}))

    @staticmethod
    def counts(uris: list[str]) -> Request:
        return Request("POST", "/count", json.dumps(uris).encode(), JSON_BODY)

    @staticmethod
    def post(uri: str, text: str) -> Request:
        body = json.dumps({"text": text, "author": "Bench"}).encode()
        return Request("POST", "/new?" + urlencode({"uri": uri}), body, JSON_BODY)


class Ceiling:
    name = "ceiling"
    ready = "/"
    comments_key = "comments"
    warms_up = True
    restarts = False


def count_comments(page: dict, key: str) -> int:
    """Comments in a page's tree, replies included (both APIs nest them under "replies")."""
    stack, total = list(page.get(key) or []), 0
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.get("replies") or [])
    return total
