"""The embed's live stream: a comment posted in another tab waits behind "1 new comment" without
moving what the reader reads; edits and removals land in place; a hidden tab closes its stream and
catches up on return; an idle stream waits for the reader; a full server is asked again later,
not in a loop."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.widget import comments, open_thread, write

# A host page where the thread starts below the fold, so the reader scrolls into it.
TALL = (
    '<main><h1>An article</h1><p style="height: 1200px">Text.</p><div id="comments"></div></main>'
)


def streams(page: Page) -> list[Request]:
    """The page's requests to /api/stream, from now on, in order."""
    asked: list[Request] = []
    page.on("request", lambda r: "/api/stream" in r.url and asked.append(r))
    return asked


def last_event_id(request: Request) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)["last_event_id"][0]


def version(server: Server, origin: str, uri: str) -> int:
    status, page = server.api("GET", f"/api/threads?uri={uri}", origin=origin)
    assert status == 200, page
    return page["thread"]["version"]


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the tab is hidden or shown again (headless tabs stay visible)."""
    page.evaluate(
        """(state) => {
          for (const [name, value] of [['visibilityState', state], ['hidden', state === 'hidden']])
            Object.defineProperty(document, name, { value, configurable: true });
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


def card_top(widget, comment_id: int) -> float:
    return widget.locator(f"#comment-{comment_id} > .cm-card").evaluate(
        "e => e.getBoundingClientRect().top"
    )


def wait_a_little(page: Page, seconds: float) -> None:
    """Time for an event that must not come (the page's own timers run meanwhile)."""
    page.wait_for_timeout(seconds * 1000)


def wait_for(page: Page, check, seconds: float = 5) -> None:
    """Until `check()` holds: for what the page's requests show (expect() waits on the DOM)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def read_from(widget, comment_id: int) -> float:
    """Scroll as a reader does, to have that comment at the top of the screen; its top."""
    widget.locator(f"#comment-{comment_id}").evaluate("e => e.scrollIntoView()")
    return card_top(widget, comment_id)


@pytest.fixture
def other(browser, console) -> Iterator[Page]:
    """A second reader: a page in a browser context of its own, reporting to `console` too."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and console.errors.append(m.text))
    page.on("pageerror", lambda error: console.errors.append(f"pageerror: {error}"))
    yield page
    context.close()


def test_news_wait_behind_a_button_and_changes_land_in_place(page, other, host, any_server, unique):
    uri = f"/{unique}.html"
    seeded = [
        any_server.seed(host.origin, uri, f"Comment number {n}", author=f"Reader {n}")
        for n in range(1, 11)
    ]
    url = host.page(unique, any_server, TALL)
    reader_streams = streams(other)
    reader = open_thread(other, url)
    expect(comments(reader)).to_have_count(10)
    wait_for(other, lambda: reader_streams)  # opened once the page is shown, from its version
    assert last_event_id(reader_streams[0]) == str(version(any_server, host.origin, uri))
    # The reader reads the sixth comment.
    top = read_from(reader, seeded[5]["id"])
    scroll = other.evaluate("scrollY")
    assert scroll > 0

    writer = open_thread(page, url)
    write(writer.locator("form").first, "Fresh from the other tab", author="Writer")
    expect(comments(writer)).to_have_count(11)

    news = reader.get_by_role("button", name="1 new comment")
    expect(news).to_be_visible()
    expect(reader.locator(".cm-sr[aria-live]")).to_have_text("1 new comment")
    expect(reader.locator(".cm-title")).to_have_text("11 comments")
    expect(comments(reader)).to_have_count(10)  # not inserted until asked
    assert other.evaluate("scrollY") == scroll
    assert abs(card_top(reader, seeded[5]["id"]) - top) < 1
    assert 0 <= news.bounding_box()["y"] < 50  # on screen, at its top, over the thread
    assert_accessible(Axe(), other, "the new comments button")
    # The writer's own stream told it of its own comment, which it shows already.
    expect(writer.locator(".cm-fresh")).to_be_hidden()
    expect(writer.locator(".cm-title")).to_have_text("11 comments")

    # The button is in the tab order, before the list.
    news.focus()
    other.keyboard.press("Enter")
    fresh = comments(reader).last
    expect(fresh.locator(".cm-body")).to_have_text("Fresh from the other tab")
    expect(fresh).to_have_class(re.compile(r"\bcm-new\b"))
    expect(fresh.locator(".cm-card")).to_be_focused()
    expect(reader.locator(".cm-fresh")).to_be_hidden()
    expect(comments(reader)).to_have_count(11)

    # An edit above the screen: in place, and what the reader reads does not move.
    top = read_from(reader, seeded[6]["id"])
    scroll = other.evaluate("scrollY")
    edited = seeded[2]
    assert reader.locator(f"#comment-{edited['id']}").evaluate(
        "e => e.getBoundingClientRect().bottom < 0"
    )
    status, _ = any_server.api(
        "PATCH",
        f"/api/comments/{edited['id']}",
        {"text": "Comment number 3, now\n\nwith a *second* paragraph that makes it taller"},
        host.origin,
        edited["edit_token"],
    )
    assert status == 200
    card = reader.locator(f"#comment-{edited['id']}")
    expect(card.locator(".cm-body em")).to_have_text("second")
    expect(card.locator(".cm-edited")).to_have_text("edited")
    assert abs(card_top(reader, seeded[6]["id"]) - top) < 1
    assert other.evaluate("scrollY") != scroll  # compensated by hand

    # A removal: the comment says so where it was, without a fetch; the count follows.
    removed = seeded[7]
    fetched = []
    other.on("request", lambda r: f"/api/comments/{removed['id']}" in r.url and fetched.append(r))
    status, _ = any_server.api(
        "DELETE", f"/api/comments/{removed['id']}", None, host.origin, removed["edit_token"]
    )
    assert status == 200
    gone = reader.locator(f"#comment-{removed['id']}")
    expect(gone.locator(".cm-body")).to_have_text("This comment was removed.")
    expect(gone).to_have_class(re.compile(r"\bcm-gone\b"))
    expect(reader.locator(".cm-title")).to_have_text("10 comments")
    expect(writer.locator(".cm-title")).to_have_text("10 comments")
    expect(comments(reader)).to_have_count(11)
    assert not fetched


def test_a_reply_goes_under_its_parent_and_many_reload_the_page(page, host, any_server, unique):
    uri = f"/{unique}.html"
    first = any_server.seed(host.origin, uri, "The parent", author="Ada")
    widget = open_thread(page, host.page(unique, any_server))
    expect(comments(widget)).to_have_count(1)
    reply = any_server.seed(host.origin, uri, "A reply", author="Bo", parent=first["id"])
    any_server.seed(host.origin, uri, "Another top-level one", author="Cy")
    news = widget.get_by_role("button", name="2 new comments")
    news.click()
    under = widget.locator(f"#comment-{first['id']} > .cm-replies > #comment-{reply['id']}")
    expect(under).to_be_visible()
    expect(comments(widget)).to_have_count(2)
    expect(widget.locator(".cm-new")).to_have_count(2)
    expect(widget.locator(f"#comment-{reply['id']} > .cm-card")).to_be_focused()  # the first
    # More than twenty at once: the first page again, rather than a request for each.
    asked = []
    page.on("request", lambda r: "/api/comments/" in r.url and asked.append(r.url))
    for n in range(21):
        any_server.seed(host.origin, uri, f"Flood {n}")
    widget.get_by_role("button", name="21 new comments").click()
    expect(comments(widget)).to_have_count(20)  # the page's limit
    expect(widget.locator(".cm-fresh")).to_be_hidden()
    assert not asked


def test_a_hidden_tab_closes_its_stream_and_catches_up_on_return(page, host, any_server, unique):
    uri = f"/{unique}.html"
    any_server.seed(host.origin, uri, "Before", author="Ada")
    asked = streams(page)
    closed: list[Request] = []
    page.on("requestfailed", lambda r: "/api/stream" in r.url and closed.append(r))
    widget = open_thread(page, host.page(unique, any_server))
    expect(comments(widget)).to_have_count(1)
    wait_for(page, lambda: asked)
    assert len(asked) == 1

    set_visibility(page, "hidden")
    wait_for(page, lambda: closed)
    assert [r.url for r in closed] == [asked[0].url]  # the browser dropped the stream
    seen = version(any_server, host.origin, uri)
    late = any_server.seed(host.origin, uri, "Written while the tab was hidden", author="Bo")
    page.mouse.wheel(0, 100)  # a scroll while hidden (a script's, say) does not open it
    wait_a_little(page, 1.5)
    assert len(asked) == 1
    expect(widget.locator(".cm-fresh")).to_be_hidden()

    set_visibility(page, "visible")
    news = widget.get_by_role("button", name="1 new comment")
    expect(news).to_be_visible()
    assert len(asked) == 2
    assert last_event_id(asked[1]) == str(seen)  # resumed where it left off
    news.click()
    expect(widget.locator(f"#comment-{late['id']} .cm-body")).to_have_text(
        "Written while the tab was hidden"
    )


def test_the_stream_under_a_strict_csp(page, host, any_server, unique):
    s = any_server.url
    csp = (
        f"default-src 'none'; script-src {s}; style-src {s}; connect-src {s}; "
        f"img-src {s} data:; base-uri 'none'; form-action 'none'"  # data: for the page's icon
    )
    page.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI))"
    )
    answers = []
    page.on("response", lambda r: "/api/stream" in r.url and answers.append(r.status))
    widget = open_thread(page, host.page(unique, any_server, csp=csp))
    wait_for(page, lambda: answers)
    any_server.seed(host.origin, f"/{unique}.html", "Pushed past the policy")
    expect(widget.get_by_role("button", name="1 new comment")).to_be_visible()
    assert answers == [200]
    assert page.evaluate("window.violations") == []


