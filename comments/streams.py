"""Live streams: each open thread's changes, pushed to its readers as Server-Sent Events.

A stream carries versions, kinds and comment ids only (`{"version", "kind", "ids"}`); the embed
fetches what changed through the ordinary API, so what a reader may see (pending, hidden,
deleted, edited) is decided in one place. Each write records its change in the database with the
write (store.changes), so any worker of any app server can tell it, and replay it to a stream
that comes back with `Last-Event-ID`.

One Hub per worker holds the threads its streams watch, and learns that one moved:
- from its own writes, at once (the commit hook below);
- on PostgreSQL, from NOTIFY, on one listening connection per worker; while that connection is
  down, and once when it comes back, by reading the watched threads' versions;
- with Redis (COMMENTS_REDIS_URL) on SQLite, from its pub/sub channel;
- on SQLite, from a read of the watched threads' versions each second: one statement per worker,
  never one per stream.
However it learns, it reads the thread's new changes once and hands them to every stream of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import orjson
import redis
import redis.asyncio

from comments import db, store
from comments.config import Config
from comments.models import ChangeKind, QueueView, ThreadChange
from comments.pagecache import KnownVersions

log = logging.getLogger("comments")

POLL_SECONDS = 1.0
# How long a signalled version may take to show in a read (the commit hook runs just before the
# commit itself): retried from 10 ms, doubling, for about this long; then the stream starts over.
SETTLE_SECONDS = 2.0
RETRY_MS = 5000  # the reconnection delay browsers are told
RETRY_AFTER = 30  # seconds, when this worker holds as many streams as it takes
# No cache may keep a stream, and nginx must pass each event on as it comes.
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
BACKLOG = 100  # changes queued for one stream before it is told to start over instead
LISTEN_RETRY_MAX = 30.0
QUEUE_POLL_SECONDS = 5.0
QUEUE_SETTLE_SECONDS = 0.25


@dataclasses.dataclass(eq=False)
class Listener:
    # None is a tick of the stream's clock (see thread_events), the rest its thread's changes.
    queue: asyncio.Queue[ThreadChange | None] = dataclasses.field(
        default_factory=lambda: asyncio.Queue(BACKLOG)
    )

    def tick(self) -> None:
        if self.queue.empty():  # with changes waiting, the clock can wait too
            self.queue.put_nowait(None)

    def give(self, change: ThreadChange) -> None:
        if self.queue.full():  # a reader that does not keep up rereads rather than holds memory
            while not self.queue.empty():
                self.queue.get_nowait()
            change = ThreadChange(change.version, ChangeKind.RESET, ())
        self.queue.put_nowait(change)


@dataclasses.dataclass(eq=False)
class Watch:
    """One thread's streams in this worker, and the last version handed to them."""

    site: str
    uri: str
    thread_id: int | None = None
    version: int = 0
    wanted: int = 0  # the newest version heard of
    listeners: set[Listener] = dataclasses.field(default_factory=set)
    ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    busy: bool = False


def contiguous(rows: list, since: int) -> tuple[list[ThreadChange], bool]:
    """The changes read that follow `since` without a gap, and whether one was found (its
    changes were pruned, or a restore moved versions without any): then a stream starts over.
    Version 1 is a thread's creation, which changes nothing yet."""
    changes = [store.changes.change_of(row) for row in rows]
    expected = max(since, 1) + 1
    for index, change in enumerate(changes):
        if change.version != expected:
            return changes[:index], True
        expected += 1
    return changes, len(changes) >= store.changes.MOST_READ


