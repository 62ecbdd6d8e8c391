"""Deep threads one can follow: whom a deep reply answers, subthreads that fold, what is left."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.widget import open_thread


def test_deep_replies_name_their_parent_and_subthreads_fold(page, host, server, unique):
    uri = f"/{unique}.html"
    chain = [server.seed(host.origin, uri, "Level 0", author="Author 0")]
    for depth in range(1, 7):
        text = f"Level {depth}"
        chain.append(
            server.seed(host.origin, uri, text, author=f"Author {depth}", parent=chain[-1]["id"])
        )
    widget = open_thread(page, host.page(unique, server))
    card = {c["id"]: widget.locator(f"#comment-{c['id']} > article") for c in chain}
    # Indented levels need no words; past them (depth 4 and on) the reply says whom it answers.
    expect(card[chain[1]["id"]].locator(".cm-to")).to_be_hidden()
    deep = card[chain[5]["id"]].locator(".cm-to")
    expect(deep).to_be_visible()
    expect(deep).to_have_text("in reply to Author 4")
    deep.click()
    expect(widget.locator(f"#comment-{chain[4]['id']}")).to_have_class(re.compile("cm-hl"))

    top = widget.locator(f"#comment-{chain[0]['id']}")
    toggle = top.locator(":scope > .cm-fold")
    expect(toggle).to_have_text("Hide 6 replies")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(toggle).to_have_text("Show 6 replies")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(card[chain[1]["id"]]).to_be_hidden()
    # A permalink into a folded subthread unfolds it.
    page.evaluate(f"location.hash = '#comment-{chain[6]['id']}'")
    expect(card[chain[6]["id"]]).to_be_visible()
    expect(toggle).to_have_text("Hide 6 replies")
    expect(widget.locator(f"#comment-{chain[5]['id']} > .cm-fold")).to_have_text("Hide 1 reply")


def test_load_more_says_how_many_are_left(page, host, server, unique):
    uri = f"/{unique}.html"
    for n in range(5):
        top = server.seed(host.origin, uri, f"Top {n}")
        server.seed(host.origin, uri, f"Answer {n}", parent=top["id"])
    widget = open_thread(
        page, host.page(unique, server, '<div id="comments" data-limit="2"></div>')
    )
    more = widget.locator(".cm-more").last
    expect(more).to_have_text("Load more comments · 6 left")
    more.click()
    expect(more).to_have_text("Load more comments · 2 left")
    more.click()
    expect(more).to_be_hidden()


def test_deep_reply_in_german(page, host, server, unique):
    uri = f"/{unique}.html"
    chain = [server.seed(host.origin, uri, "Ebene 0", author="Anna")]
    for depth in range(1, 5):
        chain.append(
            server.seed(
                host.origin, uri, f"Ebene {depth}", author=f"Person {depth}", parent=chain[-1]["id"]
            )
        )
    page.goto(host.page(unique, server, lang="de"))
    widget = page.locator("#comments")
    expect(widget.locator(f"#comment-{chain[4]['id']} .cm-to")).to_have_text("Antwort auf Person 3")
    expect(widget.locator(f"#comment-{chain[0]['id']} > .cm-fold")).to_have_text(
        "4 Antworten ausblenden"
    )


def test_the_thread_is_a_landmark_and_each_comment_names_its_author_and_parent(
    page, host, server, unique
):
    uri = f"/{unique}.html"
    first = server.seed(host.origin, uri, "A first word", author="Rosa")
    server.seed(host.origin, uri, "An answer", author="Karl", parent=first["id"])
    widget = open_thread(page, host.page(unique, server))
    region = widget.get_by_role("region", name=re.compile("2 comments"))
    expect(region).to_be_visible()
    expect(region.get_by_role("article", name="Rosa", exact=True)).to_be_visible()
    expect(region.get_by_role("article", name="Karl, in reply to Rosa")).to_be_visible()
