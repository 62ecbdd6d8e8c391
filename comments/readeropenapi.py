"""The OpenAPI description of the readers' API (comments/readerroutes.py): sign-in by a mailed
link, the reader's own page, and votes. Joined into /api/openapi.json by openapi.py."""

from __future__ import annotations

from typing import Any

from comments import openapi
from comments.readerinput import (
    MY_PARAMS,
    READER_FIELDS,
    SIGN_IN_COMPLETION_FIELDS,
    SIGN_IN_FIELDS,
    VOTES_PARAMS,
)

READER_TOKEN = [{"readerToken": []}]
# Every call made with a reader's token can answer that it is no good (any more).
SIGNED_IN = ("reader_token_invalid",)


def _object(description: str, **properties: Any) -> dict[str, Any]:
    return openapi._json({"type": "object", "properties": properties}, description)


def reader_paths(max_length: int) -> dict[str, Any]:
    return {**_sign_in_paths(max_length), **_my_paths(max_length), **_vote_path()}


def _sign_in_paths(max_length: int) -> dict[str, Any]:
    problems, field_codes, body = openapi.problems, openapi.field_codes, openapi.request_body
    writes = openapi.WRITING_FAULTS
    return {
        "/api/sign-in": {
            "post": {
                "summary": "Mail a single-use sign-in link that opens `page` and signs in there",
                "description": "The link is `page#comments-sign-in=LINK`; the embed sends LINK to "
                "/api/sign-in/complete. 15 minutes, one use.",
                "requestBody": body(SIGN_IN_FIELDS, max_length),
                "responses": {
                    "202": _object("the link is on its way", sent={"type": "boolean"}),
                    **problems(
                        "origin_forbidden",
                        "invalid_parameter",
                        "sign_in_unavailable",
                        "too_many_attempts",
                        *field_codes(SIGN_IN_FIELDS),
                        *writes,
                    ),
                },
            }
        },
        "/api/sign-in/complete": {
            "post": {
                "summary": "Spend a mailed link: the reader's token for this site",
                "requestBody": body(SIGN_IN_COMPLETION_FIELDS, max_length),
                "responses": {
                    "200": _object(
                        "signed in",
                        token={"type": "string", "description": "send as a Bearer token"},
                        expires={"type": "string", "format": "date-time"},
                        reader=openapi._ref("Reader"),
                        name_taken={
                            "type": "boolean",
                            "description": "the name asked for went to another reader meanwhile",
                        },
                    ),
                    **problems(
                        "origin_forbidden",
                        "link_invalid",
                        "link_used",
                        *field_codes(SIGN_IN_COMPLETION_FIELDS),
                        *writes,
                    ),
                },
            }
        },
    }


def _my_paths(max_length: int) -> dict[str, Any]:
    problems, field_codes, body = openapi.problems, openapi.field_codes, openapi.request_body
    reads, writes = openapi.READING_FAULTS, openapi.WRITING_FAULTS
    page = openapi._json(openapi._ref("ReaderPage"), "the reader and their comments here")
    return {
        "/api/me": {
            "get": {
                "summary": "The signed-in reader's own page",
                "security": READER_TOKEN,
                "parameters": openapi.query_parameters(MY_PARAMS, max_length),
                "responses": {"200": page, **problems("invalid_parameter", *SIGNED_IN, *reads)},
            },
            "patch": {
                "summary": "Change the reader's name (reserved at once) or reply mail",
                "security": READER_TOKEN,
                "requestBody": body(READER_FIELDS, max_length),
                "responses": {
                    "200": page,
                    **problems(
                        "origin_forbidden", *SIGNED_IN, *field_codes(READER_FIELDS), *writes
                    ),
                },
            },
            "delete": {
                "summary": "Erase everything about the reader on this site",
                "description": "Comments are deleted as their author deletes one (replies stay "
                "under a placeholder), votes taken back, mail to them dropped; a ban is kept.",
                "security": READER_TOKEN,
                "responses": {
                    "200": _object(
                        "what was erased",
                        erased={
                            "type": "object",
                            "properties": {
                                "comments": {"type": "integer"},
                                "votes": {"type": "integer"},
                                "ids": {"type": "array", "items": {"type": "integer"}},
                            },
                        },
                    ),
                    **problems("origin_forbidden", *SIGNED_IN, *writes),
                },
            },
        },
        "/api/me/export": {
            "get": {
                "summary": "Everything stored about the reader, as a JSON download",
                "security": READER_TOKEN,
                "responses": {
                    "200": _object("the reader, their comments and votes"),
                    **problems(*SIGNED_IN, *reads),
                },
            }
        },
        "/api/me/votes": {
            "get": {
                "summary": "The comments of a thread the reader upvoted",
                "security": READER_TOKEN,
                "parameters": openapi.query_parameters(VOTES_PARAMS, max_length),
                "responses": {
                    "200": _object(
                        "comment ids: those the reader upvoted, and their own",
                        votes={"type": "array", "items": {"type": "integer"}},
                        mine={"type": "array", "items": {"type": "integer"}},
                    ),
                    **problems("invalid_parameter", *SIGNED_IN, *reads),
                },
            }
        },
        "/api/me/sign-out-everywhere": {
            "post": {
                "summary": "End every sign-in of the reader, on every device",
                "security": READER_TOKEN,
                "responses": {
                    "200": _object("done", signed_out={"type": "boolean"}),
                    **problems("origin_forbidden", *SIGNED_IN, *writes),
                },
            }
        },
    }


def _vote_path() -> dict[str, Any]:
    problems, writes = openapi.problems, openapi.WRITING_FAULTS
    return {
        "/api/comments/{comment_id}/vote": {
            "parameters": [openapi._ID],
            **{
                method: {
                    "summary": summary,
                    "security": READER_TOKEN,
                    "responses": {
                        "200": _object(
                            "the comment's votes now",
                            votes={"type": "integer"},
                            voted={"type": "boolean"},
                        ),
                        **problems(
                            "origin_forbidden",
                            "comment_not_found",
                            "own_comment",
                            "rate_limited",
                            *SIGNED_IN,
                            *writes,
                        ),
                    },
                }
                for method, summary in (
                    ("post", "Upvote a comment (once per verified reader)"),
                    ("delete", "Take the upvote back"),
                )
            },
        },
    }


def reader_schemas() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    return {
        "Reader": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {**nullable_string, "description": "reserved on the site"},
                "email": {"type": "string"},
                "badge": {"enum": ["moderator", "author", None]},
                "notify_replies": {"type": "boolean"},
                "created": {"type": "string", "format": "date-time"},
            },
        },
        "ReaderPage": {
            "type": "object",
            "description": "the reader and their comments on this site, newest first",
            "properties": {
                "reader": openapi._ref("Reader"),
                "comments": {"type": "array", "items": openapi._ref("ReaderComment")},
                "next": {"type": ["integer", "null"], "description": "pass back as `before`"},
            },
        },
        "ReaderComment": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "uri": {"type": "string"},
                "title": {"type": "string"},
                "html": {"type": "string"},
                "status": {"enum": ["approved", "pending", "hidden"]},
                "created": {"type": "string", "format": "date-time"},
                "votes": {"type": "integer"},
            },
        },
    }