class Hub:
    def __init__(
        self,
        config: Config,
        engine: db.Engine,
        reader: db.PointReader,
        versions: KnownVersions | None = None,
        queue_counts: Callable[[], dict[QueueView, int]] | None = None,
    ) -> None:
        self.config = config
        self.queue = QueueWatch(queue_counts) if queue_counts else None
        self.versions = versions or KnownVersions()
        self.engine = engine
        self.reader = reader
        self.watches: dict[tuple[str, str], Watch] = {}
        self.open = 0
        self.listening = False  # PostgreSQL's LISTEN connection is up
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._publisher: redis.Redis | None = None
        self._running: set[asyncio.Task] = set()
        self._unwatch: Callable[[], None] | None = None

    # Life

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unwatch = db.watch_transactions(
            self.engine, self._committed, store.changes.take_announced
        )
        is_postgresql = self.engine.dialect.name == "postgresql"
        if is_postgresql:
            self._tasks.append(asyncio.create_task(self._listen_to_postgresql()))
        elif self.config.redis_url:
            self._publisher = redis.Redis.from_url(
                self.config.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._tasks.append(asyncio.create_task(self._listen_to_redis()))
        self._tasks.append(asyncio.create_task(self._poll(only_when_deaf=is_postgresql)))

    async def aclose(self) -> None:
        if self.queue is not None:
            await self.queue.aclose()
        if self._loop is None:
            return  # never started
        self._loop = None
        if self._unwatch is not None:
            self._unwatch()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._publisher is not None:
            self._publisher.close()

    # Streams

    @contextlib.asynccontextmanager
    async def watching(self, site: str, uri: str) -> AsyncIterator[tuple[Watch, Listener]]:
        """A listener on the thread for as long as the block runs."""
        key = (site, uri)
        watch = self.watches.get(key)
        if watch is None:
            watch = self.watches[key] = Watch(site, uri)
            self._spawn(self._start_watch(watch))
        listener = Listener()
        watch.listeners.add(listener)
        self.open += 1
        try:
            await watch.ready.wait()
            yield watch, listener
        finally:
            self.open -= 1
            watch.listeners.discard(listener)
            if not watch.listeners and self.watches.get(key) is watch:
                del self.watches[key]

    async def _start_watch(self, watch: Watch) -> None:
        try:
            watch.version = watch.wanted = await self._locate(watch) or 0
        finally:
            watch.ready.set()

    async def _locate(self, watch: Watch) -> int | None:
        """Find the watched thread's id, if it is not known yet (it may not exist yet); the
        version read with it, when it was read."""
        if watch.thread_id is not None:
            return None
        found = await self.reader.rows(
            store.changes.THREAD_STATE, {"site": watch.site, "uri": watch.uri}
        )
        if not found:
            return None
        watch.thread_id, version = found[0]
        return version

    async def _current_version(self, watch: Watch) -> int:
        if watch.thread_id is None:
            return 0
        found = await self.reader.rows(store.changes.VERSIONS, {"ids": [watch.thread_id]})
        return found[0][1] if found else 0

    async def replay(self, watch: Watch, since: int) -> list[ThreadChange]:
        """What a stream coming back from `since` missed, up to the watch's version: the changes
        themselves, or one reset if they are gone."""
        if since >= watch.version:
            return []
        if watch.thread_id is None:
            return [ThreadChange(watch.version, ChangeKind.RESET, ())]
        rows = await self.reader.rows(
            store.changes.CHANGES_SINCE, {"thread_id": watch.thread_id, "version": since}
        )
        changes, broken = contiguous(rows, since)
        changes = [change for change in changes if change.version <= watch.version]
        if broken or not changes or changes[-1].version < watch.version:
            return [ThreadChange(watch.version, ChangeKind.RESET, ())]
        return changes

    # Signals

    def _committed(self, conn: db.Connection) -> None:
        """The engine's commit hook, in the writer's thread: hand the transaction's
        announcements to this worker's loop, and to the other workers through Redis."""
        payloads = store.changes.take_announced(conn)
        if not payloads:
            return
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.heard, payloads)
        if self._publisher is not None:
            try:
                for payload in payloads:
                    self._publisher.publish(store.changes.CHANNEL, payload)
            except redis.RedisError as error:  # the others poll meanwhile: a second late
                log.warning("could not announce a change through Redis: %s", error)

    def heard(self, payloads: list[str]) -> None:
        """Announcements (store.changes), from wherever they came."""
        if self.queue is not None:
            self.queue.nudge()
        for payload in payloads:
            try:
                parsed = store.changes.parse_announcement(payload)
            except (ValueError, TypeError):
                log.warning("an announcement that is not one: %r", payload[:200])
                continue
            if parsed is None:
                self.versions.forget(trusted=self.versions.trusted)
                self._spawn(self.check_all())
                continue
            site, uri, version = parsed
            self.versions.announced(site, uri, version)
            watch = self.watches.get((site, uri))
            if watch is not None:
                self._want(watch, version)

    def _want(self, watch: Watch, version: int) -> None:
        if version > watch.wanted:
            watch.wanted = version
        if watch.wanted > watch.version and not watch.busy:
            watch.busy = True  # now: a second signal in this turn must not start a second reader
            self._spawn(self._catch_up(watch))

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._running.add(task)  # the loop keeps only weak references to its tasks
        task.add_done_callback(self._running.discard)

    async def check_all(self) -> None:
        """Read the version of every watched thread, and catch up those that moved."""
        watches = list(self.watches.values())
        for watch in watches:
            if watch.thread_id is None and watch.ready.is_set():
                await self._locate(watch)
        by_id = {watch.thread_id: watch for watch in watches if watch.thread_id is not None}
        if not by_id:
            return
        rows = await self.reader.rows(store.changes.VERSIONS, {"ids": list(by_id)})
        for thread_id, version in rows:
            self._want(by_id[thread_id], version)

    async def _catch_up(self, watch: Watch) -> None:
        """Read the thread's changes past what its streams have and hand them over, until the
        newest version heard of; one reader per watch at a time (`busy`, set by _want)."""
        try:
            await watch.ready.wait()
            pause, waited = 0.01, 0.0
            while watch.wanted > watch.version and watch.listeners:
                await self._locate(watch)
                rows = []
                if watch.thread_id is not None:
                    rows = await self.reader.rows(
                        store.changes.CHANGES_SINCE,
                        {"thread_id": watch.thread_id, "version": watch.version},
                    )
                changes, broken = contiguous(rows, watch.version)
                if changes:
                    self._hand_over(watch, changes)
                    pause, waited = 0.01, 0.0
                elif broken:
                    current = max(await self._current_version(watch), watch.wanted)
                    self._hand_over(watch, [ThreadChange(current, ChangeKind.RESET, ())])
                elif waited >= SETTLE_SECONDS:
                    # Heard of, never read: a version moved without its change (a restore), or
                    # an announcement about another database's thread (NOTIFY is per database,
                    # and several schemas may share one). Only the first is news.
                    current = await self._current_version(watch)
                    if current > watch.version:
                        self._hand_over(watch, [ThreadChange(current, ChangeKind.RESET, ())])
                    watch.wanted = watch.version
                else:
                    await asyncio.sleep(pause)
                    waited += pause
                    pause = min(pause * 2, 0.5)
        except Exception as error:
            if not db.logged_fault(error, "a live stream's read"):
                log.exception("a live stream's read failed")
        finally:
            watch.busy = False

    @staticmethod
    def _hand_over(watch: Watch, changes: list[ThreadChange]) -> None:
        for change in changes:
            for listener in list(watch.listeners):
                listener.give(change)
        watch.version = changes[-1].version
        watch.wanted = max(watch.wanted, watch.version)

    # Where signals come from, besides this worker's own writes

    async def _poll(self, only_when_deaf: bool) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if only_when_deaf and self.listening:
                continue
            try:
                await self.check_all()
            except Exception as error:
                if not db.logged_fault(error, "the live streams' poll"):
                    log.exception("the live streams' poll failed")

    async def _listen_to_postgresql(self) -> None:
        pause = 1.0
        while True:
            try:
                async for payload in db.notifications(self.engine, store.changes.CHANNEL):
                    if payload is None:  # listening (again): whatever came meanwhile is missed
                        self.listening = True
                        self.versions.forget(trusted=True)
                        pause = 1.0
                        await self.check_all()
                        continue
                    self.heard([payload])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "live streams: the PostgreSQL listener failed (%s); polling", db.reason(error)
                )
            self.listening = False
            self.versions.forget(trusted=False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, LISTEN_RETRY_MAX)

    async def _listen_to_redis(self) -> None:
        pause = 1.0
        while True:
            client = redis.asyncio.Redis.from_url(self.config.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(store.changes.CHANNEL)
                    await self.check_all()
                    pause = 1.0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.heard([message["data"].decode()])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("live streams: the Redis subscription failed (%s); polling", error)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, LISTEN_RETRY_MAX)


