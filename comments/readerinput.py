"""Untrusted input of the readers' API (comments/readerroutes.py) -> values, as validate.py
does for comments: allowlisted keys, typed values, or a Problem naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comments.errors import Problem
from comments.validate import (
    MAX_AUTHOR,
    MAX_EMAIL,
    MAX_ID,
    MAX_URI,
    URI_FIELD,
    Field,
    checked,
    email,
    line,
    uri,
    whole_number,
)

NAME_FIELD = Field(
    "name",
    "string",
    "the name to be known by on the site (reserved for the reader once verified)",
    nullable=True,
    max_length=MAX_AUTHOR,
    codes=("name_invalid", "name_taken"),
)
SIGN_IN_FIELDS = (
    Field(
        "email",
        "string",
        "where the sign-in link goes",
        required=True,
        max_length=MAX_EMAIL,
        codes=("email_invalid",),
    ),
    NAME_FIELD,
    Field(
        "page",
        "string",
        "the page to come back to (an http(s) URL of the site): the link opens it",
        required=True,
        max_length=MAX_URI,
    ),
)
SIGN_IN_COMPLETION_FIELDS = (
    Field(
        "link",
        "string",
        "what follows #comments-sign-in= in the mailed link",
        required=True,
        max_length=1000,
    ),
)
READER_FIELDS = (
    NAME_FIELD,
    Field("notify_replies", "boolean", "mail me replies to my comments (no confirmation needed)"),
)
VOTES_PARAMS = (Field("uri", "string", URI_FIELD.description, required=True, max_length=MAX_URI),)
MY_PARAMS = (
    Field("before", "integer", "the `next` of the page before", minimum=1, maximum=MAX_ID),
)


def sign_in_request(data: dict[str, Any]) -> tuple[str, str | None, str]:
    """POST /api/sign-in: (email, name or None, page URL)."""
    checked(data, SIGN_IN_FIELDS)
    address = email(data)
    if address is None:
        raise Problem("field_required", "Type your email address.", field="email")
    page = data.get("page")
    if not isinstance(page, str) or not page.strip():
        raise Problem("field_required", "page is the URL of the page signing in.", field="page")
    return address, reader_name(data), page.strip()


def sign_in_completion(data: dict[str, Any]) -> str:
    checked(data, SIGN_IN_COMPLETION_FIELDS)
    link = data.get("link")
    if not isinstance(link, str) or not link.strip():
        raise Problem("field_required", "link is the token the mailed link carries.", field="link")
    return link.strip()


def reader_update(data: dict[str, Any]) -> tuple[str | None, bool | None]:
    """PATCH /api/me: (a new name or None, the notification wish or None)."""
    checked(data, READER_FIELDS)
    return reader_name(data), data.get("notify_replies")


def reader_name(data: dict[str, Any]) -> str | None:
    return line(data, NAME_FIELD)


def votes_query(params: Mapping[str, str]) -> str:
    """The query of GET /api/me/votes: the thread."""
    try:
        return uri(params.get("uri"))
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None


def before_id(params: Mapping[str, str]) -> int | None:
    raw = params.get("before")
    if raw is None or raw == "":
        return None
    number = whole_number(raw, 1, MAX_ID)
    if number is None:
        raise Problem("invalid_parameter", "before is a comment id.", field="before")
    return number
