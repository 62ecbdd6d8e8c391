"""The admin's audit log page: every moderator action, newest first."""

from __future__ import annotations

import functools

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from comments.admin.forms import is_number
from comments.admin.guards import page
from comments.admin.web import admin_of, here, render, with_params
from comments.errors import Problem
from comments.models import Moderator


@page
async def audit_page(request: Request, moderator: Moderator) -> Response:
    params = request.query_params
    before, comment = params.get("before", ""), params.get("comment", "")
    reader = params.get("reader", "")
    for name, value in (("before", before), ("comment", comment), ("reader", reader)):
        if value and not is_number(value):
            raise Problem("invalid_parameter", f"{name} is a number.", field=name)
    entries, next_before = await run_in_threadpool(
        functools.partial(
            admin_of(request).moderation.audit,
            before=int(before) if before else None,
            comment_id=int(comment) if comment else None,
            reader_id=int(reader) if reader else None,
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
        reader=reader,
        before=before,
        link=functools.partial(with_params, current),
    )
