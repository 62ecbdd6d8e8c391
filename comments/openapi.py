"""The OpenAPI description of the public API, served at /api/openapi.json.

Request bodies and the thread query are built from the declarations validate.py enforces, and
each operation lists the error codes it can answer with, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from comments import __version__, readeropenapi
from comments.config import Config
from comments.errors import CODES
from comments.validate import (
    COUNT_FIELDS,
    COUNT_PARAMS,
    EDIT_FIELDS,
    MAX_ID,
    MAX_URI,
    PREVIEW_FIELDS,
    REPORT_FIELDS,
    SUBMISSION_FIELDS,
    THREAD_PARAMS,
    Field,
)

# What every JSON body can fail with before its fields are read.
BODY_CODES = ("invalid_json", "unsupported_media_type", "body_too_large")
EDITING_CODES = (
    "origin_forbidden",
    "token_missing",
    "token_invalid",
    "token_foreign",
    "comment_not_found",
    "comment_not_editable",
    "edit_window_closed",
    "comment_changed",
)
POSTING_CODES = (
    "origin_forbidden",
    "thread_closed",
    "banned",
    "duplicate_comment",
    "parent_not_found",
    "rate_limited",
    "slow_mode",
    "challenge_required",
    "challenge_invalid",
    "challenge_used",
    "sign_in_required",
    "name_reserved",
    "email_reserved",
    "reader_token_invalid",
    "name_taken",
    "name_invalid",
)
# What the database can answer any operation that uses it with: not now (503), and for writes,
# no space left (507); each with Retry-After.
READING_FAULTS = ("database_unavailable",)
WRITING_FAULTS = ("database_unavailable", "storage_full")
# What the HTTP server itself answers any request with (comments/serving.py).
SERVER_CODES = ("request_timeout", "server_busy")
_BEARER = [{"editToken": []}]
_ID = {
    "name": "comment_id",
    "in": "path",
    "required": True,
    "description": f"any other value than 1 to {MAX_ID} names no comment",
    "schema": {"type": "integer"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def field_schema(field: Field, max_length: int) -> dict[str, Any]:
    """The JSON Schema of one declared field, bounds as the validator enforces them."""
    schema: dict[str, Any] = {"type": [field.type, "null"] if field.nullable else field.type}
    if field.description:
        schema["description"] = field.description
    limit = field.limit(max_length)
    if field.type == "array":
        schema["items"] = {"type": "string"}
        if limit is not None:
            schema["maxItems"] = limit
    elif field.type == "string" and limit is not None:
        schema["maxLength"] = limit
    if field.required and field.type == "string":
        schema["minLength"] = 1
    if field.enum:
        schema["enum"] = [*field.enum, *([None] if field.nullable else [])]
    for key in ("minimum", "maximum"):
        if getattr(field, key) is not None:
            schema[key] = getattr(field, key)
    return schema


def request_body(fields: tuple[Field, ...], max_length: int) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {field.name: field_schema(field, max_length) for field in fields},
        "required": [field.name for field in fields if field.required],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def query_parameters(fields: tuple[Field, ...], max_length: int) -> list[dict[str, Any]]:
    return [
        {
            "name": field.name,
            "in": "query",
            "required": field.required,
            "schema": field_schema(field, max_length),
        }
        for field in fields
    ]


def field_codes(fields: tuple[Field, ...]) -> tuple[str, ...]:
    """The codes validating a body of these fields can raise."""
    codes = [*BODY_CODES, "unknown_field", "field_invalid"]
    codes += ["field_required"] * any(field.required for field in fields)
    for field in fields:
        if field.is_text or field.max_length is not None:
            codes.append(field.too_long)
        codes += field.codes
    return tuple(dict.fromkeys(codes))


def problems(*codes: str) -> dict[str, Any]:
    """One response per status, its schema naming exactly the codes that status carries here
    (and those the HTTP server may answer any request with)."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys((*codes, *SERVER_CODES)):
        by_status.setdefault(CODES[code][0], []).append(code)
    return {
        str(status): {
            "description": ", ".join(listed),
            "content": {
                "application/problem+json": {
                    "schema": {
                        "allOf": [_ref("Problem"), {"properties": {"code": {"enum": listed}}}]
                    }
                }
            },
        }
        for status, listed in sorted(by_status.items())
    }


def openapi_document(config: Config) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "comments", "version": __version__},
        "paths": {
            **_reading_paths(config.max_length),
            **_writing_paths(config.max_length),
            **readeropenapi.reader_paths(config.max_length),
        },
        "components": {
            "schemas": {**_schemas(), **readeropenapi.reader_schemas()},
            "securitySchemes": {
                "editToken": {"type": "http", "scheme": "bearer"},
                "readerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a signed-in reader's, from /api/sign-in/complete",
                },
            },
        },
    }


