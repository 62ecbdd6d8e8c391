"""The application, assembled in one place: create_app(config)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Callable
from datetime import datetime

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comments import admin, api, db, feeds, mailroutes, ratelimit, readerroutes, serving, threadpage
from comments import config as settings
from comments.accounts import Accounts
from comments.config import Config
from comments.digests import Digests
from comments.errors import CLOSING, Problem, fault_problem
from comments.links import MailLinks
from comments.mail import MailNotifier
from comments.moderation import ModerationService
from comments.outbox import Sender
from comments.pagecache import PageCache
from comments.readers import ReaderService
from comments.service import CommentService, utc_now
from comments.streams import Hub
from comments.tokens import Tokens

log = logging.getLogger("comments")

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
# Threads per worker that may render previews at once (see api.post_preview).
PREVIEW_THREADS = 2
# What the embed fetches from other sites' pages: the API, its translations under /static (and
# embed.js itself), and the feeds. The admin and the pages behind mail links are for our own
# origin only: no other site's script may read them.
CORS_PREFIXES = ("/api/", "/static/", "/feed/")
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
NOSNIFF_HEADER = (b"x-content-type-options", b"nosniff")
THREADS_PATH = "/api/threads"
STREAM_PATHS = frozenset(serving.STREAM_PATHS)  # carried past the layers once started
RawHeaders = list[tuple[bytes, bytes]]


def header_of(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header, read from the raw list (names come lower-cased)."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class EdgeHeaders:
    """What every answer gets on its way out, in one raw layer rather than a middleware each:
    `X-Content-Type-Options: nosniff` (no browser reads a JSON answer, a feed or a problem as HTML
    or script, whatever a comment put in it), and CORS on the paths the embed fetches (for the
    allowed origins), nowhere else.

    The CORS headers are Starlette's CORSMiddleware's, byte for byte, which still answers the
    preflights; a simple answer's are added here, on the hottest path, without its layers.
    """

    def __init__(self, app: ASGIApp, **options) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)
        self.expose = ", ".join(options.get("expose_headers", ())).encode("latin-1")

    def finish(self, scope: Scope, origin: bytes | None, headers: RawHeaders) -> RawHeaders:
        """The answer's headers with nosniff and, on the embed's paths, CORS (a new list)."""
        if all(name != NOSNIFF_HEADER[0] for name, _ in headers):
            headers = [*headers, NOSNIFF_HEADER]
        if not scope["path"].startswith(CORS_PREFIXES):
            return headers
        vary = [value for name, value in headers if name == b"vary"]
        headers = [pair for pair in headers if pair[0] != b"vary"]
        if origin is not None:
            headers = [pair for pair in headers if pair[0] != b"access-control-expose-headers"]
            headers.append((b"access-control-expose-headers", self.expose))
            if self.cors.is_allowed_origin(origin.decode("latin-1")):
                headers = [pair for pair in headers if pair[0] != b"access-control-allow-origin"]
                headers.append((b"access-control-allow-origin", origin))
        headers.append((b"vary", b", ".join([*vary, b"Origin"])))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = header_of(scope, b"origin")
        asks = scope["method"] == "OPTIONS" and header_of(scope, b"access-control-request-method")
        is_preflight = origin is not None and asks and scope["path"].startswith(CORS_PREFIXES)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if is_preflight:  # CORSMiddleware's own answer: nosniff is all it lacks
                    message["headers"] = [*headers, NOSNIFF_HEADER]
                else:
                    message["headers"] = self.finish(scope, origin, headers)
            await send(message)

        await (self.cors if is_preflight else self.app)(scope, receive, sending)


class CommentsApp(Starlette):
    """The app, with one shortcut: a thread page this worker holds (or a 304) is answered before
    Starlette's layers, routing and request objects, which cost more than the rest of it. Anything
    else, or anything that goes wrong on the way, takes the full path (and its error handling)."""

    edge: EdgeHeaders

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == THREADS_PATH and scope["method"] == "GET":
            scope["app"] = self
            answer = await api.answer_from_cache(self.state, scope)
            if answer is not None:
                status, headers, body = answer
                origin = header_of(scope, b"origin")
                headers = self.edge.finish(scope, origin, headers)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        elif scope["type"] == "http" and scope["path"] in STREAM_PATHS:
            taken: list = []
            scope[api.HANDOFF] = taken
            await super().__call__(scope, receive, send)
            if taken:  # started by its route, carried on here, without the layers above it
                await api.carry(taken[0], receive, send)
            return
        await super().__call__(scope, receive, send)


class CachedStaticFiles(StaticFiles):
    """Static files with a lifetime, so browsers and CDNs keep embed.js between page views."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def compressed(app: ASGIApp) -> ASGIApp:
    return GZipMiddleware(app, minimum_size=512)


def problem_response(problem: Problem) -> Response:
    return JSONResponse(
        problem.to_dict(),
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )


async def on_problem(request: Request, problem: Problem) -> Response:
    return problem_response(problem)


async def on_http_error(request: Request, error: HTTPException) -> Response:
    code = HTTP_CODES.get(error.status_code, "not_found")
    return problem_response(
        Problem(code, f"{request.method} {request.url.path} is not here.", headers=error.headers)
    )