@pytest.fixture(scope="module")
def server_still(tmp_path_factory, host) -> Iterator[Server]:
    """A site owner who turned the streams off."""
    yield from start_server(tmp_path_factory, host, "still", max_streams="0")


@pytest.mark.parametrize("how", ["data-live", "server"])
def test_no_stream_when_the_page_opts_out_or_the_server_has_none(request, page, host, unique, how):
    server = request.getfixturevalue("server" if how == "data-live" else "server_still")
    asked = streams(page)
    live = ' data-live="false"' if how == "data-live" else ""
    widget = open_thread(page, host.page(unique, server, f'<div id="comments"{live}></div>'))
    server.seed(host.origin, f"/{unique}.html", "Unannounced")
    wait_a_little(page, 1.5)
    assert not asked
    expect(widget.locator(".cm-fresh")).to_be_hidden()
    expect(widget.locator(".cm-title")).to_have_text("No comments yet")


# A server with room for one stream, ended after 3 s without a change.


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server_scarce(request, tmp_path_factory, host, fresh_database) -> Iterator[Server]:
    settings = {"max_streams": "1", "stream_idle": "3s"}
    if request.param == "postgresql":
        settings["database_url"] = fresh_database("postgresql")
    yield from start_server(tmp_path_factory, host, f"scarce-{request.param}", **settings)


