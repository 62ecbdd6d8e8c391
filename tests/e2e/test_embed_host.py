"""The host page's side: count badges, hostile stylesheets, a strict CSP, themes, a phone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.e2e.widget import ACCENT, BG, DARK_BG, FG, comments, open_thread, style, write

HOSTILE_CSS = """<style>
* { font-size: 40px !important; line-height: 3 !important; color: red !important;
    text-transform: uppercase !important; letter-spacing: 6px !important;
    font-family: "Comic Sans MS", cursive !important; box-sizing: content-box !important; }
div { padding: 30px !important; background: yellow !important; }
button, input, textarea, select { display: none !important; }
a { color: lime !important; text-decoration: line-through !important; pointer-events: none; }
ol, ul { display: none !important; }
li { float: right !important; list-style: square !important; }
p, h2 { visibility: hidden !important; }
svg { width: 500px !important; height: 500px !important; }
</style>"""


def test_count_badges_take_one_request(page, host, server, unique):
    for uri, n in [("a", 2), ("b", 1)]:
        for i in range(n):
            server.seed(host.origin, f"/{unique}/{uri}/", f"comment {i} on {uri}")
    body = f"""<ul>
      <li><a id="a" href="/{unique}/a/" data-comments-count>Comments</a></li>
      <li><a id="b" href="/{unique}/b/#comments" data-comments-count>Comments</a></li>
      <li><a id="c" href="/{unique}/c/" data-comments-count>Comments</a></li>
      <li><span id="d" data-uri="/{unique}/a/" data-comments-count>Comments</span></li>
    </ul>"""
    requests = []
    page.on("request", lambda r: "/api/counts" in r.url and requests.append(r))
    page.goto(host.page(unique, server, body))
    expect(page.locator("#a")).to_have_text("2 comments")
    expect(page.locator("#b")).to_have_text("1 comment")
    expect(page.locator("#c")).to_have_text("No comments yet")
    expect(page.locator("#d")).to_have_text("2 comments")
    expect(page.locator("#c")).to_have_attribute("data-count", "0")
    page.wait_for_load_state("networkidle")
    assert len(requests) == 1
    assert requests[0].method == "GET"  # cacheable
    asked = parse_qs(urlsplit(requests[0].url).query)["uri"]
    assert sorted(asked) == [f"/{unique}/a/", f"/{unique}/b/", f"/{unique}/c/"]

    # The next index page asks again with the ETag (the server's 304 reaches the page as the
    # cached 200): the badges still count.
    answers = []
    page.on("response", lambda r: "/api/counts" in r.url and answers.append(r))
    page.reload()
    expect(page.locator("#a")).to_have_text("2 comments")
    page.wait_for_load_state("networkidle")
    assert len(requests) == 2
    assert requests[1].all_headers().get("if-none-match") == answers[0].all_headers()["etag"]
    assert answers[0].status in (200, 304)


def test_count_badges_take_a_request_per_hundred_or_per_4000_characters(page, host, server, unique):
    server.seed(host.origin, f"/{unique}/p7/", "the one comment")
    hrefs = [f"/{unique}/p7/" if n == 7 else f"/c{n}/" for n in range(150)]
    hrefs += [f"/{unique}/{'long-' * 100}{n}/" for n in range(20)]  # about 600 characters each
    links = "".join(
        f'<a id="p{n}" href="{href}" data-comments-count>Comments</a>'
        for n, href in enumerate(hrefs)
    )
    requests = []
    page.on("request", lambda r: "/api/counts" in r.url and requests.append(r))
    page.goto(host.page(unique, server, links))
    expect(page.locator("#p7")).to_have_text("1 comment")
    expect(page.locator("#p169")).to_have_text("No comments yet")
    page.wait_for_load_state("networkidle")
    queries = [urlsplit(r.url).query for r in requests]
    sizes = [len(parse_qs(query)["uri"]) for query in queries]
    assert sizes[0] == 100, sizes  # the short ones: 100 at most
    assert sum(sizes) == 170 and max(sizes) <= 100
    assert all(len(query) <= 4_000 for query in queries), [len(q) for q in queries]


def test_hostile_host_stylesheet_cannot_break_the_widget(page, host, server, unique):
    server.seed(
        host.origin,
        f"/{unique}.html",
        "Still *readable*",
        author="Hal",
        website="https://hal.example",
    )
    widget = open_thread(page, host.page(unique, server, head=HOSTILE_CSS))
    textarea = widget.locator("textarea")
    submit = widget.locator("button[type=submit]")
    expect(textarea).to_be_visible()
    expect(submit).to_be_visible()
    expect(widget.locator(".cm-title")).to_be_visible()
    card = comments(widget).first
    expect(card).to_be_visible()
    assert style(textarea, "font-size") == "16px"
    assert style(textarea, "text-transform") == "none"
    assert style(textarea, "box-sizing") == "border-box"
    assert style(widget.locator(".cm-body").first, "color") == FG
    assert style(widget.locator(".cm-body").first, "letter-spacing") == "normal"
    assert style(card, "float") == "none"
    assert style(submit, "background-color") == ACCENT
    author = card.locator(".cm-author")
    assert style(author, "color") == FG
    assert "line-through" not in style(author, "text-decoration")
    assert card.locator("svg").bounding_box()["width"] == 40

    write(widget.locator("form"), "Posted through the chaos", author="Ivy")
    expect(comments(widget).nth(1).locator(".cm-body")).to_have_text("Posted through the chaos")
    # Nor does the widget leak: the host's own elements keep the host's rules.
    assert style(page.locator("body"), "color") == "rgb(255, 0, 0)"


def test_strict_csp_host_page(page, host, server, unique):
    s = server.url
    csp = (
        f"default-src 'none'; script-src {s}; style-src {s}; connect-src {s}; "
        f"img-src {s} data:; base-uri 'none'; form-action 'none'"
    )
    page.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI))"
    )
    server.seed(host.origin, f"/{unique}.html", "Under **CSP**", author="Jo")
    widget = open_thread(page, host.page(unique, server, csp=csp))
    response = page.request.get(page.url)
    assert response.headers["content-security-policy"] == csp
    submit = widget.locator("button[type=submit]")
    assert style(submit, "background-color") == ACCENT  # the stylesheet did load
    widget.locator("textarea").fill("Still _works_")
    expect(widget.locator(".cm-prev em")).to_have_text("works")
    widget.locator("input[name=author]").fill("Kai")
    submit.click()
    expect(comments(widget).nth(1).locator(".cm-body em")).to_have_text("works")
    expect(comments(widget).nth(1).locator("svg path")).to_have_count(1)
    assert page.evaluate("window.violations") == []
    inline = widget.evaluate("e => e.shadowRoot.querySelectorAll('style, [style]').length")
    assert inline == 0


def test_themes_follow_the_system_unless_told(page, host, server, unique):
    body = f"""
      <div id="auto" data-comments data-uri="/{unique}/t/"></div>
      <div id="dark" data-comments data-uri="/{unique}/t/" data-theme="dark"></div>
      <div id="light" data-comments data-uri="/{unique}/t/" data-theme="light"></div>"""
    page.goto(host.page(unique, server, body))
    roots = {name: page.locator(f"#{name} .cm") for name in ("auto", "dark", "light")}
    expect(page.locator("#light .cm-title")).to_have_text("No comments yet")
    assert style(roots["auto"], "background-color") == BG
    assert style(roots["dark"], "background-color") == DARK_BG
    assert style(roots["light"], "background-color") == BG

    page.emulate_media(color_scheme="dark")
    assert style(roots["auto"], "background-color") == DARK_BG
    assert style(roots["light"], "background-color") == BG
    assert style(roots["dark"], "color") == "rgb(228, 231, 235)"
    # A host page switching its container's data-theme switches the widget, no re-render.
    page.evaluate("document.getElementById('auto').dataset.theme = 'light'")
    assert style(roots["auto"], "background-color") == BG


def test_phone_width(page, host, server, unique):
    uri = f"/{unique}.html"
    parent = None
    for depth in range(7):
        text = f"Depth {depth}: https://example.org/a/very/long/path/without/any/breaks/{'x' * 40}"
        parent = server.seed(host.origin, uri, text, author=f"Reader {depth}", parent=parent)["id"]
    page.set_viewport_size({"width": 360, "height": 740})
    widget = open_thread(page, host.page(unique, server))
    deepest = widget.locator(f"#comment-{parent} > article")
    expect(deepest).to_be_visible()
    box = deepest.bounding_box()
    assert box["x"] < 100, box  # indentation is capped on a narrow screen
    assert box["x"] + box["width"] <= 360, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    textarea = widget.locator("textarea").first.bounding_box()
    assert textarea["x"] >= 0 and textarea["x"] + textarea["width"] <= 360

    deepest.get_by_role("button", name="Reply").click()
    write(widget.locator(f"#comment-{parent} > form"), "Thumb-typed", author="Lu")
    expect(widget.locator(f"#comment-{parent} .cm-replies .cm-body")).to_have_text("Thumb-typed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
