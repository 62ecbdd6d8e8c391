"""Live streams under load: how many one deployment holds, what each costs, how fast news arrives.

    python bench/streams.py                         # SQLite, 5,000 streams
    python bench/streams.py --database postgresql://postgres@127.0.0.1:5432/test
    python bench/streams.py --redis redis://127.0.0.1:6379/0
    python bench/streams.py --streams 10000 --posts 20

Starts `comments serve --workers 2` (or `--workers N`; the benchmark's settings, with
COMMENTS_MAX_STREAMS and COMMENTS_MAX_CONNECTIONS raised to hold them), opens `--streams`
streams on one thread from one client process (the worst case: every stream hears every
comment), and measures the server's
memory before and after (resident, summed over its processes: the cost of one stream). Then it
posts `--posts` comments into that thread, one every `--interval` seconds, and times, for every
stream and every comment, the event's arrival from the moment the post's `201` was read:
p50, p99 and the slowest, and how many events never came. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import servers
import uvloop
from run import our_databases
from soak import memory

URI = "/live/"


class Reader(asyncio.Protocol):
    """One stream: when each version's event arrived, timed as its bytes are received (a
    protocol, not a line reader, so that 5,000 streams in one client process time the server,
    not the client's parsing)."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.open = False
        self.refused: bytes | None = None
        self.answered = asyncio.get_running_loop().create_future()
        self._head = b""

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.open:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            if b" 200 " not in self._head.split(b"\r\n", 1)[0]:
                self.refused = self._head.split(b"\r\n", 1)[0]
            else:
                self.open = True
            data, self._head = self._head, b""
            if not self.answered.done():
                self.answered.set_result(None)
        for piece in data.split(b"id: ")[1:]:
            self.arrived.setdefault(int(piece.split(b"\n", 1)[0]), now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.answered.done():
            self.answered.set_result(None)

    async def run(self, port: int, opened: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(lambda: self, servers.HOST, port)
        transport.write(
            f"GET /api/stream?uri={URI} HTTP/1.1\r\nHost: {servers.HOST}\r\n"
            f"Origin: {servers.ORIGIN}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await self.answered
        opened.release()
        if self.refused:
            raise RuntimeError(f"a stream was refused: {self.refused!r}")


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sockets_of(pid: int) -> int:
    try:
        links = [os.readlink(entry) for entry in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return 0
    return sum(link.startswith("socket:") for link in links)


def post(port: int, text: str) -> tuple[int, float]:
    """(the thread's version after the post, when its 201 was read)."""
    body = json.dumps({"uri": URI, "text": text}).encode()
    request = urllib.request.Request(
        f"http://{servers.HOST}:{port}/api/comments",
        data=body,
        headers={"Content-Type": "application/json", "Origin": servers.ORIGIN},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        response.read()
    done = time.monotonic()
    with urllib.request.urlopen(
        urllib.request.Request(
            f"http://{servers.HOST}:{port}/api/threads?uri={URI}",
            headers={"Origin": servers.ORIGIN},
        ),
        timeout=10,
    ) as response:
        version = json.loads(response.read())["thread"]["version"]
    return version, done


async def measure(args: argparse.Namespace, port: int, server: servers.Server) -> dict:
    post(port, "The thread exists")  # so the streams watch a thread, as on a real page
    await asyncio.sleep(1)
    before = memory(server)[0]
    readers = [Reader() for _ in range(args.streams)]
    opened = asyncio.Semaphore(0)
    started = time.monotonic()
    tasks = []
    for index, reader in enumerate(readers):
        tasks.append(asyncio.create_task(reader.run(port, opened)))
        if index % 200 == 199:  # in steps, as readers arrive, not one SYN flood
            await asyncio.sleep(0.05)
    for _ in readers:
        await opened.acquire()
    opening = time.monotonic() - started
    await asyncio.sleep(2)
    held = sum(reader.open for reader in readers)
    after = memory(server)[0]
    per_process = sorted((sockets_of(pid) for pid in server.members()), reverse=True)
    loop = asyncio.get_running_loop()
    sent: list[tuple[int, float]] = []
    cpu_before, client_before = server.cpu_seconds(), client_cpu_seconds()
    for number in range(args.posts):
        sent.append(await loop.run_in_executor(None, post, port, f"Comment {number}"))
        await asyncio.sleep(args.interval)
    await asyncio.sleep(2)
    cpu = server.cpu_seconds() - cpu_before
    client_cpu = client_cpu_seconds() - client_before
    delays, missing = [], 0
    slowest_first = []
    for version, done in sent:
        first = None
        for reader in readers:
            arrived = reader.arrived.get(version)
            if arrived is None:
                missing += 1
            else:
                delays.append(max(arrived - done, 0.0) * 1000)
                first = arrived if first is None else min(first, arrived)
        if first is not None:
            slowest_first.append(round((first - done) * 1000, 1))
    for task in tasks:
        task.cancel()
    delays.sort()
    return {
        "streams asked": args.streams,
        "streams held": held,
        "seconds to open them": round(opening, 1),
        "sockets per server process": per_process,
        "server memory before, MiB": round(before / 2**20, 1),
        "server memory with them, MiB": round(after / 2**20, 1),
        "KiB per stream": round((after - before) / max(held, 1) / 1024, 1),
        "comments posted": len(sent),
        "events expected": len(sent) * len(readers),
        "events missing": missing,
        "server CPU ms per event and stream": round(cpu * 1000 / max(len(sent) * held, 1), 3),
        "client CPU ms per event and stream": round(
            client_cpu * 1000 / max(len(sent) * held, 1), 3
        ),
        "delivery p50 ms": round(statistics.median(delays), 1) if delays else None,
        "delivery p99 ms": round(delays[int(len(delays) * 0.99) - 1], 1) if delays else None,
        "delivery max ms": round(delays[-1], 1) if delays else None,
        "first arrival per post ms": slowest_first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: an SQLite file)")
    parser.add_argument("--redis", help="COMMENTS_REDIS_URL of the server (SQLite's fan-out)")
    parser.add_argument("--streams", type=int, default=5000, help="streams to open (5,000)")
    parser.add_argument("--posts", type=int, default=30, help="comments to post (30)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between posts")
    parser.add_argument("--workers", type=int, default=servers.WORKERS, help="server workers (2)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.streams + 200 > hard:
        parser.error(f"the limit of open files ({hard}) cannot hold {args.streams} streams")
    with tempfile.TemporaryDirectory() as scratch, our_databases(args.database) as urls:
        port = servers.free_port()
        environ = servers.our_environment(Path(scratch), urls["big"], port)
        per_worker = args.streams  # the kernel may hand most of them to one worker
        environ.update(
            COMMENTS_MAX_STREAMS=str(per_worker),
            COMMENTS_MAX_CONNECTIONS=str(per_worker + 200),
        )
        if args.redis:
            environ["COMMENTS_REDIS_URL"] = args.redis
        log = Path(scratch) / "server.log"
        with servers.running(
            servers.our_command(args.workers), environ, port, "/healthz", log
        ) as server:
            result = uvloop.run(measure(args, port, server))  # the client as fast as the server
    kind = "PostgreSQL" if args.database else "SQLite" + (" and Redis" if args.redis else "")
    print(f"{kind}, {args.workers} workers:")
    for name, value in result.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
