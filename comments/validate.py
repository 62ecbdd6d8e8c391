"""Untrusted input -> models: allowlisted keys, typed values, or a Problem naming the field."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit

from comments.errors import Problem
from comments.models import (
    BanScope,
    BanTerms,
    Cursor,
    PageQuery,
    Report,
    ReportCategory,
    Sort,
    Submission,
)
from comments.sanitize import MAX_MARKUP, markup_weight

MAX_AUTHOR = 100
MAX_EMAIL = 254
MAX_WEBSITE = 500
MAX_TITLE = 300
MAX_URI = 2000
MAX_CHALLENGE = 512
MAX_SOLUTION = 16
# The stored key may be a little longer than what was sent (a trailing slash, escapes): the
# column holds 2048.
MAX_KEY = 2048
MAX_STAMP = 200
MAX_REASON = 500
MAX_BAN_DAYS = 3650
DEFAULT_BAN_DAYS = 7
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


MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; a bigger one names no comment


@dataclass(frozen=True)
class Field:
    """One key a request may send: what the validator enforces and the API description says."""

    name: str
    type: str  # the JSON type: "string", "integer", "boolean" or "array" (of strings)
    description: str
    required: bool = False
    nullable: bool = False  # null means absent
    max_length: int | None = None  # characters of a string (after cleaning), items of an array
    is_text: bool = False  # the comment's text: its max length is the setting max_length
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    too_long: str = "field_too_long"  # the code when max_length is passed
    codes: tuple[str, ...] = ()  # further codes its own check raises

    def limit(self, max_length: int) -> int | None:
        return max_length if self.is_text else self.max_length

    def accepts(self, value: object) -> bool:
        """The JSON type and bounds (not the length): a value the field's reader can take."""
        if value is None:
            return self.nullable
        if self.type == "string":
            return isinstance(value, str) and is_encodable(value)
        if self.type == "array":
            return isinstance(value, list) and all(
                isinstance(item, str) and is_encodable(item) for item in value
            )
        if self.type == "boolean":
            return isinstance(value, bool)
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
        )


URI_FIELD = Field(
    "uri",
    "string",
    "the page: a path like /2026/11/post/ or an http(s) URL (its path is kept)",
    required=True,
    max_length=MAX_URI,
    codes=("uri_invalid",),
)
TEXT_FIELD = Field(
    "text",
    "string",
    "Markdown",
    required=True,
    is_text=True,
    too_long="text_too_long",
    codes=("text_too_complex",),
)
SUBMISSION_FIELDS = (
    URI_FIELD,
    Field("parent", "integer", "the comment replied to", nullable=True, minimum=1, maximum=MAX_ID),
    TEXT_FIELD,
    Field("author", "string", "a name", nullable=True, max_length=MAX_AUTHOR),
    Field(
        "email",
        "string",
        "kept private",
        nullable=True,
        max_length=MAX_EMAIL,
        codes=("email_invalid",),
    ),
    Field(
        "website",
        "string",
        "an http(s) URL",
        nullable=True,
        max_length=MAX_WEBSITE,
        codes=("website_invalid",),
    ),
    Field("title", "string", "the page's title", nullable=True, max_length=MAX_TITLE),
    Field("notify", "boolean", "mail the author replies"),
    Field("stamp", "string", "from GET /api/stamp", nullable=True, max_length=MAX_STAMP),
    Field("honeypot", "string", "leave empty", nullable=True, max_length=MAX_AUTHOR),
    Field(
        "challenge",
        "string",
        "the `token` of a challenge the server answered with",
        nullable=True,
        max_length=MAX_CHALLENGE,
    ),
    Field("solution", "string", "what solves it", nullable=True, max_length=MAX_SOLUTION),
)
EDIT_FIELDS = (TEXT_FIELD,)
PREVIEW_FIELDS = (TEXT_FIELD,)
REPORT_FIELDS = (
    Field(
        "category",
        "string",
        "why, in a word (absent: other)",
        nullable=True,
        enum=tuple(category.value for category in ReportCategory),
    ),
    Field("reason", "string", "the reader's note", nullable=True, max_length=MAX_REASON),
)
COUNT_FIELDS = (
    Field(
        "uris",
        "array",
        "pages, as the embed's data-uri would name them",
        required=True,
        max_length=MAX_COUNT_URIS,
        too_long="too_many_uris",
    ),
)
# The query of GET /api/counts: the same list, as `uri` repeated.
COUNT_PARAMS = (
    Field(
        "uri",
        "array",
        "a page, as the embed's data-uri would name it; repeat for each page",
        required=True,
        max_length=MAX_COUNT_URIS,
        too_long="too_many_uris",
    ),
)
SUBMISSION = {field.name: field for field in SUBMISSION_FIELDS}
# The query of GET /api/threads; every error there is invalid_parameter.
THREAD_PARAMS = (
    Field("uri", "string", URI_FIELD.description, required=True, max_length=MAX_URI),
    Field(
        "sort",
        "string",
        "oldest first (the default), newest first, or best: by readers' votes, the newer "
        "comments helped (its `next` and `prev` are places, not times)",
        enum=tuple(sort.value for sort in Sort),
    ),
    Field("limit", "integer", "top-level comments per page", minimum=1, maximum=MAX_PAGE),
    Field("after", "string", "the `next` of the page before"),
    Field("before", "string", "the `prev` of the page after: the page that precedes it"),
    Field(
        "around",
        "integer",
        "a comment's id: the page that opens with its top-level comment (a permalink)",
        minimum=1,
        maximum=MAX_ID,
    ),
)
THREAD = {field.name: field for field in THREAD_PARAMS}


