"""The database connection: engine with the right pragmas per dialect, and schema migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine

__all__ = [
    "FAULT_TYPES",
    "Connection",
    "DatabaseError",
    "Engine",
    "PointReader",
    "after_commit",
    "after_rollback",
    "create_engine",
    "fault",
    "logged_fault",
    "migrate",
    "redacted",
    "rehearsal",
    "transaction",
]

try:
    import fcntl
except ImportError:  # not on POSIX: see Writers
    fcntl = None

log = logging.getLogger("comments")
PACKAGE_DIR = Path(__file__).resolve().parent
WRITER_LOCK = "comments.writer-lock"
# The name the live streams' listening connection goes by in pg_stat_activity.
LISTENER_NAME = "comments-listener"


def resource_dir(name: str) -> Path:
    """`migrations` or `static`: bundled inside the wheel, or beside the package in a checkout."""
    bundled = PACKAGE_DIR / "_bundled" / name
    return bundled if bundled.is_dir() else PACKAGE_DIR.parent / name


# Connections per worker process: one for each thread of the pool requests run their database
# work in (anyio's default limit is 40), so a busy worker never opens and closes connections.
POOL_SIZE = 40
# How much of an SQLite file is read through a memory map (address space, not memory).
MMAP_BYTES = 1 << 30


def create_engine(url: str, memory_map: bool = True) -> Engine:
    """An engine for the server or a command. memory_map=False: SQLite reads through each
    connection's own small page cache instead (see on_connect), for a command that goes through
    the file once (imports, backups), whose resident size would otherwise grow with the file."""
    # hide_parameters: a failed statement's parameters (emails, address hashes) stay out of
    # its message, hence out of every log line and traceback that quotes it.
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url, memory_map)
    # A fixed pool: under load a thread waits for a connection rather than opening an extra
    # one for a single request and closing it again (which cost more, and spiked latencies).
    return sqlalchemy.create_engine(
        url, pool_pre_ping=True, pool_size=20, max_overflow=0, hide_parameters=True
    )


class WritersBusy(TimeoutError):
    """This process's other SQLite writers held the database for longer than a writer waits."""


