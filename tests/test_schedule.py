"""Moderation on a schedule: the syntax, the clock across daylight-saving changes, the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from comments import config as settings
from comments.config import ConfigError
from comments.models import Moderation
from comments.schedule import InForce, parse_schedule
from tests.helpers import assert_problem, post

BERLIN_NIGHTS = "pre daily 01:00-04:00, tz=Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def load(tmp_path, **environ: str) -> settings.Config:
    return settings.load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path),
            **{f"COMMENTS_{k.upper()}": v for k, v in environ.items()},
        }
    )


# The syntax


def test_an_environment_schedule_for_two_sites(tmp_path):
    config = load(
        tmp_path,
        site_schedule="Blog.example.org=pre Mon-Fri 23:00-07:00, pre Sat-Sun, tz=Europe/Berlin; "
        "news.example.org=close after 30d",
    )
    blog, news = (
        dict(config.site_schedule)["blog.example.org"],
        dict(config.site_schedule)["news.example.org"],
    )
    assert blog.zone == "Europe/Berlin" and len(blog.windows) == 2
    assert blog.windows[0].days == frozenset(range(5)) and blog.windows[0].minutes == 8 * 60
    assert news.close_after == 30 * 86400 and news.windows == ()


def test_a_toml_schedule_as_a_string_or_a_list(tmp_path):
    path = tmp_path / "comments.toml"
    path.write_text(
        "[site_schedule]\n"
        '"a.example" = "trusted daily 20:00-24:00, tz=America/New_York"\n'
        '"b.example" = ["pre Fri-Mon", "close after 12h"]\n'
    )
    config = settings.load({"COMMENTS_DATA_DIR": str(tmp_path)}, path)
    a, b = (dict(config.site_schedule)[site] for site in ("a.example", "b.example"))
    assert a.windows[0].mode is Moderation.TRUSTED and a.windows[0].minutes == 240
    assert a.zone == "America/New_York"
    assert b.windows[0].days == frozenset({4, 5, 6, 0}) and b.close_after == 12 * 3600


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a.example=pre Funday", "a.example: 'pre Funday': expected days like Mon"),
        ("a.example=pre Mon 7:00-7:00", "the window starts when it ends"),
        ("a.example=pre Mon 23:00-25:00", "hours run from 00:00 to 24:00"),
        ("a.example=strict Mon", "the mode must be one of post, pre, trusted"),
        ("a.example=pre Mon, tz=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("a.example=close after soon", "expected a number of days or hours"),
        ("a.example=tz=UTC", "no windows and no 'close after'"),
        ("pre Mon", "expected site=rules"),
    ],
)
def test_schedule_errors_name_the_rule(tmp_path, value, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, site_schedule=value)
    assert str(raised.value).startswith("COMMENTS_SITE_SCHEDULE: invalid value")
    assert message in str(raised.value)


# The clock


def test_nights_and_weekends():
    schedule = parse_schedule("pre Mon-Fri 23:00-07:00, pre Sat-Sun, tz=Europe/Berlin")
    at = lambda text: schedule.in_force(Moderation.POST, utc(text))  # noqa: E731
    # Wednesday 2026-12-02, 22:30 in Berlin (UTC+1): not yet.
    assert at("2026-12-02T21:30") == InForce(Moderation.POST, utc("2026-12-02T22:00"))
    assert at("2026-12-02T22:00") == InForce(Moderation.PRE, utc("2026-12-03T06:00"))
    # Friday night runs into the weekend and on to Monday 07:00 (Monday opens no night window
    # before 23:00; Sunday's day window ends at midnight, Sunday is no Mon-Fri night).
    assert at("2026-12-04T23:00") == InForce(Moderation.PRE, utc("2026-12-06T23:00"))
    assert at("2026-12-06T23:00") == InForce(Moderation.POST, utc("2026-12-07T22:00"))


def test_a_window_across_the_spring_change_is_an_hour_shorter():
    """Europe/Berlin, Sunday 2026-03-29: at 02:00 the clocks jump to 03:00."""
    schedule = parse_schedule(BERLIN_NIGHTS)
    at = lambda text: schedule.in_force(Moderation.POST, utc(text))  # noqa: E731
    assert at("2026-03-28T23:59") == InForce(Moderation.POST, utc("2026-03-29T00:00"))  # 00:59 CET
    assert at("2026-03-29T00:00") == InForce(Moderation.PRE, utc("2026-03-29T02:00"))  # 01:00 CET
    assert at("2026-03-29T01:30").mode is Moderation.PRE  # 03:30 CEST
    assert at("2026-03-29T02:00") == InForce(Moderation.POST, utc("2026-03-29T23:00"))  # 04:00 CEST
    # The next night is in summer time: 01:00 CEST is 23:00 UTC.
    assert at("2026-03-29T23:00") == InForce(Moderation.PRE, utc("2026-03-30T02:00"))


def test_a_window_across_the_autumn_change_is_an_hour_longer():
    """Europe/Berlin, Sunday 2026-10-25: at 03:00 the clocks go back to 02:00."""
    schedule = parse_schedule(BERLIN_NIGHTS)
    at = lambda text: schedule.in_force(Moderation.POST, utc(text))  # noqa: E731
    assert at("2026-10-24T22:59").mode is Moderation.POST  # 00:59 CEST
    assert at("2026-10-24T23:00") == InForce(Moderation.PRE, utc("2026-10-25T03:00"))  # 01:00 CEST
    assert at("2026-10-25T00:30").mode is Moderation.PRE  # 02:30 CEST
    assert at("2026-10-25T01:30").mode is Moderation.PRE  # 02:30 CET, the second time
    assert at("2026-10-25T03:00") == InForce(Moderation.POST, utc("2026-10-26T00:00"))  # 04:00 CET


def test_without_a_schedule_the_mode_holds_for_good(tmp_path):
    config = load(tmp_path, moderation="trusted")
    assert config.moderation_at("any.example", utc("2026-03-29T01:00")) == InForce(
        Moderation.TRUSTED
    )


def test_the_strictest_overlapping_window_wins_and_post_can_relax():
    schedule = parse_schedule("trusted daily, pre Sun 10:00-12:00, post Sat")
    at = lambda text: schedule.in_force(Moderation.PRE, utc(text))  # noqa: E731
    assert at("2026-11-29T11:00") == InForce(Moderation.PRE, utc("2026-11-29T12:00"))  # Sunday
    assert at("2026-11-29T12:00") == InForce(Moderation.TRUSTED, utc("2026-12-06T10:00"))
    assert at("2026-12-05T09:00").mode is Moderation.TRUSTED  # Saturday: trusted beats post


# Through the API, on SQLite and PostgreSQL


def test_posting_follows_the_schedule_across_the_spring_change(make_client, clock):
    client = make_client(site_schedule=f"blog.example={BERLIN_NIGHTS}")
    clock.now = utc("2026-03-28T23:30")  # 00:30 CET
    assert post(client, "Before the night")["status"] == "approved"
    config = client.get("/api/config").json()
    assert (config["moderation"], config["moderation_until"]) == (
        "post",
        "2026-03-29T00:00:00.000Z",
    )

    clock.now = utc("2026-03-29T01:45")  # 03:45 CEST: the night lasts until 04:00, 02:00 UTC
    assert post(client, "In the short night")["status"] == "pending"
    config = client.get("/api/config").json()
    assert (config["moderation"], config["moderation_until"]) == ("pre", "2026-03-29T02:00:00.000Z")

    clock.advance(minutes=15)
    assert post(client, "Morning")["status"] == "approved"


def test_posting_follows_the_schedule_across_the_autumn_change(make_client, clock):
    client = make_client(site_schedule=f"blog.example={BERLIN_NIGHTS}")
    clock.now = utc("2026-10-25T02:30")  # 03:30 CET: an hour after the same wall time in CEST
    assert post(client, "In the long night")["status"] == "pending"
    assert client.get("/api/config").json()["moderation_until"] == "2026-10-25T03:00:00.000Z"
    clock.now = utc("2026-10-25T03:00")
    assert post(client, "Morning")["status"] == "approved"
    assert client.get("/api/config").json()["moderation"] == "post"


def test_another_site_keeps_its_own_mode(make_client, clock):
    client = make_client(site_schedule=f"other.example={BERLIN_NIGHTS}")
    clock.now = utc("2026-03-29T00:30")
    assert post(client, "Not this site's night")["status"] == "approved"
    assert client.get("/api/config").json()["moderation_until"] is None


def test_threads_close_by_age(make_client, clock):
    client = make_client(site_schedule="blog.example=close after 30d")
    began = clock.now
    post(client, "First", uri="/old/")
    thread = client.get("/api/threads", params={"uri": "/old/"}).json()["thread"]
    assert thread["closes"] == "2026-12-29T12:00:00.000Z" and thread["closed"] is False
    clock.now = began + timedelta(days=30) - timedelta(seconds=1)
    post(client, "Just in time", uri="/old/")
    clock.advance(seconds=1)
    problem = assert_problem(
        client.post("/api/comments", json={"uri": "/old/", "text": "Late"}), 403, "thread_closed"
    )
    assert "too old" in problem["detail"]
    # A new thread opens now, whatever the age of the others.
    assert post(client, "A fresh post", uri="/new/")["status"] == "approved"
    assert (
        client.get("/api/threads", params={"uri": "/nothing-yet/"}).json()["thread"]["closes"]
        is None
    )
