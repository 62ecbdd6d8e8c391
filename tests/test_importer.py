"""Imports from Disqus, WordPress and Isso files (tests/fixtures/), on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from unittest.mock import ANY

import pytest
from starlette.testclient import TestClient

from comments import backup
from comments.errors import CommandError
from comments.foreign import Disqus, Isso, Source, WordPress
from comments.importer import (
    Importer,
    ImportOptions,
    Keep,
    Summary,
    UrlRule,
    map_url,
    parse_url_rule,
)
from comments.models import QueueFilter, QueueView

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SITE = "blog.example"  # tests.helpers.ORIGIN's


def run(client: TestClient, source: Source, **options) -> Summary:
    importer = Importer(client.app.state.service.engine, client.app.state.tokens)
    return importer.run(source, ImportOptions(site=SITE, **options))


def snapshot(client: TestClient) -> bytes:
    """The whole database, as the backup writes it: equal snapshots, equal databases."""
    return b"".join(backup.export_lines(client.app.state.service.engine, True))


def thread(client: TestClient, uri: str) -> dict:
    response = client.get("/api/threads", params={"uri": uri, "limit": 200})
    assert response.status_code == 200, response.text
    return response.json()


def stored(client: TestClient) -> dict[int, object]:
    """Every comment by id, whatever its status, as moderators see it."""
    items = client.app.state.moderation.queue(QueueView.RECENT, QueueFilter(), limit=500).items
    return {item.comment.id: item.comment for item in items}


def by_key(client: TestClient) -> dict[str, object]:
    return {comment.import_key: comment for comment in stored(client).values()}


def texts(nodes: list[dict]) -> list[tuple[str, list]]:
    """A thread's tree, as (author, replies) pairs."""
    return [(node["author"], texts(node["replies"])) for node in nodes]


# Disqus


def test_disqus_keeps_threads_nesting_and_people(client):
    summary = run(client, Disqus(FIXTURES / "disqus.xml"))
    assert (summary.found, summary.comments, summary.already) == (12, 9, 0)
    assert (summary.threads, summary.new_threads) == (2, 2)
    assert summary.skipped == {"spam": 1, "deleted": 1, "page address unusable": 1}
    assert summary.top_level == 2  # 108's parent is not in the file; 112's was deleted
    assert summary.emails_dropped == 1

    hello = thread(client, "/2012/11/hello-world/")  # http, https and #fragment: one thread
    assert hello["thread"] == {
        "uri": "/2012/11/hello-world/",
        "title": "Hello, world & friends",
        "count": 7,
        "closed": False,
        "closes": None,
        "version": ANY,
    }
    # Four levels below Ada, though 104 came before its parent 103 in the file.
    assert texts(hello["comments"]) == [
        ("Ada", [("Bob", [("Anonymous Reader", [("Cy", [("Zoë", [])])])])]),
        ("Orphan", []),
        ("Ada", []),
    ]
    first = hello["comments"][0]
    assert first["created"] == "2012-11-29T01:25:00.000Z"
    # Kept as Disqus had it (no Markdown round trip), minus what the policy removes; <b> and
    # <i> are written <strong> and <em>.
    assert first["html"] == (
        '<p>First! Love the <strong>post</strong> &amp; the <a href="https://ada.example/" '
        'rel="nofollow ugc noopener">link</a>.</p>'
        "<p>Second paragraph, with <em>emphasis</em>.</p>"
    )
    bob = first["replies"][0]
    assert bob["html"] == (
        "<blockquote>First!</blockquote><p>Reply with <code>code_here()</code> and 2*3*4 = 24.</p>"
    )
    zoe = bob["replies"][0]["replies"][0]["replies"][0]
    assert zoe["html"] == "<p>Ünïcödé ✓ 日本語 — “curly quotes” &lt;not a tag&gt;</p>"
    code = hello["comments"][2]
    assert "<pre><code>def double(x):\n    return x * 2\n</code></pre>" in code["html"]
    assert "<li>one</li>" in code["html"]

    cafe = thread(client, "/2013/01/caf%C3%A9/")
    assert cafe["thread"]["title"] == "Café ☕ notes"
    assert [node["html"] for node in cafe["comments"]] == [
        "<p>Escaped markup, no CDATA: &amp; entity, <em>italic</em>.</p>",
        "<p>A reply to the deleted comment.</p>",
    ]

    comments = by_key(client)
    tokens = client.app.state.tokens
    ada = comments[f"{SITE}/disqus:101"]
    assert ada.email == "ada@example.org" and ada.website is None
    assert ada.ip_hash == tokens.hash_ip("192.0.2.10")
    assert ada.avatar == tokens.avatar("ada@example.org")
    assert ada.text.startswith("First! Love the **post** & the [link](https://ada.example/")
    assert comments[f"{SITE}/disqus:109"].email is None  # "not-an-email" dropped, the comment kept
    assert comments[f"{SITE}/disqus:109"].created.isoformat() == "2013-01-06T09:00:00+00:00"
    assert all(comment.import_parent is None for comment in comments.values())


