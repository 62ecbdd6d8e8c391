"""The HTTP server's own bounds: how long a request's headers and body may take to arrive, how
many connections a worker holds, and how many files the process may open.

uvicorn bounds only the idle time between requests (keep-alive): a client that sends its
headers a byte at a time, or never finishes them, holds its connection (a file descriptor) for
as long as it likes, and a few thousand such clients leave no descriptor for anyone else.
Protocol adds the missing timers to uvicorn's httptools protocol and refuses connections past a
maximum per worker, each with a problem document: `408 request_timeout` or `503 server_busy`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sys
import time

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from comments.config import Config
from comments.errors import Problem

log = logging.getLogger("comments")
# Files a worker needs besides its connections: database pool, SQLite files, logs, libraries.
RESERVED_FILES = 128
# How long a refused connection stays open after its answer, so the client reads the answer
# rather than a reset for the request it was still sending.
REFUSAL_LINGER = 1.0
BUSY_RETRY_AFTER = 5
STREAM_PATHS = ("/api/stream", "/admin/stream")


def problem_bytes(problem: Problem) -> bytes:
    """A whole HTTP/1.1 response carrying the problem, closing the connection."""
    body = orjson.dumps(problem.to_dict())
    head = [
        f"HTTP/1.1 {problem.status} {problem.title}",
        "content-type: application/problem+json",
        f"content-length: {len(body)}",
        "x-content-type-options: nosniff",
        "connection: close",
        *(f"{name.lower()}: {value}" for name, value in problem.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def busy_problem() -> Problem:
    return Problem(
        "server_busy",
        "The server holds as many connections as it takes; try again shortly.",
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


class ServerConfig(uvicorn.Config):
    """uvicorn's settings plus ours, handed to every worker (spawned workers get a pickled copy)."""

    def __init__(
        self, *args, header_timeout: float, body_timeout: float, max_connections: int, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections


class Protocol(HttpToolsProtocol):
    """One connection: its request's headers must arrive within `header_timeout` of its first
    byte (or of the connection, for the first request), its body within `body_timeout` of the
    headers.

    A worker holds at most `max_connections`. When a new one comes beyond that, the connection
    that has waited longest for a request (idle, or still sending its headers) makes room: people's
    browsers send their headers in one packet, so the ones caught waiting are mostly the slow
    clients that fill a server on purpose. Only when every connection has a request in hand is
    the newcomer refused, with `503 server_busy` at once.
    """

    config: ServerConfig

    def __init__(self, config: ServerConfig, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False
        # Since when it waits for a request (no headers complete yet); the clock of the system, as
        # the loop's is read once per turn and would tie every connection accepted in one.
        self._waiting_since: float | None = None
        self._began = False  # some bytes of that request came

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.config.max_connections and not self._make_room():
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._waiting_since = time.monotonic()
        self._arm(self.config.header_timeout, "headers")

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False if none waits."""
        waiting = [c for c in self.connections if getattr(c, "_waiting_since", None) is not None]
        if not waiting:
            return False
        min(waiting, key=lambda connection: connection._waiting_since)._evict()
        return True

    def _evict(self) -> None:
        self._disarm()
        self._waiting_since = None
        self.connections.discard(self)  # at once: the next newcomer counts without it
        if self._began:
            self.transport.write(problem_bytes(busy_problem()))
        self.transport.close()

    def _refuse(self, transport: asyncio.Transport) -> None:
        self._refused = True
        self.transport = transport
        transport.write(problem_bytes(busy_problem()))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # a refused connection's request is read and dropped
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        if self._refused:
            return None  # close: the answer has been written
        return super().eof_received()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = True
        # The next request on a kept-alive connection. Not one pipelined behind a request still
        # being answered: reading pauses until then, so its headers could not arrive in time.
        if self._timer is None and not self._answering():
            self._arm(self.config.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        self._waiting_since, self._began = None, False
        super().on_headers_complete()
        self._arm(self.config.body_timeout, "body")

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request, whose headers came already
        super().on_response_complete()
        if not self.transport.is_closing() and not pipelined:
            self._waiting_since = time.monotonic()  # kept alive, waiting for the next request

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def shutdown(self) -> None:
        """On the way out uvicorn waits for answers in progress to end; a live stream's never
        would. Cut it: its browser reconnects, to another worker or server."""
        cycle = self.cycle
        streaming = cycle is not None and cycle.response_started and not cycle.response_complete
        if streaming and cycle.scope["path"].endswith(STREAM_PATHS):
            self.transport.close()
            return
        super().shutdown()

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out, part)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _timed_out(self, part: str) -> None:
        """Answer 408 if no answer began yet, and close the connection either way."""
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if part == "body" and self._answering() and not cycle.response_started:
            cycle.disconnected = True  # the app's answer, if it comes, goes nowhere
            self._answer_timeout(part, self.config.body_timeout)
        elif part == "headers" and not self._answering():
            self._answer_timeout(part, self.config.header_timeout)
        self.transport.close()

    def _answer_timeout(self, part: str, seconds: float) -> None:
        detail = f"The request's {part} did not arrive within {seconds:g} seconds."
        self.transport.write(problem_bytes(Problem("request_timeout", detail)))


def raise_file_limit() -> int:
    """Raise this process's limit of open files to its hard limit (workers inherit it) and
    return it: the default soft limit, 1,024, is soon spent by connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:
            log.warning("could not raise the limit of open files to %d: %s", hard, error)
    return soft if soft != resource.RLIM_INFINITY else sys.maxsize


def connection_limit(config: Config, file_limit: int) -> int:
    """COMMENTS_MAX_CONNECTIONS, or fewer when the limit of open files cannot hold them."""
    fits = max(file_limit - RESERVED_FILES, 1)
    if config.max_connections > fits:
        log.warning(
            "COMMENTS_MAX_CONNECTIONS=%d does not fit in the limit of %d open files: each worker "
            "holds %d connections (raise LimitNOFILE= or ulimit -n)",
            config.max_connections,
            file_limit,
            fits,
        )
        return fits
    return config.max_connections


def stream_limit(config: Config, connections: int) -> int:
    """COMMENTS_MAX_STREAMS, or fewer when it would leave reads no room among the connections a
    worker holds: streams are held for minutes, and a worker full of them answers nobody else.
    A tenth of the connections (at least 16) stays for everything else."""
    room = max(connections // 10, 16)
    fits = max(connections - room, 0)
    if config.max_streams > fits:
        log.warning(
            "COMMENTS_MAX_STREAMS=%d leaves no room for reads among %d connections a worker "
            "holds: each worker holds %d streams (raise COMMENTS_MAX_CONNECTIONS, and the limit "
            "of open files, with it)",
            config.max_streams,
            connections,
            fits,
        )
        return fits
    return config.max_streams


def serve(config: Config, **uvicorn_options) -> None:
    """Run the app under uvicorn with these bounds, in `config.workers` processes."""
    connections = connection_limit(config, raise_file_limit())
    streams = stream_limit(config, connections)
    if streams != config.max_streams:  # the workers read their settings from the environment
        os.environ["COMMENTS_MAX_STREAMS"] = str(streams)
    server_config = ServerConfig(
        "comments.app:app_from_environment",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        http=Protocol,
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        max_connections=connections,
        access_log=config.access_log,
        **uvicorn_options,
    )
    server = uvicorn.Server(server_config)
    if server_config.workers > 1:
        Multiprocess(server_config, sockets=[server_config.bind_socket()]).run()
    else:
        server.run()
    if not server.started and server_config.workers == 1:
        sys.exit(3)  # uvicorn's own status for a server that could not start
