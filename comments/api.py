"""The public JSON API the embed talks to: thin handlers (parse, call the service, respond)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from comments import db, streams, validate
from comments.config import Config
from comments.errors import Problem
from comments.models import (
    Comment,
    Edited,
    Node,
    PageQuery,
    Status,
    Surge,
    Target,
    ThreadPage,
)
from comments.openapi import openapi_document
from comments.pagecache import PageCache
from comments.sanitize import render_markdown
from comments.service import CommentService

log = logging.getLogger("comments")
LOCALHOST_ORIGIN = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?")
ETAGS = re.compile(r'"t\d+"')
COUNT_ETAGS = re.compile(r'"c[0-9a-f]{24}"')
# An answer as the server sends it: status, raw headers, body.
RawAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]
# Bytes a body may have: the longest text JSON-escaped (6 bytes a character at worst) + the rest.
BODY_OVERHEAD = 16 * 1024
# The longest thread query whose parse is remembered (api.thread_query): a few MiB at most.
REMEMBERED_QUERY = 512


# Request helpers


def service(request: Request) -> CommentService:
    return request.app.state.service


def config(request: Request) -> Config:
    return request.app.state.config


def site_of(request: Request) -> str:
    """Threads belong to the site whose page asks; unknown or absent origins get the default."""
    return config(request).site_of_origin(request.headers.get("origin"))


def site_uri(settings: Config, site: str, uri: str) -> str:
    """The thread key of a validated URI on this site: of its query, only the parameters the
    site lists (validate keeps them all, knowing no site)."""
    if "?" not in uri:
        return uri
    return validate.uri(uri, query_parameters=settings.query_parameters_of(site))


def is_site_origin(origin: str | None, request: Request) -> bool:
    """A page of one of the configured sites (any localhost page when none is configured)."""
    settings = config(request)
    if not origin:
        return False
    if origin.lower() in settings.allowed_origins:
        return True
    return not settings.allowed_origins and bool(LOCALHOST_ORIGIN.fullmatch(origin))


def is_allowed_origin(origin: str, request: Request) -> bool:
    # The server's own pages, such as /demo, may write too.
    return is_site_origin(origin, request) or urlsplit(origin).netloc == request.headers.get("host")


def require_allowed_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if not origin or not is_allowed_origin(origin, request):
        raise Problem(
            "origin_forbidden",
            f"Writes are accepted from the configured sites only, not from {origin or 'nowhere'}.",
        )


def client_ip(request: Request) -> str:
    """The reader's address; X-Forwarded-For is believed only as far as trusted proxies go."""
    peer = request.client.host if request.client else "unknown"
    trusted = config(request).trusted_proxies
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for address in [peer, *reversed([hop for hop in hops if hop])]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if not any(ip in network for network in trusted):
            return address
    return peer


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def json_body(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Problem("unsupported_media_type", "Send the body as application/json.")
    limit = 6 * config(request).max_length + BODY_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Problem("body_too_large", f"The body is larger than {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem("body_too_large", f"The body is larger than {limit} bytes.")
    return validate.json_object(bytes(body))


def comment_id(request: Request) -> int:
    raw = request.path_params["comment_id"]
    number = validate.whole_number(raw, 1, validate.MAX_ID)
    if number is None:
        raise Problem("comment_not_found", f"There is no comment {raw[:40]!r}.")
    return number


# The one serializer of what readers may see


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def comment_json(comment: Comment, replies: list[Node] | None = None) -> dict[str, Any]:
    # A hidden or deleted comment still holding up replies shows only where it was.
    shown = comment.status in (Status.APPROVED, Status.PENDING)
    return {
        "id": comment.id,
        "parent": comment.parent_id,
        "author": comment.author if shown else None,
        "website": comment.website if shown else None,
        "avatar": comment.avatar if shown else None,
        "html": comment.html if shown else "",
        "created": iso(comment.created),
        "edited": iso(comment.edited),
        "status": comment.status.value,
        "verified": comment.reader_id is not None and shown,
        "badge": comment.badge if shown else None,
        "votes": comment.votes,
        "replies": [comment_json(node.comment, node.replies) for node in replies or []],
    }


def edited_json(edited: Edited) -> dict[str, Any]:
    return {
        **comment_json(edited.comment),
        "edit_token": edited.edit_token,
        "editable_until": iso(edited.editable_until),
    }


def page_json(page: ThreadPage) -> dict[str, Any]:
    thread = page.thread
    return {
        "thread": {
            "uri": page.uri,
            "title": thread.title if thread else "",
            "count": thread.count if thread else 0,
            "closed": thread.closed if thread else False,
            "closes": iso(page.closes),
            "version": thread.version if thread else 0,
        },
        "comments": [comment_json(node.comment, node.replies) for node in page.comments],
        "next": validate.cursor_token(page.next) if page.next else None,
        "prev": validate.cursor_token(page.prev) if page.prev else None,
        "target": target_json(page.target),
        "missing": {"id": page.missing, "reason": "not_shown"} if page.missing else None,
    }


def target_json(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {"id": target.id, "ancestors": list(target.ancestors), "position": target.position}


# Handlers


async def get_thread(request: Request) -> Response:
    query = thread_query(request.scope["query_string"])
    site = site_of(request)
    uri = site_uri(config(request), site, query.uri)
    # The thread's version decides everything: a 304, a page from this process's cache, or
    # (after a write anywhere, by any worker) a fresh read of the comment rows.
    comment_service = service(request)
    version = await comment_service.version_of(site, uri)
    etag = f'"t{version}"'
    if etag in ETAGS.findall(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=cache_headers(etag))
    headers = {**cache_headers(etag), "Content-Type": "application/json"}
    if version == 0:
        # No such thread (yet): the one empty answer, made here with no read and kept nowhere,
        # so requests for any number of unknown addresses leave nothing behind.
        return Response(orjson.dumps(page_json(ThreadPage(None, uri, [], None))), headers=headers)
    cache: PageCache = request.app.state.page_cache
    key = (site, uri, query)
    page = cache.get(key)
    if page is None or page.version != version:
        fresh = await run_in_threadpool(read_page, comment_service, site, uri, query)
        version = fresh.thread.version if fresh.thread else 0
        page = cache.put(key, version, orjson.dumps(page_json(fresh)))
        headers["ETag"] = f'"t{version}"'
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(page.gzipped, headers={**headers, "Content-Encoding": "gzip"})
    return Response(page.body, headers=headers)


async def answer_from_cache(state: Any, scope: dict[str, Any]) -> RawAnswer | None:
    """GET /api/threads answered from the raw request when no page is read: a 304, or a page
    this worker holds at the thread's version. None for everything else (a miss, an unknown
    thread, a bad query, a fault): the route then answers, and reports any error the one way."""
    try:
        return await _answer_from_cache(state, scope)
    except Exception:  # the route asks again, and its error handling answers
        return None


async def _answer_from_cache(state: Any, scope: dict[str, Any]) -> RawAnswer | None:
    headers = dict(reversed(scope["headers"]))  # a repeated header: its first value, as Starlette
    query = thread_query(scope["query_string"])
    settings: Config = state.config
    origin = headers.get(b"origin")
    site = settings.site_of_origin(origin.decode("latin-1") if origin is not None else None)
    uri = site_uri(settings, site, query.uri)
    version = await state.service.version_of(site, uri)
    etag = b'"t%d"' % version
    if etag.decode() in ETAGS.findall(headers.get(b"if-none-match", b"").decode("latin-1")):
        return 304, raw_cache_headers(etag), b""
    page = state.page_cache.get((site, uri, query)) if version else None
    if page is None or page.version != version:
        return None
    raw = [*raw_cache_headers(etag), (b"content-type", b"application/json")]
    if accepts_gzip(headers.get(b"accept-encoding", b"").decode("latin-1")):
        raw.append((b"content-encoding", b"gzip"))
        body = page.gzipped
    else:
        body = page.body
    raw.append((b"content-length", b"%d" % len(body)))
    return 200, raw, body


def raw_cache_headers(etag: bytes) -> list[tuple[bytes, bytes]]:
    """cache_headers, as the server sends them."""
    return [
        (b"etag", etag),
        (b"cache-control", b"public, no-cache"),
        (b"vary", b"Accept-Encoding"),
    ]


def read_page(comment_service: CommentService, site: str, uri: str, query: PageQuery) -> ThreadPage:
    return comment_service.read_thread(
        site,
        uri,
        query.sort,
        query.limit,
        query.after,
        before=query.before,
        around=query.around,
    )


def thread_query(query_string: bytes) -> PageQuery:
    """The validated query of a thread page, remembered: the same few query strings ask for
    nearly every page served, and parsing them again cost more than serving the cached page.
    Only short ones are: 4,096 addresses of 2,000 characters would hold 40 MiB."""
    if len(query_string) > REMEMBERED_QUERY:
        return parse_thread_query(query_string)
    return remembered_thread_query(query_string)


def parse_thread_query(query_string: bytes) -> PageQuery:
    return validate.thread_query(dict(parse_qsl(query_string.decode("latin-1"), True)))


remembered_thread_query = functools.lru_cache(maxsize=4096)(parse_thread_query)


def cache_headers(etag: str) -> dict[str, str]:
    # Every reader gets the same page: shared caches may keep it but must ask again each time.
    # A 304 repeats the 200's Vary. (The CORS middleware adds `Origin`: the site, hence the
    # thread, follows the Origin.)
    return {"ETag": etag, "Cache-Control": "public, no-cache", "Vary": "Accept-Encoding"}


def accepts_gzip(accept_encoding: str) -> bool:
    """`gzip` is listed and not refused with `q=0`."""
    accept_encoding = accept_encoding.lower()
    if "gzip" not in accept_encoding:
        return False
    for coding in accept_encoding.split(","):
        name, _, weight = coding.partition(";")
        if name.strip() == "gzip":
            try:
                return float(weight.strip().removeprefix("q=") or 1) > 0
            except ValueError:
                return True  # a weight we cannot read refuses nothing
    return False


async def post_comment(request: Request) -> Response:
    require_allowed_origin(request)
    submission = validate.submission(await json_body(request), config(request).max_length)
    site = site_of(request)
    submission = dataclasses.replace(
        submission,
        uri=site_uri(config(request), site, submission.uri),
        reader_token=bearer_token(request),
        # A thread's title is the site's page's: not the demo page's on the server itself.
        title=submission.title if is_site_origin(request.headers.get("origin"), request) else None,
    )
    edited = await run_in_threadpool(service(request).submit, site, submission, client_ip(request))
    return JSONResponse(edited_json(edited), status_code=201)


async def get_comment(request: Request) -> Response:
    comment = await run_in_threadpool(
        service(request).get_comment, comment_id(request), bearer_token(request)
    )
    return JSONResponse(comment_json(comment), headers={"Cache-Control": "no-store"})


async def patch_comment(request: Request) -> Response:
    require_allowed_origin(request)
    text = validate.edit(await json_body(request), config(request).max_length)
    edited = await run_in_threadpool(
        service(request).edit, comment_id(request), bearer_token(request), text
    )
    return JSONResponse(edited_json(edited))


async def delete_comment(request: Request) -> Response:
    require_allowed_origin(request)
    comment = await run_in_threadpool(
        service(request).delete, comment_id(request), bearer_token(request)
    )
    return JSONResponse(comment_json(comment))


async def post_report(request: Request) -> Response:
    require_allowed_origin(request)
    report = validate.report(await json_body(request))
    await run_in_threadpool(
        service(request).report, comment_id(request), client_ip(request), report
    )
    return JSONResponse({"reported": True}, status_code=201)


async def get_stamp(request: Request) -> Response:
    return JSONResponse({"stamp": service(request).stamp()}, headers={"Cache-Control": "no-store"})


async def post_counts(request: Request) -> Response:
    uris = validate.count_uris(await json_body(request))
    return await counts_answer(request, uris)


async def get_counts(request: Request) -> Response:
    """The cacheable form: browsers and proxies keep it, and ask again with its ETag."""
    uris = validate.count_query(request.query_params.getlist("uri"))
    return await counts_answer(request, uris, conditional=True)


async def counts_answer(request: Request, uris: list[str], conditional: bool = False) -> Response:
    counts, tag = await service(request).read_counts(site_of(request), uris)
    etag = f'"c{tag}"'
    # A 304 only for a GET: a POST whose precondition failed would be a 412 (RFC 9110), which
    # no client of this answer wants; its ETag is there for clients that compare it themselves.
    if conditional and etag in COUNT_ETAGS.findall(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=cache_headers(etag))
    return JSONResponse({"counts": counts}, headers=cache_headers(etag))


async def post_preview(request: Request) -> Response:
    # As for posting: only the configured sites' pages, and a limit per address, so that no one
    # can spend the server's CPU on previews from anywhere.
    require_allowed_origin(request)
    text = validate.preview(await json_body(request), config(request).max_length)
    service(request).count_preview(client_ip(request))
    # A preview can cost a good part of a second of CPU (the worst texts at the longest length):
    # previews queue for a few threads of their own, so a flood of them delays other previews,
    # never the reads and posts that share the thread pool.
    html = await anyio.to_thread.run_sync(
        render_markdown, text, limiter=request.app.state.preview_threads
    )
    return JSONResponse({"html": html})


async def get_config(request: Request) -> Response:
    settings = config(request)
    uri = validate.config_query(request.query_params)
    site = site_of(request)
    # The mode in force now, after the site's schedule, and when it changes (null: not this week).
    in_force = settings.moderation_at(site, service(request).clock())
    surge, commenters = Surge.NORMAL, settings.commenters_of(site)
    if uri is not None:
        uri = site_uri(settings, site, uri)
        surge, commenters = await run_in_threadpool(service(request).thread_rules, site, uri)
    return JSONResponse(
        {
            "moderation": in_force.mode.value,
            "moderation_until": iso(in_force.until),
            "edit_window": settings.edit_window,
            "max_length": settings.max_length,
            "surge": surge.value,
            "slow_mode_seconds": settings.slow_mode_seconds,
            "live": settings.max_streams > 0,
            "sign_in": settings.readers_sign_in,
            "commenters": commenters.value,
        },
        headers={"Cache-Control": "no-store"},
    )


async def get_openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(config(request)))


# The stream's answer: started by the route, carried on by the app


HANDOFF = "comments.stream"  # the scope key under which CommentsApp takes a started stream


class EventStream(StreamingResponse):
    """A stream as an answer. Its route and Starlette's layers start it (status,
    headers, CORS, errors before it starts); then, where CommentsApp offers to take it over
    (HANDOFF in the scope), it is handed over and those layers return. A stream is held for
    minutes by thousands of readers: the dozen suspended layers and the disconnect-listening
    task group that each would keep were most of its memory, and traversing them in every full
    garbage collection stalled every stream of the worker for a few hundred milliseconds."""

    def __init__(self, events: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        super().__init__(events, media_type="text/event-stream", headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        taker = scope.get(HANDOFF)
        if taker is None:
            await carry(self.body_iterator, receive, send)
        else:
            taker.append(self.body_iterator)


async def carry(events: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
    """Send a started stream's events until they end or its reader goes away."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def on_gone(_: asyncio.Future) -> None:
        nonlocal gone
        gone = True
        task.cancel()  # wherever the stream waits, it stops there

    waiter = asyncio.ensure_future(_disconnected(receive))
    waiter.add_done_callback(on_gone)
    try:
        async for chunk in events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
    except Exception as error:  # after its start no error page can be sent: end it, say why
        if not db.logged_fault(error, "a live stream"):
            log.exception("a live stream failed")
        with contextlib.suppress(Exception):  # its reader reconnects after `retry`
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        waiter.remove_done_callback(on_gone)
        waiter.cancel()
        await events.aclose()  # type: ignore[attr-defined]


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def stream_answer(
    hub: streams.Hub | None, settings: Config, events: Callable[[], AsyncIterator[bytes]]
) -> EventStream:
    """A live stream's answer (a reader's or a moderator's), or why there is none: streams are
    off, or this worker holds as many as it takes. `events` makes the stream, once streams are
    known to be on, and may refuse the request itself."""
    if hub is None or not settings.max_streams:
        raise Problem("streams_off", "Live streams are turned off on this server.")
    made = events()
    if hub.open >= settings.max_streams:
        raise Problem(
            "too_many_streams",
            "This server holds as many live streams as it takes; try again later.",
            headers={"Retry-After": str(streams.RETRY_AFTER)},
        )
    return EventStream(made, streams.HEADERS)


async def get_stream(request: Request) -> Response:
    """The thread's live stream (comments/streams.py)."""
    settings = config(request)
    hub = request.app.state.hub

    def events() -> AsyncIterator[bytes]:
        page_uri, since = validate.stream_query(
            request.query_params, request.headers.get("last-event-id")
        )
        site = site_of(request)
        uri = site_uri(settings, site, page_uri)
        return streams.thread_events(hub, site, uri, since, settings)

    return stream_answer(hub, settings, events)


async def one_comment(request: Request) -> Response:
    """One route for the methods of /api/comments/{id}, so a 405 there allows them all."""
    handlers = {"GET": get_comment, "HEAD": get_comment, "PATCH": patch_comment}
    return await handlers.get(request.method, delete_comment)(request)


routes = [
    Route("/api/threads", get_thread, methods=["GET"]),
    Route("/api/comments", post_comment, methods=["POST"]),
    Route("/api/comments/{comment_id}", one_comment, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/comments/{comment_id}/report", post_report, methods=["POST"]),
    Route("/api/stream", get_stream, methods=["GET"]),
    Route("/api/stamp", get_stamp, methods=["GET"]),
    Route("/api/counts", post_counts, methods=["POST"]),
    Route("/api/counts", get_counts, methods=["GET"]),
    Route("/api/preview", post_preview, methods=["POST"]),
    Route("/api/config", get_config, methods=["GET"]),
    Route("/api/openapi.json", get_openapi, methods=["GET"]),
]
