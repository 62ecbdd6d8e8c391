"""Faults of the database answered with their code: PostgreSQL going away and coming back (through
a TCP proxy the test cuts, never the shared server), SQLite on a volume that fills up, and a crash
that says it closes the connection. Each fault is logged in one line, with no statement's values."""

from __future__ import annotations

import contextlib
import errno
import http.client
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
import uvicorn
from starlette.routing import Route
from starlette.testclient import TestClient

from comments import config as settings
from comments import db, serving
from comments.app import create_app
from tests.conftest import postgresql_engine_url
from tests.helpers import DEFENSES_OFF, ORIGIN, SECRET, assert_problem, need

EMAIL = "ada.lovelace@example.org"


def app_settings(url: str, data_dir: Path) -> settings.Config:
    return settings.load(
        {
            "COMMENTS_DATA_DIR": str(data_dir),
            "COMMENTS_DATABASE_URL": url,
            "COMMENTS_SECRET_KEY": SECRET,
            "COMMENTS_ORIGINS": ORIGIN,
            **DEFENSES_OFF,
        }
    )


@contextlib.contextmanager
def client_of(url: str, data_dir: Path) -> Iterator[TestClient]:
    app = create_app(app_settings(url, data_dir), send_in_background=False)
    with TestClient(app, headers={"Origin": ORIGIN}, client=("127.0.0.1", 50000)) as client:
        yield client


def submit(client: TestClient, text: str, uri: str = "/post/"):
    return client.post("/api/comments", json={"uri": uri, "text": text, "email": EMAIL})


def stored_ids(url: str) -> set[int]:
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT id FROM comments").scalars())
    finally:
        engine.dispose()


def assert_fault(response, status: int, code: str, retry_after: str) -> None:
    assert_problem(response, status, code)
    assert response.headers["retry-after"] == retry_after
    assert "connection" not in response.headers  # a fault leaves the connection usable


def assert_logged_in_one_line(records: list[logging.LogRecord], code: str) -> None:
    faults = [record for record in records if record.getMessage().startswith(code)]
    assert faults, [record.getMessage() for record in records]
    for record in records:
        text = record.getMessage()
        assert record.exc_info is None, text  # no traceback
        assert "\n" not in text
        assert EMAIL not in text
        assert "INSERT" not in text and "SELECT" not in text, text


# PostgreSQL through a proxy the test cuts


