"""Export and restore (docs/backup.md): byte-identical round trips between SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from comments import backup, db, store
from comments import config as settings
from comments.app import create_app
from comments.errors import CommandError
from comments.foreign import Disqus, Isso, WordPress
from comments.importer import Importer, ImportOptions, Keep
from comments.models import Action, OutboxKind
from tests.helpers import ORIGIN, SECRET, post
from tests.test_admin import signed_in

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# What an empty database exports: the header and a manifest of nothing.
EMPTY = (
    b'{"format":"comments-backup","version":2,"password_hashes":true}\n'
    b'{"type":"manifest","counts":{},"sha256":"'
    + hashlib.sha256(b'{"format":"comments-backup","version":2,"password_hashes":true}\n')
    .hexdigest()
    .encode()
    + b'"}\n'
)


def exported(url: str, with_password_hashes: bool = True) -> bytes:
    engine = db.create_engine(url)
    try:
        return b"".join(backup.export_lines(engine, with_password_hashes))
    finally:
        engine.dispose()


def restored(url: str, path: Path) -> dict[str, int]:
    engine = db.create_engine(url)
    try:
        db.migrate(engine)
        return backup.restore(engine, path)
    finally:
        engine.dispose()


def a_client(url: str, clock) -> TestClient:
    values = {
        "COMMENTS_DATABASE_URL": url,
        "COMMENTS_SECRET_KEY": SECRET,
        "COMMENTS_ORIGINS": ORIGIN,
        "COMMENTS_MIN_WRITE_SECONDS": "0",
        "COMMENTS_PASSWORD_MEMORY": "8",
    }
    return TestClient(create_app(settings.load(values), clock), headers={"Origin": ORIGIN})


def fill(client: TestClient, clock) -> None:
    """A site with a past: every table holds rows, imported comments among them."""
    state = client.app.state
    importer = Importer(state.service.engine, state.tokens)
    site = "blog.example"
    importer.run(
        Disqus(FIXTURES / "disqus.xml"),
        ImportOptions(site=site, spam=Keep.HIDDEN, deleted=Keep.HIDDEN),
    )
    importer.run(WordPress(FIXTURES / "wordpress.xml"), ImportOptions(site=site))
    importer.run(Isso(FIXTURES / "isso.db"), ImportOptions(site=site, deleted=Keep.HIDDEN))
    clock.advance(days=1)
    first = post(client, "New *here*", author="Ada", email="ada@example.org", notify=True)
    reply = post(client, "A reply", parent=first["id"], website="https://bob.example")
    clock.advance(microseconds=123457)
    assert client.post(f"/api/comments/{reply['id']}/report", json={"reason": "rude"}).is_success
    signed_in(client)  # a moderator with a password and a session
    state.moderation.change_status("mod@example.org", Action.HIDE, [reply["id"]])
    state.moderation.ban("mod@example.org", first["id"], "spam", clock() + timedelta(days=7))
    with db.transaction(state.service.engine, write=True) as conn:
        now = clock()
        store.subscriptions.confirm_email(conn, "ada@example.org", now)
        store.links.use_link(conn, "d" * 64, now)
        store.subscriptions.ask_confirmation(conn, "bob@example.org", now, now - timedelta(days=1))
        store.subscriptions.note_reply_notice(conn, reply["id"], now)
        store.outbox.queue_message(conn, OutboxKind.EMAIL, '{"to": "ü"}', now, "ada@example.org")
        ada = store.readers.ensure_reader(conn, site, "ada@example.org", now)
        store.readers.claim_name(conn, ada.id, "Ada", "ada")
        store.threads.update_comment(conn, first["id"], reader_id=ada.id, badge="author")
        bob = store.readers.ensure_reader(conn, site, "bob@example.org", now)
        store.readers.add_vote(conn, first["id"], bob.id, now)


@pytest.fixture
def other(database_url, fresh_database) -> str:
    """An empty database on the other backend, with the schema."""
    backend = "postgresql" if database_url.startswith("sqlite") else "sqlite"
    url = fresh_database(backend)
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    return url


def test_round_trip_to_the_other_database_is_byte_identical(
    make_client, database_url, other, clock, tmp_path
):
    client = make_client()
    fill(client, clock)
    first = exported(database_url)
    path = tmp_path / "backup.jsonl"
    path.write_bytes(first)

    counts = restored(other, path)
    assert counts["comments"] == 27 and counts["threads"] == 7
    assert set(counts) == set(backup.RECORDS.values())  # every table, sign-in failures aside
    assert exported(other) == first

    # The restored server goes on where the old one stopped: ids, trees, sequences.
    with a_client(other, clock) as moved:
        hello = moved.get("/api/threads?uri=/2012/11/hello-world/").json()
        assert hello == client.get("/api/threads?uri=/2012/11/hello-world/").json()
        largest = max(
            orjson.loads(line).get("id", 0)
            for line in first.splitlines()[1:]
            if b'"type":"comment"' in line
        )
        assert post(moved, "after the move")["id"] == largest + 1


def test_the_file_is_documented_json_lines(client, clock):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines()
    header = orjson.loads(lines[0])
    assert header == {"format": "comments-backup", "version": 2, "password_hashes": True}
    assert orjson.loads(lines[-1])["type"] == "manifest"  # the last line, always
    kinds = [orjson.loads(line)["type"] for line in lines[1:-1]]
    assert kinds == sorted(kinds, key=list(backup.RECORDS).index)  # in the documented order
    comment = next(orjson.loads(line) for line in lines[1:] if b'/disqus:101"' in line)
    assert list(comment) == ["type", *backup.fields_of("comment")]
    assert comment["text"].startswith("First! Love the **post**")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", comment["created"])


def test_docs_name_every_field():
    docs = (ROOT / "docs" / "backup.md").read_text()
    for kind in backup.RECORDS:
        section = docs.split(f"`{kind}`", 1)
        assert len(section) == 2, kind
        row = section[1].split("\n", 1)[0]
        assert all(f"`{name}`" in row for name in backup.fields_of(kind)), (kind, row)


def test_password_hashes_only_when_asked(client):
    signed_in(client)
    url = client.app.state.config.database_url
    [without] = [
        orjson.loads(line) for line in exported(url, False).splitlines() if b'"moderator"' in line
    ]
    [with_] = [
        orjson.loads(line) for line in exported(url, True).splitlines() if b'"moderator"' in line
    ]
    assert without["password_hash"] is None
    assert with_["password_hash"].startswith("$argon2id$")
    assert without["email"] == with_["email"] == "mod@example.org"


def test_restore_refuses_a_database_that_is_not_empty(client, tmp_path):
    post(client, "already here")
    url = client.app.state.config.database_url
    path = tmp_path / "backup.jsonl"
    path.write_bytes(exported(url))
    before = exported(url)
    with pytest.raises(CommandError, match=r"^the database is not empty \(1 threads, 1 comments, "):
        restored(url, path)
    assert exported(url) == before


def test_restore_checks_every_line_before_writing(client, clock, other, tmp_path):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    cases = {
        len(lines): b'{"type":"ban","id":"seven"}\n',
        1: b"not json\n",
    }
    for number, bad in cases.items():
        path = tmp_path / f"bad-{number}.jsonl"
        path.write_bytes(b"".join(lines[: number - 1]) + bad + b"".join(lines[number:]))
        with pytest.raises(CommandError, match=rf"^{re.escape(str(path))}: line {number}: "):
            restored(other, path)
        assert exported(other) == EMPTY  # still empty
    wrong = tmp_path / "typed.jsonl"
    comment = next(line for line in lines if b'"type":"comment"' in line)
    wrong.write_bytes(lines[0] + comment.replace(b'"status":"approved"', b'"status":true'))
    with pytest.raises(CommandError, match="comment field 'status' is not text"):
        restored(other, wrong)


def test_moderators_download_it_from_the_admin(client):
    post(client, "Hello")
    assert client.get("/admin/export", follow_redirects=False).status_code == 303  # sign in first
    browser = signed_in(client)
    page = browser.get("/admin/backup")
    assert 'href="/admin/export"' in page.text
    response = browser.get("/admin/export")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].startswith('attachment; filename="comments-')
    assert response.headers["cache-control"] == "no-store"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines[0]["password_hashes"] is False
    assert [line["type"] for line in lines[1:]] == ["thread", "comment", "moderator", "manifest"]
    assert lines[-2]["password_hash"] is None


def test_a_file_cut_short_is_refused_naming_where_it_stops(client, clock, other, tmp_path):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    manifest = orjson.loads(lines[-1])
    assert manifest["counts"]["comments"] == 27 and len(manifest["sha256"]) == 64
    for kept in (len(lines) - 1, 40):  # cut at a line boundary: before the manifest, or mid-way
        path = tmp_path / f"cut-{kept}.jsonl"
        path.write_bytes(b"".join(lines[:kept]))
        with pytest.raises(
            CommandError, match=rf"^{re.escape(str(path))}: line {kept}: the file stops here"
        ):
            restored(other, path)
        assert exported(other) == EMPTY  # nothing written


def test_a_changed_line_or_a_missing_one_breaks_the_manifest(client, clock, other, tmp_path):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    changed = [line.replace(b'"Ada"', b'"Eve"') for line in lines]
    assert changed != lines
    dropped = lines[:5] + lines[6:]
    for name, body, match in (
        ("changed", changed, "the checksum of the lines above does not match"),
        ("dropped", dropped, "the manifest counts"),
    ):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(body))
        with pytest.raises(CommandError, match=rf"line {len(body)}: {match}"):
            restored(other, path)
        assert exported(other) == EMPTY


def test_a_value_the_database_refuses_names_its_line(client, clock, other, tmp_path):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, 1) if b'"type":"comment"' in line) + 2
    bad = lines[number - 1].replace(b'"status":"approved"', b'"status":"shown"')
    bad = bad.replace(b'"status":"hidden"', b'"status":"shown"')
    body = [*lines[: number - 1], bad, *lines[number:-1]]
    # A manifest that matches the changed file: only the database can say no.
    digest = hashlib.sha256(b"".join(body)).hexdigest()
    manifest = orjson.loads(lines[-1])
    body.append(orjson.dumps({**manifest, "sha256": digest}) + b"\n")
    path = tmp_path / "refused.jsonl"
    path.write_bytes(b"".join(body))
    with pytest.raises(CommandError, match=rf": line {number}: the database refuses this comments"):
        restored(other, path)
    assert exported(other) == EMPTY


def test_version_1_files_still_restore(client, clock, other, tmp_path):
    post(client, "Hello from before the manifest")
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    old = [lines[0].replace(b'"version":2', b'"version":1'), *lines[1:-1]]
    path = tmp_path / "v1.jsonl"
    path.write_bytes(b"".join(old))
    assert restored(other, path) == {"threads": 1, "comments": 1}


def test_files_from_before_moderated_titles_and_report_reasons_still_restore(
    client, clock, other, tmp_path
):
    fill(client, clock)
    lines = exported(client.app.state.config.database_url).splitlines(keepends=True)
    body = []
    for line in lines[:-1]:
        record = orjson.loads(line)
        record.pop("title_moderated", None)
        if record.get("type") == "report":
            assert record.pop("category") == "other"
        body.append(orjson.dumps(record) + b"\n")
    manifest = orjson.loads(lines[-1])
    body.append(orjson.dumps({**manifest, "sha256": hashlib.sha256(b"".join(body)).hexdigest()}))
    path = tmp_path / "older.jsonl"
    path.write_bytes(b"".join(body) + b"\n")
    assert restored(other, path)["reports"] == 1
    assert exported(other) == b"".join(lines)  # the missing fields took what they meant
