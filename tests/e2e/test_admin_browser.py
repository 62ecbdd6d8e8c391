"""A moderator in a real browser: a link from the command line, a password, a queue cleared with the
keyboard, a bulk action, the audit log, and a form without its CSRF token refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, Server

BLOG = "https://blog.example"  # only named in Origin headers: comments are seeded through the API
MODERATOR = "ed@example.org"
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("admin")


@pytest.fixture(scope="module")
def admin_server(workdir) -> Iterator[Server]:
    """A real `comments serve`, holding every comment for review; fast password hashing."""
    server = Server(workdir, [BLOG], moderation="pre", password_memory="8")
    yield server
    server.stop()


def moderator_link(server: Server, workdir: Path, email: str) -> str:
    """`comments moderator add` as a site owner runs it, beside the server (same data dir)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMMENTS_")}
    env.update(
        COMMENTS_DATA_DIR=str(workdir / "data"),
        COMMENTS_PORT=str(server.port),
        COMMENTS_PASSWORD_MEMORY="8",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-m", "comments", "moderator", "add", email],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return re.search(r"http://\S+/admin/welcome\?token=\S+", result.stdout)[0]


def seed(server: Server, uri: str, *texts: str) -> list[int]:
    return [
        server.seed(BLOG, uri, text, author=f"Reader {n}", email=f"r{n}@example.org")["id"]
        for n, text in enumerate(texts)
    ]


def shot(page: Page, screenshot_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshot_dir / f"admin-{name}.png"), full_page=True)


def test_moderator_clears_a_queue_with_the_keyboard(
    page, admin_server, workdir, console, screenshot_dir
):
    server = admin_server
    # Newest first in the queue: r0 is "ham 5", r4 is "ham 1".
    ids = seed(server, "/elections/", "ham 1", "spam 2", "ham 3", "spam 4", "ham 5")[::-1]

    # The link from the command line: choose a password, and be signed in.
    page.goto(moderator_link(server, workdir, MODERATOR))
    expect(page.get_by_role("heading")).to_have_text("Choose a password")
    shot(page, screenshot_dir, "welcome")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator(".notice")).to_have_text("Your password is set. Welcome!")

    # Out, and in again with the password.
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    page.get_by_label("Email").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    shot(page, screenshot_dir, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/queue$"))

    rows = page.locator(".items > .item")
    expect(rows).to_have_count(5)
    expect(page.locator(".views [aria-current=page] .count")).to_have_text("5")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    shot(page, screenshot_dir, "queue")

    def row(index: int):
        return page.locator(f'.item[data-id="{ids[index]}"]')

    # Keyboard only: each key acts on the current row and moves on without waiting.
    for key in ["a", "h", "j", "a", "k", "k", "h", "j", "a"]:
        page.keyboard.press(key)
    for index, status in enumerate(["approved", "hidden", "hidden", "approved", "approved"]):
        expect(row(index)).to_have_attribute("data-status", status)
        expect(row(index)).to_have_class(re.compile(r"\bis-done\b"))
    expect(row(4)).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("?")
    expect(page.locator("#keys")).to_be_visible()
    shot(page, screenshot_dir, "queue-cleared")
    page.keyboard.press("Escape")
    expect(page.locator("#keys")).to_be_hidden()

    page.reload()
    expect(page.locator(".empty")).to_have_text("Nothing waits for review.")
    status, thread = server.api("GET", "/api/threads?uri=/elections/", origin=BLOG)
    assert status == 200
    assert thread["thread"]["count"] == 3
    assert sorted(comment["id"] for comment in thread["comments"]) == sorted(
        [ids[0], ids[3], ids[4]]
    )

    # A bulk action: tick two with x, then the bar's button (an ordinary form post).
    more = seed(server, "/elections/", "buy pills", "cheap watches", "a real question")[::-1]
    page.reload()
    expect(rows).to_have_count(3)
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("[data-selected]")).to_have_text("2 ticked:")
    page.locator(".bulk").get_by_role("button", name="Hide").click()
    expect(page.locator(".notice")).to_have_text("Hid 2 comments.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(more[2]))

    # The audit log names who did what.
    page.get_by_role("link", name="Audit log").click()
    lines = page.locator("table.log tbody tr")
    expect(lines).to_have_count(7)
    expect(lines.first).to_contain_text(MODERATOR)
    expect(lines.first).to_contain_text("hide")
    expect(lines.first).to_contain_text("pending → hidden")
    expect(page.locator("table.log")).to_contain_text("pending → approved")
    shot(page, screenshot_dir, "audit")

    # A form without its CSRF token is refused, and changes nothing.
    page.get_by_role("link", name="Queue").click()
    expect(rows).to_have_count(1)
    page.evaluate("document.querySelector('#queue input[name=csrf]').remove()")
    page.keyboard.press("x")
    console.expect(r"status of 403")
    page.locator(".bulk").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading")).to_have_text("Form token invalid")
    page.get_by_role("link", name="Back", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "pending")


def test_the_queue_fits_a_phone(browser, admin_server, workdir, screenshot_dir):
    """At 360 px nothing overflows sideways and the buttons stay reachable."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        seed(admin_server, "/a-rather-long-path/for/a/post-with-a-long-title/", "x " * 300)
        page.goto(moderator_link(admin_server, workdir, "phone@example.org"))
        page.get_by_label("New password").fill(PASSWORD)
        page.get_by_label("The same again").fill(PASSWORD)
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.locator(".items > .item").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the queue is {width}px wide"
        hide = page.locator(".items > .item").first.get_by_role("button", name="Hide")
        hide.scroll_into_view_if_needed()
        box = hide.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360
        shot(page, screenshot_dir, "queue-360")
        page.locator(".items > .item").first.get_by_role("link", name="More…").click()
        expect(page.get_by_role("heading", name="Ban the author")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        shot(page, screenshot_dir, "comment-360")
        assert errors == []
    finally:
        context.close()


def test_the_queue_counts_new_comments_live_without_moving_the_rows(
    page, admin_server, workdir, screenshot_dir
):
    page.goto(moderator_link(admin_server, workdir, "live@example.org"))
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/queue\b"))
    count = page.locator(".views [aria-current=page] .count")
    before = int(count.inner_text())
    rows = page.locator(".items > .item")
    shown = rows.count()
    fresh = page.get_by_role("link", name="New comments arrived here: show them")
    expect(fresh).to_be_hidden()

    # Another reader writes while the moderator reads: the count follows, the rows stay.
    (new,) = seed(admin_server, "/live-queue/", "Written while the queue was open")
    expect(count).to_have_text(str(before + 1))
    expect(fresh).to_be_visible()
    expect(rows).to_have_count(shown)
    shot(page, screenshot_dir, "queue-live")
    fresh.click()
    expect(page.locator(f'.item[data-id="{new}"]')).to_be_visible()
    expect(fresh).to_be_hidden()
