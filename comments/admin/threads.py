"""The admin's threads page: which threads are hot, their surge mode, and pinning one."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from comments.admin.forms import field
from comments.admin.guards import form, page
from comments.admin.web import admin_of, redirect, render
from comments.errors import Problem
from comments.models import Moderator, Surge


@page
async def threads_page(request: Request, moderator: Moderator) -> Response:
    hot = await run_in_threadpool(admin_of(request).moderation.hot_threads)
    return render(
        request, "threads.html", moderator=moderator, section="threads", hot=hot, modes=Surge
    )


@form
async def pin_mode(request: Request, moderator: Moderator, data: FormData) -> Response:
    """`mode` is a Surge to pin, or `automatic` to give the thread back to the server."""
    chosen = field(data, "mode")
    if chosen != "automatic" and chosen not in set(Surge):
        raise Problem("field_invalid", "mode is normal, slow, hold or automatic.", field="mode")
    mode = None if chosen == "automatic" else Surge(chosen)
    await run_in_threadpool(
        admin_of(request).moderation.pin_mode,
        moderator.email,
        request.path_params["thread_id"],
        mode,
    )
    return redirect("/admin/threads", done="lift-mode" if mode is None else "pin-mode")
