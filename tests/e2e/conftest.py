"""Browser tests: real `comments serve` processes, host pages on another origin, one Chromium.

Each server mode runs once per session as a subprocess on a free port; host pages are written into
a temp dir and served by a small threaded http.server on a different port (a real cross-origin
embed). Every test gets a fresh browser context (its own localStorage) and fails when the page
logged a console error or threw, unless the test declared that error as expected.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.helpers import free_port, need

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# The comments server


class Server:
    """One `comments serve` subprocess and a tiny JSON client to seed it."""

    def __init__(self, workdir: Path, origins: list[str], **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        env = {key: value for key, value in os.environ.items() if not key.startswith("COMMENTS_")}
        settings = {
            "data_dir": str(workdir / "data"),
            "origins": ",".join(origins),
            "rate_limit": "0",
            "preview_rate_limit": "0",
            "min_write_seconds": "0",  # tests write faster than people; see server_short
            "surge_rate": "0",  # nor would one thread's many tests be a surge
            "surge_hold_rate": "0",
            **settings,
        }
        # Where its data lives, for tests that seed more than HTTP posts would in time.
        self.database_url = settings.get("database_url") or (
            f"sqlite:///{workdir / 'data' / 'comments.db'}"
        )
        env.update({f"COMMENTS_{key.upper()}": value for key, value in settings.items()})
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "comments", "serve", "--host", "127.0.0.1"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        self.wait_until_healthy()

    def wait_until_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/healthz", timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"comments serve did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def api(self, method: str, path: str, body=None, origin: str = "", token: str = ""):
        """(status, JSON) of one API call, sent as a browser on `origin` would send it."""
        request = urllib.request.Request(self.url + path, method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if origin:
            request.add_header("Origin", origin)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def seed(self, origin: str, uri: str, text: str, **fields) -> dict:
        """Post a comment as a reader of `origin` would; returns it (with its edit token)."""
        status, body = self.api(
            "POST", "/api/comments", {"uri": uri, "text": text, **fields}, origin
        )
        assert status == 201, body
        return body


# The host site: another origin, serving test pages


class HostSite:
    """Static pages on their own origin; `headers` adds response headers per path (e.g. CSP)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.headers: dict[str, dict[str, str]] = {}
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def end_headers(self) -> None:
                for name, value in site.headers.get(self.path.split("?")[0], {}).items():
                    self.send_header(name, value)
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, *args) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def page(
        self,
        name: str,
        server: Server,
        body: str = '<div id="comments"></div>',
        head: str = "",
        lang: str = "en",
        csp: str = "",
        script_attrs: str = "",
    ) -> str:
        """Write /<name>.html embedding `server` as a site owner would; returns its URL."""
        path = f"/{name}.html"
        (self.root / path[1:]).write_text(
            f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{html.escape(name)}</title>{head}</head>\n'
            f"<body>\n{body}\n"
            f'<script src="{server.url}/static/embed.js" async{script_attrs}></script>\n'
            f"</body></html>\n"
        )
        if csp:
            self.headers[path] = {"Content-Security-Policy": csp}
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host(tmp_path_factory) -> Iterator[HostSite]:
    site = HostSite(tmp_path_factory.mktemp("host"))
    yield site
    site.close()


def start_server(tmp_path_factory, host: HostSite, name: str, **settings: str) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp(name), [host.origin], **settings)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, host) -> Iterator[Server]:
    """Post-moderation, 15-minute edit window, SQLite in the data dir (the defaults)."""
    yield from start_server(tmp_path_factory, host, "server")


@pytest.fixture(scope="session")
def server_pre(tmp_path_factory, host) -> Iterator[Server]:
    yield from start_server(tmp_path_factory, host, "pre", moderation="pre")


@pytest.fixture(scope="session")
def server_short(tmp_path_factory, host) -> Iterator[Server]:
    """An edit window of 4 seconds, to watch the edit and delete buttons go; and comments written
    in less than a second after the form was opened (by its stamp) are held."""
    yield from start_server(
        tmp_path_factory,
        host,
        "short",
        edit_window="4s",
        min_write_seconds="1",
        challenge_difficulty="0",  # held, rather than asked for the bot challenge
    )


@pytest.fixture(scope="session")
def server_postgresql(tmp_path_factory, host, fresh_database) -> Iterator[Server]:
    """The same server on PostgreSQL (a fresh schema), when COMMENTS_TEST_DATABASE_URL is set."""
    url = fresh_database("postgresql")
    yield from start_server(tmp_path_factory, host, "postgresql", database_url=url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request) -> Server:
    return request.getfixturevalue("server" if request.param == "sqlite" else "server_postgresql")


# The browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        need(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Console:
    """Console errors and uncaught exceptions of a page; `expect(pattern)` allows some."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def expect(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser, console):
    """A fresh browser context (own storage); `context.new_page()` pages report to `console`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)

    def watch(page: Page) -> None:
        page.on("console", lambda m: m.type == "error" and console.errors.append(m.text))
        page.on("pageerror", lambda error: console.errors.append(f"pageerror: {error}"))

    context.on("page", watch)
    yield context
    context.close()
    assert not console.unexpected(), "console errors on the page"


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("COMMENTS_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def unique(request) -> str:
    """A name for this test's page and thread, unique across the session."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
