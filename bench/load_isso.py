"""Isso's databases: the same generated sites, in the schema Isso's own DB layer creates.

Run with the Python of Isso's virtualenv:
    python load_isso.py --config isso.cfg --profile full --db small=PATH --db big=PATH

Threads are created with Isso's `Threads.new`. Comments are not added with `Comments.add`: after
each insert it reads back MAX(id) over a join of every comment in the database, so adding 100,000
comments one by one is quadratic. The rows `add` would write are inserted instead, with Isso's own
helpers for the voters filter and the anonymized address, in one transaction per database. Like
`add`, a reply's parent is its top-level ancestor: Isso keeps two levels.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time

from data import PROFILES, GenThread, make_thread, single_plan, site_plan

ACCEPTED = 1  # Isso's mode of a published comment

INSERT = (
    "INSERT INTO comments (tid, parent, created, mode, remote_addr, text, author, email, website,"
    " voters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def write_thread(database, connection: sqlite3.Connection, thread: GenThread) -> int:
    from isso.utils import Bloomfilter, anonymize

    database.threads.new(thread.uri, thread.title)
    (thread_id,) = connection.execute(
        "SELECT id FROM threads WHERE uri = ?", (thread.uri,)
    ).fetchone()
    first_id = connection.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM comments").fetchone()[0]
    tops: list[int] = []  # the top-level ancestor of each entry, by index
    rows = []
    for index, entry in enumerate(thread.entries):
        tops.append(index if entry.parent is None else tops[entry.parent])
        address = anonymize(f"192.0.2.{index % 250 + 1}")
        author = entry.author
        rows.append(
            (
                thread_id,
                None if entry.parent is None else first_id + tops[entry.parent],
                entry.created,
                ACCEPTED,
                address,
                entry.text,
                author.name,
                author.email,
                author.website,
                memoryview(Bloomfilter(iterable=[address]).array),
            )
        )
    connection.executemany(INSERT, rows)
    return len(rows)


def load_database(config_path: str, path: str, plans: list[tuple[str, int]]) -> int:
    from isso import config
    from isso.db import SQLite3

    database = SQLite3(path, config.load(config.default_file(), config_path))  # the schema
    connection = sqlite3.connect(path)
    # Isso's DB layer opens a connection per statement; send its statements through ours, so the
    # whole load is one transaction.
    database.execute = lambda sql, args=(): connection.execute(
        " ".join(sql) if isinstance(sql, list | tuple) else sql, args
    )
    total = sum(write_thread(database, connection, make_thread(*plan)) for plan in plans)
    connection.commit()
    connection.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", action="append", required=True, metavar="SITE=PATH")
    parser.add_argument("--profile", choices=PROFILES, default="full")
    args = parser.parse_args()
    began = time.perf_counter()
    counts = {}
    for item in args.db:
        site, path = item.split("=", 1)
        plans = site_plan(args.profile, site) + single_plan(args.profile)
        counts[site] = load_database(args.config, path, plans)
    print(json.dumps({"comments": counts, "seconds": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
