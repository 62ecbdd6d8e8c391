"""A permalink's cost against a first page's, as threads and the site around them grow.

    python bench/permalinks.py                      # SQLite
    python bench/permalinks.py --database postgresql://postgres@127.0.0.1:5432/test
    python bench/permalinks.py --quick              # smaller site, fewer samples

One site, one server (`comments serve --workers 2`, the benchmark's settings). It holds single
threads of 100, 1,000 and 10,000 comments; each is read at its first page and at the page
holding its middle comment (as full as a first page) and the page holding a comment near its
end (the 99, 999 and 9,990th: what is left from there), both as the first read after a write
(nothing cached: the statements themselves) and warm (the same request again, from the page
cache). Then the site grows by 2,000 threads and 100,000 comments (200 and 10,000 with --quick)
and everything is read again. Flat means: the same figures at every thread and site size, and a
permalink no dearer than the first page of its thread.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import probes
import servers
from data import single_uri, site_plan
from load_ours import analyze, open_worker_cache, prepare, write_thread
from rendered import cache_path
from run import our_databases
from scenarios import Ours, count_comments

SIZES = (100, 1_000, 10_000)


def targets_of(size: int) -> dict[str, int]:
    """Which comments of a thread permalinks name: one halfway, whose page is as full as a
    first page, and one near its end (the page from there holds what is left)."""
    return {"middle": size // 2, "end": size - max(1, size // 1_000)}


def warm_reads(port: int, request, samples: int) -> float:
    """Median milliseconds of one cached read, the same request again at one connection."""
    connection = probes.connect(port)
    timings = []
    try:
        probes.send(connection, request)
        for _ in range(samples):
            began = time.perf_counter()
            answer = probes.send(connection, request)
            timings.append((time.perf_counter() - began) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"reading answered {answer.status}")
    finally:
        connection.close()
    return statistics.median(timings)


def measure(port: int, site_comments: int, samples: int) -> list[dict]:
    rows = []
    for size in SIZES:
        uri = single_uri(size)
        asked: dict[str, dict] = {"first page": {}}
        for n in targets_of(size).values():
            asked[f"permalink to the {n:,}th"] = {"around": probes.nth_comment(port, uri, n)}
        for name, anchor in asked.items():
            request = Ours.thread(uri, 50, **anchor)
            page = probes.fetch(port, request).json()
            if anchor and (page.get("target") or {}).get("id") != anchor["around"]:
                raise RuntimeError(f"the permalink page of {uri} does not hold {anchor}")
            around = anchor.get("around")
            rows.append(
                {
                    "site": site_comments,
                    "thread": size,
                    "read": name,
                    "comments": count_comments(page, "comments"),
                    "cold": probes.first_reads_after_writes(port, uri, samples, around)["p50_ms"],
                    "warm": warm_reads(port, request, samples),
                }
            )
            progress(f"  {rows[-1]}")
    return rows


def load(engine, tokens, host: str, plan: list[tuple[str, int]], pool) -> int:
    written = 0
    for thread, htmls in pool.imap(prepare, plan):
        written += write_thread(engine, tokens, host, thread, htmls)
    analyze(engine)
    return written


def table(rows: list[dict]) -> str:
    lines = [
        "| comments on the site | thread | read | comments in the page "
        "| first read after a write | against the first page | warm |",
        "|---|---|---|---|---|---|---|",
    ]
    first = {}
    for row in rows:
        key = (row["site"], row["thread"])
        first.setdefault(key, row["cold"])
        lines.append(
            f"| {row['site']:,} | {row['thread']:,} | {row['read']} | {row['comments']} "
            f"| {row['cold']:.2f} ms | {row['cold'] / first[key]:.2f} | {row['warm']:.2f} ms |"
        )
    return "\n".join(lines)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: an SQLite file)")
    parser.add_argument("--quick", action="store_true", help="a smaller site, fewer samples")
    parser.add_argument("--samples", type=int, help="reads per figure (default 30; 10 quick)")
    args = parser.parse_args()
    samples = args.samples or (10 if args.quick else 30)
    grown = site_plan("quick" if args.quick else "full", "big")

    from comments import config as configuration
    from comments import db
    from comments.tokens import Tokens

    workdir = Path(tempfile.mkdtemp(prefix="comments-permalinks-"))
    with our_databases(args.database) as urls:
        environ = servers.our_environment(workdir, urls["big"], servers.free_port())
        config = configuration.load(environ)
        engine, tokens = db.create_engine(config.database_url), Tokens(config.secret_key)
        db.migrate(engine)
        host = config.site_of_origin(servers.ORIGIN)
        pool = multiprocessing.Pool(initializer=open_worker_cache, initargs=(cache_path(),))
        with pool:
            singles = load(engine, tokens, host, [(single_uri(n), n) for n in SIZES], pool)
            progress(f"loaded {singles:,} comments in {len(SIZES)} threads")
            port = int(environ["COMMENTS_PORT"])
            log = workdir / "server.log"
            with servers.running(servers.our_command(), environ, port, "/healthz", log):
                rows = measure(port, singles, samples)
                more = load(engine, tokens, host, grown, pool)
                progress(f"the site grew by {more:,} comments in {len(grown):,} threads")
                rows += measure(port, singles + more, samples)
        engine.dispose()
    database = "PostgreSQL" if args.database else "SQLite"
    print(f"{database}, medians of {samples} reads each, one connection:\n")
    print(table(rows))


if __name__ == "__main__":
    main()