def _reading_paths(max_length: int) -> dict[str, Any]:
    def small(description: str, **properties: Any) -> dict[str, Any]:
        return _json({"type": "object", "properties": properties}, description)

    return {
        "/api/threads": {
            "get": {
                "summary": "A page of a thread's comments as a tree, or the page holding one",
                "parameters": query_parameters(THREAD_PARAMS, max_length),
                "responses": {
                    "200": _json(_ref("Thread"), "the page"),
                    "304": {"description": "unchanged since the ETag sent"},
                    **problems("invalid_parameter", *READING_FAULTS),
                },
            }
        },
        "/api/stamp": {
            "get": {
                "summary": "A signed time stamp to send with the comment written after it",
                "responses": {"200": small("stamp", stamp={"type": "string"}), **problems()},
            }
        },
        "/api/counts": _counts_path(max_length),
        "/api/stream": _stream_path(),
        "/api/preview": {
            "post": {
                "summary": "Render text exactly as a post would show it",
                "requestBody": request_body(PREVIEW_FIELDS, max_length),
                "responses": {
                    "200": small("HTML", html={"type": "string"}),
                    **problems("origin_forbidden", "rate_limited", *field_codes(PREVIEW_FIELDS)),
                },
            }
        },
        "/api/config": {
            "get": {
                "summary": "Settings the embed needs, and a thread's surge mode",
                "parameters": [
                    {
                        "name": "uri",
                        "in": "query",
                        "required": False,
                        "description": "the thread whose surge mode to tell",
                        "schema": {"type": "string", "maxLength": MAX_URI},
                    }
                ],
                "responses": {
                    "200": small(
                        "settings",
                        moderation={"enum": ["post", "pre", "trusted"]},
                        moderation_until={"type": ["string", "null"], "format": "date-time"},
                        edit_window={"type": "integer"},
                        max_length={"type": "integer"},
                        surge={
                            "enum": ["normal", "slow", "hold"],
                            "description": "slow: one comment per reader per "
                            "slow_mode_seconds; hold: that, and newcomers' comments held",
                        },
                        slow_mode_seconds={"type": "integer"},
                        live={"type": "boolean", "description": "whether /api/stream is open"},
                        sign_in={
                            "type": "boolean",
                            "description": "whether readers can sign in (/api/sign-in)",
                        },
                        commenters={
                            "enum": ["anonymous", "verified-only"],
                            "description": "who may comment on the site, or on this thread",
                        },
                    ),
                    **problems("invalid_parameter", *READING_FAULTS),
                },
            }
        },
    }


def _stream_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "A thread's changes as they happen (Server-Sent Events)",
            "description": "Each event is `id: VERSION`, `event: change` and `data: "
            '{"version", "kind", "ids"}`; `kind` is new, edit, remove or reset (reread the '
            "page). `: ping` comes at least every COMMENTS_STREAM_HEARTBEAT seconds; after "
            "COMMENTS_STREAM_IDLE without a change, `event: idle` and the end.",
            "parameters": [
                {
                    "name": "uri",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "maxLength": MAX_URI},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "required": False,
                    "description": "the thread version to resume from (the page's "
                    "`thread.version`); the Last-Event-ID header wins",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                },
            ],
            "responses": {
                "200": {
                    "description": "the stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **problems("invalid_parameter", "streams_off", "too_many_streams"),
            },
        }
    }


def _counts_path(max_length: int) -> dict[str, Any]:
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    return {
        "get": {
            "summary": "Visible comments for many pages at once, cacheable: `?uri=/a/&uri=/b/`",
            "parameters": [
                {**parameter, "style": "form", "explode": True}
                for parameter in query_parameters(COUNT_PARAMS, max_length)
            ],
            "responses": {
                "200": _json(
                    {"type": "object", "properties": {"counts": counts}},
                    "counts by URI as asked, with an ETag over the threads' versions",
                ),
                "304": {"description": "unchanged since the ETag sent"},
                **problems("invalid_parameter", "too_many_uris", *READING_FAULTS),
            },
        },
        "post": {
            "summary": "Visible comments for many pages at once",
            "requestBody": request_body(COUNT_FIELDS, max_length),
            "responses": {
                "200": _json(
                    {"type": "object", "properties": {"counts": counts}},
                    "counts by URI as asked",
                ),
                **problems(*field_codes(COUNT_FIELDS), *READING_FAULTS),
            },
        },
    }


