"""The admin's page for one comment: its context and history, edit, ban, close the thread."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from comments import validate
from comments.admin.forms import field, text_fields
from comments.admin.guards import form, page
from comments.admin.queue import items_by_id, transitions
from comments.admin.web import admin_of, redirect, render, safe_next, with_params
from comments.errors import Problem
from comments.models import AuditEntry, Moderator, QueueItem, Report
from comments.moderation import ModerationService


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
) -> tuple[QueueItem, list[Report], list[AuditEntry]]:
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
    """Ban the comment's author (by email, network or both) and hide the comment."""
    admin = admin_of(request)
    comment_id = request.path_params["comment_id"]
    typed = text_fields(data, "scope", "reason", "days", "permanent")
    try:
        terms = validate.ban_terms(typed)
        expires = admin.moderation.clock() + timedelta(days=terms.days) if terms.days else None
        ban = functools.partial(admin.moderation.ban, scope=terms.scope)
        await run_in_threadpool(ban, moderator.email, comment_id, terms.reason, expires)
    except Problem as problem:
        if problem.code == "comment_not_found":
            raise
        return await show_comment(request, moderator, back_of(data), problem=problem, draft=typed)
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


@form
async def set_verified_only(request: Request, moderator: Moderator, data: FormData) -> Response:
    verified_only = field(data, "verified_only") == "yes"
    await run_in_threadpool(
        admin_of(request).moderation.set_verified_only,
        moderator.email,
        request.path_params["thread_id"],
        verified_only,
    )
    done = "verified-only" if verified_only else "anyone"
    return redirect(safe_next(data.get("next")), done=done)


@form
async def set_title(request: Request, moderator: Moderator, data: FormData) -> Response:
    """The moderator's title for the thread: feeds and mails show it, readers no longer set it."""
    admin = admin_of(request)
    # The form says required and maxlength=300: a problem here is an error page, not a draft.
    title = validate.thread_title(text_fields(data, "title"))
    await run_in_threadpool(
        admin.moderation.set_title, moderator.email, request.path_params["thread_id"], title
    )
    return redirect(safe_next(data.get("next")), done="retitle")
