"""Atom feeds of approved comments: a thread's (/feed/thread.atom?uri=) and a site's
(/feed/recent.atom). Thin handlers; the document is built with ElementTree, which escapes."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments import validate
from comments.api import config, iso, service, site_of
from comments.config import Config
from comments.errors import Problem
from comments.mail import thread_url
from comments.models import FeedEntry, Thread

FEED_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# An empty feed still needs an <updated>: a fixed one, so its ETag does not change either.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# What XML 1.0 cannot carry at all; dropped rather than fail the whole feed.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def feed_site(request: Request) -> str:
    """Feed readers send no Origin: `?site=` names one of the configured sites; without it the
    site is the API's (the first configured one)."""
    asked = (request.query_params.get("site") or "").strip().lower()
    if not asked:
        return site_of(request)
    site = config(request).known_site(asked)
    if site is None and asked != config(request).default_site:
        raise Problem("invalid_parameter", "site is not one of this server's sites.", field="site")
    return site or asked


def self_url(request: Request, path: str, **params: str) -> str:
    """The feed's own address, canonical (it is also the feed's id)."""
    site = request.query_params.get("site")
    query = urlencode({**params, **({"site": site.strip().lower()} if site else {})})
    return f"{config(request).public_url}{path}{'?' + query if query else ''}"


async def thread_feed(request: Request) -> Response:
    site = feed_site(request)
    try:
        uri = validate.uri(
            request.query_params.get("uri"),
            query_parameters=config(request).query_parameters_of(site),
        )
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None
    thread, entries = await run_in_threadpool(
        service(request).recent_comments, site, uri, FEED_SIZE
    )
    title = thread.title if thread and thread.title else uri
    page = thread_url(config(request), thread or Thread(0, site, uri, "", 0, False, 0))
    return respond(
        request,
        document(
            config(request),
            self_url(request, "/feed/thread.atom", uri=uri),
            f"Comments on {title}",
            page,
            entries,
        ),
    )


async def recent_feed(request: Request) -> Response:
    site = feed_site(request)
    _, entries = await run_in_threadpool(service(request).recent_comments, site, None, FEED_SIZE)
    settings = config(request)
    page = thread_url(settings, Thread(0, site, "/", "", 0, False, 0))
    feed_id = self_url(request, "/feed/recent.atom")
    return respond(request, document(settings, feed_id, f"Comments on {site}", page, entries))


def document(
    settings: Config, feed_id: str, title: str, page: str, entries: list[FeedEntry]
) -> tuple[bytes, datetime]:
    """The Atom document, and when it last changed."""
    changes = (entry.comment.edited or entry.comment.created for entry in entries)
    updated = max(changes, default=NEVER)
    feed = ET.Element("feed", xmlns=ATOM)
    add(feed, "id", feed_id)
    add(feed, "title", title)
    add(feed, "updated", iso(updated))
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=feed_id)
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=page)
    add(feed, "generator", "comments")
    for entry in entries:
        comment, thread = entry.comment, entry.thread
        link = f"{thread_url(settings, thread)}#comment-{comment.id}"
        author = comment.author or "Anonymous"
        item = ET.SubElement(feed, "entry")
        add(item, "id", link)
        add(item, "title", f"{author} on {thread.title or thread.uri}")
        add(item, "updated", iso(comment.edited or comment.created))
        add(item, "published", iso(comment.created))
        person = ET.SubElement(item, "author")
        add(person, "name", author)
        if comment.website:
            add(person, "uri", comment.website)
        ET.SubElement(item, "link", rel="alternate", type="text/html", href=link)
        add(item, "content", comment.html, type="html")  # the sanitizer's HTML, escaped here
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True), updated


def add(parent: ET.Element, tag: str, text: str | None, **attributes: str) -> None:
    ET.SubElement(parent, tag, attributes).text = NOT_XML.sub("", text or "")


def respond(request: Request, built: tuple[bytes, datetime]) -> Response:
    """The feed, or 304 when the reader's copy is current (its ETag, else its date)."""
    body, updated = built
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:24]}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(updated.astimezone(UTC), usegmt=True),
        "Cache-Control": "public, no-cache",
    }
    if is_current(request, etag, updated):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type=MEDIA_TYPE)


def is_current(request: Request, etag: str, updated: datetime) -> bool:
    # If-None-Match wins when both are sent (RFC 9110, 13.2.2). A date alone can miss a comment
    # hidden since (the newest date stays); the ETag, a hash of the feed, misses nothing.
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return updated.replace(microsecond=0) <= since


routes = [  # under /feed
    Route("/thread.atom", thread_feed, methods=["GET"]),
    Route("/recent.atom", recent_feed, methods=["GET"]),
]
