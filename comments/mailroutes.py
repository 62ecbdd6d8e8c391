"""Routes behind the links in mail: a GET only shows what the link would do, a POST does it.

Mail scanners and link previews fetch every link in a message; none of those fetches may
approve a comment, confirm an address or unsubscribe one.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from comments import mailpages, validate
from comments.errors import Problem
from comments.links import BAN_REASON, LinkOutcome, MailLinks
from comments.tokens import Purpose

BAN_FIELDS = ("scope", "reason", "days", "permanent")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the address: never hand it to another site in a Referer.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def mail_links(request: Request) -> MailLinks:
    return request.app.state.mail_links


async def token_of(request: Request) -> str:
    """From the address, where every link puts it; a form field also does."""
    token = request.query_params.get("token")
    if token is None and request.method == "POST":
        token = str((await request.form()).get("token") or "")
    return token or ""


async def respond(render: Callable[..., str], call: Callable, *args) -> Response:
    """Run the service call in a thread and show its result, or the problem as a page."""
    try:
        result = await run_in_threadpool(call, *args)
    except Problem as problem:
        return HTMLResponse(
            mailpages.problem_page(problem), status_code=problem.status, headers=PAGE_HEADERS
        )
    return HTMLResponse(render(result), headers=PAGE_HEADERS)


async def show_action(request: Request) -> Response:
    return await respond(
        mailpages.action_page, mail_links(request).read_action, await token_of(request)
    )


async def perform_action(request: Request) -> Response:
    links = mail_links(request)
    form = await request.form()
    # A ban's page asks what it covers and for how long; the other actions' forms send nothing.
    typed = {name: value for name in BAN_FIELDS if isinstance(value := form.get(name), str)}

    def act(token: str) -> LinkOutcome:
        terms = validate.ban_terms(typed, BAN_REASON) if typed else None
        return links.perform_action(token, terms)

    return await respond(mailpages.action_done_page, act, await token_of(request))


async def show_confirm(request: Request) -> Response:
    return await respond(
        mailpages.confirm_page,
        mail_links(request).read_subscriber,
        Purpose.CONFIRM_EMAIL,
        await token_of(request),
    )


async def confirm(request: Request) -> Response:
    return await respond(
        mailpages.confirmed_page, mail_links(request).confirm, await token_of(request)
    )


async def show_unsubscribe(request: Request) -> Response:
    return await respond(
        mailpages.unsubscribe_page,
        mail_links(request).read_subscriber,
        Purpose.UNSUBSCRIBE,
        await token_of(request),
    )


async def unsubscribe(request: Request) -> Response:
    """The page's button, and RFC 8058 one-click unsubscribe from the mail program alike."""
    return await respond(
        mailpages.unsubscribed_page, mail_links(request).unsubscribe, await token_of(request)
    )


routes = [
    Route("/mail/action", show_action, methods=["GET"]),
    Route("/mail/action", perform_action, methods=["POST"]),
    Route("/mail/confirm", show_confirm, methods=["GET"]),
    Route("/mail/confirm", confirm, methods=["POST"]),
    Route("/mail/unsubscribe", show_unsubscribe, methods=["GET"]),
    Route("/mail/unsubscribe", unsubscribe, methods=["POST"]),
]