def test_spam_and_deleted_come_in_hidden_when_asked(client):
    summary = run(client, Disqus(FIXTURES / "disqus.xml"), spam=Keep.HIDDEN, deleted=Keep.HIDDEN)
    assert (summary.comments, summary.top_level) == (11, 1)
    assert summary.skipped == {"page address unusable": 1}
    comments = by_key(client)
    assert comments[f"{SITE}/disqus:106"].status.value == "hidden"
    assert comments[f"{SITE}/disqus:106"].held_reason == "spam"
    assert comments[f"{SITE}/disqus:107"].status.value == "hidden"
    assert comments[f"{SITE}/disqus:112"].parent_id == comments[f"{SITE}/disqus:107"].id
    # Readers see the hidden comment as a placeholder holding its reply.
    [placeholder] = [
        node for node in thread(client, "/2013/01/caf%C3%A9/")["comments"] if node["replies"]
    ]
    assert placeholder["status"] == "hidden" and placeholder["html"] == ""
    assert placeholder["replies"][0]["html"] == "<p>A reply to the deleted comment.</p>"
    assert thread(client, "/2012/11/hello-world/")["thread"]["count"] == 7


def test_importing_twice_adds_nothing(client):
    run(client, Disqus(FIXTURES / "disqus.xml"))
    before = snapshot(client)
    summary = run(client, Disqus(FIXTURES / "disqus.xml"))
    assert (summary.comments, summary.already, summary.threads, summary.new_threads) == (0, 9, 0, 0)
    assert summary.top_level == 0
    assert snapshot(client) == before  # not even a thread's version moved


def test_dry_run_changes_nothing(client):
    before = snapshot(client)
    summary = run(client, Disqus(FIXTURES / "disqus.xml"), dry_run=True)
    assert (summary.comments, summary.new_threads, summary.top_level) == (9, 2, 2)
    assert snapshot(client) == before
    assert run(client, Disqus(FIXTURES / "disqus.xml")).comments == 9


def test_an_interrupted_import_is_finished_by_the_next(client, monkeypatch):
    class Interrupted(Exception):
        pass

    def stop_linking(conn, thread_ids):
        raise Interrupted

    monkeypatch.setattr("comments.store.transfer.link_imported", stop_linking)
    with pytest.raises(Interrupted):
        run(client, Disqus(FIXTURES / "disqus.xml"))
    monkeypatch.undo()
    assert thread(client, "/2012/11/hello-world/")["comments"] == []  # written, not yet linked
    summary = run(client, Disqus(FIXTURES / "disqus.xml"))
    assert (summary.comments, summary.already, summary.top_level) == (0, 9, 2)
    hello = thread(client, "/2012/11/hello-world/")
    assert hello["thread"]["count"] == 7
    assert len(texts(hello["comments"])) == 3


# WordPress


