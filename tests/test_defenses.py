"""Defenses in the posting path: each holds or refuses what it should, and 0 turns it off."""

from __future__ import annotations

import pytest
import sqlalchemy

from comments.models import Action
from tests.helpers import assert_problem, post


def held(created: dict) -> bool:
    return created["status"] == "pending"


def test_form_stamp_holds_fast_or_stampless_posts(make_client, clock):
    client = make_client(min_write_seconds="3")
    assert held(post(client, "no stamp at all"))
    stamp = client.get("/api/stamp").json()["stamp"]
    assert held(post(client, "too quick", stamp=stamp))
    clock.advance(seconds=3)
    assert not held(post(client, "took my time", stamp=stamp))
    assert held(post(client, "forged", stamp=stamp[:-3] + "abc"))
    clock.advance(days=2)
    assert held(post(client, "stale stamp", stamp=stamp))


def test_honeypot_holds(client):
    assert held(post(client, "bot", honeypot="http://spam.example"))
    assert not held(post(client, "human", honeypot=""))


@pytest.mark.parametrize("links, is_held", [(3, False), (4, True)])
def test_many_links_hold(make_client, links, is_held):
    client = make_client(max_links="3")
    text = " ".join(f"https://site{index}.example/" for index in range(links))
    assert held(post(client, text)) is is_held


def test_blocked_words_hold_whole_words_only(make_client):
    client = make_client(blocked_words="casino, buy now")
    assert held(post(client, "Best CASINO in town"))
    assert held(post(client, "please buy now!"))
    assert not held(post(client, "occasional visitor"))


def test_duplicate_text_is_refused_within_the_window(make_client, clock):
    client = make_client(duplicate_window="10m")
    post(client, "me too", email="a@example.org")
    response = client.post("/api/comments", json={"uri": "/post/", "text": "me too"})
    assert_problem(response, 409, "duplicate_comment", "text")
    clock.advance(minutes=11)
    post(client, "me too")


def test_thread_rate_limit(make_client, clock):
    client = make_client(thread_rate_limit="2")
    post(client, "one")
    post(client, "two")
    busy = client.post("/api/comments", json={"uri": "/post/", "text": "three"})
    assert_problem(busy, 429, "rate_limited")
    assert busy.headers["retry-after"]
    post(client, "elsewhere", uri="/other/")
    clock.advance(seconds=61)
    post(client, "three")


def test_defenses_off_at_zero(make_client):
    client = make_client(
        min_write_seconds="0", max_links="0", blocked_words="", duplicate_window="0"
    )
    text = "casino " + " ".join(f"https://s{index}.example" for index in range(9))
    assert not held(post(client, text))
    assert not held(post(client, text))


def test_banned_author_is_refused_or_held(make_client):
    client = make_client()
    troll = post(client, "troll", email="troll@example.org")
    moderation = client.app.state.moderation
    moderation.ban("mod@example.org", troll["id"], "abuse")
    refused = client.post(
        "/api/comments", json={"uri": "/post/", "text": "again", "email": "TROLL@example.org"}
    )
    assert_problem(refused, 403, "banned")
    # The ban covers the network too, but a network may be shared: from it, a new name and no
    # email is held for a moderator, not refused.
    from_network = post(client, "x", uri="/p/")
    assert from_network["status"] == "pending"
    holding = make_client(ban_action="hold")
    assert held(post(holding, "held instead", email="troll@example.org"))


def test_expired_ban_no_longer_applies(make_client, clock):
    from datetime import timedelta

    client = make_client()
    troll = post(client, "troll", email="troll@example.org")
    client.app.state.moderation.ban(
        "mod@example.org", troll["id"], "cool down", expires=clock() + timedelta(hours=1)
    )
    again = {"uri": "/p/", "text": "x", "email": "troll@example.org"}
    assert_problem(client.post("/api/comments", json=again), 403, "banned")
    clock.advance(hours=2)
    assert post(client, "back", uri="/p/", email="troll@example.org")["status"] == "approved"


def test_trusted_mode_holds_until_one_is_approved(make_client):
    client = make_client(moderation="trusted")
    first = post(client, "first", email="new@example.org")
    assert held(first)
    assert held(post(client, "second", email="new@example.org"))
    client.app.state.moderation.change_status("mod@example.org", Action.APPROVE, [first["id"]])
    assert not held(post(client, "third", email="New@Example.org"))


# Reports


def test_report_once_per_reader_and_threshold_hides(make_client):
    client = make_client(report_threshold="2", trusted_proxies="127.0.0.1")
    created = post(client, "controversial")
    path = f"/api/comments/{created['id']}/report"
    reader = {"X-Forwarded-For": "203.0.113.1"}
    assert client.post(path, json={"reason": "rude"}, headers=reader).status_code == 201
    assert_problem(client.post(path, json={}, headers=reader), 409, "already_reported")
    visible = client.get("/api/threads", params={"uri": "/post/"}).json()
    assert visible["thread"]["count"] == 1
    other = {"X-Forwarded-For": "198.51.100.1"}
    assert client.post(path, json={"reason": "spam"}, headers=other).status_code == 201
    hidden = client.get("/api/threads", params={"uri": "/post/"}).json()
    assert hidden["thread"]["count"] == 0 and hidden["comments"] == []
    # A third reader cannot report what is no longer shown.
    third = {"X-Forwarded-For": "192.0.2.1"}
    assert_problem(client.post(path, json={}, headers=third), 404, "comment_not_found")


def test_report_validation(client):
    created = post(client, "x")
    path = f"/api/comments/{created['id']}/report"
    assert_problem(client.post(path, json={"reason": "r" * 501}), 422, "field_too_long", "reason")
    assert_problem(client.post(path, json={"why": "x"}), 422, "unknown_field", "why")
    assert_problem(
        client.post(path, json={}, headers={"Origin": "https://evil.example"}),
        403,
        "origin_forbidden",
    )
    assert_problem(client.post("/api/comments/999999/report", json={}), 404, "comment_not_found")


def test_moderation_mode_per_site(make_client):
    client = make_client(
        origins="https://blog.example,https://heated.example",
        site_moderation="heated.example=pre",
    )
    assert not held(post(client, "calm"))
    heated = client.post(
        "/api/comments",
        json={"uri": "/post/", "text": "hot take"},
        headers={"Origin": "https://heated.example"},
    )
    assert heated.json()["status"] == "pending"
    assert (
        client.get("/api/config", headers={"Origin": "https://heated.example"}).json()["moderation"]
        == "pre"
    )
    assert client.get("/api/config").json()["moderation"] == "post"


def test_every_check_of_a_new_comment_searches_an_index(make_client):
    """The checks run inside the write transaction: none may read a whole table (the site's)."""
    client = make_client(
        rate_limit="10", thread_rate_limit="30", duplicate_window="10m", moderation="trusted"
    )
    post(client, "first", email="a@example.org")
    engine = client.app.state.service.engine
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        post(client, "second", email="A@example.org")
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    # The checks are the SELECTs. (SQLite's plan of an INSERT lists foreign key bookkeeping,
    # a scan that runs only while a constraint is violated.)
    statements = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(statements) >= 4  # ban, duplicate, trusted commenter, rate limits
    with engine.connect() as conn:
        for statement, parameters in statements:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = "\n".join(str(row[-1]) for row in rows)
                assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (statement, plan)
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                plan = "\n".join(row[0] for row in rows)
                assert "Seq Scan" not in plan, (statement, plan)