class Proxy:
    """A TCP proxy to PostgreSQL: `cut()` resets every connection and refuses new ones, as a
    server that went down does; `restore()` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):  # a reset (RST), not a polite close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                # Now, not when the thread blocked reading it lets go: an idle connection
                # (the listener's, a pooled one) learns at once, as from a server gone down.
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxied_postgresql(fresh_database) -> Iterator[tuple[str, str, Proxy]]:
    """(URL through the proxy, direct URL, the proxy) of a migrated PostgreSQL schema."""
    direct = fresh_database("postgresql")
    engine = db.create_engine(direct)
    db.migrate(engine)
    engine.dispose()
    parsed = sqlalchemy.make_url(direct)
    proxy = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    proxied = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxied, direct, proxy
    proxy.cut()


def test_postgresql_going_away_answers_503_and_nothing_acknowledged_is_lost(
    proxied_postgresql, tmp_path, caplog
):
    proxied, direct, proxy = proxied_postgresql
    acknowledged = set()
    with client_of(proxied, tmp_path) as client:
        for n in range(3):
            response = submit(client, f"before {n}")
            assert response.status_code == 201, response.text
            acknowledged.add(response.json()["id"])
        assert client.get("/api/threads", params={"uri": "/post/"}).status_code == 200

        proxy.cut()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="comments"):
            for n in range(3):
                started = time.monotonic()
                assert_fault(submit(client, f"during {n}"), 503, "database_unavailable", "5")
                assert time.monotonic() - started < 5  # refused at once, not after a timeout
            reading = client.get("/api/threads", params={"uri": "/other/"})
            assert_fault(reading, 503, "database_unavailable", "5")
            # The cached page of /post/ needs no database while the LISTEN connection is
            # trusted; that connection was reset too, and once the worker hears it, it trusts
            # no version it was told and asks the database again.
            deadline = time.monotonic() + 3
            reading = client.get("/api/threads", params={"uri": "/post/"})
            while reading.status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
                reading = client.get("/api/threads", params={"uri": "/post/"})
            assert_fault(reading, 503, "database_unavailable", "5")
            counting = client.get("/api/counts", params={"uri": "/post/"})
            assert_fault(counting, 503, "database_unavailable", "5")
            assert_fault(client.get("/healthz"), 503, "database_unavailable", "5")
            signing_in = client.post(
                "/admin/sign-in",
                data={"email": EMAIL, "password": "correct horse battery"},
                headers={"Origin": "http://testserver"},
            )
            assert signing_in.status_code == 503  # the admin's own error page, with its advice
            assert signing_in.headers["retry-after"] == "5"
            assert "text/html" in signing_in.headers["content-type"]
        assert_logged_in_one_line(caplog.records, "database_unavailable")

        proxy.restore()
        for n in range(3):
            response = submit(client, f"after {n}")
            assert response.status_code == 201, response.text
            acknowledged.add(response.json()["id"])
        page = client.get("/api/threads", params={"uri": "/post/"}).json()
        assert {comment["id"] for comment in page["comments"]} == acknowledged
        counts = client.get("/api/counts", params={"uri": "/post/"}).json()["counts"]
        assert counts == {"/post/": len(acknowledged)}
    assert stored_ids(direct) == acknowledged  # all that was acknowledged, and nothing else


def test_postgresql_faults_are_told_from_bugs():
    base = postgresql_engine_url().replace("postgresql+psycopg://", "postgresql://")
    # A server shutting down ends its sessions with SQLSTATE 57P01: here, our own session ended.
    with psycopg.connect(base, autocommit=True) as victim, psycopg.connect(base) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [victim.info.backend_pid])
        with pytest.raises(psycopg.Error) as ended:
            victim.execute("SELECT 1")
    assert db.fault(ended.value) == "database_unavailable"
    with socket.socket() as probe:  # a port nobody listens on: refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    engine = db.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed}/none")
    with pytest.raises(db.DatabaseError) as refused:
        engine.connect()
    assert db.fault(refused.value) == "database_unavailable"
    assert db.fault(psycopg.errors.DiskFull("could not extend file")) == "storage_full"
    with psycopg.connect(base) as conn, pytest.raises(psycopg.Error) as bug:
        conn.execute("SELECT no_such_column FROM pg_class")
    assert db.fault(bug.value) is None


def test_sqlite_faults_are_told_from_bugs(tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x UNIQUE)")
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.Error) as locked:
        sqlite3.connect(path, timeout=0).execute("INSERT INTO t VALUES (1)")
    assert "database is locked" in str(locked.value)
    assert db.fault(locked.value) == "database_unavailable"
    holder.execute("COMMIT")
    with pytest.raises(sqlite3.Error) as unopened:
        sqlite3.connect(tmp_path / "no" / "such" / "dir.db")
    assert db.fault(unopened.value) == "database_unavailable"
    holder.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.Error) as duplicate:
        holder.execute("INSERT INTO t VALUES (1)")
    assert db.fault(duplicate.value) is None  # a bug of ours, not a fault of the database
    holder.close()


def test_statements_parameters_stay_out_of_error_messages(tmp_path):
    engine = db.create_engine(f"sqlite:///{tmp_path / 'hidden.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (email TEXT UNIQUE)")
        conn.exec_driver_sql("INSERT INTO people VALUES (?)", (EMAIL,))
    with pytest.raises(db.DatabaseError) as duplicate, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO people VALUES (?)", (EMAIL,))
    engine.dispose()
    assert "UNIQUE constraint failed" in str(duplicate.value)
    assert EMAIL not in str(duplicate.value)


# SQLite on a volume that fills up


@pytest.fixture
def small_volume_of(tmp_path) -> Iterator:
    """`small_volume_of("4m")` -> a tmpfs of that size of the test's own (the machine's disks
    are never filled), unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str, parent: Path = tmp_path) -> Path:
        volume = parent / f"volume-{len(mounted)}"
        volume.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(volume)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            need(f"cannot mount a small tmpfs to fill: {done.stderr.strip() or 'not root'}")
        mounted.append(volume)
        return volume

    yield mount
    for volume in mounted:
        subprocess.run(["umount", "-l", str(volume)], check=False)


@pytest.fixture
def small_volume(small_volume_of) -> Path:
    return small_volume_of("4m")