def _writing_paths(max_length: int) -> dict[str, Any]:
    reported = {"type": "object", "properties": {"reported": {"type": "boolean"}}}
    return {
        "/api/comments": {
            "post": {
                "summary": "Write a comment or a reply",
                "description": "With a reader's token (Bearer), as that verified reader: the "
                "name and email come from the reader.",
                "requestBody": request_body(SUBMISSION_FIELDS, max_length),
                "responses": {
                    "201": _json(_ref("EditedComment"), "the new comment"),
                    **problems(*POSTING_CODES, *field_codes(SUBMISSION_FIELDS), *WRITING_FAULTS),
                },
            }
        },
        "/api/comments/{comment_id}": {
            "parameters": [_ID],
            "get": {
                "summary": "One comment (a pending one only with its edit token)",
                "responses": {
                    "200": _json(_ref("Comment"), "the comment"),
                    **problems("comment_not_found", *READING_FAULTS),
                },
            },
            "patch": {
                "summary": "Change the text within the edit window",
                "security": _BEARER,
                "requestBody": request_body(EDIT_FIELDS, max_length),
                "responses": {
                    "200": _json(_ref("EditedComment"), "the changed comment"),
                    **problems(*EDITING_CODES, *field_codes(EDIT_FIELDS), *WRITING_FAULTS),
                },
            },
            "delete": {
                "summary": "Delete within the edit window",
                "security": _BEARER,
                "responses": {
                    "200": _json(_ref("Comment"), "the deleted comment"),
                    **problems(*EDITING_CODES, *WRITING_FAULTS),
                },
            },
        },
        "/api/comments/{comment_id}/report": {
            "parameters": [_ID],
            "post": {
                "summary": "Flag a comment for moderators (once per reader)",
                "requestBody": request_body(REPORT_FIELDS, max_length),
                "responses": {
                    "201": _json(reported, "recorded"),
                    **problems(
                        "origin_forbidden",
                        "comment_not_found",
                        "already_reported",
                        *field_codes(REPORT_FIELDS),
                        *WRITING_FAULTS,
                    ),
                },
            },
        },
    }


# The comment a permalink asked for (`around`), as the thread page answers it.
_TARGET = {
    "type": ["object", "null"],
    "description": "with `around`: the comment asked for, when the page shows it",
    "properties": {
        "id": {"type": "integer"},
        "ancestors": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "the comments it is shown under, top-level first",
        },
        "position": {
            "type": "integer",
            "description": (
                "its top-level comment's place in the thread, from 1 (counting those not shown "
                "too, except in the best order, which lists only those shown)"
            ),
        },
    },
}


def _schemas() -> dict[str, Any]:
    """What the serializers of api.py answer with."""
    nullable_string = {"type": ["string", "null"]}
    schemas = {
        "Comment": {
            "type": "object",
            "required": ["id", "parent", "author", "website", "avatar", "html", "created"],
            "properties": {
                "id": {"type": "integer"},
                "parent": {"type": ["integer", "null"]},
                "author": nullable_string,
                "website": nullable_string,
                "avatar": {**nullable_string, "description": "keyed hash for an identicon"},
                "html": {"type": "string", "description": "sanitized HTML"},
                "created": {"type": "string", "format": "date-time"},
                "edited": {"type": ["string", "null"], "format": "date-time"},
                "status": {"enum": ["approved", "pending", "hidden", "deleted"]},
                "verified": {
                    "type": "boolean",
                    "description": "written by a reader signed in by a mailed link",
                },
                "badge": {"enum": ["moderator", "author", None]},
                "votes": {"type": "integer", "description": "upvotes of verified readers"},
                "replies": {"type": "array", "items": _ref("Comment")},
            },
        },
        "EditedComment": {
            "allOf": [
                _ref("Comment"),
                {
                    "type": "object",
                    "required": ["edit_token", "editable_until"],
                    "properties": {
                        "edit_token": {"type": "string"},
                        "editable_until": {"type": "string", "format": "date-time"},
                    },
                },
            ]
        },
        "Thread": {
            "type": "object",
            "properties": {
                "thread": {
                    "type": "object",
                    "properties": {
                        "uri": {"type": "string"},
                        "title": {"type": "string"},
                        "count": {"type": "integer"},
                        "closed": {"type": "boolean"},
                        "closes": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "when it stops taking comments by age",
                        },
                        "version": {
                            "type": "integer",
                            "description": "moves with every change: `last_event_id` of "
                            "/api/stream",
                        },
                    },
                },
                "comments": {"type": "array", "items": _ref("Comment")},
                "next": {"type": ["string", "null"], "description": "pass back as `after`"},
                "prev": {
                    "type": ["string", "null"],
                    "description": "pass back as `before` for the page that precedes this one",
                },
                "target": _TARGET,
                "missing": _MISSING,
            },
        },
        "Problem": _problem_schema(),
    }
    return schemas


# The comment a permalink asked for when the page cannot show it (one answer for every reason,
# so a link tells nobody whether a comment is held, hidden or was never there).
_MISSING = {
    "type": ["object", "null"],
    "description": "with `around`: the comment asked for, when it is not shown to readers",
    "required": ["id", "reason"],
    "properties": {"id": {"type": "integer"}, "reason": {"type": "string", "enum": ["not_shown"]}},
}


def _problem_schema() -> dict[str, Any]:
    """Every error's body; `challenge` and `retry_after` come with the codes that carry them."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"enum": sorted(CODES)},
            "field": {"type": "string"},
            "challenge": {
                "type": "object",
                "description": "challenge_*: a bot challenge to solve and send with the post",
                "properties": {
                    "token": {"type": "string"},
                    "prefix": {"type": "string"},
                    "difficulty": {"type": "integer"},
                },
            },
            "retry_after": {
                "type": "integer",
                "description": "slow_mode: seconds until this reader may comment again",
            },
        },
    }
