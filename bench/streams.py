"""Live streams under load: how many one deployment holds, what each costs, how fast news arrives.

    python bench/streams.py                         # SQLite, 5,000 streams
    python bench/streams.py --database postgresql://postgres@127.0.0.1:5432/test
    python bench/streams.py --redis redis://127.0.0.1:6379/0
    python bench/streams.py --streams 10000 --posts 20

Starts `comments serve --workers 2` (the benchmark's settings, with COMMENTS_MAX_STREAMS and
COMMENTS_MAX_CONNECTIONS raised to hold them), opens `--streams` streams on one thread from one
client process (the worst case: every stream hears every comment), and measures the server's
memory before and after (resident, summed over its processes: the cost of one stream). Then it
posts `--posts` comments into that thread, one every `--interval` seconds, and times, for every
stream and every comment, the event's arrival from the moment the post's `201` was read:
p50, p99 and the slowest, and how many events never came. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import servers
from run import our_databases
from soak import memory

URI = "/live/"


class Reader:
    """One stream: when each version's event arrived."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.open = False

    async def run(self, port: int, opened: asyncio.Semaphore) -> None:
        reader, writer = await asyncio.open_connection(servers.HOST, port)
        writer.write(
            f"GET /api/stream?uri={URI} HTTP/1.1\r\nHost: {servers.HOST}\r\n"
            f"Origin: {servers.ORIGIN}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            opened.release()
            raise RuntimeError(f"a stream was refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        self.open = True
        opened.release()
        while line := await reader.readline():
            if b"id: " in line:  # chunked framing around the lines: look inside
                version = int(line.split(b"id: ", 1)[1].split()[0])
                self.arrived.setdefault(version, time.monotonic())
        self.open = False


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
    loop = asyncio.get_running_loop()
    sent: list[tuple[int, float]] = []
    for number in range(args.posts):
        sent.append(await loop.run_in_executor(None, post, port, f"Comment {number}"))
        await asyncio.sleep(args.interval)
    await asyncio.sleep(2)
    delays, missing = [], 0
    for version, done in sent:
        for reader in readers:
            arrived = reader.arrived.get(version)
            if arrived is None:
                missing += 1
            else:
                delays.append(max(arrived - done, 0.0) * 1000)
    for task in tasks:
        task.cancel()
    delays.sort()
    return {
        "streams asked": args.streams,
        "streams held": held,
        "seconds to open them": round(opening, 1),
        "server memory before, MiB": round(before / 2**20, 1),
        "server memory with them, MiB": round(after / 2**20, 1),
        "KiB per stream": round((after - before) / max(held, 1) / 1024, 1),
        "comments posted": len(sent),
        "events expected": len(sent) * len(readers),
        "events missing": missing,
        "delivery p50 ms": round(statistics.median(delays), 1) if delays else None,
        "delivery p99 ms": round(delays[int(len(delays) * 0.99) - 1], 1) if delays else None,
        "delivery max ms": round(delays[-1], 1) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: an SQLite file)")
    parser.add_argument("--redis", help="COMMENTS_REDIS_URL of the server (SQLite's fan-out)")
    parser.add_argument("--streams", type=int, default=5000, help="streams to open (5,000)")
    parser.add_argument("--posts", type=int, default=30, help="comments to post (30)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between posts")
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
        with servers.running(servers.our_command(), environ, port, "/healthz", log) as server:
            result = asyncio.run(measure(args, port, server))
    kind = "PostgreSQL" if args.database else "SQLite" + (" and Redis" if args.redis else "")
    print(f"{kind}, {servers.WORKERS} workers:")
    for name, value in result.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
