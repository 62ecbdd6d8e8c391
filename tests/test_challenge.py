"""The bot challenge: asked only under pressure, bound to its thread and form stamp, single-use,
checked with one hash; beside the bot it stops, the reader under no pressure is never asked."""

from __future__ import annotations

import hashlib
import itertools
import timeit

import pytest

from comments.challenge import Challenges, solves
from comments.tokens import Tokens
from tests.helpers import SECRET, assert_problem, post

# Every comment is a surge, without slow mode: each post needs a solution. Difficulty 8 keeps
# the tests' own solving quick.
PRESSED = {"surge_rate": "1", "slow_mode_seconds": "0", "challenge_difficulty": "8"}


def solve(challenge: dict) -> str:
    """What the embed does, in Python: the first base-36 counter that solves it."""
    for n in itertools.count():
        solution = to_base36(n)
        if solves(challenge["prefix"], solution, challenge["difficulty"]):
            return solution
    raise AssertionError("unreachable")


def to_base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        n, rest = divmod(n, 36)
        text = digits[rest] + text
        if not n:
            return text


def asked(client, uri: str = "/hot/", **fields) -> dict:
    """Post without a solution: the challenge the refusal carries."""
    body = assert_problem(
        client.post("/api/comments", json={"uri": uri, "text": "hi", **fields}),
        403,
        "challenge_required",
    )
    assert set(body["challenge"]) == {"token", "prefix", "difficulty"}
    assert body["challenge"]["difficulty"] == 8
    return body["challenge"]


def answer(client, challenge: dict, solution: str | None = None, uri: str = "/hot/", **fields):
    return client.post(
        "/api/comments",
        json={
            "uri": uri,
            "text": fields.pop("text", "solved"),
            "challenge": challenge["token"],
            "solution": solution or solve(challenge),
            **fields,
        },
    )


def test_a_solved_challenge_lets_the_comment_in_once(make_client):
    client = make_client(**PRESSED)
    challenge = asked(client)
    accepted = answer(client, challenge)
    assert accepted.status_code == 201, accepted.text
    again = answer(client, challenge, text="the same solution again")
    body = assert_problem(again, 409, "challenge_used")
    assert answer(client, body["challenge"], text="a fresh one").status_code == 201


def test_missing_wrong_forged_and_foreign_solutions_are_refused(make_client, clock):
    client = make_client(**PRESSED)
    challenge = asked(client)
    wrong = next(
        s
        for s in map(to_base36, itertools.count())
        if not solves(challenge["prefix"], s, challenge["difficulty"])
    )
    assert_problem(answer(client, challenge, wrong), 403, "challenge_invalid")
    assert_problem(answer(client, challenge, "NOT-BASE36"), 403, "challenge_invalid")
    forged = {**challenge, "token": challenge["token"][:-2] + "xx"}
    assert_problem(answer(client, forged, solve(challenge)), 403, "challenge_invalid")
    other = Challenges(Tokens("another-secret"), 8).issue("localhost\0/hot/", "", clock())
    assert_problem(answer(client, other), 403, "challenge_invalid")
    # Bound to its thread and its form stamp.
    body = assert_problem(answer(client, challenge, uri="/elsewhere/"), 403, "challenge_invalid")
    assert "another thread" in body["detail"]
    stamp = client.get("/api/stamp").json()["stamp"]
    body = assert_problem(answer(client, challenge, stamp=stamp), 403, "challenge_invalid")
    assert "another form" in body["detail"]
    clock.advance(minutes=11)
    assert_problem(answer(client, challenge), 403, "challenge_invalid")
    assert_problem(
        client.post("/api/comments", json={"uri": "/hot/", "text": "x", "solution": "1"}),
        403,
        "challenge_required",
    )


def test_a_challenge_bound_to_a_stamp_works_with_it(make_client):
    client = make_client(**PRESSED)
    stamp = client.get("/api/stamp").json()["stamp"]
    challenge = asked(client, stamp=stamp)
    assert answer(client, challenge, stamp=stamp).status_code == 201


def test_no_challenge_without_pressure(make_client):
    client = make_client(challenge_difficulty="20", rate_limit="10", surge_rate="20")
    for index in range(4):  # a reader's few comments: no surge, no busy address
        assert post(client, f"thought {index}", uri=f"/p{index}/")["status"] == "approved"


def test_a_busy_address_is_challenged_in_a_quiet_thread(make_client):
    client = make_client(challenge_difficulty="8", rate_limit="4", surge_rate="0")
    post(client, "one", uri="/a/")
    post(client, "two", uri="/b/")
    challenge = asked(client, uri="/c/")
    assert answer(client, challenge, uri="/c/").status_code == 201


@pytest.mark.parametrize("difficulty", [17])
def test_verifying_costs_microseconds(difficulty, capsys):
    """The server's whole check of a solution, signature and hash, without the database."""
    from datetime import UTC, datetime

    challenges = Challenges(Tokens(SECRET), difficulty)
    now = datetime.now(UTC)
    challenge = challenges.issue("site\0/t/", "", now)
    solution = solve(challenge)
    runs = 2000
    seconds = timeit.timeit(
        lambda: challenges.verify(challenge["token"], solution, "site\0/t/", "", now), number=runs
    )
    with capsys.disabled():
        print(f"\nverify at difficulty {difficulty}: {seconds / runs * 1e6:.1f} µs")
    assert seconds / runs < 0.001
    assert hashlib.sha256(f"{challenge['prefix']}:{solution}".encode()).digest()[0] == 0


def test_a_quick_writer_is_asked_for_the_challenge_rather_than_held(make_client, clock):
    client = make_client(challenge_difficulty="8", min_write_seconds="3")
    stamp = client.get("/api/stamp").json()["stamp"]
    clock.advance(seconds=1)
    challenge = asked(client, stamp=stamp)
    published = answer(client, challenge, stamp=stamp)
    assert published.status_code == 201 and published.json()["status"] == "approved"
    # Without a form stamp there is nothing to prove against: held as before, not asked.
    stampless = client.post("/api/comments", json={"uri": "/hot/", "text": "scripted"})
    assert stampless.json()["status"] == "pending"
    # And with the challenge off, a quick writer is held as before.
    quick = make_client(challenge_difficulty="0", min_write_seconds="3")
    stamp = quick.get("/api/stamp").json()["stamp"]
    assert post(quick, "quick", stamp=stamp)["status"] == "pending"