class Writers:
    """The queue of an SQLite database's writers: one at a time in this process and, for a file,
    one at a time among the processes that use it (the server's workers) too.

    SQLite takes one writer at a time, and a writer that finds it busy sleeps in steps of up to
    100 ms before trying again, while the lock may have been free for most of that time. The
    threads of this process queue on a lock instead, and the processes on an flock of a file
    beside the database, so the next writer starts the moment the last one committed (see
    `transaction`). A writer waits for the flock as long as the one holding it writes, as it
    would for SQLite's lock; a process that dies lets go of it. The flock only orders writers:
    SQLite's own lock still keeps them apart, so without fcntl (Windows), or without the right
    to create the file, the processes meet in SQLite's busy handler as before.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{database}-writers.lock" if database and fcntl else None
        self._file: int | None = None  # held by the writer whose turn it is

    def acquire(self, timeout: float) -> bool:
        """Take this process's turn, then the file's; False if this process's turn took longer
        than `timeout` seconds."""
        if not self._threads.acquire(timeout=timeout):
            return False
        if self._path is None:
            return True
        try:
            # Opened for each turn (a few microseconds): nothing to close when the engine goes,
            # and a forked child never shares its parent's open file, hence its flock.
            self._file = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return True  # not ours to create (another user's directory): SQLite still decides
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._close()
            self._threads.release()
            raise
        return True

    def release(self) -> None:
        try:
            self._close()  # closing the file lets go of its flock
        finally:
            self._threads.release()

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            os.close(file)


def _create_sqlite_engine(url: str, memory_map: bool) -> Engine:
    path = sqlalchemy.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(
        url,
        connect_args={"timeout": 30},
        pool_size=POOL_SIZE,
        max_overflow=10,
        hide_parameters=True,
    )

    @sqlalchemy.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Read through a memory map shared by every connection of every worker, rather than
        # through each connection's own page cache (some forty per worker, each cold at first,
        # each page a system call to fill): reads no longer grow with the file.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES if memory_map else 0}")
        cursor.close()

    writers = Writers(path if path and path != ":memory:" else None)

    @sqlalchemy.event.listens_for(engine, "begin")
    def on_begin(connection):
        options = connection.get_execution_options()
        if options.get("serialize") and options.get("write"):
            if not writers.acquire(timeout=30):
                raise WritersBusy("waited 30 s for this process's other writers")
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


class PointReader:
    """One-row reads awaited in the event loop, with no worker thread, pool or transaction.

    A cached thread page costs one lookup of the thread's version. Through a worker thread, the
    pool and a transaction, that lookup cost several times the rest of the request. Here it is
    one statement on a connection of the reader's own, in autocommit: a statement is its own
    snapshot, so it always sees the last commit of any worker or app server.
    Statements are module-level constants, compiled for the dialect on first use.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict[sqlalchemy.Select, tuple[str, tuple[str, ...]]] = {}
        self._expanded: dict[tuple, tuple[str, tuple[str, ...]]] = {}

    @staticmethod
    def for_engine(engine: Engine) -> PointReader:
        if engine.dialect.name == "postgresql":
            return PostgresReader(engine)
        if engine.url.database not in (None, "", ":memory:"):
            return SqliteReader(engine)
        return PointReader(engine)

    async def scalar(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> object:
        """The first column of the first row, or None, like `Connection.scalar`."""
        # The fallback (an in-memory database): the pool, from a worker thread.
        return await asyncio.to_thread(self._scalar_from_pool, statement, parameters)

    def _scalar_from_pool(self, statement: sqlalchemy.Select, parameters: dict) -> object:
        with self.engine.connect() as conn:
            return conn.scalar(statement, parameters)

    async def rows(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> list:
        """Every row, like `Connection.execute(...).all()`; a list fills an expanding IN."""
        return await asyncio.to_thread(self._rows_from_pool, statement, parameters)

    def _rows_from_pool(self, statement: sqlalchemy.Select, parameters: dict) -> list:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(statement, parameters)]

    def _expand(
        self, statement: sqlalchemy.Select, parameters: dict[str, object]
    ) -> tuple[str, tuple[str, ...], dict[str, object]]:
        """The statement with each expanding IN written out for its list's length (compiled
        once per length), its positional names, and the parameters by those names."""
        lengths = tuple(len(value) for value in parameters.values() if isinstance(value, list))
        compiled = self._expanded.get((statement, lengths))
        if compiled is None:
            state = statement.compile(dialect=self.engine.dialect)
            expanded = state.construct_expanded_state(parameters)
            compiled = (expanded.statement, tuple(expanded.positiontup or ()))
            self._expanded[(statement, lengths)] = compiled
        flat: dict[str, object] = {}
        for name, value in parameters.items():
            if isinstance(value, list):  # SQLAlchemy's names for the items: uris_1, uris_2...
                flat.update((f"{name}_{n}", item) for n, item in enumerate(value, 1))
            else:
                flat[name] = value
        return compiled[0], compiled[1], flat

    def _compile(self, statement: sqlalchemy.Select) -> tuple[str, tuple[str, ...]]:
        compiled = self._compiled.get(statement)
        if compiled is None:
            text = statement.compile(dialect=self.engine.dialect)
            compiled = (text.string, tuple(text.positiontup or ()))
            self._compiled[statement] = compiled
        return compiled

    async def aclose(self) -> None:
        pass


class SqliteReader(PointReader):
    """A local file answers in microseconds, and under WAL a reader never waits for a writer,
    so the statement runs right in the event loop."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # A connection of the engine's (so set up as every other), kept out of the pool for good.
        self._pooled = engine.raw_connection()
        self._connection = self._pooled.driver_connection
        self._connection.execute("PRAGMA query_only=ON")
        self._connection.execute("PRAGMA busy_timeout=1000")
        self._lock = threading.Lock()  # one event loop uses it, but test clients bring their own

    async def scalar(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> object:
        sql, names = self._compile(statement)
        rows = self._execute(sql, [parameters[name] for name in names], many=False)
        return rows[0][0] if rows else None

    async def rows(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> list:
        sql, names, flat = self._expand(statement, parameters)
        return self._execute(sql, [flat[name] for name in names], many=True)

    def _execute(self, sql: str, values: list, many: bool) -> list:
        try:
            with self._lock:
                cursor = self._connection.execute(sql, values)
                return cursor.fetchall() if many else [row for row in [cursor.fetchone()] if row]
        except self.engine.dialect.loaded_dbapi.Error as error:
            # Wrapped as the pool's errors are, so one handler classifies both (see fault).
            raise DatabaseError.instance(
                sql, values, error, self.engine.dialect.loaded_dbapi.Error, hide_parameters=True
            ) from error

    async def aclose(self) -> None:
        self._pooled.invalidate()  # closed, never handed out again read-only


class PostgresReader(PointReader):
    """One asynchronous psycopg connection per worker: a round trip, no thread, no pool ping.

    Concurrent requests take turns on it, which costs less than a connection each. A broken
    connection (the server restarted) is replaced once; if that fails too, the pool answers.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._connection: psycopg.AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def scalar(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> object:
        sql, _ = self._compile(statement)
        for _ in range(2):  # the connection, then a new one if it broke
            try:
                connection = await self._connect()
                cursor = await connection.execute(sql, parameters)
                row = await cursor.fetchone()
                return row[0] if row else None
            except psycopg.OperationalError:
                await self.aclose()
        return await super().scalar(statement, parameters)

    async def rows(self, statement: sqlalchemy.Select, parameters: dict[str, object]) -> list:
        sql, _, flat = self._expand(statement, parameters)
        for _ in range(2):  # as scalar
            try:
                connection = await self._connect()
                cursor = await connection.execute(sql, flat)
                return await cursor.fetchall()
            except psycopg.OperationalError:
                await self.aclose()
        return await super().rows(statement, parameters)

    async def _connect(self) -> psycopg.AsyncConnection:
        loop = asyncio.get_running_loop()
        if self._connection is None or self._connection.closed or self._loop is not loop:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True
            )
            self._loop = loop
        return self._connection

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._loop is asyncio.get_running_loop():
            await connection.close()
        elif connection is not None:
            connection.pgconn.finish()  # opened in an event loop that is gone


async def notifications(engine: Engine, channel: str) -> AsyncIterator[str | None]:
    """PostgreSQL's NOTIFY payloads on `channel`, on a connection of their own: None first, once
    listening, then each payload as it comes. Ends by raising when the connection breaks."""
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # A connection that only listens sends nothing: without keepalives, a network that goes
    # silent (no reset, no close) would leave it waiting, and trusted, for hours.
    connection = await psycopg.AsyncConnection.connect(
        conninfo,
        autocommit=True,
        application_name=LISTENER_NAME,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )
    async with connection:
        await connection.execute(f"LISTEN {channel}")
        yield None
        async for notify in connection.notifies():
            yield notify.payload
        raise psycopg.OperationalError("the listening connection closed")


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


def watch_transactions(
    engine: Engine,
    on_commit: Callable[[Connection], None],
    on_rollback: Callable[[Connection], None],
) -> Callable[[], None]:
    """Call `on_commit(conn)` as each of the engine's transactions commits (just before the
    database's own commit, so a reader told at once may look too early) and `on_rollback(conn)`
    as one rolls back; returns what stops it. (Live streams: store.changes's announcements.)"""
    sqlalchemy.event.listen(engine, "commit", on_commit)
    sqlalchemy.event.listen(engine, "rollback", on_rollback)

    def stop() -> None:
        sqlalchemy.event.remove(engine, "commit", on_commit)
        sqlalchemy.event.remove(engine, "rollback", on_rollback)

    return stop


def after_rollback(conn: Connection, callback: Callable[[], None]) -> None:
    """Call `callback` if the connection's transaction rolls back; never if it commits.

    (Rate limits in Redis: a post refused after it was counted gives its place back.)
    """
    sqlalchemy.event.listen(conn, "rollback", lambda _conn: callback(), once=True)


DatabaseError = sqlalchemy.exc.DBAPIError

# Faults of the database rather than of our code: `fault` tells which of these is which.
UNAVAILABLE = "database_unavailable"
FULL = "storage_full"
FAULT_TYPES: tuple[type[BaseException], ...] = (
    DatabaseError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
    WritersBusy,
    psycopg.Error,
)
# SQLite's primary result codes (https://sqlite.org/rescode.html) that mean "not now".
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 5, 6, 10, 13, 14
SQLITE_UNAVAILABLE = {SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN}
# PostgreSQL's SQLSTATE classes and codes (appendix A of its manual) that mean the same:
# 08 connection exception, 53 insufficient resources, 58 system error (I/O), and 57P01-57P03
# (shut down by an administrator, crashed, starting up or shutting down).
POSTGRES_UNAVAILABLE_CLASSES = ("08", "53", "58")
POSTGRES_UNAVAILABLE = {"57P01", "57P02", "57P03"}
POSTGRES_DISK_FULL = "53100"


def fault(error: BaseException) -> str | None:
    """The problem code of a database fault: `database_unavailable` (unreachable, restarting,
    locked), `storage_full` (no space left for the write), or None for anything else (a bug)."""
    if isinstance(error, sqlalchemy.exc.TimeoutError | WritersBusy):
        return UNAVAILABLE
    invalidated = isinstance(error, DatabaseError) and error.connection_invalidated
    if isinstance(error, DatabaseError):
        error = error.orig
    primary = getattr(error, "sqlite_errorcode", None)
    if primary is not None:
        primary &= 0xFF  # the extended code's low byte is the primary one
        if primary == SQLITE_FULL:
            return FULL
        return UNAVAILABLE if primary in SQLITE_UNAVAILABLE or invalidated else None
    if isinstance(error, psycopg.Error):
        state = error.sqlstate
        if state == POSTGRES_DISK_FULL:
            return FULL
        if state is None and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return UNAVAILABLE  # no answer at all: refused, reset, timed out, closed
        if state and (state[:2] in POSTGRES_UNAVAILABLE_CLASSES or state in POSTGRES_UNAVAILABLE):
            return UNAVAILABLE
    return UNAVAILABLE if invalidated else None


def logged_fault(error: BaseException, where: str) -> str | None:
    """`fault`, and a fault logged in one line: no traceback, no statement, no values."""
    code = fault(error)
    if code is not None:
        log.warning("%s on %s: %s", code, where, reason(error))
    return code


def reason(error: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's statement and background link."""
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


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
