"""The admin's web plumbing: the Admin object, templates, render, security headers, redirects."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comments import db
from comments.accounts import Accounts
from comments.admin.forms import is_number
from comments.config import Config
from comments.mail import HELD_REASONS
from comments.models import Report, ReportCategory
from comments.moderation import ModerationService
from comments.streams import Hub
from comments.tokens import Tokens

COOKIE = "comments_admin"
HOME = "/admin/queue"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
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
    "verified-only": "The thread takes comments from signed-in readers only.",
    "anyone": "The thread takes comments from anyone again.",
    "retitle": "Saved the thread's title.",
    "pin-mode": "Pinned the thread's mode.",
    "lift-mode": "The server chooses the thread's mode again.",
    "erase": "Erased the address and {comments}.",
    "welcome": "Your password is set. Welcome!",
    "signed-out": "You are signed out.",
    "signed-out-everywhere": "You are signed out on every device.",
    "link-sent": "If that address is a moderator's, a sign-in link is on its way; it works once, "
    "for 15 minutes.",
}


@dataclasses.dataclass(frozen=True)
class Admin:
    """What the admin pages work with, assembled once by create_admin."""

    config: Config
    tokens: Tokens
    accounts: Accounts
    moderation: ModerationService
    templates: jinja2.Environment
    hub: Hub | None = None  # the live streams, for the queue's counts


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
    environment.globals["held_reasons"] = HELD_REASONS
    environment.globals["by_category"] = by_category
    return environment


def by_category(reports: list[Report]) -> list[tuple[str, int, list[str]]]:
    """Readers' reports grouped by why: (category, how many, their notes), spam first."""
    grouped: dict[ReportCategory, list[str]] = {}
    for report in reports:
        grouped.setdefault(report.category, []).append(report.note)
    return [
        (category.value, len(grouped[category]), [note for note in grouped[category] if note])
        for category in ReportCategory
        if category in grouped
    ]


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
