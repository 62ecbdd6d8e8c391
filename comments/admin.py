"""The moderators' pages under /admin: sign-in, the queue, a comment, bans, audit log, privacy.

Server-rendered HTML (Jinja2, autoescaped) that works without JavaScript; static/admin.js adds
keyboard shortcuts. A session is a signed cookie; every form that changes something is a POST
carrying a token bound to that session. Handlers stay thin: parse the form, call one method of
Accounts or ModerationService, then render a page or redirect back with a notice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comments import backup, db, validate
from comments.accounts import Accounts
from comments.api import client_ip
from comments.config import Config
from comments.errors import Problem
from comments.models import Action, AuditEntry, Moderator, QueueFilter, QueueItem, QueueView
from comments.moderation import TRANSITIONS, ModerationService
from comments.tokens import Tokens

log = logging.getLogger("comments")

COOKIE = "comments_admin"
HOME = "/admin/queue"
TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSETS = ("admin.css", "admin.js")
# Every admin page: no inline code, no framing, nothing cached, no referrer for other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# What a button in the queue does at once; purge and ban ask for more first.
QUICK_ACTIONS = (Action.APPROVE, Action.HIDE, Action.DELETE, Action.RESTORE)
MAX_BAN_DAYS = 3650
# ?done=<key>&n=<count> after a redirect -> the line shown on top of the next page. Keys, not
# text, travel in the URL, so nobody can make the admin show words of their choosing.
NOTICES = {
    "approve": "Approved {comments}.",
    "hide": "Hid {comments}.",
    "delete": "Deleted {comments}.",
    "restore": "Restored {comments}.",
    "purge": "Purged {comments} for good.",
    "edit": "Saved the new text.",
    "ban": "Banned the author.",
    "lift-ban": "Lifted the ban.",
    "close": "Closed the thread to new comments.",
    "reopen": "Reopened the thread.",
    "erase": "Erased the address and {comments}.",
    "welcome": "Your password is set. Welcome!",
    "signed-out": "You are signed out.",
    "signed-out-everywhere": "You are signed out on every device.",
}


@dataclasses.dataclass(frozen=True)
class Admin:
    """What the admin pages work with, assembled once by create_admin."""

    config: Config
    tokens: Tokens
    accounts: Accounts
    moderation: ModerationService
    templates: jinja2.Environment


def create_admin(
    config: Config, tokens: Tokens, accounts: Accounts, moderation: ModerationService
) -> Starlette:
    """The admin as its own app, mounted at /admin: its errors are pages, not problem+json."""
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            Problem: on_problem,
            HTTPException: on_http_error,
            Exception: on_crash,
        },
    )
    app.state.config = config  # api.client_ip reads it
    app.state.admin = Admin(config, tokens, accounts, moderation, template_environment())
    return app


def template_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Static files are cached for an hour; a content hash in the URL makes a new release count.
    static = db.resource_dir("static")
    versions = {
        name: hashlib.sha256((static / name).read_bytes()).hexdigest()[:10] for name in ASSETS
    }
    environment.globals["asset"] = lambda name: f"/static/{name}?v={versions[name]}"
    environment.globals["ago"] = ago
    environment.globals["page_address"] = page_address
    return environment


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the admin, redirects and errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Request helpers


def admin_of(request: Request) -> Admin:
    return request.app.state.admin


def wants_json(request: Request) -> bool:
    """admin.js sends the queue's buttons with fetch and asks for JSON to update the row."""
    return "application/json" in request.headers.get("accept", "")


def is_https(request: Request) -> bool:
    # Behind a TLS-terminating proxy the request itself is plain http: trust the public URL too.
    return request.url.scheme == "https" or admin_of(request).config.public_url.startswith("https")


def safe_next(value: object, default: str = HOME) -> str:
    """A place inside the admin to go back to; anything else (another site, //host) is HOME."""
    if not isinstance(value, str) or not value.isprintable() or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
        return default
    return value


def with_params(url: str, **params: object) -> str:
    """`url` with these query parameters set (None removes one) and any old notice dropped."""
    parts = urlsplit(url)
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query)
        if key not in params and key not in ("done", "n")
    ]
    kept += [(key, str(value)) for key, value in params.items() if value not in (None, "")]
    return urlunsplit(("", "", parts.path, urlencode(kept), ""))


