"""The thread as HTML, for readers without JavaScript and for crawlers: /thread?uri=&site= (a
whole page) and /thread/fragment (the same comments for a site to include server-side). With
`around=ID` either holds that comment's page, as the JSON permalink does, and says so when the
comment is not shown.

The same sanitized comments, order and paging as the JSON API; cached per thread version in this
process, ETagged and gzipped like the API's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments import validate
from comments.api import ETAGS, accepts_gzip, config, iso, read_page, service, site_uri
from comments.config import Config
from comments.feeds import feed_site
from comments.mail import thread_url
from comments.models import Node, PageQuery, Status, Thread, ThreadPage
from comments.pagecache import PageCache

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates" / "thread"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
MEDIA_TYPE = "text/html; charset=utf-8"
# The comments are sanitized already; should anything slip through, it still cannot run or load.
# (The JSON-LD block is data, not a script: no policy blocks it.)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def page_query(request: Request) -> PageQuery:
    # `site` names the thread's site here (crawlers send no Origin); the rest is the API's query.
    params = dict(parse_qsl(request.scope["query_string"].decode("latin-1"), True))
    params.pop("site", None)
    return validate.thread_query(params)


async def thread_html(request: Request) -> Response:
    return await respond(request, "page.html")


async def thread_fragment(request: Request) -> Response:
    return await respond(request, "fragment.html")


async def respond(request: Request, template: str) -> Response:
    query = page_query(request)
    site = feed_site(request)
    uri = site_uri(config(request), site, query.uri)
    comment_service = service(request)
    version = await comment_service.version_of(site, uri)
    etag = f'"t{version}"'
    headers = {"ETag": etag, "Cache-Control": "public, no-cache", "Vary": "Accept-Encoding"}
    if etag in ETAGS.findall(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    cache: PageCache = request.app.state.page_cache
    key = (template, site, uri, query)
    cached = cache.get(key)
    if cached is None or cached.version != version:
        page = await run_in_threadpool(read_page, comment_service, site, uri, query)
        version = page.thread.version if page.thread else 0
        body = render(config(request), template, site, page, query).encode()
        cached = cache.put(key, version, body)
        headers["ETag"] = f'"t{version}"'
    headers.update(PAGE_HEADERS, **{"Content-Type": MEDIA_TYPE})
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(cached.gzipped, headers={**headers, "Content-Encoding": "gzip"})
    return Response(cached.body, headers=headers)


def render(settings: Config, template: str, site: str, page: ThreadPage, query: PageQuery) -> str:
    thread = page.thread or Thread(0, site, page.uri, "", 0, False, 0)
    article = thread_url(settings, thread)

    def link(**anchor: str) -> str:
        params = {"uri": page.uri, "site": site, "sort": query.sort.value, **anchor}
        if query.limit != validate.DEFAULT_PAGE:
            params["limit"] = str(query.limit)
        return f"{settings.public_url}/thread?{urlencode(params)}"

    return TEMPLATES.get_template(template).render(
        title=thread.title or page.uri,
        article=article,
        count=thread.count,
        comments=page.comments,
        is_shown=lambda comment: comment.status is Status.APPROVED,
        iso=iso,
        next=link(after=validate.cursor_token(page.next)) if page.next else None,
        prev=link(before=validate.cursor_token(page.prev)) if page.prev else None,
        here=link(),
        missing=page.missing,
        structured=structured_data(thread, article, page.comments),
    )


def structured_data(thread: Thread, article: str, nodes: list[Node]) -> str:
    """schema.org JSON-LD: the discussion and its comments, nested as replies nest."""

    def comment(node: Node) -> dict[str, Any]:
        c = node.comment
        shown = c.status is Status.APPROVED
        author: dict[str, Any] = {"@type": "Person", "name": (c.author if shown else None) or ""}
        if shown and c.website:
            author["url"] = c.website
        data: dict[str, Any] = {
            "@type": "Comment",
            "@id": f"{article}#comment-{c.id}",
            "url": f"{article}#comment-{c.id}",
            "dateCreated": iso(c.created),
            "text": c.text if shown else "",
        }
        if shown:
            data["author"] = author if author["name"] else {"@type": "Person", "name": "Anonymous"}
        if node.replies:
            data["comment"] = [comment(reply) for reply in node.replies]
        return data

    document = {
        "@context": "https://schema.org",
        "@type": "DiscussionForumPosting",
        "headline": thread.title or thread.uri,
        "url": article,
        "mainEntityOfPage": article,
        "commentCount": thread.count,
        "comment": [comment(node) for node in nodes],
    }
    # Inside <script>, "</" could end it: escaped, the JSON means the same.
    return orjson.dumps(document).decode().replace("<", "\\u003c")


routes = [
    Route("/thread", thread_html, methods=["GET"]),
    Route("/thread/fragment", thread_fragment, methods=["GET"]),
]
