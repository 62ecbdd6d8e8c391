"""The embed tells readers of a site's moderation schedule, in their own time zone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, start_server
from tests.e2e.widget import open_thread, write

READER_ZONE = "America/New_York"


@pytest.fixture(scope="module")
def window_end() -> datetime:
    """A pre-moderation window around now (real time: the server runs its own clock)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(hours=2)


@pytest.fixture(scope="module")
def server_scheduled(tmp_path_factory, host, window_end) -> Iterator[Server]:
    start = window_end - timedelta(hours=3)
    site = host.origin.split("://")[1]
    rules = f"pre daily {start:%H:%M}-{window_end:%H:%M}, tz=UTC"
    yield from start_server(tmp_path_factory, host, "scheduled", site_schedule=f"{site}={rules}")


def test_the_notice_says_until_when_in_the_readers_time(
    browser, host, server_scheduled, window_end, unique
):
    context = browser.new_context(timezone_id=READER_ZONE, locale="en-US")
    context.set_default_timeout(10_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        widget = open_thread(page, host.page(unique, server_scheduled))
        local = window_end.astimezone(ZoneInfo(READER_ZONE))
        clock = f"{local.hour % 12 or 12}:{local.minute:02d}\\s{'AM' if local.hour < 12 else 'PM'}"
        note = widget.locator(".cm-note")
        # "Mon 7:00 AM" when the window ends on another day than today, there.
        expect(note).to_have_text(
            re.compile(rf"^Comments are reviewed before they appear until (\w+ )?{clock}\.$")
        )
        write(widget.locator("form"), "Held by the schedule", author="Nora")
        expect(widget.locator(".cm-list > li").first.locator(".cm-badge")).to_have_text(
            re.compile("awaiting moderation", re.I)
        )
    finally:
        context.close()
    assert errors == []
