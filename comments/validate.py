"""Untrusted input -> models: allowlisted keys, typed values, or a Problem naming the field."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit

from comments.errors import Problem
from comments.models import Cursor, Sort, Submission

MAX_AUTHOR = 100
MAX_EMAIL = 254
MAX_WEBSITE = 500
MAX_TITLE = 300
MAX_URI = 2000
MAX_STAMP = 200
MAX_REASON = 500
MAX_COUNT_URIS = 100
MAX_PAGE = 200
DEFAULT_PAGE = 50

# C0/C1 controls except tab, newline, carriage return; they only ever hide things.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# What a path segment may hold unescaped (RFC 3986 pchar less "%"): the characters our keys
# always had unescaped, so keys stored before normalization still match.
SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
QUERY_SAFE = "!$'()*,;:@/?-._~"
ASCII_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Problem("invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem("invalid_json", "The request body must be a JSON object.")
    return data


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise Problem("unknown_field", f"The field {key!r} is not accepted here.", field=key)


def _string(data: dict[str, Any], field: str, limit: int) -> str | None:
    """An optional one-line string: controls removed, whitespace collapsed, '' becomes None."""
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Problem("field_invalid", f"{field} must be a string.", field=field)
    value = " ".join(CONTROL.sub("", value).split())
    if len(value) > limit:
        raise Problem(
            "field_too_long", f"{field} has {len(value)} characters; at most {limit}.", field=field
        )
    return value or None


def text(data: dict[str, Any], max_length: int) -> str:
    value = data.get("text")
    if value is not None and not isinstance(value, str):
        raise Problem("field_invalid", "text must be a string.", field="text")
    value = CONTROL.sub("", (value or "").replace("\r\n", "\n")).strip()
    if not value:
        raise Problem("field_required", "Write something first.", field="text")
    if len(value) > max_length:
        raise Problem(
            "text_too_long",
            f"The text has {len(value)} characters; at most {max_length} are allowed.",
            field="text",
        )
    return value


def uri(raw: object, field: str = "uri", query_parameters: Collection[str] | None = None) -> str:
    """The canonical thread key of a page, the same for every address the web treats as that
    page: the path, normalized (see normalize_path), and of the query only `query_parameters`
    (None keeps every parameter: callers that know no site's list, such as imports and the
    migrations, lose nothing). A full http(s) URL counts by its path. Idempotent: a key is its
    own key, and filtering a key's query by a list gives the key of the address by that list."""
    if not isinstance(raw, str) or not raw.strip():
        raise Problem("field_required", "The page URI is missing.", field=field)
    raw = raw.strip()
    if len(raw) > MAX_URI:
        raise Problem("field_too_long", f"The URI is longer than {MAX_URI}.", field=field)
    if CONTROL.search(raw) or any(ch.isspace() for ch in raw):
        raise Problem("uri_invalid", "The URI contains spaces or control characters.", field=field)
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise Problem("uri_invalid", "The URI cannot be parsed.", field=field) from None
    is_url = parts.scheme in ("http", "https") and parts.netloc
    if not is_url and (parts.scheme or not parts.path.startswith("/")):
        raise Problem("uri_invalid", "The URI must be a path like /2026/11/post/.", field=field)
    query = normalize_query(parts.query, query_parameters)
    key = normalize_path(parts.path or "/") + (f"?{query}" if query else "")
    if len(key) > MAX_URI:
        raise Problem("field_too_long", f"The URI is longer than {MAX_URI}.", field=field)
    return key


def normalize_path(path: str) -> str:
    """One form per page: `//` is `/`; in each segment an escape of a character that needs
    none is that character (`%7e` is `~`, `%41` is `A`) and the rest are escaped in upper case
    (`%c3%a9` and `é` are `%C3%A9`), but an escaped slash stays one (`%2F` is not a segment
    break); `.` and `..` segments are resolved; `index.html` and `index.htm` are their folder;
    and the path ends with `/` unless its last segment has a dot (`/post` is `/post/`,
    `/about.html/` is `/about.html`), so links built from a key stay good links."""
    segments: list[str] = []
    for segment in re.sub("/{2,}", "/", path).split("/")[1:]:
        segment = quote(unquote_to_bytes(segment), safe=SEGMENT_SAFE)
        if segment == "..":
            del segments[-1:]
        elif segment != ".":
            segments.append(segment)
    while segments and segments[-1] in ("", "index.html", "index.htm"):
        segments.pop()
    if not segments:
        return "/"
    last = segments[-1]
    return "/" + "/".join(segments) + ("" if "." in last else "/")


