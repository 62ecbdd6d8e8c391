"""Verified readers in the embed, against a real SMTP server: sign in by the mailed link, post as
verified, a lookalike name refused, votes, the best sort, the reader's panel, erasure; a thread
for signed-in readers only; axe over the signed-in widget with its panel open."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests import helpers
from tests.e2e.conftest import Server, free_port, start_server
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.widget import comments, focused, open_thread, write

LINK = re.compile(r"https?://\S+#comments-sign-in=\S+")


class Mailbox(helpers.Mailbox):
    """What a real SMTP server (aiosmtpd) received, and the sign-in links in it."""

    def link_for(self, address: str, nth: int = -1, timeout: float = 10) -> str:
        """The sign-in link of the nth message to `address` (the last), once it has come."""
        deadline = time.monotonic() + timeout
        while len(self.to(address)) <= (nth if nth >= 0 else 0):
            if time.monotonic() > deadline:
                pytest.fail(f"no mail to {address}")
            time.sleep(0.05)
        text = self.to(address)[nth].get_body(("plain",)).get_content()
        return LINK.search(text)[0]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def mail_settings(mailbox: Mailbox, **settings: str) -> dict[str, str]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(mailbox.port),
        "smtp_security": "none",
        "mail_from": "comments@blog.example",
        **settings,
    }


@pytest.fixture(scope="module")
def readers_sqlite(tmp_path_factory, host, mailbox) -> Iterator[Server]:
    yield from start_server(tmp_path_factory, host, "readers", **mail_settings(mailbox))


@pytest.fixture(scope="module")
def readers_postgresql(tmp_path_factory, host, mailbox, fresh_database) -> Iterator[Server]:
    url = fresh_database("postgresql")
    settings = mail_settings(mailbox, database_url=url)
    yield from start_server(tmp_path_factory, host, "readers-pg", **settings)


@pytest.fixture(params=["sqlite", "postgresql"])
def readers(request) -> Server:
    """A server that mails sign-in links to `mailbox`, on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"readers_{request.param}")


@pytest.fixture(scope="module")
def verified_only(tmp_path_factory, host, mailbox) -> Iterator[Server]:
    settings = mail_settings(mailbox, commenters="verified-only")
    yield from start_server(tmp_path_factory, host, "verified-only", **settings)


def sign_in(page: Page, mailbox: Mailbox, email: str, name: str = "") -> Locator:
    """Ask for a link in the widget on `page`, then follow the one mailed: the widget again."""
    widget = page.locator("#comments")
    form = widget.get_by_role("form", name="Sign in with your email")
    expect(widget.locator(".cm-title")).to_have_text(re.compile("comment"))
    sent_note = widget.locator("p", has_text="Check your mail")  # not the live region
    if form.is_hidden():  # a disclosure under the comment form; it opens on the email field
        widget.get_by_role("button", name="Sign in with your email").click()
        expect(form.get_by_label("Email", exact=True)).to_be_focused()
    expect(sent_note).to_be_hidden()
    form.get_by_label("Email", exact=True).fill(email)
    if name:
        form.get_by_label(re.compile("^Name")).fill(name)
    sent = len(mailbox.to(email))
    form.get_by_role("button", name="Email me a link").click()
    expect(sent_note).to_have_text("Check your mail: we sent you a link.")
    expect(sent_note).to_be_focused()
    link = mailbox.link_for(email, sent)
    assert link.startswith(page.url.split("#")[0] + "#comments-sign-in=")  # back to this page
    page.goto("about:blank")  # as a mail client does, a new load: not a jump within the page
    page.goto(link)
    expect(widget.locator(".cm-me")).to_contain_text("Signed in as")
    assert page.evaluate("location.hash") == ""  # the one-time link leaves the address bar
    return widget


def stored(page: Page, server: Server) -> dict:
    return json.loads(page.evaluate(f"localStorage.getItem('comments:{server.url}')") or "{}")


def vote_button(card: Locator) -> Locator:
    return card.locator(":scope > article").get_by_role("button", name=re.compile("^Upvote"))


