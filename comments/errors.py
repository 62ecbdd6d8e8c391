"""The error codes clients branch on, and the one exception that carries them."""

from __future__ import annotations

# code -> (HTTP status, title). Stable: clients branch on the code; the README lists every one.
CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "Invalid JSON"),
    "invalid_parameter": (400, "Invalid parameter"),
    "link_invalid": (400, "Link invalid"),
    "token_missing": (401, "Edit token missing"),
    "token_invalid": (401, "Edit token invalid"),
    "sign_in_failed": (401, "Sign-in failed"),
    "reader_token_invalid": (401, "Reader token invalid"),
    "token_foreign": (403, "Edit token for another comment"),
    "edit_window_closed": (403, "Edit window closed"),
    "origin_forbidden": (403, "Origin not allowed"),
    "thread_closed": (403, "Thread closed"),
    "banned": (403, "Banned"),
    "challenge_required": (403, "Challenge required"),
    "challenge_invalid": (403, "Challenge invalid"),
    "comment_not_editable": (403, "Comment cannot be edited"),
    "sign_in_required": (403, "Sign-in required"),
    "own_comment": (403, "Own comment"),
    "csrf_failed": (403, "Form token invalid"),
    "not_found": (404, "Not found"),
    "streams_off": (404, "Live streams off"),
    "sign_in_unavailable": (404, "Sign-in unavailable"),
    "comment_not_found": (404, "Comment not found"),
    "ban_not_found": (404, "Ban not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "request_timeout": (408, "Request timeout"),
    "comment_changed": (409, "Comment changed"),
    "link_used": (409, "Link used"),
    "name_taken": (409, "Name taken"),
    "duplicate_comment": (409, "Duplicate comment"),
    "already_reported": (409, "Already reported"),
    "challenge_used": (409, "Challenge used"),
    "body_too_large": (413, "Request body too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "unknown_field": (422, "Unknown field"),
    "field_required": (422, "Field required"),
    "field_invalid": (422, "Field invalid"),
    "field_too_long": (422, "Field too long"),
    "text_too_long": (422, "Text too long"),
    "text_too_complex": (422, "Text too complex"),
    "email_invalid": (422, "Email invalid"),
    "website_invalid": (422, "Website invalid"),
    "uri_invalid": (422, "URI invalid"),
    "name_invalid": (422, "Name invalid"),
    "name_reserved": (422, "Name reserved"),
    "email_reserved": (422, "Email reserved"),
    "parent_not_found": (422, "Parent not found"),
    "too_many_uris": (422, "Too many URIs"),
    "password_too_short": (422, "Password too short"),
    "password_mismatch": (422, "Passwords differ"),
    "rate_limited": (429, "Too many comments"),
    "slow_mode": (429, "Slow mode"),
    "too_many_attempts": (429, "Too many sign-in attempts"),
    "internal_error": (500, "Internal error"),
    "database_unavailable": (503, "Database unavailable"),
    "server_busy": (503, "Server busy"),
    "too_many_streams": (503, "Too many streams"),
    "storage_full": (507, "Storage full"),
}

# Seconds a client should wait before trying again, by fault: a database restarts in seconds,
# while space on a full disk comes back when someone frees it.
RETRY_AFTER = {"database_unavailable": 5, "storage_full": 60}
FAULT_DETAILS = {
    "database_unavailable": "The database does not answer; nothing was changed. Try again shortly.",
    "storage_full": "The server has no space left to store this; nothing was changed. "
    "Try again later.",
}
# A crash ends the connection (the server cannot trust its state): say so, and clients open a
# fresh one for their next request instead of failing it on a closed socket.
CLOSING = {"Connection": "close"}


class Problem(Exception):
    """Anything a client did wrong (or that went wrong for it), with a stable code."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.status, self.title = CODES[code]
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        # Members beyond the standard ones (RFC 9457 allows them): `retry_after`, `challenge`.
        self.extra = extra or {}

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "type": f"https://comments.invalid/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        return {**body, **self.extra}


def fault_problem(code: str) -> Problem:
    """The answer to a database fault (see db.fault): its code, and when to try again."""
    return Problem(code, FAULT_DETAILS[code], headers={"Retry-After": str(RETRY_AFTER[code])})


class CommandError(Exception):
    """What stops a command of the site owner's (`comments import`, `comments export`): one line
    naming the file, the line or element, and what is wrong. Not an HTTP problem: no code."""