async def on_crash(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    # Answered outside the middleware (Starlette's outermost layer): its headers are all here.
    return problem_response(
        Problem("internal_error", "Something broke on our side.", headers={**CLOSING, **NOSNIFF})
    )


async def on_database_error(request: Request, error: Exception) -> Response:
    """A fault of the database answers its problem; any other database error is a bug, raised
    on to the crash handler."""
    code = db.logged_fault(error, f"{request.method} {request.url.path}")
    if code is None:
        raise error
    return problem_response(fault_problem(code))


async def on_client_gone(request: Request, error: ClientDisconnect) -> Response:
    """The client left (or the server cut it off) before its body arrived: nobody to answer,
    and no bug of ours to log."""
    return Response(status_code=400)


async def healthz(request: Request) -> Response:
    if await run_in_threadpool(request.app.state.service.is_healthy):
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
    return problem_response(fault_problem("database_unavailable"))


async def demo(request: Request) -> Response:
    return FileResponse(db.resource_dir("static") / "demo.html", media_type="text/html")


async def home(request: Request) -> Response:
    return RedirectResponse("/demo")


def cors_options(config: Config) -> dict[str, object]:
    """Pages of the configured origins may call the API; with none configured, local pages."""
    cors: dict[str, object] = {
        "allow_methods": ["GET", "POST", "PATCH", "DELETE"],
        "allow_headers": ["Content-Type", "Authorization", "If-None-Match"],
        "expose_headers": ["ETag", "Retry-After"],
        "max_age": 86400,
    }
    if config.allowed_origins:
        cors["allow_origins"] = list(config.allowed_origins)
    else:
        cors["allow_origin_regex"] = api.LOCALHOST_ORIGIN.pattern
    return cors


def pages(admin_app: ASGIApp) -> list[Route | Mount]:
    """Everything but the JSON API and the mail links.

    Compressed on the fly where bodies are big. Not the API: thread pages are compressed once when
    cached, and the rest is small; a compressing layer around the hottest route would cost more
    than everything else it does.
    """
    return [
        Route("/healthz", healthz),
        Route("/demo", demo),
        Route("/", home),
        Mount("/feed", app=compressed(Router(feeds.routes))),
        Mount("/admin", app=compressed(admin_app)),
        Mount(
            "/static",
            app=compressed(CachedStaticFiles(directory=db.resource_dir("static"))),
            name="static",
        ),
    ]


def create_app(
    config: Config,
    clock: Callable[[], datetime] = utc_now,
    *,
    send_in_background: bool = True,
) -> Starlette:
    """The app; `send_in_background=False` leaves the outbox to whoever calls deliver_due."""
    engine = db.create_engine(config.database_url)
    replica = db.create_engine(config.read_database_url) if config.read_database_url else None
    tokens = Tokens(config.secret_key)
    # Mail and webhooks: queued by the notifier inside each event's transaction, sent by the
    # sender this app runs in the background.
    notifier = MailNotifier(config, tokens, clock, wake=lambda: sender.wake())
    sender = Sender(engine, config, clock, digests=Digests(engine, notifier, clock))
    # Rate limits count in Redis when configured, else (and while Redis is down) the database.
    limiter = ratelimit.create_rate_limiter(config, tokens)
    service = CommentService(
        engine, config, tokens, clock, notifier=notifier, read_engine=replica, limiter=limiter
    )
    accounts = Accounts(engine, config, tokens, clock, notifier=notifier)
    readers = ReaderService(engine, config, tokens, clock, notifier=notifier)
    moderation = ModerationService(engine, config, clock, on_action=notifier.moderator_acted)
    mail_links = MailLinks(engine, config, tokens, moderation, clock)
    hub = Hub(config, engine, service.point_reader, service.versions, moderation.queue_counts)
    admin_app = admin.create_admin(config, tokens, accounts, moderation, hub)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        sending = None
        if send_in_background and sender.kinds:
            sending = asyncio.create_task(sender.run())
        if config.max_streams:
            await hub.start()
        # What the worker built to start (modules, tables, routes) lives as long as it does:
        # out of the collector's sight, a full collection walks only what requests and streams
        # hold, and pauses every stream for that much less.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.aclose()
            if sending is not None:
                sender.stop()
                await sending
            await service.aclose()
            accounts.close()
            limiter.close()
            engine.dispose()
            if replica is not None:
                replica.dispose()

    app = CommentsApp(
        routes=[
            *api.routes,
            *readerroutes.routes,
            *threadpage.routes,
            *mailroutes.routes,
            *pages(admin_app),
        ],
        middleware=[Middleware(EdgeHeaders, **cors_options(config))],
        exception_handlers={
            Problem: on_problem,
            HTTPException: on_http_error,
            ClientDisconnect: on_client_gone,
            **dict.fromkeys(db.FAULT_TYPES, on_database_error),
            Exception: on_crash,
        },
        lifespan=lifespan,
    )
    # The layer that finishes every answer's headers, for the shortcut to finish its own with.
    app.edge = EdgeHeaders(app.router, **cors_options(config))
    page_cache = PageCache(config.page_cache_mb * 1024 * 1024)
    preview_threads = anyio.CapacityLimiter(PREVIEW_THREADS)
    state = dict(config=config, tokens=tokens, service=service, hub=hub, page_cache=page_cache)
    state |= dict(preview_threads=preview_threads, accounts=accounts, readers=readers)
    state |= dict(moderation=moderation, sender=sender, mail_links=mail_links)
    for name, value in state.items():  # what handlers reach as request.app.state.<name>
        setattr(app.state, name, value)
    return app


def app_from_environment() -> Starlette:
    """The factory each server worker calls: settings from the environment the CLI prepared."""
    return create_app(settings.load(os.environ))