def test_sign_in_post_as_verified_and_a_lookalike_is_refused(
    page, host, readers, mailbox, unique, browser
):
    url = host.page(unique, readers)
    widget = open_thread(page, url)
    form = widget.locator("form").first
    expect(form.get_by_label("Name")).to_be_visible()  # anonymous until signed in
    disclosure = widget.get_by_role("button", name="Sign in with your email")
    expect(disclosure).to_have_attribute("aria-expanded", "false")

    widget = sign_in(page, mailbox, f"rosa-{unique}@example.org", "Rosa")
    bar = widget.locator(".cm-me")
    expect(bar).to_have_text(re.compile(r"Signed in as Rosa\s*✓\s*verified\s*·\s*My comments"))
    expect(widget.get_by_role("button", name="Sign in with your email")).to_be_hidden()
    reader = stored(page, readers)["r"]
    assert reader["token"] and reader["reader"]["name"] == "Rosa"
    form = widget.locator("form").first
    expect(form.locator(".cm-as")).to_have_text(re.compile(r"Commenting as Rosa ✓"))
    expect(form.locator("input[name=author]")).to_be_hidden()
    expect(form.locator("input[name=email]")).to_be_hidden()

    with page.expect_request("**/api/comments") as posted:
        write(form, "Signed, sealed, delivered")
    assert posted.value.headers["authorization"] == f"Bearer {reader['token']}"
    assert "email" not in posted.value.post_data_json
    card = comments(widget).first
    expect(card.locator(".cm-author")).to_have_text("Rosa")
    mark = card.locator(".cm-ok")
    expect(mark).to_have_text("✓verified")
    expect(mark.locator(".cm-sr")).to_have_text("verified")  # said, not only seen
    page.reload()
    expect(comments(widget).first.locator(".cm-ok")).to_be_visible()

    # Someone else, anonymous, as "R\u043esa" (a Cyrillic o): refused, next to the name field.
    stranger = browser.new_context()
    try:
        other = open_thread(stranger.new_page(), url)
        other_form = other.locator("form").first
        expect(other.locator(".cm-ok")).to_be_visible()  # the real Rosa's comment shows verified
        write(other_form, "I am Rosa too", author="R\u043esa")
        name = other_form.locator("input[name=author]")
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_be_focused()
        error = other_form.locator("#" + name.get_attribute("aria-describedby"))
        expect(error).to_have_text(
            "This name belongs to a signed-in reader. Sign in if it is yours."
        )
        expect(comments(other)).to_have_count(1)
    finally:
        stranger.close()


def test_a_used_link_says_so_and_leaves_the_address_bar(
    page, host, readers, mailbox, unique, console
):
    console.expect(r"status of 409")  # link_used
    url = host.page(unique, readers)
    page.goto(url)
    sign_in(page, mailbox, f"twice-{unique}@example.org")
    link = mailbox.link_for(f"twice-{unique}@example.org")
    page.evaluate(f"localStorage.removeItem('comments:{readers.url}')")  # another device
    page.goto("about:blank")
    page.goto(link)
    widget = page.locator("#comments")
    expect(widget.locator(".cm-in > .cm-e")).to_have_text(
        "This sign-in link was used or has expired. Ask for a new one."
    )
    expect(widget.get_by_label("Email", exact=True)).to_be_focused()  # ask again, here
    assert page.evaluate("location.hash") == ""
    assert "r" not in stored(page, readers)


def signed_in_context(browser, host, url: str, mailbox: Mailbox, email: str) -> BrowserContext:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    sign_in(page, mailbox, email)
    return context