def test_wordpress_keeps_paragraphs_states_and_nesting(client):
    source = WordPress(FIXTURES / "wordpress.xml")
    summary = run(client, source, url_rules=(parse_url_rule("https://old-wp.example/blog/=/"),))
    assert (summary.found, summary.comments, summary.top_level) == (10, 7, 1)
    assert summary.skipped == {"spam": 1, "deleted": 1, "pingback": 1}
    assert summary.websites_dropped == 1
    assert summary.new_threads == 2  # the attachment had no comments: no thread

    hello = thread(client, "/2012/11/hello-world/")
    assert hello["thread"]["title"] == "Hello World — “first” post"
    assert texts(hello["comments"]) == [
        ("Ada", [("Bob", [("Cy", [("Zoë", [])])])]),
        ("Orphan", []),
    ]
    ada = hello["comments"][0]
    assert ada["website"] == "https://ada.example"
    assert ada["html"] == (
        "<p>First line<br>\nsecond line</p>\n<p>A new paragraph with <strong>bold</strong> &amp; "
        '<a href="https://x.example/" rel="nofollow ugc noopener">a link</a>.</p>'
    )
    bob = ada["replies"][0]
    assert bob["website"] == "https://bob.example"  # "bob.example", as the API reads it too
    zoe = bob["replies"][0]["replies"][0]
    # Entities as WordPress wrote them: a browser shows “entities” …
    assert zoe["html"] == "<p>Third level: ünïcode ✓ 日本語 &#8220;entities&#8221; &hellip;</p>"

    about = thread(client, "/about/")
    assert about["comments"][0]["html"] == (
        '<p>A code sample:</p>\n<pre>if (a &lt; b) {\n    return "]]&gt;";\n}</pre>\n<p>Done.</p>'
    )
    comments = by_key(client)
    held = comments[f"{SITE}/wordpress:old-wp.example/blog:8"]
    assert (held.status.value, held.held_reason, held.website) == ("pending", "import", None)
    assert held.created.isoformat() == "2012-12-02T00:00:00+00:00"  # no GMT time: the local one
    assert "script" not in held.html
    orphan = comments[f"{SITE}/wordpress:old-wp.example/blog:9"]
    assert orphan.ip_hash == client.app.state.tokens.hash_ip("import")


# Isso


def test_isso_database(client):
    summary = run(client, Isso(FIXTURES / "isso.db"))
    assert (summary.found, summary.comments, summary.top_level) == (7, 6, 2)
    assert summary.skipped == {"deleted": 1}
    assert (summary.emails_dropped, summary.websites_dropped) == (1, 1)
    post = thread(client, "/2019/03/isso-post/")
    assert post["thread"]["title"] == "Isso post: “quotes” & ünïcode"
    assert texts(post["comments"]) == [("Ada", [("Bob", [])]), (None, [])]
    ada = post["comments"][0]
    assert ada["edited"] == "2019-03-08T09:00:00.000Z"
    assert ada["html"].startswith("<p>First comment, <em>with</em> Markdown")
    comments = by_key(client)
    assert comments[f"{SITE}/isso:5"].status.value == "pending"
    assert comments[f"{SITE}/isso:6"].ip_hash == client.app.state.tokens.hash_ip("2001:db8::")
    assert comments[f"{SITE}/isso:7"].parent_id is None


def test_isso_deleted_with_replies_stays_a_placeholder(client):
    summary = run(client, Isso(FIXTURES / "isso.db"), deleted=Keep.HIDDEN)
    assert (summary.comments, summary.top_level) == (7, 1)
    comments = by_key(client)
    deleted = comments[f"{SITE}/isso:3"]
    assert (deleted.status.value, deleted.text, deleted.author) == ("deleted", "", None)
    assert comments[f"{SITE}/isso:4"].parent_id == deleted.id
    post = thread(client, "/2019/03/isso-post/")
    assert [node["status"] for node in post["comments"]] == ["approved", "deleted"]


# Page addresses


