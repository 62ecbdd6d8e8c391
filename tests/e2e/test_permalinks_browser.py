"""A permalink deep in a 10,000-comment thread opens at once, highlighted, in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.seeding import seed_thread

SIZE = 10_000


def every_fourth_replies(n: int, written: list) -> object:
    return written[-1] if n % 4 == 0 else None


def test_permalink_deep_in_a_huge_thread(page, host, any_server, unique):
    ids = seed_thread(any_server, host.origin, f"/{unique}.html", SIZE, every_fourth_replies)
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
