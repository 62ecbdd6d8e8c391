"""The admin's privacy pages: export or erase everything stored for one email address."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from comments.admin.forms import email_of, field
from comments.admin.guards import form, page
from comments.admin.web import admin_of, redirect, render
from comments.errors import Problem
from comments.models import Moderator


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