@pytest.mark.parametrize(
    ("rules", "url", "uri"),
    [
        ((), "http://old.example/2012/post/?p=1#c", "/2012/post/?p=1"),
        (("old.example=",), "https://old.example/2012/post/", "/2012/post/"),
        (("https://old.example/blog/=/",), "http://old.example/blog/2012/post/", "/2012/post/"),
        (("old.example/blog=/archive",), "https://old.example/blog/post/", "/archive/post/"),
        (("/2012/=/archive/2012/",), "/2012/post/", "/archive/2012/post/"),
        # A folder-like last segment gains its slash, as every thread key does (validate.uri).
        (("/2012/=/archive/2012/",), "https://other.example/2012/x", "/archive/2012/x/"),
        # The most specific rule wins, whatever the order.
        (("/=/all/", "old.example/news/=/n/"), "https://old.example/news/1", "/n/1/"),
        (("other.example=/other/",), "https://old.example/post/", "/post/"),
    ],
)
def test_map_url(rules, url, uri):
    assert map_url(url, tuple(parse_url_rule(rule) for rule in rules)) == uri


def test_url_rules_are_parsed():
    assert parse_url_rule("https://Old.Example/blog/=https://new.example/b/") == UrlRule(
        "old.example", "/blog/", "/b/"
    )
    for bad in ("no-equals", "=/x", "https:///x=/"):
        with pytest.raises(ValueError):
            parse_url_rule(bad)


# Malformed files stop before anything is written


