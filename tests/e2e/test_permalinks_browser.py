"""A permalink deep in a 10,000-comment thread opens at once, highlighted, in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from comments import db, store
from comments.db import transaction
from comments.models import Status

SIZE = 10_000


def seed_thread(server, origin: str, uri: str) -> list[int]:
    """SIZE comments in one thread, oldest first; every fourth one replies to the one before.

    The first goes through the API (which names the thread's site); the rest are written through
    the store functions posting uses, in one transaction: 10,000 posts over HTTP would take
    minutes."""
    first = server.seed(origin, uri, f"The first comment on {uri}")
    engine = db.create_engine(server.database_url)
    try:
        with transaction(engine, write=True) as conn:
            parent = store.threads.get_comment(conn, first["id"])
            start = datetime.now(UTC) - timedelta(days=30)
            written = [parent]
            for n in range(2, SIZE + 1):
                written.append(
                    store.threads.insert_comment(
                        conn,
                        thread_id=parent.thread_id,
                        parent=written[-1] if n % 4 == 0 else None,
                        author=f"Reader {n}",
                        email=None,
                        website=None,
                        text=f"Comment {n}",
                        html=f"<p>Comment {n}</p>",
                        status=Status.APPROVED,
                        created=start + timedelta(seconds=n),
                        ip_hash="seed",
                        avatar="0123456789abcdef",
                    )
                )
            store.threads.refresh_thread(conn, parent.thread_id)
        if engine.dialect.name == "postgresql":
            # Statistics, as autovacuum gathers them after such a load: without any, PostgreSQL's
            # planner takes the thread for empty and every page of it for seconds.
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return [comment.id for comment in written]


def test_permalink_deep_in_a_huge_thread(page, host, any_server, unique):
    ids = seed_thread(any_server, host.origin, f"/{unique}.html")
    body = '<div style="height:1500px">Article</div><div id="comments" data-limit="5"></div>'
    url = host.page(unique, any_server, body)
    asked = []
    page.on("request", lambda r: "/api/threads" in r.url and asked.append(r.url))
    wanted = ids[9_989]  # the 9,990th comment: a reply (every fourth one is)
    page.goto(f"{url}#comment-{wanted}")
    target = page.locator(f"#comments #comment-{wanted}")
    expect(target).to_have_class(re.compile("cm-hl"))
    expect(target).to_be_in_viewport()
    card = target.locator(":scope > article")
    expect(card).to_be_focused()
    expect(card).to_have_attribute("aria-current", "true")
    assert card.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    expect(page.locator("#comments .cm-title")).to_have_text("10,000 comments")
    assert len(asked) <= 2, asked
    assert "around=" in asked[0]

    # Older comments from there, placed above, and newer ones below.
    widget = page.locator("#comments")
    tops = widget.locator(".cm-list > li")
    shown = tops.count()
    widget.get_by_role("button", name="Load earlier comments").click()
    expect(tops).to_have_count(shown + 5)
    expect(target).to_be_in_viewport()  # what the reader looked at stays on screen
    before = tops.first.get_attribute("id")
    assert int(before.removeprefix("comment-")) < wanted
    widget.get_by_role("button", name="Load more comments").click()
    expect(widget.locator(f"#comment-{ids[-1]}")).to_be_attached()