def here(request: Request) -> str:
    """This page's address, to come back to after a form: path and query, without a notice."""
    return with_params(f"{request.url.path}?{request.url.query}")


def redirect(url: str, done: str | None = None, n: int | None = None) -> Response:
    return RedirectResponse(with_params(url, done=done, n=n), status_code=303)


def notice_of(request: Request) -> str | None:
    template = NOTICES.get(request.query_params.get("done", ""))
    if template is None:
        return None
    count = request.query_params.get("n", "")
    n = int(count) if is_number(count) else 1
    if n == 0 and "{comments}" in template:
        return "Nothing changed: the selected comments are not in a state that allows it."
    return template.format(comments=plural(n, "comment"))


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def ago(moment: datetime, now: datetime) -> str:
    """How long ago, as moderators glance at it; the exact time goes in the title."""
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        return f"{seconds // 86400} d ago"
    return f"{moment:%Y-%m-%d}"


def page_address(config: Config, site: str, uri: str) -> str:
    """The page a thread belongs to: its site's configured origin (else https) plus its URI."""
    for origin in config.origins:
        if urlsplit(origin).netloc == site:
            return origin + uri
    return (config.public_url if site == "localhost" else f"https://{site}") + uri


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    admin = admin_of(request)
    session = request.cookies.get(COOKIE)
    values = {
        "moderator": None,
        "section": "",
        "error": None,
        "notice": notice_of(request),
        "csrf": admin.tokens.csrf(session) if session else "",
        "config": admin.config,
        "now": admin.moderation.clock(),
        **context,
    }
    body = admin.templates.get_template(f"admin/{template}").render(values)
    return HTMLResponse(body, status_code=status, headers=headers)


# Sessions and the guards of pages and forms


async def session_moderator(request: Request) -> Moderator | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await run_in_threadpool(admin_of(request).accounts.session_moderator, token)


def start_session(request: Request, moderator: Moderator, target: str) -> Response:
    admin = admin_of(request)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        admin.accounts.session_token(moderator),
        max_age=admin.config.session_lifetime,
        path="/admin",
        secure=is_https(request),
        httponly=True,
        samesite="lax",  # Strict would drop it when a moderator follows a link from their mail
    )
    return response


