"""Fixtures: a migrated database per backend (SQLite file, and PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from comments import config as settings
from comments import db
from comments.app import create_app
from comments.tables import metadata
from tests.helpers import DEFENSES_OFF, ORIGIN, SECRET, Mailbox, free_port, need


def postgresql_engine_url() -> str:
    """The test server's URL with the driver chosen, as the settings would choose it."""
    url = os.environ.get("COMMENTS_TEST_DATABASE_URL")
    if not url:
        need("PostgreSQL not configured: set COMMENTS_TEST_DATABASE_URL")
    return settings.PARSERS["database_url"](url)


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory) -> Iterator:
    """A factory of empty databases: `fresh_database(backend)` -> URL, dropped at the end."""
    schemas: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'comments.db'}"
        base = postgresql_engine_url()
        schema = f"test_{uuid.uuid4().hex[:12]}"
        engine = sqlalchemy.create_engine(base)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        engine.dispose()
        schemas.append(schema)
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}options=-csearch_path%3D{schema}"

    yield make
    if schemas:
        base = postgresql_engine_url()
        engine = sqlalchemy.create_engine(base)
        with engine.begin() as conn:
            for schema in schemas:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request, fresh_database) -> str:
    """One database per backend for the session, built through the migrations."""
    url = fresh_database(request.param)
    engine = db.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def database_url(migrated_url) -> Iterator[str]:
    """The session's database, emptied after each test."""
    yield migrated_url
    engine = db.create_engine(migrated_url)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


class Clock:
    """Time that tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(database_url, clock, tmp_path) -> Iterator:
    """`make_client(COMMENTS_MODERATION="pre", ...)` -> a TestClient of an app so configured."""
    clients: list[TestClient] = []

    def make(**environ: str) -> TestClient:
        values = {
            "COMMENTS_DATA_DIR": str(tmp_path),
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_SECRET_KEY": SECRET,
            "COMMENTS_ORIGINS": ORIGIN,
            **DEFENSES_OFF,
            "COMMENTS_PASSWORD_MEMORY": "8",
            **{f"COMMENTS_{key.upper()}": value for key, value in environ.items()},
        }
        client = TestClient(
            create_app(settings.load(values), clock),
            headers={"Origin": ORIGIN},
            client=("127.0.0.1", 50000),
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


# A real SMTP server


@pytest.fixture
def smtp_on():
    """`smtp_on(port)` starts an SMTP server there; every one started is stopped at the end."""
    controllers: list[Controller] = []

    def start(port: int) -> Mailbox:
        box = Mailbox(port)
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return box

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def mailbox(smtp_on) -> Mailbox:
    return smtp_on(free_port())