# The moderators' queue


@dataclasses.dataclass(eq=False)
class CountsListener:
    """One moderator's stream: the newest counts (not each of them: only the last matters)."""

    counts: dict[str, int] | None = None
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class QueueWatch:
    """The queue's counts (pending, reported, hidden), for the moderators' streams of this
    worker: read at once when one opens, soon after any announcement (a comment written,
    approved, hidden, by any worker, whenever this worker hears of it), and every
    QUEUE_POLL_SECONDS besides, as reports announce nothing. One read for all the worker's
    moderators, never one each, and none while no moderator watches."""

    def __init__(self, count: Callable[[], dict[QueueView, int]]) -> None:
        self.count = count
        self.listeners: set[CountsListener] = set()
        self.counts: dict[str, int] | None = None
        self._due = asyncio.Event()
        self._task: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[CountsListener]:
        listener = CountsListener(self.counts)
        if self.counts is not None:
            listener.changed.set()  # what is known now, and soon what is read
        self.listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        self.nudge()
        try:
            yield listener
        finally:
            self.listeners.discard(listener)

    def nudge(self) -> None:
        if self.listeners:
            self._due.set()

    async def _run(self) -> None:
        while self.listeners:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QUEUE_POLL_SECONDS):
                    await self._due.wait()
            self._due.clear()
            try:
                read = await asyncio.to_thread(self.count)
                counts = {view.value: n for view, n in read.items()}
            except Exception as error:
                if not db.logged_fault(error, "the moderators' live counts"):
                    log.exception("the moderators' live counts failed")
                await asyncio.sleep(QUEUE_POLL_SECONDS)
                continue
            if counts != self.counts:
                self.counts = counts
                for listener in self.listeners:
                    listener.counts = counts
                    listener.changed.set()
            await asyncio.sleep(QUEUE_SETTLE_SECONDS)  # a burst of writes: one read, not each

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


