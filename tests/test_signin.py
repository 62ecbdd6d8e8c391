"""Moderators' sign-in under attack: raced guesses, lockouts, timing, replayed cookies, and links
in mail after "Sign out everywhere"; real hashing, real concurrency, a real SMTP server."""

from __future__ import annotations

import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from comments import config as settings
from comments.accounts import ACCOUNT_FAILURES, HASHING_THREADS
from comments.app import create_app
from tests import test_mail
from tests.helpers import ORIGIN, SECRET, post, run_async
from tests.test_admin import OWN, PASSWORD, Browser, set_password, welcome_path
from tests.test_mail import ANN, action_links, deliver, text_of

# The real SMTP server and the app that mails through it, as the mail tests have them.
make = test_mail.make  # (smtp_on and mailbox are conftest's)

MODERATOR = "mod@example.org"
# Enough memory per hash that sixty at once would show (a GiB), little enough that the few
# allowed at once cost the machine nothing much.
HASH_KIB = 16 * 1024


def worker(database_url: str, tmp_path: Path, clock, **environ: str) -> TestClient:
    """One server worker: its own app, engine and hashing threads, on the shared database."""
    values = {
        "COMMENTS_DATA_DIR": str(tmp_path),
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_SECRET_KEY": SECRET,
        "COMMENTS_ORIGINS": ORIGIN,
        "COMMENTS_PASSWORD_MEMORY": str(HASH_KIB),
        "COMMENTS_TRUSTED_PROXIES": "127.0.0.1",
        **{f"COMMENTS_{key.upper()}": value for key, value in environ.items()},
    }
    client = TestClient(
        create_app(settings.load(values), clock), headers=OWN, client=("127.0.0.1", 50000)
    )
    client.__enter__()
    return client


@pytest.fixture
def workers(database_url, tmp_path, clock):
    """Two workers of one server (two apps on one database), the moderator's password set."""
    pair = [worker(database_url, tmp_path, clock) for _ in range(2)]
    assert set_password(pair[0], welcome_path(pair[0], MODERATOR)).status_code == 303
    for client in pair:
        client.cookies.clear()
        # Each worker's first attempt makes its dummy hash; done here, out of the counts.
        assert sign_in(client, "warm@example.org", "x", "192.0.2.1").status_code == 401
    yield pair
    for client in pair:
        client.__exit__(None, None, None)


def sign_in(client: TestClient, email: str, password: str, address: str):
    return client.post(
        "/admin/sign-in",
        data={"email": email, "password": password},
        headers={**OWN, "X-Forwarded-For": address},
        follow_redirects=False,
    )


def hashes(pair: list[TestClient]) -> int:
    return sum(client.app.state.accounts.hashes_computed for client in pair)


class PeakMemory:
    """The highest resident memory of this process while the block runs, sampled every 2 ms."""

    def __init__(self) -> None:
        self.peak = self.start = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start


def storm(pair: list[TestClient], attempts: list[tuple[str, str, str]]) -> list[int]:
    """All attempts at once, from as many threads, spread over both workers."""
    barrier = threading.Barrier(len(attempts))

    def attempt(number: int) -> int:
        barrier.wait()
        return sign_in(pair[number % 2], *attempts[number]).status_code

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(attempt, range(len(attempts))))


def test_sixty_guesses_at_once_check_only_the_allowed_few(workers):
    before = hashes(workers)
    with PeakMemory() as memory:
        statuses = storm(workers, [(MODERATOR, f"guess {n}", "203.0.113.9") for n in range(60)])
    assert sorted(statuses) == [401] * ACCOUNT_FAILURES + [429] * (60 - ACCOUNT_FAILURES)
    assert hashes(workers) - before == ACCOUNT_FAILURES  # counted before hashing, on both
    assert memory.growth < 5 * HASH_KIB * 1024 + 48 * 2**20, memory.growth


def test_guesses_from_sixty_networks_hash_a_few_at_a_time(workers):
    """Each network is under its limit, so every guess is checked, but never more at once than
    each worker's hashing threads; other requests meanwhile are answered at once."""
    attempts = [(MODERATOR, "guess", f"198.51.{n}.7") for n in range(60)]
    before = hashes(workers)
    answers: list[float] = []

    def read_meanwhile() -> None:
        while len(answers) < 20:
            started = time.perf_counter()
            assert workers[0].get("/api/config").status_code == 200
            answers.append(time.perf_counter() - started)

    reader = threading.Thread(target=read_meanwhile)
    with PeakMemory() as memory:
        reader.start()
        statuses = storm(workers, attempts)
        reader.join()
    assert statuses == [401] * 60
    assert hashes(workers) - before == 60
    at_most = 2 * HASHING_THREADS * HASH_KIB * 1024  # two workers
    assert memory.growth < at_most + 48 * 2**20, memory.growth  # 60 at once: about 1 GiB
    assert statistics.median(answers) < 0.5, answers


def test_a_locked_network_leaves_the_owner_free_elsewhere(workers):
    client = workers[0]
    for _ in range(ACCOUNT_FAILURES):
        assert sign_in(client, MODERATOR, "guess", "203.0.113.9").status_code == 401
    locked = sign_in(client, MODERATOR, PASSWORD, "203.0.113.200")  # the same /24
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900"
    assert sign_in(client, MODERATOR, PASSWORD, "198.51.100.7").status_code == 303
    assert client.get("/admin/queue", follow_redirects=False).status_code == 200


