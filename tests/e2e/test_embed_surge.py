"""The embed under a surge: slow mode's wait counts down (and is announced), the busy thread's
note shows, and the reader posts again once the wait is over."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, start_server
from tests.e2e.widget import comments, open_thread, write


@pytest.fixture(scope="module")
def server_surging(tmp_path_factory, host) -> Iterator[Server]:
    """Every comment is a surge: slow mode at once, 3 seconds between a reader's comments."""
    yield from start_server(
        tmp_path_factory,
        host,
        "surging",
        surge_rate="1",
        surge_hold_rate="0",
        slow_mode_seconds="3",
        challenge_difficulty="0",
    )


def test_slow_mode_counts_down_and_then_lets_the_reader_post(
    page, console, host, server_surging, unique
):
    console.expect("status of 429")  # the browser logs the refused post itself
    widget = open_thread(page, host.page(unique, server_surging))
    form = widget.locator("form").first
    write(form, "First thought", author="Ada")
    expect(comments(widget)).to_have_count(1)
    write(form, "Second thought")
    error = form.locator(".cm-e").last
    expect(error).to_have_text(re.compile(r"^Slow mode: you can post again in [123] s\.$"))
    expect(form.locator("button[type=submit]")).to_be_disabled()
    live = widget.locator("[aria-live]")
    expect(live).to_have_text(re.compile(r"you can post again in \d s"))
    expect(live).to_have_text("You can post again.", timeout=6_000)
    expect(error).to_be_hidden()
    form.locator("button[type=submit]").click()
    expect(comments(widget)).to_have_count(2)
    # A reload shows the thread's mode in the form.
    page.reload()
    expect(widget.locator(".cm-note")).to_have_text("Busy thread: one comment every 3 seconds.")


@pytest.fixture(scope="module")
def server_challenging(tmp_path_factory, host) -> Iterator[Server]:
    """Every comment is a surge without slow mode: each post needs the bot challenge solved."""
    yield from start_server(
        tmp_path_factory,
        host,
        "challenging",
        surge_rate="1",
        surge_hold_rate="0",
        slow_mode_seconds="0",
        challenge_difficulty="12",
    )


def test_a_challenged_post_is_solved_in_the_page_and_goes_through(
    page, console, host, server_challenging, unique
):
    console.expect("status of 403")  # the first answer asks for the challenge
    s = server_challenging.url
    # The strict CSP the embed supports: nothing but the server's origin, no inline, no eval,
    # no workers, no blob:.
    csp = (
        f"default-src 'none'; script-src {s}; style-src {s}; connect-src {s}; "
        f"img-src {s} data:; base-uri 'none'; form-action 'none'"
    )
    page.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI))"
    )
    url = host.page(unique, server_challenging, csp=csp)
    widget = open_thread(page, url)
    announced: list[str] = []
    page.expose_function("heard", lambda text: announced.append(text))
    widget.locator("[aria-live]").evaluate(
        "live => new MutationObserver(() => live.textContent && heard(live.textContent))"
        ".observe(live, {childList: true, characterData: true, subtree: true})"
    )
    write(widget.locator("form").first, "Proven human", author="Ada")
    expect(comments(widget)).to_have_count(1)
    expect(comments(widget).first.locator(".cm-body")).to_have_text("Proven human")
    # The embed shows the comment, then says so; what the observer heard arrives a little later.
    expect(widget.locator("[aria-live]")).to_contain_text("Your comment is online.")
    for _ in range(50):
        if announced and "Your comment is online." in announced[-1]:
            break
        page.wait_for_timeout(100)
    assert any(text.startswith("Checking that you are not a bot") for text in announced), announced
    assert "Your comment is online." in announced[-1], announced
    assert page.evaluate("window.violations") == []
    _, body = server_challenging.api("GET", "/api/threads?uri=/" + unique + ".html")
    assert body["thread"]["count"] == 1