def test_votes_and_the_best_sort(page, host, readers, mailbox, unique, browser, console):
    console.expect(r"status of 403")  # voting for one's own comment
    uri = f"/{unique}.html"
    first = readers.seed(host.origin, uri, "The first word", author="Ann")
    second = readers.seed(host.origin, uri, "A better second", author="Ben")
    url = host.page(unique, readers)

    # Anonymous: the count, and a button that says to sign in and goes to the form for it.
    widget = open_thread(page, url)
    card = widget.locator(f"#comment-{second['id']}")
    vote = vote_button(card)
    expect(vote).to_have_text("▲ 0")
    expect(vote).to_have_attribute("aria-label", "Upvote, no votes")
    vote.click()
    expect(widget.locator(".cm-sr[aria-live]")).to_have_text("Sign in to vote.")
    expect(widget.get_by_label("Email", exact=True)).to_be_focused()

    widget = sign_in(page, mailbox, f"voter-{unique}@example.org", "Vera")
    card = widget.locator(f"#comment-{second['id']}")
    vote = vote_button(card)
    expect(vote).to_have_attribute("aria-pressed", "false")
    vote.click()
    expect(vote).to_have_text("▲ 1")
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote).to_have_attribute("aria-label", "Upvote, 1 vote")
    vote.click()  # pressed again: taken back
    expect(vote).to_have_text("▲ 0")
    expect(vote).to_have_attribute("aria-pressed", "false")
    vote.click()
    expect(vote).to_have_text("▲ 1")

    other = signed_in_context(browser, host, url, mailbox, f"second-{unique}@example.org")
    try:
        theirs = other.pages[0].locator(f"#comments #comment-{second['id']}")
        vote_button(theirs).click()
        expect(vote_button(theirs)).to_have_text("▲ 2")
    finally:
        other.close()

    page.reload()  # what this reader voted for comes back pressed
    vote = vote_button(widget.locator(f"#comment-{second['id']}"))
    expect(vote).to_have_text("▲ 2")
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote_button(widget.locator(f"#comment-{first['id']}"))).to_have_attribute(
        "aria-pressed", "false"
    )

    bodies = comments(widget).locator(":scope > article .cm-body")
    expect(bodies).to_have_text(["The first word", "A better second"])
    best = widget.get_by_role("button", name="Best")
    best.click()
    expect(best).to_have_attribute("aria-pressed", "true")
    expect(bodies).to_have_text(["A better second", "The first word"])

    write(widget.locator("form").first, "Mine, not to vote for")
    own = comments(widget).filter(has_text="Mine, not to vote for")
    vote_button(own).click()
    expect(own.locator(".cm-e")).to_have_text("You cannot vote for your own comment.")


def test_the_readers_panel_export_and_erasure(page, host, readers, mailbox, unique, console):
    url = host.page(unique, readers, '<main><h1>An article</h1><div id="comments"></div></main>')
    readers.seed(host.origin, f"/{unique}.html", "Someone else's", author="Ann")
    page.goto(url)
    widget = sign_in(page, mailbox, f"erase-{unique}@example.org", "Ezra")
    write(widget.locator("form").first, "Soon gone")
    comment_id = comments(widget).filter(has_text="Soon gone").get_attribute("id")
    mine = widget.locator(f"#{comment_id}")
    reply_to = comments(widget).filter(has_text="Someone else's")
    reply_to.get_by_role("button", name="Reply").click()
    write(reply_to.locator("form"), "A reply, gone too")
    expect(widget.locator(".cm-title")).to_have_text("3 comments")

    toggle = widget.get_by_role("button", name="My comments")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = widget.locator("#" + toggle.get_attribute("aria-controls"))
    expect(panel).to_have_attribute("role", "region")
    expect(panel).to_have_accessible_name("My comments")
    expect(panel).to_be_focused()  # a screen reader says where it is: "My comments, region"
    links = panel.locator(".cm-mine a")
    expect(links).to_have_count(2)
    expect(panel.locator(".cm-mine")).to_contain_text("Soon gone")
    assert links.first.get_attribute("href").startswith(f"{url}#comment-")
    assert {a.get_attribute("href").split("#")[1] for a in links.all()} >= {comment_id}
    assert_accessible(Axe(), page, "the signed-in widget, its panel open")

    with page.expect_request("**/api/me") as patched:
        panel.get_by_label("Email me replies").check()
    assert patched.value.method == "PATCH"
    assert patched.value.post_data_json == {"notify_replies": True}
    expect(widget.locator(".cm-sr[aria-live]")).to_have_text("Saved.")
    assert stored(page, readers)["r"]["reader"]["notify_replies"] is True

    with page.expect_download() as downloaded:
        panel.get_by_role("button", name="Export my data").click()
    exported = json.loads(Path(downloaded.value.path()).read_text())
    assert "Soon gone" in json.dumps(exported)

    page.keyboard.press("Escape")  # closes the panel, back on its button
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.press("Enter")
    erase = panel.get_by_role("button", name="Erase everything")
    erase.click()
    expect(erase).to_have_text("Really erase everything?")
    erase.click()
    expect(widget.locator(".cm-me")).to_have_count(0)
    expect(mine.locator(":scope > article .cm-body")).to_have_text("This comment was removed.")
    expect(widget.locator(".cm-title")).to_have_text("1 comment")
    expect(widget.locator(".cm-sr[aria-live]")).to_have_text("Everything is erased.")
    assert focused(page) == "h2"
    assert "r" not in stored(page, readers)
    expect(widget.get_by_role("button", name="Sign in with your email")).to_be_visible()

    status, thread = readers.api("GET", f"/api/threads?uri=/{unique}.html", origin=host.origin)
    assert status == 200
    assert "Soon gone" not in json.dumps(thread)
    page.reload()
    expect(widget.locator(".cm-title")).to_have_text("1 comment")