# The events


@contextlib.contextmanager
def ticking(period: float, tick: Callable[[], None]) -> Iterator[None]:
    """`tick` every `period` seconds while the block runs. One timer a period, not a timeout
    around each wait: a change wakes thousands of streams at once, and arming and cancelling a
    timeout around each of their waits cost more than sending the event."""
    loop = asyncio.get_running_loop()
    handle = None

    def fire() -> None:
        nonlocal handle
        tick()
        handle = loop.call_later(period, fire)

    handle = loop.call_later(period, fire)
    try:
        yield
    finally:
        handle.cancel()


@functools.lru_cache(maxsize=64)  # one change goes to every stream of its thread: made once
def event_bytes(change: ThreadChange) -> bytes:
    data = orjson.dumps({"version": change.version, "kind": change.kind, "ids": change.ids})
    return b"id: %d\nevent: change\ndata: %s\n\n" % (change.version, data)


async def thread_events(
    hub: Hub, site: str, uri: str, since: int | None, config: Config
) -> AsyncIterator[bytes]:
    """A thread's stream: what changed after `since` (a version; None: from now on), then each
    change as it comes, a comment line every `stream_heartbeat` seconds, and an end after
    `stream_idle` seconds without a change."""
    period = min(config.stream_heartbeat, config.stream_idle)
    async with hub.watching(site, uri) as (watch, listener):
        with ticking(period, listener.tick):
            yield b"retry: %d\n\n" % RETRY_MS
            last = watch.version if since is None else since
            pending: list[ThreadChange | None] = list(await hub.replay(watch, last))
            quiet_since = time.monotonic()
            while True:
                change = pending.pop(0) if pending else await listener.queue.get()
                if change is None:
                    if time.monotonic() - quiet_since >= config.stream_idle:
                        yield b"event: idle\ndata: {}\n\n"
                        return
                    yield b": ping\n\n"
                    continue
                if change.version <= last:
                    continue
                last = change.version
                if change.kind is not ChangeKind.UNSEEN:
                    quiet_since = time.monotonic()
                    yield event_bytes(change)


async def queue_events(hub: Hub, config: Config) -> AsyncIterator[bytes]:
    """The moderators' stream: the queue's counts now and whenever they change
    (`event: queue`, data `{"pending", "reported", "hidden"}`), and a comment line every
    `stream_heartbeat` seconds. It does not end when idle: a moderator's tab stays open."""
    watch = hub.queue
    assert watch is not None
    async with watch.watching() as listener:
        hub.open += 1
        try:
            with ticking(config.stream_heartbeat, listener.changed.set):
                yield b"retry: %d\n\n" % RETRY_MS
                sent = None
                while True:
                    await listener.changed.wait()
                    listener.changed.clear()
                    if listener.counts is not None and listener.counts != sent:
                        sent = listener.counts
                        yield b"event: queue\ndata: %s\n\n" % orjson.dumps(sent)
                    else:
                        yield b": ping\n\n"
        finally:
            hub.open -= 1