def is_encodable(value: str) -> bool:
    """No lone surrogate ('\\ud800' is valid JSON but no UTF-8 text: no database stores it)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):  # ValueError: also integers of 4,300+ digits
        raise Problem("invalid_json", "The request body is not valid JSON.") from None
    except RecursionError:
        raise Problem("invalid_json", "The request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise Problem("invalid_json", "The request body must be a JSON object.")
    return data


def checked(data: dict[str, Any], fields: tuple[Field, ...]) -> None:
    """Only the declared keys, each of its declared type: before any value is read."""
    declared = {field.name: field for field in fields}
    for key, value in data.items():
        field = declared.get(key)
        if field is None:
            key = key.encode(errors="backslashreplace").decode()
            raise Problem("unknown_field", f"The field {key!r} is not accepted here.", field=key)
        if not field.accepts(value):
            raise Problem("field_invalid", f"{key} must be {_expected(field)}.", field=key)


def _expected(field: Field) -> str:
    if field.type == "integer" and field.maximum is not None:
        return f"a whole number from {field.minimum} to {field.maximum}"
    kinds = {"boolean": "true or false", "array": "a list of strings", "integer": "a number"}
    return kinds.get(field.type, "a string")


def line(data: dict[str, Any], field: Field) -> str | None:
    """A field's optional one-line string (see _string), for the rooms that declare fields."""
    return _string(data, field)


def _string(data: dict[str, Any], field: Field) -> str | None:
    """An optional one-line string: controls removed, whitespace collapsed, '' becomes None."""
    value = data.get(field.name)
    if value is None:
        return None
    if not isinstance(value, str) or not is_encodable(value):
        raise Problem("field_invalid", f"{field.name} must be a string.", field=field.name)
    value = " ".join(CONTROL.sub("", value).split())
    limit = field.max_length or 0
    if len(value) > limit:
        raise Problem(
            field.too_long,
            f"{field.name} has {len(value)} characters; at most {limit}.",
            field=field.name,
        )
    return value or None


