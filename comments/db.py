"""The database connection: engine with the right pragmas per dialect, and schema migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine

__all__ = [
    "Connection",
    "Engine",
    "after_commit",
    "create_engine",
    "migrate",
    "redacted",
    "rehearsal",
    "transaction",
]

PACKAGE_DIR = Path(__file__).resolve().parent
WRITER_LOCK = "comments.writer-lock"


def resource_dir(name: str) -> Path:
    """`migrations` or `static`: bundled inside the wheel, or beside the package in a checkout."""
    bundled = PACKAGE_DIR / "_bundled" / name
    return bundled if bundled.is_dir() else PACKAGE_DIR.parent / name


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url)
    return sqlalchemy.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _create_sqlite_engine(url: str) -> Engine:
    path = sqlalchemy.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url, connect_args={"timeout": 30})

    @sqlalchemy.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite takes one writer at a time, and a writer that finds it busy sleeps in steps of up to
    # 100 ms before trying again. The threads of this process queue here instead, so the next
    # one starts the moment the last one committed (see `transaction`).
    writers = threading.Lock()

    @sqlalchemy.event.listens_for(engine, "begin")
    def on_begin(connection):
        options = connection.get_execution_options()
        if options.get("serialize") and options.get("write"):
            if not writers.acquire(timeout=30):
                raise TimeoutError("waited 30 s for this process's other writers")
            connection.info[WRITER_LOCK] = writers
        # Writers take the write lock up front: a deferred transaction that reads, then writes,
        # fails with "database is locked" when another writer got there in between.
        mode = "IMMEDIATE" if options.get("write") else "DEFERRED"
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _release_writer(connection)
            raise

    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with engine.connect() as conn:
        conn.execution_options(write=write, serialize=True)  # read by the SQLite begin hook
        try:
            with conn.begin():
                yield conn
        finally:
            _release_writer(conn)  # after the commit, not before it


def _release_writer(conn: Connection) -> None:
    lock = conn.info.pop(WRITER_LOCK, None)
    if lock is not None:
        lock.release()


@contextmanager
def rehearsal(engine: Engine) -> Iterator[Connection]:
    """A write transaction that is always rolled back: a dry run does everything but keep it."""
    with engine.connect() as conn:
        conn.execution_options(write=True)
        begun = conn.begin()
        try:
            yield conn
        finally:
            begun.rollback()


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Call `callback` once the connection's transaction commits; never if it rolls back.

    (Outbox and mail: the notifier wakes the sender only when its messages are really there.)
    """
    sqlalchemy.event.listen(conn, "commit", lambda _conn: callback(), once=True)


def redacted(url: str) -> str:
    """A database URL fit for a log: the password masked."""
    return sqlalchemy.make_url(url).render_as_string(hide_password=True)


def alembic_config(connection: sqlalchemy.Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (upgrade; a revision below the current one downgrades)."""
    with engine.connect().execution_options(write=True) as connection:
        config = alembic_config(connection)
        current = current_revision(connection)
        if revision.startswith("-") or _is_below(config, revision, current):
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
        connection.commit()


def current_revision(connection: sqlalchemy.Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _is_below(config: AlembicConfig, revision: str, current: str | None) -> bool:
    if revision == "base":
        return True
    if current is None or revision in ("head", "heads"):
        return False
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(config)
    return any(script.revision == revision for script in scripts.iterate_revisions(current, "base"))
