"""The admin's bans page: who is banned, and lifting a ban."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from comments.admin.guards import form, page
from comments.admin.web import admin_of, redirect, render
from comments.models import Moderator


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
