"""The JSON API of verified readers, for the embed: sign-in by a mailed link, the reader's own
page (export, erasure, reply mail), and votes. Thin handlers: parse, call ReaderService, answer.

The reader's token travels as `Authorization: Bearer`, never as a cookie: a page of another site
cannot make a reader's browser send it.
"""

from __future__ import annotations

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from comments import readerinput
from comments.api import (
    bearer_token,
    client_ip,
    comment_id,
    config,
    is_allowed_origin,
    iso,
    json_body,
    require_allowed_origin,
    site_of,
    site_uri,
)
from comments.errors import Problem
from comments.models import Reader
from comments.readers import ReaderPage, ReaderService, SignedIn, page_origin

PRIVATE = {"Cache-Control": "no-store"}


def readers(request: Request) -> ReaderService:
    return request.app.state.readers


async def signed_in(request: Request) -> Reader:
    return await run_in_threadpool(
        readers(request).reader_of, site_of(request), bearer_token(request)
    )


def reader_json(reader: Reader, badge: str | None, notify_replies: bool) -> dict:
    return {
        "id": reader.id,
        "name": reader.name,
        "email": reader.email,
        "badge": badge,
        "notify_replies": notify_replies,
        "created": iso(reader.created),
    }


def page_json(page: ReaderPage) -> dict:
    return {
        "reader": reader_json(page.reader, page.badge, page.notify_replies),
        "comments": [
            {
                "id": comment.id,
                "uri": uri,
                "title": title,
                "html": comment.html,
                "status": comment.status.value,
                "created": iso(comment.created),
                "votes": comment.votes,
            }
            for comment, uri, title in page.comments
        ],
        "next": page.next_before,
    }


async def ask_link(request: Request) -> Response:
    require_allowed_origin(request)
    email, name, page = readerinput.sign_in_request(await json_body(request))
    site, settings = site_of(request), config(request)
    origin = page_origin(page)
    # The link opens this page, on the site asking: never an address of someone else's choosing.
    if (
        origin is None
        or not is_allowed_origin(origin, request)
        or (settings.site_of_origin(origin) != site)
    ):
        raise Problem("invalid_parameter", "page is the address of this site's page.", field="page")
    ip_hash = request.app.state.tokens.hash_ip(client_ip(request))
    await run_in_threadpool(readers(request).ask_link, site, email, name, page, ip_hash)
    return JSONResponse({"sent": True}, status_code=202, headers=PRIVATE)


async def complete(request: Request) -> Response:
    require_allowed_origin(request)
    link = readerinput.sign_in_completion(await json_body(request))
    done: SignedIn = await run_in_threadpool(readers(request).complete, site_of(request), link)
    body = {
        "token": done.token,
        "expires": iso(done.expires),
        "reader": reader_json(done.reader, done.badge, done.notify_replies),
        "name_taken": done.name_taken,
    }
    return JSONResponse(body, headers=PRIVATE)


async def my_page(request: Request) -> Response:
    reader = await signed_in(request)
    before = readerinput.before_id(request.query_params)
    page = await run_in_threadpool(readers(request).page, reader, before)
    return JSONResponse(page_json(page), headers=PRIVATE)


async def update_me(request: Request) -> Response:
    require_allowed_origin(request)
    name, notify = readerinput.reader_update(await json_body(request))
    reader = await signed_in(request)
    page = await run_in_threadpool(readers(request).update, reader, name, notify)
    return JSONResponse(page_json(page), headers=PRIVATE)


async def erase_me(request: Request) -> Response:
    require_allowed_origin(request)
    reader = await signed_in(request)
    erased = await run_in_threadpool(readers(request).erase, reader)
    return JSONResponse({"erased": erased}, headers=PRIVATE)


async def one_reader(request: Request) -> Response:
    """One route for the methods of /api/me, so a 405 there allows them all."""
    handlers = {"GET": my_page, "HEAD": my_page, "PATCH": update_me}
    return await handlers.get(request.method, erase_me)(request)


async def export_me(request: Request) -> Response:
    reader = await signed_in(request)
    everything = await run_in_threadpool(readers(request).export, reader)
    name = f"comments-{reader.site}-{reader.id}.json"
    return Response(
        orjson.dumps(everything, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


async def sign_out_everywhere(request: Request) -> Response:
    require_allowed_origin(request)
    reader = await signed_in(request)
    await run_in_threadpool(readers(request).sign_out_everywhere, reader)
    return JSONResponse({"signed_out": True}, headers=PRIVATE)


async def my_votes(request: Request) -> Response:
    uri = readerinput.votes_query(request.query_params)
    reader = await signed_in(request)
    uri = site_uri(config(request), reader.site, uri)
    voted, mine = await run_in_threadpool(readers(request).votes_in, reader, uri)
    return JSONResponse({"votes": voted, "mine": mine}, headers=PRIVATE)


async def vote(request: Request) -> Response:
    require_allowed_origin(request)
    target = comment_id(request)
    reader = await signed_in(request)
    up = request.method == "POST"
    votes = await run_in_threadpool(readers(request).vote, reader, target, up)
    return JSONResponse({"votes": votes, "voted": up}, headers=PRIVATE)


routes = [
    Route("/api/sign-in", ask_link, methods=["POST"]),
    Route("/api/sign-in/complete", complete, methods=["POST"]),
    Route("/api/me", one_reader, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/me/export", export_me, methods=["GET"]),
    Route("/api/me/votes", my_votes, methods=["GET"]),
    Route("/api/me/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/api/comments/{comment_id}/vote", vote, methods=["POST", "DELETE"]),
]
