"""Sessions and the guards of admin pages and forms: sign-in cookie, same origin, CSRF token."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from comments.admin.forms import field
from comments.admin.web import COOKIE, admin_of, here, is_https, redirect
from comments.errors import Problem
from comments.models import Moderator


async def session_moderator(request: Request) -> Moderator | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await run_in_threadpool(admin_of(request).accounts.session_moderator, token)


async def start_session(request: Request, moderator: Moderator, target: str) -> Response:
    admin = admin_of(request)
    token = await run_in_threadpool(admin.accounts.start_session, moderator)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=admin.config.session_lifetime,
        path="/admin",
        secure=is_https(request),
        httponly=True,
        samesite="lax",  # Strict would drop it when a moderator follows a link from their mail
    )
    return response


async def end_session(request: Request, target: str) -> Response:
    """Ends the session on the server too: the cookie, replayed, opens nothing."""
    await run_in_threadpool(admin_of(request).accounts.sign_out, request.cookies.get(COOKIE))
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