class Probe:
    """A stream held open from here, as another reader's would be: takes the server's room."""

    def __init__(self, server: Server, origin: str, uri: str) -> None:
        request = urllib.request.Request(f"{server.url}/api/stream?uri={uri}")
        request.add_header("Origin", origin)
        try:
            self.response = urllib.request.urlopen(request, timeout=10)
            self.status = self.response.status
        except urllib.error.HTTPError as error:
            self.response = error
            self.status = error.code

    def close(self) -> None:
        self.response.close()


def probe_status(server: Server, origin: str, uri: str) -> int:
    probe = Probe(server, origin, uri)
    probe.close()
    return probe.status


def test_a_full_server_is_asked_again_later_and_an_idle_stream_waits_for_the_reader(
    page, console, host, server_scarce, unique
):
    console.expect(r"status of 503|text/event-stream")  # how Chromium reports the refusal
    uri = f"/{unique}.html"
    server = server_scarce
    server.seed(host.origin, uri, "Hello", author="Ada")
    page.clock.install()
    asked = streams(page)
    answers = []
    page.on("response", lambda r: "/api/stream" in r.url and answers.append(r.status))

    holder = Probe(server, host.origin, uri)
    assert holder.status == 200
    try:
        widget = open_thread(page, host.page(unique, server))
        wait_for(page, lambda: answers)
        page.mouse.wheel(0, 100)  # the reader's doings do not bring it back early
        page.keyboard.press("Tab")
        wait_a_little(page, 2)
        assert answers == [503]
        assert len(asked) == 1
    finally:
        holder.close()
    wait_a_little(page, 1)  # for the server to see that stream go
    page.clock.fast_forward("01:01")  # Retry-After is 30 s: asked again within a minute
    wait_for(page, lambda: len(answers) > 1)
    assert answers == [503, 200]
    server.seed(host.origin, uri, "Seen live", author="Bo")
    expect(widget.get_by_role("button", name="1 new comment")).to_be_visible()

    # 3 s without a change: the server says "idle" and ends the stream; the embed does not call
    # back (EventSource would, after 5 s), and the server has room again.
    wait_a_little(page, 9)
    assert len(asked) == 2
    assert probe_status(server, host.origin, uri) == 200
    late = server.seed(host.origin, uri, "While nobody read", author="Cy")
    wait_a_little(page, 1)
    assert len(asked) == 2
    page.mouse.move(10, 10)
    page.mouse.down()  # the reader is back
    page.mouse.up()
    expect(widget.get_by_role("button", name="2 new comments")).to_be_visible()
    assert len(asked) == 3
    widget.get_by_role("button", name="2 new comments").click()
    expect(widget.locator(f"#comment-{late['id']}")).to_be_visible()
