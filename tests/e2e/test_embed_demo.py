"""The demo page on the server's own origin, and screenshots of its thread to look at."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.widget import comments, write

RECENT = "/2026/11/library-branch-hours/", "/2026/11/water-rate-hearing/"
THREAD = [
    (
        "Marguerite H.",
        None,
        "I cross Elm at 5th with two kids every morning. Eleven meetings is "
        "enough; **build the crossings** at least, they are not even the controversial part.",
    ),
    (
        "Dale's nephew",
        0,
        "Nobody at the store is against the crossings. The loading zones were the "
        "whole fight, and the amendment fixed that. So why send it back?",
    ),
    (
        "Priya (Riverside)",
        1,
        "Because the phasing amendment failed and Brandvold wanted a win. "
        "Committee is where plans go to wait out a grant.",
    ),
    (
        "Sam Torres",
        None,
        "For anyone who wants the numbers: the crash data is in the "
        "[city's corridor study](https://example.org/elm-study), table 3.\n\n"
        "> 212 reported collisions, 19 involving people on foot or on bikes",
    ),
    ("Anonymous", None, "Fix the potholes first."),
]


def test_demo_page(page, server, screenshot_dir):
    origin = server.url  # the demo posts from the server's own origin
    ids: list[int] = []
    for author, parent, text in THREAD:
        fields = {"author": author} if author != "Anonymous" else {}
        if parent is not None:
            fields["parent"] = ids[parent]
        ids.append(server.seed(origin, "/demo", text, **fields)["id"])
    for n, uri in enumerate(RECENT):
        for i in range(n + 2):
            server.seed(origin, uri, f"comment {i} on {uri}")

    page.goto(server.url + "/demo")
    widget = page.locator("#comments")
    expect(widget.locator(".cm-title")).to_have_text("5 comments")
    expect(page.locator(".byline [data-comments-count]")).to_have_text("5 comments")
    expect(page.locator(".recent [data-comments-count]")).to_have_text(
        ["2 comments", "3 comments", "No comments yet", "No comments yet", "No comments yet"]
    )
    expect(widget.locator(f"#comment-{ids[2]}")).to_be_visible()

    write(widget.locator("form").first, "Trying the demo: *it works*.", author="Newcomer")
    expect(comments(widget).last.locator(".cm-body em")).to_have_text("it works")
    expect(page.locator(".byline [data-comments-count]")).to_have_text("6 comments")
    widget.locator("textarea").first.fill("A draft with **markdown**, shown in the preview.")
    expect(widget.locator(".cm-prev strong")).to_have_text("markdown")

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            widget.scroll_into_view_if_needed()
            page.wait_for_timeout(100)  # let the highlight of the new comment settle
            widget.screenshot(
                path=screenshot_dir / f"demo-thread-{scheme}-{width}.png", animations="disabled"
            )
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshot_dir / "demo-page-light-1280.png", full_page=True)
    assert re.search(r"Elm Street", page.title())