def normalize_query(query: str, keep: Collection[str] | None) -> str:
    """The parameters kept (every one when `keep` is None), sorted by name (in order among the
    same name), each escaped one way: `?b=2&a=1` and `?a=%31&b=2` are `a=1&b=2`."""
    if not query or (keep is not None and not keep):
        return ""
    # Bytes, as the browser sent them: a character outside ASCII counts as its UTF-8 escape.
    ascii_query = quote(query, safe=ASCII_PRINTABLE)
    pairs = [
        (name, value)
        for name, value in parse_qsl(ascii_query, keep_blank_values=True, encoding="latin-1")
        if keep is None or name in keep
    ]
    pairs.sort(key=lambda pair: pair[0])
    return urlencode(pairs, quote_via=quote, safe=QUERY_SAFE, encoding="latin-1")


def website(data: dict[str, Any]) -> str | None:
    value = _string(data, "website", MAX_WEBSITE)
    if value is None:
        return None
    if "://" not in value and not value.startswith("//") and ":" not in value.split("/")[0]:
        value = "https://" + value  # "example.org" means the obvious thing
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Problem(
            "website_invalid", "The website must be an http or https URL.", field="website"
        )
    return value


def email(data: dict[str, Any]) -> str | None:
    value = _string(data, "email", MAX_EMAIL)
    if value is not None and not EMAIL.fullmatch(value):
        raise Problem("email_invalid", "This is not an email address.", field="email")
    return value


def submission(data: dict[str, Any], max_length: int) -> Submission:
    _only(
        data,
        {
            "uri",
            "parent",
            "text",
            "author",
            "email",
            "website",
            "title",
            "notify",
            "stamp",
            "honeypot",
        },
    )
    notify = data.get("notify", False)
    if not isinstance(notify, bool):
        raise Problem("field_invalid", "notify must be true or false.", field="notify")
    parent = data.get("parent")
    if parent is not None and (not isinstance(parent, int) or isinstance(parent, bool)):
        raise Problem("field_invalid", "parent must be a comment id.", field="parent")
    return Submission(
        uri=uri(data.get("uri")),
        text=text(data, max_length),
        parent=parent,
        author=_string(data, "author", MAX_AUTHOR),
        email=email(data),
        website=website(data),
        title=_string(data, "title", MAX_TITLE),
        notify=notify,
        stamp=_string(data, "stamp", MAX_STAMP),
        honeypot=_string(data, "honeypot", MAX_AUTHOR),
    )


def report(data: dict[str, Any]) -> str:
    _only(data, {"reason"})
    return _string(data, "reason", MAX_REASON) or ""


def edit(data: dict[str, Any], max_length: int) -> str:
    _only(data, {"text"})
    return text(data, max_length)


def preview(data: dict[str, Any], max_length: int) -> str:
    _only(data, {"text"})
    return text(data, max_length)


def count_uris(data: dict[str, Any]) -> list[str]:
    _only(data, {"uris"})
    uris = data.get("uris")
    if not isinstance(uris, list) or not all(isinstance(item, str) for item in uris):
        raise Problem("field_invalid", "uris must be a list of strings.", field="uris")
    if len(uris) > MAX_COUNT_URIS:
        raise Problem("too_many_uris", f"At most {MAX_COUNT_URIS} URIs per request.", field="uris")
    return uris


def thread_query(params: dict[str, str]) -> tuple[str, Sort, int, Cursor | None]:
    """The query of GET /api/threads: uri, sort, limit, after."""
    try:
        page_uri = uri(params.get("uri"))
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None
    try:
        sort = Sort(params.get("sort", Sort.OLDEST))
    except ValueError:
        raise Problem("invalid_parameter", "sort is oldest or newest.", field="sort") from None
    limit_text = params.get("limit", str(DEFAULT_PAGE))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise Problem(
            "invalid_parameter", f"limit is a number from 1 to {MAX_PAGE}.", field="limit"
        )
    after = params.get("after")
    return page_uri, sort, int(limit_text), parse_cursor(after) if after else None


def cursor_token(cursor: Cursor) -> str:
    raw = f"{cursor.created.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, comment_id = raw.split("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return Cursor(moment, int(comment_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            "invalid_parameter", "after is not a cursor from `next`.", field="after"
        ) from None