def test_unknown_and_known_emails_take_as_long(workers):
    accounts = workers[0].app.state.accounts
    timings: dict[str, list[float]] = {MODERATOR: [], "nobody@example.org": []}

    async def attempt(email: str, number: int) -> None:
        started = time.perf_counter()
        with pytest.raises(Exception, match="Wrong email or password"):
            await accounts.authenticate(email, "guess", f"network-{email}-{number}")
        timings[email].append(time.perf_counter() - started)

    async def alternate() -> None:
        for number in range(12):
            for email in timings:
                await attempt(email, number)

    run_async(alternate())
    known, unknown = (statistics.median(found) for found in timings.values())
    # Without the dummy hash: 8.5 ms against 262 ms (a ratio of 30).
    assert 0.7 < unknown / known < 1.4, (known, unknown)


def test_a_cookie_replayed_after_sign_out_is_refused(workers):
    laptop, phone = workers
    assert sign_in(laptop, MODERATOR, PASSWORD, "198.51.100.7").status_code == 303
    assert sign_in(phone, MODERATOR, PASSWORD, "198.51.100.8").status_code == 303
    copied = laptop.cookies.get("comments_admin")
    browser = Browser(laptop)
    browser.get("/admin/queue")
    assert browser.post("/admin/sign-out").status_code == 303

    replay = TestClient(laptop.app, client=("127.0.0.1", 50000))
    replay.cookies.set("comments_admin", copied, path="/admin")
    assert replay.get("/admin/queue", follow_redirects=False).status_code == 303
    assert laptop.app.state.accounts.session_moderator(copied) is None
    # Only that session ended: the phone is still signed in.
    assert phone.get("/admin/queue", follow_redirects=False).status_code == 200


# Links in mail


def signed_in_browser(client: TestClient, email: str) -> Browser:
    client.base_url = "https://testserver"  # the public URL is https: so are the cookies
    assert set_password(client, welcome_path(client, email)).status_code == 303
    browser = Browser(client)
    browser.get("/admin/queue")
    return browser


def test_mail_links_die_with_sign_out_everywhere(make, mailbox):
    client = make(moderation="pre", moderator_mail_window="0")
    browser = signed_in_browser(client, ANN)
    post(client, "first")
    post(client, "second")
    deliver(client)
    first, second = (action_links(message)["approve"] for message in mailbox.to(ANN))
    assert client.get(first).status_code == 200

    assert browser.post("/admin/sign-out-everywhere").status_code == 303
    for link in (first, second):
        assert client.get(link).status_code == 400
        assert client.post(link).status_code == 400
    # Mail written after it carries links that work.
    post(client, "third")
    deliver(client)
    third = action_links(mailbox.to(ANN)[-1])["approve"]
    assert client.post(third).status_code == 200


def sign_in_link(message) -> str:
    (url,) = re.findall(
        r"https://comments\.example(/admin/sign-in/link\?token=\S+)", text_of(message)
    )
    return url


def test_a_sign_in_link_by_mail_works_once_for_a_short_while(make, mailbox, clock):
    client = make()
    signed_in_browser(client, ANN)
    client.cookies.clear()
    asked = client.post("/admin/sign-in/mail", data={"email": "Ann@Mods.example"}, headers=OWN)
    assert asked.status_code == 200 and "a sign-in link is on its way" in asked.text
    nobody = client.post("/admin/sign-in/mail", data={"email": "no@mods.example"}, headers=OWN)
    assert nobody.status_code == 200 and nobody.text == asked.text  # the same answer
    deliver(client)
    assert len(mailbox.received) == 1
    (message,) = mailbox.to(ANN)
    link = sign_in_link(message)

    shown = client.get(link)  # a mail scanner's GET signs nobody in
    assert shown.status_code == 200 and ANN in shown.text
    assert client.get("/admin/queue", follow_redirects=False).status_code == 303
    token = link.split("token=")[1]
    done = client.post(
        "/admin/sign-in/link", data={"token": token}, headers=OWN, follow_redirects=False
    )
    assert done.status_code == 303
    assert client.get("/admin/queue", follow_redirects=False).status_code == 200
    client.cookies.clear()
    again = client.post("/admin/sign-in/link", data={"token": token}, headers=OWN)
    assert again.status_code == 409 and "set-cookie" not in again.headers

    client.post("/admin/sign-in/mail", data={"email": ANN}, headers=OWN)
    deliver(client)
    late = sign_in_link(mailbox.to(ANN)[-1])
    clock.advance(minutes=16)
    assert client.get(late).status_code == 400


def test_a_sign_in_link_is_the_way_out_of_a_lockout(make, mailbox):
    client = make()
    signed_in_browser(client, ANN)
    client.cookies.clear()
    for _ in range(ACCOUNT_FAILURES):
        assert sign_in(client, ANN, "guess", "127.0.0.1").status_code == 401
    locked = sign_in(client, ANN, PASSWORD, "127.0.0.1")
    assert locked.status_code == 429 and "sign-in link by mail" in locked.text
    client.post("/admin/sign-in/mail", data={"email": ANN}, headers=OWN)
    deliver(client)
    token = sign_in_link(mailbox.to(ANN)[-1]).split("token=")[1]
    done = client.post(
        "/admin/sign-in/link", data={"token": token}, headers=OWN, follow_redirects=False
    )
    assert done.status_code == 303
    assert client.get("/admin/queue", follow_redirects=False).status_code == 200


def test_asking_for_links_is_throttled_quietly(make, mailbox):
    client = make()
    signed_in_browser(client, ANN)
    for _ in range(6):
        asked = client.post("/admin/sign-in/mail", data={"email": ANN}, headers=OWN)
        assert asked.status_code == 200
    deliver(client)
    assert len(mailbox.to(ANN)) == 3  # the mailbox is not flooded