def fill(volume: Path) -> Path:
    """Take every free byte of the volume; removing the file returned gives them back."""
    filler = volume / "filler"
    with filler.open("wb") as file:
        try:
            while True:
                file.write(b"\0" * 65536)
                file.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def fill_answers_507_then_recover(
    url: str, volume: Path, data_dir: Path, caplog, repeats: int, tries: int
) -> None:
    """Posts on a database whose volume fills up mid-run: 507 storage_full logged in one line,
    reads still answered, and once space returns, posts again; nothing acknowledged is lost."""
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    text = "A comment long enough to need pages of its own. " * repeats
    acknowledged = set()
    with client_of(url, data_dir) as client:
        for n in range(5):
            response = submit(client, f"{n} {text}")
            assert response.status_code == 201, response.text
            acknowledged.add(response.json()["id"])

        filler = fill(volume)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="comments"):
            # Free pages may be left from earlier writes (the log, the table's last pages):
            # write until they end.
            for n in range(tries):
                response = submit(client, f"full {n} {text}")
                if response.status_code != 201:
                    break
                acknowledged.add(response.json()["id"])
            assert_fault(response, 507, "storage_full", "60")
            assert_fault(submit(client, f"still full {text}"), 507, "storage_full", "60")
        assert_logged_in_one_line(caplog.records, "storage_full")
        page = client.get("/api/threads", params={"uri": "/post/", "limit": "200"})
        assert page.status_code == 200  # reading needs no space
        assert {comment["id"] for comment in page.json()["comments"]} == acknowledged

        os.remove(filler)
        for n in range(3):
            response = submit(client, f"after {n} {text}")
            assert response.status_code == 201, response.text
            acknowledged.add(response.json()["id"])
    assert stored_ids(url) == acknowledged


def test_sqlite_on_a_full_disk_answers_507_and_recovers(small_volume, tmp_path, caplog):
    fill_answers_507_then_recover(
        f"sqlite:///{small_volume / 'comments.db'}", small_volume, tmp_path, caplog, 60, 200
    )
    with sqlite3.connect(small_volume / "comments.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# PostgreSQL on a volume that fills up: a private cluster of the test's own


def postgres_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def full_postgresql(small_volume_of) -> Iterator[tuple[str, Path]]:
    """(URL, its data volume) of a PostgreSQL cluster started for this test on its own port,
    its tables on a 48 MiB tmpfs and its write-ahead log beside it on the disk: a full volume
    then fails the table's growth (SQLSTATE 53100), not the log's (which stops the server)."""
    binaries = postgres_binaries()
    if binaries is None or os.geteuid() != 0:
        need("a private PostgreSQL cluster needs its binaries and root (to mount and to run it)")
    # Outside pytest's own temporary tree, which only root may enter.
    home = Path(tempfile.mkdtemp(prefix="comments-postgresql-"))
    volume = small_volume_of("48m", home)
    for path in (home, volume):
        os.chown(path, *postgres_ids())
    as_postgres = ["runuser", "-u", "postgres", "--"]
    data, wal = volume / "data", home / "pg_wal"
    initdb = [str(binaries / "initdb"), "-D", str(data), f"--waldir={wal}", "--no-sync"]
    subprocess.run(
        [*as_postgres, *initdb, "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data)]
    log = home / "postgresql.log"
    subprocess.run(
        [*pg_ctl, "-o", options, "-l", str(log), "-w", "start"], check=True, capture_output=True
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", volume
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        subprocess.run(["umount", "-l", str(volume)], check=False)
        shutil.rmtree(home, ignore_errors=True)


def postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def test_postgresql_on_a_full_disk_answers_507_and_recovers(full_postgresql, tmp_path, caplog):
    url, volume = full_postgresql
    fill_answers_507_then_recover(url, volume, tmp_path, caplog, 150, 500)


# A crash closes the connection, and says so


def test_a_crash_says_it_closes_the_connection_and_the_next_request_works(tmp_path):
    url = f"sqlite:///{tmp_path / 'comments.db'}"
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    app = create_app(app_settings(url, tmp_path), send_in_background=False)

    async def broken(request):
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/broken", broken))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Served as `comments serve` serves it: uvicorn with the protocol of comments.serving.
    limits = {"header_timeout": 10, "body_timeout": 30, "max_connections": 100}
    config = serving.ServerConfig(
        app, port=port, log_level="critical", lifespan="on", http=serving.Protocol, **limits
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() and connection.sock is not None  # kept alive
        connection.request("GET", "/broken")
        crashed = connection.getresponse()
        assert crashed.status == 500
        assert crashed.getheader("connection") == "close"
        assert b"internal_error" in crashed.read()
        assert connection.sock is None  # the client knew not to reuse it
        connection.request("GET", "/healthz")  # http.client opens a fresh connection
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)
