"""axe-core over the embed, its form with errors, a permalink, the no-JS page and the admin:
no serious or critical violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.seeding import seed_thread
from tests.e2e.test_admin_browser import PASSWORD, moderator_link

SIZE = 300
DEPTH = 6  # levels: a top-level comment and five replies below it


def six_deep(n: int, written: list):
    # Each run of six: a top-level comment, then a chain of five replies, one below the other.
    return written[-1] if (n - 1) % DEPTH else None


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def assert_accessible(axe: Axe, page: Page, what: str) -> None:
    results = axe.run(page)
    found = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    summary = [(v["id"], v["impact"], len(v["nodes"])) for v in found]
    every = [(v["id"], v["impact"], len(v["nodes"])) for v in results.response["violations"]]
    print(f"axe, {what}: {every}")  # shown with pytest -s
    assert not found, (what, summary, [v["nodes"][0]["target"] for v in found])


@pytest.fixture
def big_thread(host, server, unique):
    ids = seed_thread(server, host.origin, f"/{unique}.html", SIZE, six_deep)
    body = '<main><h1>An article</h1><div id="comments" data-limit="50"></div></main>'
    return ids, host.page(unique, server, body)


def test_the_embed_on_a_deep_thread(page, axe, big_thread):
    ids, url = big_thread
    page.goto(url)
    expect(page.locator(f"#comments #comment-{ids[5]}")).to_be_attached()
    assert_accessible(axe, page, "a 300-comment thread six levels deep")
    # The permalink view: a deep reply, highlighted on its page.
    page.goto(f"{url}#comment-{ids[-2]}")
    expect(page.locator(f"#comments #comment-{ids[-2]}")).to_have_class(r"cm-c cm-hl")
    assert_accessible(axe, page, "a permalink")
    # axe looks inside the embed's shadow root: a button without a name there is found.
    page.evaluate(
        "document.querySelector('#comments').shadowRoot.querySelector('.cm')"
        ".append(document.createElement('button'))"
    )
    found = {v["id"] for v in axe.run(page).response["violations"]}
    assert "button-name" in found


def test_the_form_with_errors_shown(page, axe, host, server, unique, console):
    console.expect(r"status of 422")  # the server's answer to the address that is none
    page.goto(
        host.page(unique, server, '<main><h1>An article</h1><div id="comments"></div></main>')
    )
    form = page.locator("#comments form").first
    form.locator("input[name=email]").fill("not an address")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".cm-e").first).to_be_visible()
    form.locator("textarea").fill("Hello")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator("[aria-invalid=true]")).to_have_count(1)
    assert_accessible(axe, page, "the form with errors")


def test_the_page_without_javascript(page, axe, host, server, unique):
    seed_thread(server, host.origin, f"/{unique}.html", 40, six_deep)
    page.goto(f"{server.url}/thread?uri=/{unique}.html")
    expect(page.locator("h2")).to_contain_text("40 comments")
    assert_accessible(axe, page, "the no-JS thread page")


def test_the_admin_pages(browser, axe, server):
    context = browser.new_context(bypass_csp=True)  # axe is injected as a script
    try:
        page = context.new_page()
        page.goto(f"{server.url}/admin/sign-in")
        assert_accessible(axe, page, "admin sign-in")
        workdir = Path(server.database_url.removeprefix("sqlite:///")).parent.parent
        page.goto(moderator_link(server, workdir, "axe@example.org"))
        assert_accessible(axe, page, "admin welcome")
        page.get_by_label("New password").fill(PASSWORD)
        page.get_by_label("The same again").fill(PASSWORD)
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.get_by_role("navigation").first).to_be_visible()
        paths = ("/admin/queue?view=recent", "/admin/threads", "/admin/bans", "/admin/audit")
        for path in (*paths, "/admin/privacy"):
            page.goto(server.url + path)
            assert_accessible(axe, page, f"admin {path}")
            expect(page.locator("h1")).to_have_count(1)  # each page says what it is
        page.goto(server.url + "/admin/queue?view=recent")
        page.locator(".items > .item").first.get_by_role("link", name="More…").click()
        assert_accessible(axe, page, "admin comment page")
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Comment #\d+"))
    finally:
        context.close()
