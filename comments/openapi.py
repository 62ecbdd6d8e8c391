"""The OpenAPI description of the public API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from comments import __version__
from comments.errors import CODES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    return {
        str(status): {
            "description": ", ".join(code for code, (s, _) in CODES.items() if s == status),
            "content": problem,
        }
        for status in statuses
    }


_TEXT = {"type": "string", "minLength": 1}
_BEARER = [{"editToken": []}]
_ID = {"name": "comment_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def openapi_document() -> dict[str, Any]:
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
                    },
                },
                "comments": {"type": "array", "items": _ref("Comment")},
                "next": {"type": ["string", "null"], "description": "pass back as `after`"},
            },
        },
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"enum": sorted(CODES)},
                "field": {"type": "string"},
            },
        },
    }
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }

    def body_with(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        return {**body, "content": {"application/json": {"schema": schema}}}

    paths = {
        "/api/threads": {
            "get": {
                "summary": "A page of a thread's comments as a tree",
                "parameters": [
                    {"name": "uri", "in": "query", "required": True, "schema": _TEXT},
                    {"name": "sort", "in": "query", "schema": {"enum": ["oldest", "newest"]}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                    {"name": "after", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(_ref("Thread"), "the page"),
                    "304": {"description": "unchanged since the ETag sent"},
                    **_problems(400),
                },
            }
        },
        "/api/comments": {
            "post": {
                "summary": "Write a comment or a reply",
                "requestBody": body_with(
                    {
                        "uri": _TEXT,
                        "parent": {"type": ["integer", "null"]},
                        "text": _TEXT,
                        "author": nullable_string,
                        "email": nullable_string,
                        "website": nullable_string,
                        "title": nullable_string,
                        "notify": {"type": "boolean"},
                        "stamp": nullable_string,
                        "honeypot": nullable_string,
                    },
                    ["uri", "text"],
                ),
                "responses": {
                    "201": _json(_ref("EditedComment"), "the new comment"),
                    **_problems(400, 403, 413, 415, 422, 429),
                },
            }
        },
        "/api/comments/{comment_id}": {
            "parameters": [_ID],
            "get": {
                "summary": "One comment (a pending one only with its edit token)",
                "responses": {"200": _json(_ref("Comment"), "the comment"), **_problems(404)},
            },
            "patch": {
                "summary": "Change the text within the edit window",
                "security": _BEARER,
                "requestBody": body_with({"text": _TEXT}, ["text"]),
                "responses": {
                    "200": _json(_ref("EditedComment"), "the changed comment"),
                    **_problems(400, 401, 403, 404, 409, 413, 415, 422),
                },
            },
            "delete": {
                "summary": "Delete within the edit window",
                "security": _BEARER,
                "responses": {
                    "200": _json(_ref("Comment"), "the deleted comment"),
                    **_problems(401, 403, 404, 409),
                },
            },
        },
        "/api/comments/{comment_id}/report": {
            "parameters": [_ID],
            "post": {
                "summary": "Flag a comment for moderators (once per reader)",
                "requestBody": body_with({"reason": nullable_string}, []),
                "responses": {
                    "201": _json(
                        {"type": "object", "properties": {"reported": {"type": "boolean"}}},
                        "recorded",
                    ),
                    **_problems(400, 403, 404, 409, 413, 415, 422),
                },
            },
        },
        "/api/stamp": {
            "get": {
                "summary": "A signed time stamp to send with the comment written after it",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"stamp": {"type": "string"}}}, "stamp"
                    )
                },
            }
        },
        "/api/counts": {
            "post": {
                "summary": "Visible comments for many pages at once",
                "requestBody": body_with(
                    {"uris": {"type": "array", "items": {"type": "string"}, "maxItems": 100}},
                    ["uris"],
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "counts": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                }
                            },
                        },
                        "counts by URI as asked",
                    ),
                    **_problems(400, 413, 415, 422),
                },
            }
        },
        "/api/preview": {
            "post": {
                "summary": "Render text exactly as a post would show it",
                "requestBody": body_with({"text": _TEXT}, ["text"]),
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"html": {"type": "string"}}}, "HTML"
                    ),
                    **_problems(400, 413, 415, 422),
                },
            }
        },
        "/api/config": {
            "get": {
                "summary": "Settings the embed needs",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "moderation": {"enum": ["post", "pre"]},
                                "edit_window": {"type": "integer"},
                                "max_length": {"type": "integer"},
                            },
                        },
                        "settings",
                    )
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "comments", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"editToken": {"type": "http", "scheme": "bearer"}},
        },
    }