def end_session(request: Request, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(
        COOKIE, path="/admin", secure=is_https(request), httponly=True, samesite="lax"
    )
    return response


def require_same_origin(request: Request) -> None:
    """Refuse a form posted from another site's page (browsers say where a POST comes from).

    The CSRF token covers signed-in forms; this also covers the sign-in and password forms,
    which have no session yet to bind a token to. Clients that send no Origin pass here.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = urlsplit(admin_of(request).config.public_url).netloc
    if urlsplit(origin).netloc not in (request.headers.get("host"), own):
        raise Problem("csrf_failed", "This form was sent from another site.")


Page = Callable[[Request, Moderator], Awaitable[Response]]
Form = Callable[[Request, Moderator, FormData], Awaitable[Response]]


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in moderators; anyone else signs in first and comes back."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        moderator = await session_moderator(request)
        if moderator is None:
            return redirect("/admin/sign-in?" + urlencode({"next": here(request)}))
        return await handler(request, moderator)

    return endpoint


def form(handler: Form) -> Callable[[Request], Awaitable[Response]]:
    """A state-changing POST: same origin, a signed-in moderator, and their session's CSRF token,
    all checked before the handler runs."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        require_same_origin(request)
        data = await request.form()
        moderator = await session_moderator(request)
        if moderator is None:
            raise Problem("sign_in_required", "Your session has ended; sign in again.")
        expected = admin_of(request).tokens.csrf(request.cookies[COOKIE])
        if not hmac.compare_digest(field(data, "csrf").encode(), expected.encode()):
            raise Problem(
                "csrf_failed", "This form has expired or came from elsewhere; reload the page."
            )
        return await handler(request, moderator, data)

    return endpoint


# Parsing forms and queries (validate at the edge, then trust the values)


def field(data: FormData, name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Problem("field_invalid", f"{name} must be text.", field=name)
    return value.strip()


def secret(data: FormData, name: str) -> str:
    """A password as typed: unlike other fields, its spaces are part of it."""
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def required(data: FormData, name: str, message: str) -> str:
    value = field(data, name)
    if not value:
        raise Problem("field_required", message, field=name)
    return value


def is_number(value: object) -> bool:
    """An id or a count as typed: ASCII digits only (str.isdigit takes "²"), of a sane length."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15


def comment_ids(values: Iterable[object]) -> list[int]:
    ids = [int(value) for value in values if is_number(value)]
    if not ids:
        raise Problem("field_required", "Select at least one comment first.", field="ids")
    return ids


def chosen_action(data: FormData) -> tuple[Action, list[int]]:
    """A row's own button ("approve:12") wins over the bulk bar's action for the ticked rows."""
    row = field(data, "row_action")
    if row:
        name, _, raw_id = row.partition(":")
        ids = comment_ids([raw_id])
    else:
        name, ids = field(data, "action"), comment_ids(data.getlist("ids"))
    try:
        action = Action(name)
    except ValueError:
        action = None
    if action not in QUICK_ACTIONS:
        raise Problem("field_invalid", f"{name!r} is not an action for comments.", field="action")
    return action, ids


def ban_days(data: FormData) -> int | None:
    raw = field(data, "days")
    if not raw:
        return None
    if not is_number(raw) or not 1 <= int(raw) <= MAX_BAN_DAYS:
        raise Problem(
            "field_invalid", f"Days is a whole number from 1 to {MAX_BAN_DAYS}.", field="days"
        )
    return int(raw)


def email_of(data: FormData) -> str:
    address = validate.email({"email": field(data, "email")})
    if address is None:
        raise Problem("field_required", "Type the email address first.", field="email")
    return address


def queue_query(request: Request) -> tuple[QueueView, QueueFilter, int | None]:
    params = request.query_params
    try:
        view = QueueView(params.get("view") or QueueView.PENDING)
    except ValueError:
        raise Problem(
            "invalid_parameter", "view is pending, reported, recent or hidden.", field="view"
        ) from None
    before = params.get("before") or None
    if before is not None and not is_number(before):
        raise Problem("invalid_parameter", "before is a comment id.", field="before")
    thread = (params.get("thread") or "").strip() or None
    if thread:
        with contextlib.suppress(Problem):  # a pasted page address finds its thread too
            thread = validate.uri(thread)
    filters = QueueFilter(
        site=(params.get("site") or "").strip().lower() or None,
        thread=thread,
        author=(params.get("author") or "").strip() or None,
        text=(params.get("q") or "").strip() or None,
    )
    return view, filters, int(before) if before else None


# Signing in and out


async def sign_in_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    if await session_moderator(request) is not None:
        return redirect(target)
    return render(request, "sign_in.html", next=target, email="")


async def sign_in(request: Request) -> Response:
    require_same_origin(request)
    admin = admin_of(request)
    data = await request.form()
    target = safe_next(data.get("next"))
    email = field(data, "email")
    ip_hash = admin.tokens.hash_ip(client_ip(request))
    try:
        moderator = await run_in_threadpool(
            admin.accounts.authenticate, email, secret(data, "password"), ip_hash
        )
    except Problem as problem:
        return render(
            request,
            "sign_in.html",
            status=problem.status,
            headers=problem.headers,
            error=problem.detail,
            next=target,
            email=email,
        )
    return start_session(request, moderator, target)


async def welcome_page(request: Request) -> Response:
    """Where a link from `comments moderator add` leads: choose a password."""
    token = request.query_params.get("token", "")
    moderator = await run_in_threadpool(admin_of(request).accounts.redeem_link, token)
    return render(request, "welcome.html", email=moderator.email, token=token)


async def welcome(request: Request) -> Response:
    # The one-time token in the form is what a forged form cannot know.
    require_same_origin(request)
    accounts = admin_of(request).accounts
    data = await request.form()
    token, password = field(data, "token"), secret(data, "password")
    invited = await run_in_threadpool(accounts.redeem_link, token)
    try:
        if password != secret(data, "confirm"):
            raise Problem("password_mismatch", "The two passwords differ.", field="confirm")
        moderator = await run_in_threadpool(accounts.set_password, token, password)
    except Problem as problem:
        return render(
            request,
            "welcome.html",
            status=problem.status,
            error=problem.detail,
            email=invited.email,
            token=token,
        )
    return start_session(request, moderator, with_params(HOME, done="welcome"))


@form
async def sign_out(request: Request, moderator: Moderator, data: FormData) -> Response:
    return end_session(request, with_params("/admin/sign-in", done="signed-out"))


@form
async def sign_out_everywhere(request: Request, moderator: Moderator, data: FormData) -> Response:
    await run_in_threadpool(admin_of(request).accounts.sign_out_everywhere, moderator)
    return end_session(request, with_params("/admin/sign-in", done="signed-out-everywhere"))


# The queue


async def index(request: Request) -> Response:
    return redirect(HOME)


def load_queue(
    moderation: ModerationService, view: QueueView, filters: QueueFilter, before: int | None
) -> dict[str, Any]:
    queue = moderation.queue(view, filters, before)
    return {
        "page": queue,
        "counts": moderation.queue_counts(),
        "reasons": moderation.report_reasons([item.comment.id for item in queue.items]),
    }


@page
async def queue_page(request: Request, moderator: Moderator) -> Response:
    view, filters, before = queue_query(request)
    loaded = await run_in_threadpool(
        load_queue, admin_of(request).moderation, view, filters, before
    )
    current = here(request)
    return render(
        request,
        "queue.html",
        moderator=moderator,
        section="queue",
        view=view,
        views=list(QueueView),
        filters=filters,
        before=before,
        here=current,
        link=functools.partial(with_params, current),
        transitions=transitions(),
        **loaded,
    )


def transitions() -> list[tuple[Action, list[str]]]:
    """The quick actions with the statuses each applies to (the template and admin.js hide the
    buttons that would do nothing)."""
    return [
        (action, sorted(status.value for status in TRANSITIONS[action][0]))
        for action in QUICK_ACTIONS
    ]


@form
async def act(request: Request, moderator: Moderator, data: FormData) -> Response:
    """Approve, hide, delete or restore one comment (a row's button) or the ticked ones."""
    action, ids = chosen_action(data)
    changed = await run_in_threadpool(
        admin_of(request).moderation.change_status, moderator.email, action, ids
    )
    if wants_json(request):
        return JSONResponse(
            {"changed": [{"id": comment.id, "status": comment.status.value} for comment in changed]}
        )
    return redirect(safe_next(data.get("next")), done=action.value, n=len(changed))


@form
async def purge(request: Request, moderator: Moderator, data: FormData) -> Response:
    """Erase comments for good, after a page that lists them and asks once more."""
    moderation = admin_of(request).moderation
    ids = comment_ids(data.getlist("ids"))
    target = safe_next(data.get("next"))
    if field(data, "confirmed") != "yes":
        items = await run_in_threadpool(items_by_id, moderation, ids)
        return render(
            request, "purge.html", moderator=moderator, section="queue", items=items, next=target
        )
    purged = await run_in_threadpool(moderation.purge, moderator.email, ids)
    return redirect(target, done="purge", n=purged)


def items_by_id(moderation: ModerationService, ids: list[int]) -> list[QueueItem]:
    return moderation.queue(QueueView.RECENT, QueueFilter(ids=tuple(ids)), limit=len(ids)).items


# One comment: the context, the forms that need more than a click, its history


@page
async def comment_page(request: Request, moderator: Moderator) -> Response:
    return await show_comment(request, moderator, safe_next(request.query_params.get("back")))


def back_of(data: FormData) -> str:
    """The queue a comment page's form was opened from (its `next` is the page itself)."""
    page_url = urlsplit(field(data, "next"))
    return safe_next(dict(parse_qsl(page_url.query)).get("back"))


async def show_comment(
    request: Request,
    moderator: Moderator,
    back: str,
    *,
    problem: Problem | None = None,
    draft: dict[str, str] | None = None,
) -> Response:
    """The comment page, or the same page again with a form's error and what was typed."""
    moderation = admin_of(request).moderation
    comment_id = request.path_params["comment_id"]
    item, reasons, history = await run_in_threadpool(load_comment, moderation, comment_id)
    self_url = with_params(f"/admin/comments/{comment_id}", back=back)
    return render(
        request,
        "comment.html",
        status=problem.status if problem else 200,
        moderator=moderator,
        section="queue",
        item=item,
        reasons=reasons,
        history=history,
        transitions=transitions(),
        here=self_url,
        back=back,
        error=problem.detail if problem else None,
        error_field=problem.field if problem else None,
        draft=draft or {},
    )


def load_comment(
    moderation: ModerationService, comment_id: int
) -> tuple[QueueItem, list[str], list[AuditEntry]]:
    items = items_by_id(moderation, [comment_id])
    if not items:
        raise Problem("comment_not_found", f"There is no comment {comment_id}.")
    reasons = moderation.report_reasons([comment_id]).get(comment_id, [])
    history, _ = moderation.audit(comment_id=comment_id)
    return items[0], reasons, history


@form
async def edit(request: Request, moderator: Moderator, data: FormData) -> Response:
    admin = admin_of(request)
    comment_id = request.path_params["comment_id"]
    try:
        text = validate.text({"text": field(data, "text")}, admin.config.max_length)
        await run_in_threadpool(admin.moderation.edit, moderator.email, comment_id, text)
    except Problem as problem:
        if problem.code == "comment_not_found":
            raise
        draft = {"text": str(data.get("text", ""))}
        return await show_comment(request, moderator, back_of(data), problem=problem, draft=draft)
    return redirect(safe_next(data.get("next")), done="edit")


@form
async def ban(request: Request, moderator: Moderator, data: FormData) -> Response:
    """Ban the comment's author (by email and address hash) and hide the comment."""
    admin = admin_of(request)
    comment_id = request.path_params["comment_id"]
    try:
        reason = required(data, "reason", "Say why, for the audit log and the bans page.")
        days = ban_days(data)
        expires = admin.moderation.clock() + timedelta(days=days) if days else None
        await run_in_threadpool(admin.moderation.ban, moderator.email, comment_id, reason, expires)
    except Problem as problem:
        if problem.code == "comment_not_found":
            raise
        draft = {"reason": field(data, "reason"), "days": field(data, "days")}
        return await show_comment(request, moderator, back_of(data), problem=problem, draft=draft)
    return redirect(safe_next(data.get("next")), done="ban")


@form
async def set_closed(request: Request, moderator: Moderator, data: FormData) -> Response:
    closed = field(data, "closed") == "yes"
    await run_in_threadpool(
        admin_of(request).moderation.set_closed,
        moderator.email,
        request.path_params["thread_id"],
        closed,
    )
    return redirect(safe_next(data.get("next")), done="close" if closed else "reopen")


# Bans, the audit log, privacy


@page
async def bans_page(request: Request, moderator: Moderator) -> Response:
    bans = await run_in_threadpool(admin_of(request).moderation.bans)
    return render(request, "bans.html", moderator=moderator, section="bans", bans=bans)


@form
async def lift_ban(request: Request, moderator: Moderator, data: FormData) -> Response:
    await run_in_threadpool(
        admin_of(request).moderation.lift_ban, moderator.email, request.path_params["ban_id"]
    )
    return redirect("/admin/bans", done="lift-ban")


@page
async def audit_page(request: Request, moderator: Moderator) -> Response:
    params = request.query_params
    before, comment = params.get("before", ""), params.get("comment", "")
    for name, value in (("before", before), ("comment", comment)):
        if value and not is_number(value):
            raise Problem("invalid_parameter", f"{name} is a number.", field=name)
    entries, next_before = await run_in_threadpool(
        functools.partial(
            admin_of(request).moderation.audit,
            before=int(before) if before else None,
            comment_id=int(comment) if comment else None,
        )
    )
    current = here(request)
    return render(
        request,
        "audit.html",
        moderator=moderator,
        section="audit",
        entries=entries,
        next_before=next_before,
        comment=comment,
        before=before,
        link=functools.partial(with_params, current),
    )


@page
async def privacy_page(request: Request, moderator: Moderator) -> Response:
    return render(request, "privacy.html", moderator=moderator, section="privacy", email="")


@form
async def privacy_export(request: Request, moderator: Moderator, data: FormData) -> Response:
    # A POST, not a GET with ?email=: the address stays out of access logs and history.
    try:
        email = email_of(data)
    except Problem as problem:
        return privacy_error(request, moderator, problem, data)
    found = await run_in_threadpool(admin_of(request).moderation.export_email, email)
    return Response(
        json.dumps(found, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="comments-export.json"'},
    )


@form
async def privacy_erase(request: Request, moderator: Moderator, data: FormData) -> Response:
    """Erase every comment and trace of an address, after a page that says how much."""
    moderation = admin_of(request).moderation
    try:
        email = email_of(data)
    except Problem as problem:
        return privacy_error(request, moderator, problem, data)
    if field(data, "confirmed") != "yes":
        found = await run_in_threadpool(moderation.export_email, email)
        return render(
            request, "erase.html", moderator=moderator, section="privacy", email=email, found=found
        )
    erased = await run_in_threadpool(moderation.erase_email, moderator.email, email)
    return redirect("/admin/privacy", done="erase", n=erased)


def privacy_error(
    request: Request, moderator: Moderator, problem: Problem, data: FormData
) -> Response:
    return render(
        request,
        "privacy.html",
        status=problem.status,
        moderator=moderator,
        section="privacy",
        error=problem.detail,
        email=str(data.get("email", "")),
    )


# Backup


@page
async def backup_page(request: Request, moderator: Moderator) -> Response:
    return render(request, "backup.html", moderator=moderator, section="backup")


@page
async def export(request: Request, moderator: Moderator) -> Response:
    """Everything, as `comments export` writes it without password hashes, streamed from one
    snapshot of the database (a GET: it changes nothing, and only the session can read it)."""
    admin = admin_of(request)
    day = admin.moderation.clock().strftime("%Y-%m-%d")
    return StreamingResponse(
        backup.export_lines(admin.moderation.engine),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="comments-{day}.jsonl"'},
    )


# Errors are pages here, with the status a client (or a test) can check


async def on_problem(request: Request, problem: Problem) -> Response:
    if wants_json(request):
        return JSONResponse(
            problem.to_dict(),
            status_code=problem.status,
            headers=problem.headers,
            media_type="application/problem+json",
        )
    referer = urlsplit(request.headers.get("referer", ""))
    back = safe_next(urlunsplit(("", "", referer.path, referer.query, "")))
    moderator = None
    if problem.code not in ("internal_error", "database_unavailable"):
        moderator = await session_moderator(request)  # to keep the navigation on the page
    return render(
        request,
        "error.html",
        status=problem.status,
        headers=problem.headers,
        moderator=moderator,
        problem=problem,
        back=back,
        signed_out=problem.code == "sign_in_required",
    )


async def on_http_error(request: Request, error: HTTPException) -> Response:
    code = "method_not_allowed" if error.status_code == 405 else "not_found"
    problem = Problem(code, f"There is no page {request.url.path} for {request.method}.")
    return await on_problem(request, problem)


async def on_crash(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return await on_problem(request, Problem("internal_error", "Something broke on our side."))


routes = [
    Route("/", index, methods=["GET"]),
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/welcome", welcome_page, methods=["GET"]),
    Route("/welcome", welcome, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/queue", queue_page, methods=["GET"]),
    Route("/actions", act, methods=["POST"]),
    Route("/purge", purge, methods=["POST"]),
    Route("/comments/{comment_id:int}", comment_page, methods=["GET"]),
    Route("/comments/{comment_id:int}/edit", edit, methods=["POST"]),
    Route("/comments/{comment_id:int}/ban", ban, methods=["POST"]),
    Route("/threads/{thread_id:int}/closed", set_closed, methods=["POST"]),
    Route("/bans", bans_page, methods=["GET"]),
    Route("/bans/{ban_id:int}/lift", lift_ban, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
    Route("/privacy", privacy_page, methods=["GET"]),
    Route("/privacy/export", privacy_export, methods=["POST"]),
    Route("/privacy/erase", privacy_erase, methods=["POST"]),
    Route("/backup", backup_page, methods=["GET"]),
    Route("/export", export, methods=["GET"]),
]