def test_sign_out_here_and_everywhere(page, host, readers, mailbox, unique, browser, console):
    console.expect(r"status of 401")  # the token signed out everywhere, refused
    url = host.page(unique, readers)
    page.goto(url)
    email = f"out-{unique}@example.org"
    widget = sign_in(page, mailbox, email, "Otto")
    token = stored(page, readers)["r"]["token"]
    widget.get_by_role("button", name="Sign out").click()
    expect(widget.locator(".cm-me")).to_have_count(0)
    expect(widget.locator("form").first.get_by_label("Name")).to_be_visible()
    assert "r" not in stored(page, readers)
    status, _ = readers.api("GET", "/api/me", origin=host.origin, token=token)
    assert status == 200  # this device only: the token itself still works

    laptop = signed_in_context(browser, host, url, mailbox, email)
    try:
        sign_in(page, mailbox, email)
        toggle = widget.get_by_role("button", name="My comments")
        toggle.click()
        widget.get_by_role("button", name="Sign out everywhere").click()
        expect(widget.locator(".cm-sr[aria-live]")).to_have_text("Signed out on every device.")
        expect(widget.locator(".cm-me")).to_have_count(0)
        # The other device learns it at its next call: it shows the reader signed out.
        other = laptop.pages[0]
        with other.expect_response("**/api/me/votes?*") as answer:
            other.reload()
        assert answer.value.status == 401
        assert answer.value.json()["code"] == "reader_token_invalid"
        expect(other.locator("#comments .cm-me")).to_have_count(0)
        assert "r" not in stored(other, readers)
        expect(other.get_by_role("button", name="Sign in with your email")).to_be_visible()
    finally:
        laptop.close()
    assert readers.api("GET", "/api/me", origin=host.origin, token=token)[0] == 401


def test_a_thread_for_signed_in_readers_only(page, host, verified_only, mailbox, unique):
    widget = open_thread(page, host.page(unique, verified_only))
    expect(widget.locator("textarea")).to_be_hidden()
    expect(widget.get_by_text("Only signed-in readers can comment on this thread.")).to_be_visible()
    form = widget.get_by_role("form", name="Sign in with your email")
    expect(form).to_be_visible()  # in the comment form's place, open
    widget = sign_in(page, mailbox, f"only-{unique}@example.org", "Olga")
    expect(widget.locator("textarea")).to_be_visible()
    write(widget.locator("form").first, "Signed in, so welcome")
    expect(comments(widget).first.locator(".cm-ok")).to_be_visible()
    expect(comments(widget).first.get_by_role("button", name="Reply")).to_be_visible()
