"""Parsing the admin's forms and queries: validate at the edge, then trust the values."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from starlette.datastructures import FormData
from starlette.requests import Request

from comments import validate
from comments.errors import Problem
from comments.models import Action, QueueFilter, QueueView

# What a button in the queue does at once; purge and ban ask for more first.
QUICK_ACTIONS = (Action.APPROVE, Action.HIDE, Action.DELETE, Action.RESTORE)


def field(data: FormData, name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Problem("field_invalid", f"{name} must be text.", field=name)
    return value.strip()


def secret(data: FormData, name: str) -> str:
    """A password as typed: unlike other fields, its spaces are part of it."""
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def is_number(value: object) -> bool:
    """An id or a count as typed: ASCII digits only (str.isdigit takes "²"), of a sane length."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15


def comment_ids(values: Iterable[object]) -> list[int]:
    ids = [int(value) for value in values if is_number(value)]
    if not ids:
        raise Problem("field_required", "Select at least one comment first.", field="ids")
    return ids


def chosen_action(data: FormData) -> tuple[Action, list[int]]:
    """A row's own button ("approve:12") wins over the bulk bar's action for the ticked rows."""
    row = field(data, "row_action")
    if row:
        name, _, raw_id = row.partition(":")
        ids = comment_ids([raw_id])
    else:
        name, ids = field(data, "action"), comment_ids(data.getlist("ids"))
    try:
        action = Action(name)
    except ValueError:
        action = None
    if action not in QUICK_ACTIONS:
        raise Problem("field_invalid", f"{name!r} is not an action for comments.", field="action")
    return action, ids


def text_fields(data: FormData, *names: str) -> dict[str, str]:
    """The named fields as text (a file upload counts as empty), for the validators."""
    return {name: value for name in names if isinstance(value := data.get(name, ""), str)}


def email_of(data: FormData) -> str:
    address = validate.email({"email": field(data, "email")})
    if address is None:
        raise Problem("field_required", "Type the email address first.", field="email")
    return address


def queue_query(request: Request) -> tuple[QueueView, QueueFilter, int | None]:
    params = request.query_params
    try:
        view = QueueView(params.get("view") or QueueView.PENDING)
    except ValueError:
        raise Problem(
            "invalid_parameter", "view is pending, reported, recent or hidden.", field="view"
        ) from None
    before = params.get("before") or None
    if before is not None and not is_number(before):
        raise Problem("invalid_parameter", "before is a comment id.", field="before")
    thread = (params.get("thread") or "").strip() or None
    if thread:
        with contextlib.suppress(Problem):  # a pasted page address finds its thread too
            thread = validate.uri(thread)
    filters = QueueFilter(
        site=(params.get("site") or "").strip().lower() or None,
        thread=thread,
        author=(params.get("author") or "").strip() or None,
        text=(params.get("q") or "").strip() or None,
    )
    return view, filters, int(before) if before else None