def text(data: dict[str, Any], max_length: int) -> str:
    value = data.get("text")
    if value is not None and (not isinstance(value, str) or not is_encodable(value)):
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
    if markup_weight(value) > MAX_MARKUP:
        # Only texts far from prose get here (see sanitize.MAX_MARKUP): their rendering would
        # cost seconds of CPU.
        raise Problem(
            "text_too_complex",
            "The text has too much markup (punctuation, symbols and line breaks) to show; "
            "shorten it or split it.",
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
    if CONTROL.search(raw) or any(ch.isspace() for ch in raw) or not is_encodable(raw):
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
    if len(key) > MAX_KEY:
        raise Problem("field_too_long", f"The page's key is longer than {MAX_KEY}.", field=field)
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
    value = _string(data, SUBMISSION["website"])
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
    value = _string(data, SUBMISSION["email"])
    if value is not None and not EMAIL.fullmatch(value):
        raise Problem("email_invalid", "This is not an email address.", field="email")
    return value


def submission(data: dict[str, Any], max_length: int) -> Submission:
    checked(data, SUBMISSION_FIELDS)
    return Submission(
        uri=uri(data.get("uri")),
        text=text(data, max_length),
        parent=data.get("parent"),
        author=_string(data, SUBMISSION["author"]),
        email=email(data),
        website=website(data),
        title=_string(data, SUBMISSION["title"]),
        notify=data.get("notify", False),
        stamp=_string(data, SUBMISSION["stamp"]),
        honeypot=_string(data, SUBMISSION["honeypot"]),
        challenge=_string(data, SUBMISSION["challenge"]),
        solution=_string(data, SUBMISSION["solution"]),
    )


def report(data: dict[str, Any]) -> Report:
    checked(data, REPORT_FIELDS)
    raw = data.get("category")
    if raw is not None and raw not in REPORT_FIELDS[0].enum:
        raise Problem(
            "field_invalid", "category is spam, abuse, off-topic or other.", field="category"
        )
    category = ReportCategory(raw) if raw is not None else ReportCategory.OTHER
    return Report(category, _string(data, REPORT_FIELDS[1]) or "")


def edit(data: dict[str, Any], max_length: int) -> str:
    checked(data, EDIT_FIELDS)
    return text(data, max_length)


def preview(data: dict[str, Any], max_length: int) -> str:
    checked(data, PREVIEW_FIELDS)
    return text(data, max_length)


def count_uris(data: dict[str, Any]) -> list[str]:
    checked(data, COUNT_FIELDS)
    uris = data.get("uris")
    if uris is None:
        raise Problem("field_required", "uris is a list of page URIs.", field="uris")
    if len(uris) > MAX_COUNT_URIS:
        raise Problem("too_many_uris", f"At most {MAX_COUNT_URIS} URIs per request.", field="uris")
    return uris


def count_query(uris: list[str]) -> list[str]:
    """The query of GET /api/counts: `uri` once per page (other parameters are ignored)."""
    if not uris:
        raise Problem("invalid_parameter", "Name the pages: ?uri=/a/&uri=/b/.", field="uri")
    if len(uris) > MAX_COUNT_URIS:
        raise Problem("too_many_uris", f"At most {MAX_COUNT_URIS} URIs per request.", field="uri")
    return uris


def stream_query(params: Mapping[str, str], last_event_id: str | None) -> tuple[str, int | None]:
    """The query of GET /api/stream: the thread, and the version a stream resumes from (the
    `Last-Event-ID` header EventSource sends on reconnecting wins over `last_event_id`)."""
    try:
        page_uri = uri(params.get("uri"))
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None
    given = last_event_id if last_event_id is not None else params.get("last_event_id")
    if given is None or given.strip() == "":
        return page_uri, None
    since = whole_number(given.strip(), 0, MAX_ID)
    if since is None:
        raise Problem(
            "invalid_parameter",
            f"last_event_id is a thread version, 0 to {MAX_ID}.",
            field="last_event_id",
        )
    return page_uri, since


def config_query(params: Mapping[str, str]) -> str | None:
    """The query of GET /api/config: the thread (`uri`) whose surge mode to tell, if any."""
    if "uri" not in params:
        return None
    try:
        return uri(params["uri"])
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None


def thread_query(params: dict[str, str]) -> PageQuery:
    """The query of GET /api/threads: uri, sort, limit, and at most one of after, before, around."""
    try:
        page_uri = uri(params.get("uri"))
    except Problem as problem:
        raise Problem("invalid_parameter", problem.detail, field="uri") from None
    sort, bounds = params.get("sort", Sort.OLDEST), THREAD["limit"]
    if sort not in THREAD["sort"].enum:
        raise Problem("invalid_parameter", "sort is oldest, newest or best.", field="sort")
    limit = whole_number(params.get("limit", str(DEFAULT_PAGE)), bounds.minimum, bounds.maximum)
    if limit is None:
        raise Problem(
            "invalid_parameter",
            f"limit is a number from {bounds.minimum} to {bounds.maximum}.",
            field="limit",
        )
    anchors = [name for name in ("after", "before", "around") if params.get(name)]
    if len(anchors) > 1:
        raise Problem(
            "invalid_parameter", "after, before and around exclude each other.", field=anchors[1]
        )
    after, before, around = params.get("after"), params.get("before"), params.get("around")
    around_id = None
    if around:
        around_id = whole_number(around, THREAD["around"].minimum, THREAD["around"].maximum)
        if around_id is None:
            raise Problem(
                "invalid_parameter", f"around is a comment id, 1 to {MAX_ID}.", field="around"
            )
    query = PageQuery(
        page_uri,
        Sort(sort),
        limit,
        after=parse_cursor(after) if after else None,
        before=parse_cursor(before, "before") if before else None,
        around=around_id,
    )
    # A place in the best order means nothing in an order of time, nor a time in that one.
    for name, cursor in (("after", query.after), ("before", query.before)):
        if cursor is not None and (cursor.offset is None) == (query.sort is Sort.BEST):
            detail = f"{name} comes from a page in another order than {query.sort}."
            raise Problem("invalid_parameter", detail, field=name)
    return query


def thread_title(form: Mapping[str, str]) -> str:
    """A moderator's title for a thread: one line, not empty, as long as a reader's may be."""
    title = " ".join(CONTROL.sub("", form.get("title", "")).split())
    if not title:
        raise Problem("field_required", "Type the thread's title.", field="title")
    if len(title) > MAX_TITLE:
        raise Problem("field_too_long", f"At most {MAX_TITLE} characters.", field="title")
    return title


def ban_terms(form: Mapping[str, str], default_reason: str | None = None) -> BanTerms:
    """A moderator's ban form (the admin's, or the page behind a mail link): what it covers,
    why (required unless there is a default), and how long: `days` (empty: 7), or `permanent`
    ticked."""
    raw_scope = form.get("scope", "").strip()
    try:
        scope = BanScope(raw_scope) if raw_scope else None
    except ValueError:
        raise Problem("field_invalid", "Ban by email, network or both.", field="scope") from None
    reason = CONTROL.sub("", form.get("reason", "")).strip() or default_reason
    if not reason:
        raise Problem(
            "field_required", "Say why, for the audit log and the bans page.", field="reason"
        )
    if len(reason) > MAX_REASON:
        raise Problem("field_too_long", f"At most {MAX_REASON} characters.", field="reason")
    if form.get("permanent", "").strip():
        return BanTerms(scope, reason, None)
    raw_days = form.get("days", "").strip()
    days = whole_number(raw_days, 1, MAX_BAN_DAYS) if raw_days else DEFAULT_BAN_DAYS
    if days is None:
        raise Problem(
            "field_invalid", f"Days is a whole number from 1 to {MAX_BAN_DAYS}.", field="days"
        )
    return BanTerms(scope, reason, days)


def whole_number(raw: str, minimum: int | None, maximum: int | None) -> int | None:
    """ASCII digits naming a number in range, else None. ('²'.isdigit() is true but int('²')
    fails; int() refuses more than 4,300 digits, and no bound here needs 20.)"""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20:
        return None
    number = int(raw)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        return None
    return number


def offset_cursor(offset: int) -> Cursor:
    """A cursor of the best order: how many top-level comments come before the place it marks."""
    return Cursor(datetime.fromtimestamp(0, UTC), 0, offset)  # no time, no comment: a place


def cursor_token(cursor: Cursor) -> str:
    """`time|id` of the comment a page ends or begins with, or `offset|N` (the best order)."""
    if cursor.offset is not None:
        raw = f"offset|{cursor.offset}".encode()
    else:
        raw = f"{cursor.created.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(token: str, name: str = "after") -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, comment_id = raw.split("|")
        if created == "offset":
            offset = whole_number(comment_id, 0, MAX_ID)
            if offset is None:
                raise ValueError("no offset")
            return offset_cursor(offset)
        moment = datetime.fromisoformat(created)
        number = whole_number(comment_id, 1, MAX_ID)
        if moment.tzinfo is None or number is None:
            raise ValueError("naive time or no comment id")
        moment.astimezone(UTC)  # year 1 at +05:00 is no time in UTC
        return Cursor(moment, number)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            "invalid_parameter",
            f"{name} is not a cursor from `{'prev' if name == 'before' else 'next'}`.",
            field=name,
        ) from None
