"""The admin's sign-in, welcome (choose a password) and sign-out pages."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from comments.admin.forms import field, secret
from comments.admin.guards import (
    end_session,
    form,
    require_same_origin,
    session_moderator,
    start_session,
)
from comments.admin.web import HOME, admin_of, redirect, render, safe_next, with_params
from comments.api import client_ip
from comments.errors import Problem
from comments.models import Moderator


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
        moderator = await admin.accounts.authenticate(email, secret(data, "password"), ip_hash)
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
    return await start_session(request, moderator, target)


async def mail_link(request: Request) -> Response:
    """ "Email me a sign-in link": the same answer whether or not the address is a moderator's."""
    require_same_origin(request)
    admin = admin_of(request)
    data = await request.form()
    ip_hash = admin.tokens.hash_ip(client_ip(request))
    await run_in_threadpool(admin.accounts.mail_sign_in_link, field(data, "email"), ip_hash)
    return redirect("/admin/sign-in", done="link-sent")


async def link_page(request: Request) -> Response:
    """Where the link by mail leads: a button, since mail scanners open every link they see."""
    token = request.query_params.get("token", "")
    moderator = await run_in_threadpool(admin_of(request).accounts.read_mail_link, token)
    return render(request, "sign_in_link.html", email=moderator.email, token=token)


async def sign_in_with_link(request: Request) -> Response:
    # The one-time token in the form is what a forged form cannot know.
    require_same_origin(request)
    data = await request.form()
    accounts = admin_of(request).accounts
    moderator = await run_in_threadpool(accounts.redeem_mail_link, field(data, "token"))
    return await start_session(request, moderator, HOME)


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
    return await start_session(request, moderator, with_params(HOME, done="welcome"))


@form
async def sign_out(request: Request, moderator: Moderator, data: FormData) -> Response:
    return await end_session(request, with_params("/admin/sign-in", done="signed-out"))


@form
async def sign_out_everywhere(request: Request, moderator: Moderator, data: FormData) -> Response:
    await run_in_threadpool(admin_of(request).accounts.sign_out_everywhere, moderator)
    return await end_session(request, with_params("/admin/sign-in", done="signed-out-everywhere"))
