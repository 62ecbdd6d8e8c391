"""The `comments sites` commands and the start-up warning, on every configured database."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

from comments import cli, sites
from comments.errors import CommandError
from comments.models import Action, QueueFilter, QueueView, Sort
from tests.helpers import ORIGIN, SECRET

OLD = {"Origin": "https://old.example"}
NEW = {"Origin": "https://new.example"}


@pytest.fixture
def client(make_client):
    """blog.example, which may post as old.example and new.example too."""
    return make_client(origins=f"{ORIGIN},https://old.example,https://new.example")


def post(client, text, uri="/post/", headers=None, **fields) -> dict:
    response = client.post(
        "/api/comments", json={"uri": uri, "text": text, **fields}, headers=headers or {}
    )
    assert response.status_code == 201, response.text
    return response.json()


def service_of(client) -> sites.SiteService:
    return sites.SiteService(client.app.state.service.engine, client.app.state.moderation.clock)


def page(client, uri="/post/", headers=None):
    response = client.get("/api/threads", params={"uri": uri}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response


def thread_id(client, site, uri="/post/") -> int:
    return client.app.state.service.read_thread(site, uri, Sort.OLDEST, 1, None).thread.id


def audit_lines(client):
    entries, _ = client.app.state.moderation.audit()
    return [(e.action, e.moderator, e.before, e.after, e.note) for e in entries]


def test_list_sites(client):
    post(client, "one")
    post(client, "two", uri="/other/")
    post(client, "three", headers=OLD)
    summaries = service_of(client).list_sites()
    assert [(s.site, s.threads, s.comments, s.visible) for s in summaries] == [
        ("blog.example", 2, 2, 2),
        ("old.example", 1, 1, 1),
    ]


def test_merge_joins_same_page_threads_and_drops_cached_pages(client):
    mine = post(client, "on the new site")
    post(client, "elsewhere", uri="/only-new/")
    old = post(client, "old", title="The post", headers=OLD)
    post(client, "x", uri="/only-old/", headers=OLD)
    client.app.state.moderation.set_closed("mod", thread_id(client, "old.example"), True)
    before = page(client)  # now cached in the process, by version
    assert before.json()["thread"]["count"] == 1

    changes = service_of(client).merge("cli", "old.example", "blog.example")
    assert (changes.action, changes.dry_run, changes.merged) == (Action.MERGE_SITES, False, 1)
    after = page(client)
    assert after.headers["etag"] != before.headers["etag"]
    body = after.json()
    assert body["thread"] == {
        "uri": "/post/",
        "title": "The post",
        "count": 2,
        "closed": True,
        "closes": None,
        "version": ANY,
    }
    assert [comment["id"] for comment in body["comments"]] == [mine["id"], old["id"]]
    assert page(client, "/only-old/").json()["thread"]["count"] == 1
    assert page(client, "/only-new/").json()["thread"]["count"] == 1
    assert page(client, headers=OLD).json()["thread"]["count"] == 0
    assert [summary.site for summary in service_of(client).list_sites()] == ["blog.example"]
    assert audit_lines(client)[0] == (
        Action.MERGE_SITES,
        "cli",
        "old.example",
        "blog.example",
        "3 threads moved, 1 of them merged into another",
    )


def test_rename_moves_every_thread_and_refuses_a_name_in_use(client):
    post(client, "x", headers=OLD)
    post(client, "y", uri="/b/", headers=OLD)
    cached = page(client, headers=NEW)  # nothing there yet, cached as such
    post(client, "taken")
    service = service_of(client)
    with pytest.raises(CommandError, match=r"blog\.example has threads already"):
        service.rename("cli", "old.example", "blog.example")
    with pytest.raises(CommandError, match=r"nowhere\.example has no threads"):
        service.rename("cli", "nowhere.example", "new.example")
    changes = service.rename("cli", "Old.Example", "new.example")
    assert sorted((move.site, move.uri) for move in changes.moves) == [
        ("new.example", "/b/"),
        ("new.example", "/post/"),
    ]
    renamed = page(client, headers=NEW)
    assert renamed.json()["thread"]["count"] == 1
    assert renamed.headers["etag"] != cached.headers["etag"]
    assert page(client, headers=OLD).json()["thread"]["count"] == 0
    assert [line[0] for line in audit_lines(client)] == [Action.RENAME_SITE]


def test_move_replaces_a_prefix_and_merges_collisions(client):
    post(client, "old scheme", uri="/2019/05/post/", title="Post")
    post(client, "new scheme", uri="/blog/post/")
    post(client, "only old", uri="/2019/05/other.html")
    post(client, "untouched", uri="/2019/06/post/")
    changes = service_of(client).move("cli", "blog.example", "/2019/05/", "/blog/")
    assert sorted((move.uri, len(move.threads)) for move in changes.moves) == [
        ("/blog/other.html", 1),
        ("/blog/post/", 2),
    ]
    merged = page(client, "/blog/post/").json()
    assert merged["thread"]["count"] == 2 and merged["thread"]["title"] == "Post"
    assert page(client, "/blog/other.html").json()["thread"]["count"] == 1
    assert page(client, "/2019/05/post/").json()["thread"]["count"] == 0
    assert page(client, "/2019/06/post/").json()["thread"]["count"] == 1
    line = audit_lines(client)[0]
    assert line[:4] == (Action.MOVE_THREADS, "cli", "blog.example/2019/05/", "blog.example/blog/")


def test_a_merge_keeps_the_moderators_title(client):
    post(client, "first", uri="/2019/05/post/", title="A reader's title")
    post(client, "second", uri="/blog/post/", title="Another")
    moderation = client.app.state.moderation
    [item] = moderation.queue(QueueView.RECENT, QueueFilter(thread="/blog/post/")).items
    moderation.set_title("mod", item.comment.thread_id, "The site's title")
    service_of(client).move("cli", "blog.example", "/2019/05/", "/blog/")
    assert page(client, "/blog/post/").json()["thread"]["title"] == "The site's title"
    post(client, "third", uri="/blog/post/", title="A new reader's title")
    assert page(client, "/blog/post/").json()["thread"]["title"] == "The site's title"


def test_move_into_keys_other_moving_threads_still_hold(client):
    post(client, "a", uri="/a/x/")
    post(client, "b", uri="/a/a/x/")
    service_of(client).move("cli", "blog.example", "/a/", "/a/a/")
    assert page(client, "/a/a/x/").json()["comments"][0]["html"] == "<p>a</p>"
    assert page(client, "/a/a/a/x/").json()["comments"][0]["html"] == "<p>b</p>"


def test_a_dry_run_says_everything_and_writes_nothing(client):
    post(client, "x", headers=OLD)
    post(client, "y")
    before = page(client).headers["etag"]
    changes = service_of(client).merge("cli", "old.example", "blog.example", dry_run=True)
    assert changes.dry_run and changes.merged == 1
    assert page(client).headers["etag"] == before
    assert page(client, headers=OLD).json()["thread"]["count"] == 1
    assert audit_lines(client) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.merge("cli", "blog.example", "blog.example"), "into itself"),
        (lambda s: s.move("cli", "blog.example", "2019/", "/blog/"), "not a path prefix"),
        (lambda s: s.move("cli", "blog.example", "/nothing/", "/blog/"), "no threads under"),
        (lambda s: s.rename("cli", "blog.example", "https://x/"), "not a site name"),
    ],
)
def test_commands_refuse_what_makes_no_sense(client, call, message):
    post(client, "x")
    with pytest.raises(CommandError, match=message):
        call(service_of(client))


# The start-up warning


def test_comments_no_origin_reaches_any_more_are_named_with_the_fix(make_client, caplog):
    before = make_client(origins="")  # no origins yet: the comments go to localhost
    post(before, "written before COMMENTS_ORIGINS", headers={"Origin": "http://localhost:4000"})
    post(before, "and another", headers={"Origin": "http://localhost:4000"})
    configured = make_client(origins="https://blog.example.org")
    post(configured, "reached", headers={"Origin": "https://blog.example.org"})
    config = configured.app.state.config
    engine = configured.app.state.service.engine
    with caplog.at_level("WARNING", logger="comments"):
        cli.warn_about_unreached_sites(config, engine)
    assert [record.getMessage() for record in caplog.records] == [
        "2 comments under localhost show on no page: no configured origin or alias reaches that"
        " site; to show them on blog.example.org, run: comments sites merge localhost"
        " blog.example.org"
    ]


def test_an_old_name_of_a_configured_site_is_suggested_as_that_site(make_client):
    www = {"Origin": "https://www.blog.example.org"}
    post(make_client(origins="https://www.blog.example.org"), "under the www name", headers=www)
    now = make_client(origins="https://blog.example.org,https://www.blog.example.org")
    # Both origins are one site now, named by the first: the www threads are reached no more.
    assert now.app.state.config.site_of_origin(www["Origin"]) == "blog.example.org"
    [unreached] = service_of(now).unreached(now.app.state.config)
    assert (unreached.site, unreached.comments, unreached.target) == (
        "www.blog.example.org",
        1,
        "blog.example.org",
    )
    assert unreached.command == "comments sites merge www.blog.example.org blog.example.org"


def test_serve_logs_the_warning_before_it_starts(make_client, database_url, monkeypatch, caplog):
    post(make_client(origins=""), "x", headers={"Origin": "http://localhost:4000"})
    monkeypatch.setattr("comments.serving.serve", lambda *args, **kwargs: None)
    for name, value in {
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_SECRET_KEY": SECRET,
        "COMMENTS_ORIGINS": "https://blog.example.org",
    }.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level("WARNING", logger="comments"):
        cli.main(["serve"])
    assert any(
        "comments sites merge localhost blog.example.org" in record.getMessage()
        for record in caplog.records
    )


# The command line


def run(monkeypatch, capsys, database_url, *argv: str, origins=ORIGIN):
    monkeypatch.setenv("COMMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("COMMENTS_SECRET_KEY", SECRET)
    monkeypatch.setenv("COMMENTS_ORIGINS", origins)
    cli.main(list(argv))
    return capsys.readouterr()


def test_sites_commands(client, database_url, monkeypatch, capsys):
    post(client, "x", headers=OLD)
    post(client, "y")
    listed = run(monkeypatch, capsys, database_url, "sites", "list")
    assert listed.out.splitlines() == [
        "blog.example  1 threads, 1 comment (1 visible)",
        "old.example  1 threads, 1 comment (1 visible)  (no configured origin reaches it)",
    ]
    dry = run(
        monkeypatch, capsys, database_url, "sites", "merge", "old.example", ORIGIN[8:], "--dry-run"
    )
    assert dry.out.splitlines()[-2:] == [
        "Would move 2 threads (1 merged into another).",
        "Nothing was written (--dry-run).",
    ]
    assert "merged into thread" in dry.out
    done = run(monkeypatch, capsys, database_url, "sites", "rename", "old.example", "gone.example")
    assert "old.example/post/ -> gone.example/post/" in done.out
    assert "no configured origin reaches gone.example" in done.err
    with pytest.raises(SystemExit, match=r"comments: nowhere\.example has no threads"):
        run(monkeypatch, capsys, database_url, "sites", "merge", "nowhere.example", "x.example")
