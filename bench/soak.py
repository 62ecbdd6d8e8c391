"""A soak: a real `comments serve` under hours of mixed traffic, its memory read as it goes.

    python bench/soak.py                          # 30 minutes, SQLite, 2 workers
    python bench/soak.py --minutes 6 --port 18210
    python bench/soak.py --database postgresql://postgres@127.0.0.1:5432/test
    python bench/soak.py --page-cache-mb 64     # the default bound: it fills for half an hour

Reads of known threads (every sort and a few page sizes; 62%), reads of addresses that have no
thread (a new one each time, as crawlers and broken links ask; 25%), counts (10%) and posts into
the known threads (3%), from a few client threads at a bounded rate, all to 127.0.0.1. The page
cache is bounded low (4 MiB per worker) unless told otherwise, so that it is full within the first
two minutes: at 64 MiB its filling with ever longer pages alone would take the whole run.

Prints the server's memory (the sum over its processes: resident, and of that the anonymous
part, the heap) every minute, then the figures at 2 minutes and at the end, and whether the end
is within 10% of the 2-minute figure (the first two minutes fill what is bounded by design:
caches, pools, the workers' imports).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import servers

THREADS = 200
SETTLED = 120  # seconds: the figure every later one is held against
TOLERANCE = 0.10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--rate", type=int, default=150, help="requests per second (default 150)")
    parser.add_argument("--clients", type=int, default=6, help="client threads (default 6)")
    parser.add_argument(
        "--page-cache-mb", default="4", help="COMMENTS_PAGE_CACHE_MB of the server (default 4)"
    )
    return parser.parse_args()


def memory(server: servers.Server) -> tuple[int, int]:
    """(resident, anonymous) bytes, summed over the server's processes."""
    resident = anonymous = 0
    for pid in server.members():
        resident += servers.rss(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("RssAnon:"):
                anonymous += int(line.split()[1]) * 1024
    return resident, anonymous


def mib(value: int) -> str:
    return f"{value / 2**20:.0f} MiB"


class Client:
    """One keep-alive connection sending the mix, `rate` requests per second at most."""

    def __init__(self, port: int, rate: float, seed: int, statuses: Counter) -> None:
        self.port, self.interval = port, 1 / rate
        self.chance = random.Random(seed)
        self.statuses = statuses
        self.connection = http.client.HTTPConnection(servers.HOST, port, timeout=30)

    def request(self, method: str, path: str, body: object = None) -> None:
        headers = {"Origin": servers.ORIGIN, "Accept-Encoding": "gzip"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            self.connection.request(method, path, data, headers)
            response = self.connection.getresponse()
            response.read()
            self.statuses[response.status] += 1
        except OSError as error:
            self.statuses[type(error).__name__] += 1
            self.connection.close()
            self.connection = http.client.HTTPConnection(servers.HOST, self.port, timeout=30)

    def one(self) -> None:
        roll, chance = self.chance.random(), self.chance
        thread = f"/soak/{chance.randrange(THREADS)}/"
        if roll < 0.62:
            sort, limit = chance.choice(("oldest", "newest")), chance.choice((10, 20, 50))
            self.request("GET", f"/api/threads?uri={thread}&sort={sort}&limit={limit}")
        elif roll < 0.87:
            self.request("GET", f"/api/threads?uri=/nowhere/{chance.getrandbits(64):x}/")
        elif roll < 0.97:
            uris = [f"/soak/{chance.randrange(THREADS)}/" for _ in range(5)]
            uris += [f"/nowhere/{chance.getrandbits(64):x}/" for _ in range(5)]
            self.request("POST", "/api/counts", {"uris": uris})
        else:
            text = " ".join(chance.choice(WORDS) for _ in range(chance.randint(10, 60)))
            self.request("POST", "/api/comments", {"uri": thread, "text": text, "author": "Soak"})

    def run(self, until: float) -> None:
        following = time.monotonic()
        while following < until:
            self.one()
            following += self.interval
            time.sleep(max(0.0, following - time.monotonic()))


WORDS = ("the", "a", "comment", "thread", "reply", "server", "memory", "page", "reader", "soak")


def soak(args: argparse.Namespace, workdir: Path) -> bool:
    port = args.port or servers.free_port()
    environ = servers.our_environment(workdir / "data", args.database, port)
    environ["COMMENTS_PAGE_CACHE_MB"] = args.page_cache_mb
    with servers.running(
        servers.our_command(), environ, port, "/api/config", workdir / "server.log"
    ) as server:
        statuses: Counter = Counter()
        seeder = Client(port, 1000, 0, statuses)
        for number in range(THREADS):  # every known thread has comments from the start
            for _ in range(3):
                seeder.request(
                    "POST", "/api/comments", {"uri": f"/soak/{number}/", "text": "a first word"}
                )
        started = time.monotonic()
        until = started + args.minutes * 60
        clients = [
            threading.Thread(
                target=Client(port, args.rate / args.clients, seed, statuses).run, args=(until,)
            )
            for seed in range(1, args.clients + 1)
        ]
        for client in clients:
            client.start()
        settled, minute = None, 0
        while time.monotonic() < until:
            time.sleep(min(5.0, max(0.0, until - time.monotonic())))
            elapsed = time.monotonic() - started
            if settled is None and elapsed >= SETTLED:
                settled = memory(server)
            if elapsed >= (minute + 1) * 60:
                minute = int(elapsed // 60)
                resident, anonymous = memory(server)
                done = sum(count for key, count in statuses.items() if isinstance(key, int))
                print(
                    f"{minute:4d} min  RSS {mib(resident)}  (heap {mib(anonymous)})  "
                    f"{done} requests",
                    flush=True,
                )
        for client in clients:
            client.join()
        end = memory(server)
    seconds = time.monotonic() - started
    total = sum(statuses.values())
    print(f"\n{total} requests in {seconds:.0f} s ({total / seconds:.0f}/s): {dict(statuses)}")
    if settled is None:
        print("shorter than 2 minutes: nothing to compare")
        return True
    growth = end[0] / settled[0] - 1
    print(f"RSS at 2 minutes: {mib(settled[0])} (heap {mib(settled[1])})")
    print(f"RSS at the end:   {mib(end[0])} (heap {mib(end[1])})")
    within = abs(growth) <= TOLERANCE
    verdict = "within" if within else "NOT within"
    print(f"the end is {verdict} 10% of the 2-minute figure ({growth:+.1%})")
    return within


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="comments-soak-") as workdir:
        sys.exit(0 if soak(args, Path(workdir)) else 1)


if __name__ == "__main__":
    main()
