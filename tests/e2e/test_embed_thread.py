"""A reader on a host page of another origin: read, write, reply, preview, edit, delete."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import pytest
from playwright.sync_api import expect

from tests.e2e.widget import comments, focused, open_thread, write


def test_post_and_reply(page, host, any_server, unique):
    widget = open_thread(page, host.page(unique, any_server))
    expect(widget.locator(".cm-title")).to_have_text("No comments yet")

    write(widget.locator("form"), "Protected lanes **now**", author="Ada", email="ada@example.org")
    first = comments(widget).first
    expect(first.locator(".cm-body strong")).to_have_text("now")
    expect(first.locator(".cm-author")).to_have_text("Ada")
    expect(widget.locator(".cm-title")).to_have_text("1 comment")
    expect(widget.locator("form textarea")).to_have_value("")

    first.get_by_role("button", name="Reply").click()
    reply_form = first.locator("form")
    expect(reply_form.locator("input[name=author]")).to_have_value("Ada")  # remembered
    expect(reply_form.locator("textarea")).to_be_focused()
    write(reply_form, "Agreed, and the crossings too.")
    expect(first.locator(".cm-replies .cm-body")).to_have_text("Agreed, and the crossings too.")
    expect(reply_form).to_have_count(0)
    expect(widget.locator(".cm-title")).to_have_text("2 comments")

    page.reload()
    expect(comments(widget)).to_have_count(1)
    expect(comments(widget).first.locator(".cm-replies > li .cm-author")).to_have_text("Ada")
    status, thread = any_server.api("GET", f"/api/threads?uri=/{unique}.html", origin=host.origin)
    assert status == 200
    assert thread["thread"]["count"] == 2
    [top] = thread["comments"]
    assert top["replies"][0]["parent"] == top["id"]


def test_live_preview_is_debounced(page, host, server, unique):
    previews = []
    page.on("request", lambda r: r.url.endswith("/api/preview") and previews.append(r))
    widget = open_thread(page, host.page(unique, server))
    textarea = widget.locator("textarea")
    textarea.press_sequentially("Slow _down_ on Elm", delay=15)
    preview = widget.locator(".cm-prev")
    expect(preview.locator("em")).to_have_text("down")
    expect(preview.locator(".cm-lab")).to_have_text("Preview")
    assert 1 <= len(previews) <= 3, len(previews)

    textarea.fill("")
    expect(preview).to_be_hidden()


def test_edit_and_delete_within_the_window(page, host, server, unique):
    widget = open_thread(page, host.page(unique, server))
    write(widget.locator("form"), "First version", author="Bo")
    card = comments(widget).first
    card.get_by_role("button", name="Edit").click()
    editor = card.locator("textarea")
    expect(editor).to_have_value("First version")
    expect(editor).to_be_focused()
    editor.fill("Second *version*")
    card.get_by_role("button", name="Save").click()
    expect(card.locator(".cm-body em")).to_have_text("version")
    expect(card.locator(".cm-edited")).to_have_text("edited")

    page.reload()  # the edit token is remembered: still editable after a reload
    card = comments(widget).first
    expect(card.locator(".cm-body")).to_have_text("Second version")
    delete = card.get_by_role("button", name="Delete")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    delete.click()
    expect(comments(widget)).to_have_count(0)
    expect(widget.locator(".cm-title")).to_have_text("No comments yet")
    status, thread = server.api("GET", f"/api/threads?uri=/{unique}.html", origin=host.origin)
    assert (status, thread["comments"]) == (200, [])


def test_deleting_a_comment_with_replies_leaves_a_placeholder(page, host, server, unique):
    widget = open_thread(page, host.page(unique, server))
    write(widget.locator("form"), "I will regret this", author="Cy")
    card = comments(widget).first
    parent_id = int(card.get_attribute("id").removeprefix("comment-"))
    server.seed(host.origin, f"/{unique}.html", "A reply keeps it", parent=parent_id)
    page.reload()
    delete = comments(widget).first.get_by_role("button", name="Delete")
    delete.click()
    delete.click()
    expect(card.locator(":scope > article .cm-body")).to_have_text("This comment was removed.")
    expect(card.locator(":scope > article .cm-author")).to_have_count(0)
    expect(card.locator(".cm-replies .cm-body")).to_have_text("A reply keeps it")


def test_edit_buttons_vanish_when_the_window_closes(page, host, server_short, unique):
    widget = open_thread(page, host.page(unique, server_short))
    with page.expect_response("**/api/stamp"):
        widget.locator("textarea").focus()  # opening the form asks for a stamp
    page.wait_for_timeout(1100)  # a second of writing: published, not held as too fast
    with page.expect_response("**/api/comments") as posted:
        write(widget.locator("form"), "Quick, edit me", author="Di")
    comment = posted.value.json()
    # editable_until is in whole seconds: the window really ends within the second after it.
    closes = datetime.fromisoformat(comment["editable_until"]).timestamp() + 1
    card = comments(widget).first
    expect(card.get_by_role("button", name="Edit")).to_be_visible()
    expect(card.get_by_role("button", name="Delete")).to_be_visible()

    expect(card.get_by_role("button", name="Edit")).to_have_count(0, timeout=8000)
    assert time.time() < closes  # gone before the server closes, not after
    expect(card.get_by_role("button", name="Delete")).to_have_count(0)
    expect(card.get_by_role("button", name="Reply")).to_be_visible()
    time.sleep(max(0, closes - time.time()))
    status, problem = server_short.api(
        "PATCH",
        f"/api/comments/{comment['id']}",
        {"text": "late"},
        host.origin,
        comment["edit_token"],
    )
    assert (status, problem["code"]) == (403, "edit_window_closed")  # the server agrees
    page.reload()
    expect(comments(widget).first.get_by_role("button", name="Reply")).to_be_visible()
    expect(comments(widget).first.get_by_role("button", name="Edit")).to_have_count(0)


def test_pending_comment_is_shown_to_its_author_only(page, host, server_pre, unique, browser):
    url = host.page(unique, server_pre)
    widget = open_thread(page, url)
    expect(widget.locator(".cm-note")).to_have_text(
        "Comments appear once a moderator approves them."
    )
    write(widget.locator("form"), "Please hold this one", author="Eve")
    card = comments(widget).first
    expect(card.locator(".cm-badge")).to_have_text(re.compile("awaiting moderation", re.I))
    expect(card).to_have_class(re.compile("cm-pending"))
    expect(widget.locator(".cm-title")).to_have_text("No comments yet")
    expect(widget.locator(".cm-sr[aria-live]")).to_have_text(re.compile("awaiting moderation"))

    asked = []
    page.on("response", lambda r: "/api/comments/" in r.url and asked.append(r))
    page.reload()
    card = comments(widget).first
    expect(card.locator(".cm-body")).to_have_text("Please hold this one")
    [response] = asked  # fetched fresh with its edit token, not only from the local copy
    assert response.status == 200
    assert response.request.headers["authorization"].startswith("Bearer ")
    expect(card.locator(".cm-badge")).to_have_text(re.compile("awaiting moderation", re.I))
    expect(card.get_by_role("button", name="Reply")).to_have_count(0)

    stranger = browser.new_context()
    try:
        other = open_thread(stranger.new_page(), url)
        expect(other.locator(".cm-title")).to_have_text("No comments yet")
        expect(comments(other)).to_have_count(0)
    finally:
        stranger.close()


def test_field_errors_sit_next_to_their_field(page, host, server, unique, console):
    console.expect(r"status of 422")
    posts = []
    page.on(
        "request", lambda r: r.method == "POST" and "/api/comments" in r.url and posts.append(r)
    )
    widget = open_thread(page, host.page(unique, server))
    form = widget.locator("form")

    form.locator("button[type=submit]").click()  # empty text: caught before any request
    text_error = form.locator(".cm-f", has=page.locator("textarea")).locator(".cm-e")
    expect(text_error).to_have_text("Please fill this in.")
    assert posts == []

    write(form, "My site", author="Fay", website="ftp://x")
    website = form.get_by_label("Website")
    website_box = form.locator(".cm-f", has=page.get_by_label("Website"))
    expect(website).to_have_attribute("aria-invalid", "true")
    expect(website).to_be_focused()
    error_id = website.get_attribute("aria-describedby")
    error = form.locator(f"#{error_id}")
    expect(error).to_have_text("Use an address starting with http:// or https://.")
    expect(website_box.locator(".cm-e")).to_be_visible()
    expect(form.locator(".cm-e:visible")).to_have_count(1)
    expect(comments(widget)).to_have_count(0)

    website.fill("https://fay.example")
    expect(error).to_be_hidden()
    form.locator("button[type=submit]").click()
    expect(comments(widget).first.locator("a.cm-author")).to_have_attribute(
        "href", "https://fay.example"
    )


def test_load_more_and_sort(page, host, server, unique):
    for n in range(1, 6):
        server.seed(host.origin, f"/{unique}.html", f"Comment {n}")
    widget = open_thread(
        page, host.page(unique, server, '<div id="comments" data-limit="2"></div>')
    )
    bodies = comments(widget).locator(":scope > article .cm-body")
    expect(bodies).to_have_text(["Comment 1", "Comment 2"])
    expect(widget.locator(".cm-title")).to_have_text("5 comments")
    more = widget.get_by_role("button", name="Load more comments")
    more.click()
    expect(bodies).to_have_text(["Comment 1", "Comment 2", "Comment 3", "Comment 4"])
    more.click()
    expect(bodies).to_have_count(5)
    expect(more).to_be_hidden()
    expect(comments(widget).nth(4).locator("article")).to_be_focused()

    widget.get_by_role("button", name="Newest").click()
    expect(bodies).to_have_text(["Comment 5", "Comment 4"])
    expect(widget.get_by_role("button", name="Newest")).to_have_attribute("aria-pressed", "true")


def test_permalink_scrolls_to_and_highlights(page, host, server, unique):
    ids = [server.seed(host.origin, f"/{unique}.html", f"Point {n}")["id"] for n in range(3)]
    body = '<div style="height:2500px">Article</div><div id="comments" data-limit="1"></div>'
    url = host.page(unique, server, body)
    page.goto(f"{url}#comment-{ids[2]}")  # on the third page of the thread
    target = page.locator(f"#comments #comment-{ids[2]}")
    expect(target).to_have_class(re.compile("cm-hl"))
    expect(target).to_be_in_viewport()
    expect(page.locator("#comments .cm-hl")).to_have_count(1)
    earlier = page.locator("#comments").get_by_role("button", name="Load earlier comments")
    for before in (ids[1], ids[0]):  # its page opens with it: the earlier ones come one by one
        earlier.click()
        expect(page.locator(f"#comments #comment-{before}")).to_be_attached()
    expect(earlier).to_be_hidden()
    expect(target).to_be_in_viewport()

    page.locator(f"#comments #comment-{ids[0]} .cm-time").click()
    expect(page.locator(f"#comments #comment-{ids[0]}")).to_have_class(re.compile("cm-hl"))
    expect(target).not_to_have_class(re.compile("cm-hl"))
    assert page.evaluate("location.hash") == f"#comment-{ids[0]}"


def test_permalink_to_a_comment_not_loaded_opens_its_page(page, host, server, unique):
    ids = [server.seed(host.origin, f"/{unique}.html", f"Spot {n}")["id"] for n in range(4)]
    body = '<div id="comments" data-limit="1"></div>'
    widget = open_thread(page, host.page(unique, server, body))
    expect(widget.locator(f"#comment-{ids[0]}")).to_be_attached()
    page.evaluate(f"location.hash = '#comment-{ids[3]}'")  # a link within the page
    target = widget.locator(f"#comment-{ids[3]}")
    expect(target).to_have_class(re.compile("cm-hl"))
    expect(widget.locator(f"#comment-{ids[0]}")).not_to_be_attached()


def test_permalink_to_a_comment_not_shown_says_so(page, host, server_pre, unique):
    held = server_pre.seed(host.origin, f"/{unique}.html", "Waiting for a moderator")
    page.goto(f"{host.page(unique, server_pre)}#comment-{held['id']}")
    widget = page.locator("#comments")
    notice = widget.locator(".cm-status")
    expect(notice).to_have_text(re.compile("The comment you followed is not shown"))
    expect(notice).to_be_visible()
    announced = widget.locator(".cm-sr[aria-live]")
    expect(announced).to_have_text(re.compile("not shown"))
    expect(widget.locator(f"#comment-{held['id']}")).not_to_be_attached()
    expect(widget.locator("textarea")).to_be_visible()  # the thread still takes comments
    page.evaluate("location.hash = ''")
    page.reload()
    expect(widget.locator(".cm-title")).to_have_text(re.compile("comment", re.I))
    expect(notice).to_be_hidden()


def test_keyboard_only_posting(page, host, server, unique):
    widget = open_thread(page, host.page(unique, server))
    for _ in range(10):
        page.keyboard.press("Tab")
        if focused(page) == "text":
            break
    assert focused(page) == "text"
    textarea = widget.locator("textarea")
    shadow = textarea.evaluate("e => getComputedStyle(e).boxShadow")
    assert shadow != "none"  # a visible focus ring
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    assert focused(page) == "author"
    page.keyboard.type("Kim")
    page.keyboard.press("Enter")
    card = comments(widget).first
    expect(card.locator(".cm-body")).to_have_text("Typed without a mouse")
    expect(card.locator("article")).to_be_focused()

    for _ in range(10):  # on to the comment's Reply button
        page.keyboard.press("Tab")
        if focused(page) == "Reply":
            break
    page.keyboard.press("Enter")
    assert focused(page) == "text"
    page.keyboard.type("And a reply")
    page.keyboard.press("Control+Enter")
    expect(card.locator(".cm-replies .cm-body")).to_have_text("And a reply")


def test_hostile_content_stays_text(page, host, server, unique):
    server.seed(
        host.origin,
        f"/{unique}.html",
        "<script>window.pwned = 1</script><img src=x onerror='window.pwned=1'>"
        " [x](javascript:alert(1))",
        author='<img src=x onerror="window.pwned=1">',
        website="https://evil.example/?q=<b>",
    )
    widget = open_thread(page, host.page(unique, server))
    card = comments(widget).first
    author = card.locator(".cm-author")
    expect(author).to_have_text('<img src=x onerror="window.pwned=1">')
    expect(author).to_have_attribute("rel", "nofollow ugc noopener")
    assert card.locator("script, [onerror], a[href^=javascript]").count() == 0
    assert page.evaluate("window.pwned") is None


def test_no_cookies_and_no_storage_needed(page, host, server, unique, context):
    # Storage that throws, as in some private modes: the widget still works, it just forgets.
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() { throw new DOMException('no', "
        "'SecurityError') }})"
    )
    widget = open_thread(page, host.page(unique, server))
    write(widget.locator("form"), "Nothing kept", author="Gus")
    expect(comments(widget).first.locator(".cm-body")).to_have_text("Nothing kept")
    assert context.cookies() == []
    assert page.evaluate("document.cookie") == ""


def test_translations_and_several_threads(page, host, server, unique):
    for uri, text in [("/multi-a/", "Alpha"), ("/multi-b/", "Beta"), ("/multi-c/", "Gamma")]:
        server.seed(host.origin, f"/{unique}{uri}", text)
    body = f"""
      <div id="de" data-comments data-uri="/{unique}/multi-a/"></div>
      <div id="fr" data-comments data-uri="/{unique}/multi-b/" data-lang="fr"></div>
      <div id="es" data-comments data-uri="/{unique}/none/" data-lang="es-MX"></div>
      <a id="badge" href="/{unique}/multi-a/" data-comments-count>…</a>
    """
    page.goto(host.page(unique, server, body, lang="de-CH"))
    de, fr, es = page.locator("#de"), page.locator("#fr"), page.locator("#es")
    expect(de.locator(".cm-title")).to_have_text("1 Kommentar")
    expect(de.locator(".cm-list .cm-body")).to_have_text("Alpha")
    expect(de.locator("button[type=submit]")).to_have_text("Kommentar senden")
    expect(fr.locator(".cm-list .cm-body")).to_have_text("Beta")
    expect(fr.locator("button[type=submit]")).to_have_text("Publier")
    expect(es.locator(".cm-title")).to_have_text("Aún no hay comentarios")
    expect(es.get_by_label("Nombre")).to_be_visible()
    expect(page.locator("#badge")).to_have_text("1 Kommentar")

    page.evaluate(f"Comments.render(document.getElementById('de'), {{uri: '/{unique}/multi-c/'}})")
    expect(de.locator(".cm-list .cm-body")).to_have_text("Gamma")
    expect(fr.locator(".cm-list .cm-body")).to_have_text("Beta")
    write(de.locator("form"), "Noch einer")
    expect(de.locator(".cm-title")).to_have_text("2 Kommentare")
    status, thread = server.api("GET", f"/api/threads?uri=/{unique}/multi-c/", origin=host.origin)
    assert status == 200
    assert [c["html"] for c in thread["comments"]] == ["<p>Gamma</p>", "<p>Noch einer</p>"]


def test_report_asks_why_then_reports(page, host, server, unique):
    server.seed(host.origin, f"/{unique}.html", "Something rude", author="Troll")
    server.seed(host.origin, f"/{unique}.html", "Buy pills", author="Spammer")
    reports = []
    page.on("request", lambda r: r.url.endswith("/report") and reports.append(r.post_data_json))
    widget = open_thread(page, host.page(unique, server))
    card = comments(widget).first
    card.get_by_role("button", name="Report").click()
    why = card.get_by_role("form", name="Report to the moderators?")
    reason = why.get_by_role("combobox", name="Why?")
    expect(reason).to_be_focused()  # the keyboard is where the question is
    expect(reason.locator("option")).to_have_text(["Spam", "Abuse", "Off-topic", "Other"])
    assert reports == []
    reason.select_option("other")
    why.get_by_role("textbox", name="Note (optional)").fill("  wrong thread ")
    why.get_by_role("button", name="Report").press("Enter")
    expect(card.locator("span.cm-report")).to_have_text("Reported. Thank you.")
    assert reports == [{"category": "other", "reason": "  wrong thread "}]

    spam = comments(widget).nth(1)
    spam.get_by_role("button", name="Report").click()
    expect(spam.get_by_role("combobox", name="Why?")).to_have_value("spam")  # the first choice
    spam.get_by_role("form").get_by_role("button", name="Report").click()
    expect(spam.locator("span.cm-report")).to_have_text("Reported. Thank you.")
    assert reports[1] == {"category": "spam", "reason": ""}

    write(widget.locator("form").first, "My own words", author="Me")
    expect(comments(widget).nth(2).locator(".cm-body")).to_have_text("My own words")
    expect(comments(widget).nth(2).get_by_role("button", name="Report")).to_have_count(0)


def test_the_report_question_speaks_the_readers_language(page, host, server, unique):
    server.seed(host.origin, f"/{unique}.html", "Etwas Grobes", author="Troll")
    page.goto(host.page(unique, server, lang="de"))
    widget = page.locator("#comments")
    expect(widget.locator(".cm-title")).to_have_text("1 Kommentar")
    comments(widget).first.get_by_role("button", name="Melden").click()
    reason = widget.get_by_role("combobox", name="Warum?")
    expect(reason.locator("option")).to_have_text(["Spam", "Beleidigung", "Themenfremd", "Anderes"])


def test_an_outage_offers_a_retry(page, host, server, unique, console):
    console.expect(r"status of 503")
    problem = {
        "type": "https://comments.invalid/problems/database_unavailable",
        "title": "Database unavailable",
        "status": 503,
        "detail": "The database does not answer.",
        "code": "database_unavailable",
    }
    outage = "**/api/threads?*"
    page.route(
        outage,
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            headers={"Access-Control-Allow-Origin": host.origin},
            body=json.dumps(problem),
        ),
    )
    server.seed(host.origin, f"/{unique}.html", "Back again")
    page.goto(host.page(unique, server))
    widget = page.locator("#comments")
    expect(widget.locator(".cm-title")).to_have_text("Comments could not be loaded.")
    expect(widget.locator(".cm-status")).to_contain_text("The comment server is not answering.")
    page.unroute(outage)
    widget.get_by_role("button", name="Try again").click()
    expect(comments(widget).locator(".cm-body")).to_have_text("Back again")
    expect(widget.locator("form")).to_be_visible()


@pytest.mark.parametrize(("status", "code"), [(507, "storage_full"), (503, "server_busy")])
def test_a_post_the_server_cannot_take_now_says_so_and_keeps_the_text(
    page, host, server, unique, console, status, code
):
    console.expect(f"status of {status}")
    problem = {
        "type": f"https://comments.invalid/problems/{code}",
        "title": code,
        "status": status,
        "detail": "Not now.",
        "code": code,
    }
    page.route(
        "**/api/comments",
        lambda route: (
            route.fulfill(
                status=status,
                content_type="application/problem+json",
                headers={"Access-Control-Allow-Origin": host.origin, "Retry-After": "60"},
                body=json.dumps(problem),
            )
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    widget = open_thread(page, host.page(unique, server))
    form = widget.locator("form").first
    write(form, "Worth keeping")
    expect(form.get_by_text("The comment server is not answering.")).to_be_visible()
    expect(form.locator("textarea")).to_have_value("Worth keeping")


def test_notify_checkbox_and_honeypot(page, host, server, unique):
    sent = []
    page.on(
        "request",
        lambda r: r.method == "POST" and r.url.endswith("/api/comments") and sent.append(r),
    )
    widget = open_thread(page, host.page(unique, server))
    form = widget.locator("form")
    trap = form.locator("input[name=honeypot]")
    expect(trap).to_have_attribute("tabindex", "-1")
    box = trap.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # off screen: people never meet it
    form.get_by_label(re.compile("Email me replies")).check()
    write(form, "Tell me when someone answers", email="ada@example.org")
    expect(comments(widget)).to_have_count(1)
    body = json.loads(sent[0].post_data)
    assert body["notify"] is True
    assert "honeypot" not in body
    assert body["stamp"]

    # A bot fills every field it finds: its comment waits for a moderator.
    page.reload()
    form = widget.locator("form")
    form.locator("input[name=honeypot]").fill("http://spam.example")
    write(form, "Buy cheap watches")
    expect(widget.locator(".cm-badge")).to_have_text("Awaiting moderation · only you can see this")
    assert json.loads(sent[1].post_data)["honeypot"] == "http://spam.example"
