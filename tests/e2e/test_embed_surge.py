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
