"""The admin's queue page and its buttons: approve, hide, delete, restore, purge."""

from __future__ import annotations

import functools
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from comments import streams
from comments.admin.forms import QUICK_ACTIONS, chosen_action, comment_ids, field, queue_query
from comments.admin.guards import form, page
from comments.admin.web import (
    HOME,
    admin_of,
    here,
    redirect,
    render,
    safe_next,
    wants_json,
    with_params,
)
from comments.api import stream_answer
from comments.models import Action, Moderator, QueueFilter, QueueItem, QueueView
from comments.moderation import TRANSITIONS, ModerationService


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


@page
async def stream(request: Request, moderator: Moderator) -> Response:
    """The queue's counts, live (streams.queue_events): admin.js keeps the views' counts with it."""
    admin = admin_of(request)
    events = functools.partial(streams.queue_events, admin.hub, admin.config)
    return stream_answer(admin.hub, admin.config, events)


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