def broken(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(client: TestClient, source: Source) -> str:
    before = snapshot(client)
    with pytest.raises(CommandError) as error:
        run(client, source)
    assert snapshot(client) == before
    message = str(error.value)
    assert "\n" not in message
    return message


def test_truncated_file_names_the_line(client, tmp_path):
    text = (FIXTURES / "disqus.xml").read_text(encoding="utf-8")
    cut = text[: text.index('<post dsq:id="110">') + 200]  # after 9 good comments
    path = broken(tmp_path, "cut.xml", cut)
    message = refused(client, Disqus(path))
    lines = cut.count("\n") + 1
    assert message.startswith(f"{path}: line {lines}: the XML is malformed: ")
    assert "Premature end of data in tag createdAt" in message


def test_wrong_root_names_the_element(client):
    message = refused(client, Disqus(FIXTURES / "wordpress.xml"))
    assert message.endswith(
        "wordpress.xml: line 9: <rss> is not the root of a disqus export (<disqus>)"
    )


def test_invalid_element_names_its_line(client, tmp_path):
    text = (FIXTURES / "disqus.xml").read_text(encoding="utf-8")
    good = "<createdAt>2012-11-29T03:00:00Z</createdAt>"
    text = text.replace(good, "<createdAt>soon</createdAt>")
    path = broken(tmp_path, "dates.xml", text)
    line = text[: text.index('<post dsq:id="103">')].count("\n") + 1
    message = refused(client, Disqus(path))
    assert message == f"{path}: line {line}: <post> has no valid <createdAt>: 'soon'"


def test_not_an_isso_database(client, tmp_path):
    message = refused(client, Isso(FIXTURES / "disqus.xml"))
    assert "is not an Isso database" in message
    copy = tmp_path / "other.db"
    shutil.copy(FIXTURES / "isso.db", copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("ALTER TABLE comments RENAME TO remarks")
    assert "table comments" in refused(client, Isso(copy))


# Fidelity: imported HTML stays HTML


def test_disqus_breaks_code_and_backslashes_look_as_they_did(client):
    summary = run(client, Disqus(FIXTURES / "disqus_breaks.xml"))
    assert summary.comments == 3
    page = thread(client, "/2014/05/breaks/")
    assert page["thread"]["closed"] is True  # closed there, closed here
    [ada] = page["comments"]
    assert ada["html"] == (
        "<p>Steps:<br>1. open it<br>- then this<br>&gt; not a quote<br>"
        "C:\\Users\\ada\\ and a trailing \\<br>~~~ fences ~~~ are just text</p><p>Bye</p>"
    )
    bob = ada["replies"][0]["html"]
    assert "<pre><code>for x in xs:\n    print(x)  # " in bob  # line breaks kept
    assert 'rel="nofollow ugc noopener">not a link</a>\n</code></pre>' in bob
    assert "<code>a [b](c) d</code>" in bob  # no link syntax leaking into code
    assert '<a href="https://docs.example.org/a_b" rel="nofollow ugc noopener">' in bob
    # The deleted page's comment is there for moderators, hidden from readers.
    assert thread(client, "/2014/06/gone/")["comments"] == []
    gone = by_key(client)[f"{SITE}/disqus:203"]
    assert (gone.status.value, gone.held_reason) == ("hidden", "deleted thread")


def test_an_imported_comment_keeps_its_html_until_edited(client):
    run(client, Disqus(FIXTURES / "disqus_breaks.xml"))
    ada = by_key(client)[f"{SITE}/disqus:201"]
    # The Markdown kept for edits renders as the original does (whitespace aside).
    assert ada.text.startswith("Steps:\n1\\. open it\n\\- then this\n\\> not a quote\n")
    moderation = client.app.state.moderation
    edited = moderation.edit("mod@example.org", ada.id, ada.text.replace("Bye", "Bye now"))
    assert edited.html == (
        "<p>Steps:<br>\n1. open it<br>\n- then this<br>\n&gt; not a quote<br>\n"
        "C:\\Users\\ada\\ and a trailing \\<br>\n~~~ fences ~~~ are just text</p>\n<p>Bye now</p>"
    )
    bob = by_key(client)[f"{SITE}/disqus:202"]
    assert bob.html.startswith("<p>Code:</p><pre><code>")  # unedited: the original HTML
    assert bob.edited is None


def test_comments_of_protected_private_and_closed_posts(client):
    summary = run(client, WordPress(FIXTURES / "wordpress_private.xml"))
    assert summary.comments == 3
    comments = by_key(client)
    blog = "wordpress:old.example.org/second"
    protected = comments[f"{SITE}/{blog}:1"]
    private = comments[f"{SITE}/{blog}:2"]
    assert (protected.status.value, protected.held_reason) == ("hidden", "protected post")
    assert (private.status.value, private.held_reason) == ("hidden", "private post")
    assert thread(client, "/second/members/")["comments"] == []
    closed = thread(client, "/second/closed/")
    assert closed["thread"]["closed"] is True
    assert closed["comments"][0]["html"] == (
        "<p>Said before it closed.</p>\n<p>Second paragraph<br>\nwith a break.</p>"
    )


def test_private_comments_can_be_left_out(client):
    summary = run(client, WordPress(FIXTURES / "wordpress_private.xml"), private=Keep.SKIP)
    assert summary.comments == 1
    assert summary.skipped == {"protected post": 1, "private post": 1}


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_every_wxr_version_reads_alike(client, tmp_path, version):
    text = (FIXTURES / "wordpress.xml").read_text(encoding="utf-8")
    path = broken(tmp_path, f"wxr-{version}.xml", text.replace("export/1.2/", f"export/{version}/"))
    summary = run(client, WordPress(path))
    assert (summary.found, summary.comments, summary.top_level) == (10, 7, 1)


# Sites and sources side by side


def test_two_isso_databases_into_two_sites(client):
    first = run(client, Isso(FIXTURES / "isso.db"))
    importer = Importer(client.app.state.service.engine, client.app.state.tokens)
    second = importer.run(Isso(FIXTURES / "isso.db"), ImportOptions(site="other.example"))
    assert first.comments == second.comments == 6
    assert second.already == 0 and second.new_threads == first.new_threads
    keys = by_key(client)
    assert f"{SITE}/isso:1" in keys and "other.example/isso:1" in keys


def test_two_wordpress_blogs_on_one_host(client):
    first = run(client, WordPress(FIXTURES / "wordpress.xml"))
    second = run(client, WordPress(FIXTURES / "wordpress_private.xml"))
    assert first.comments == 7 and second.comments == 3  # ids 1 and 3 again: another blog
    assert second.already == 0


def test_a_corrected_map_url_moves_what_went_wrong(client):
    wrong = run(client, Disqus(FIXTURES / "disqus.xml"), url_rules=(parse_url_rule("/=/x/"),))
    assert wrong.comments == 9
    assert len(thread(client, "/x/2012/11/hello-world/")["comments"]) == 3
    fixed = run(client, Disqus(FIXTURES / "disqus.xml"))
    assert (fixed.comments, fixed.moved, fixed.already, fixed.emptied) == (0, 9, 0, 2)
    assert thread(client, "/x/2012/11/hello-world/")["thread"]["count"] == 0
    with client.app.state.service.engine.connect() as conn:  # the old addresses' threads are gone
        uris = {uri for (uri,) in conn.exec_driver_sql("SELECT uri FROM threads")}
    assert not any(uri.startswith("/x/") for uri in uris), uris
    hello = thread(client, "/2012/11/hello-world/")
    assert hello["thread"]["count"] == 7
    assert texts(hello["comments"])[0] == (
        "Ada",
        [("Bob", [("Anonymous Reader", [("Cy", [("Zoë", [])])])])],
    )
    assert len(stored(client)) == 9  # moved, not duplicated
    again = run(client, Disqus(FIXTURES / "disqus.xml"))
    assert (again.moved, again.already) == (0, 9)


@pytest.mark.parametrize(
    ("rule", "url", "uri"),
    [
        ("example.org=", "https://example.org/2012/post/", "/2012/post/"),
        ("example.org=/", "https://example.org/2012/post/", "/2012/post/"),  # the whole path
        ("example.org:8080=/dev/", "http://example.org:8080/a/b/", "/dev/a/b/"),
        ("example.org:8080=/dev/", "http://example.org/a/b/", "/a/b/"),  # another port: no
        ("https://example.org:8443/=/", "https://example.org:8443/a/", "/a/"),
        ("example.org/blog=/", "https://example.org/blog/2012/post/", "/2012/post/"),
        ("example.org/blog=/", "https://example.org/blogger/post/", "/blogger/post/"),
        ("example.org/blog/=/", "https://example.org/blog", "/"),
    ],
)
def test_prefix_rules_do_what_they_say(rule, url, uri):
    assert map_url(url, (parse_url_rule(rule),)) == uri


# Invalid records


def test_every_invalid_record_is_reported_and_nothing_written(client, tmp_path):
    text = (FIXTURES / "disqus.xml").read_text(encoding="utf-8")
    text = text.replace("<createdAt>2012-11-29T03:00:00Z</createdAt>", "<createdAt/>", 1)
    text = text.replace('<post dsq:id="110">', "<post>", 1)
    text = text.replace('<post dsq:id="109">', '<post dsq:id="101">', 1)
    path = broken(tmp_path, "several.xml", text)
    before = snapshot(client)
    with pytest.raises(CommandError) as error:
        run(client, Disqus(path))
    assert snapshot(client) == before
    lines = str(error.value).splitlines()
    assert len(lines) == 4
    assert "<post> has no valid <createdAt>: ''" in lines[0]
    assert "<post> is a duplicate: disqus:101 is the comment at line" in lines[1]
    assert "<post> has no dsq:id" in lines[2]
    assert lines[3].endswith(
        "3 invalid records: nothing was imported (--skip-invalid imports the others)"
    )


def test_skip_invalid_imports_the_rest_and_lists_it(client, tmp_path):
    text = (FIXTURES / "disqus.xml").read_text(encoding="utf-8")
    text = text.replace('<post dsq:id="109">', '<post dsq:id="101">', 1)
    path = broken(tmp_path, "duplicate.xml", text)
    summary = run(client, Disqus(path), skip_invalid=True)
    assert [record.element for record in summary.invalid] == ["<post>"]
    assert "duplicate" in str(summary.invalid[0])
    assert summary.comments == 8  # the first 101 kept, its duplicate left
    assert by_key(client)[f"{SITE}/disqus:101"].author == "Ada"


def test_rendering_in_worker_processes_gives_the_same(client):
    summary = run(client, Disqus(FIXTURES / "disqus.xml"), workers=2)
    assert summary.comments == 9
    first = thread(client, "/2012/11/hello-world/")["comments"][0]
    assert first["html"].startswith("<p>First! Love the <strong>post</strong>")
