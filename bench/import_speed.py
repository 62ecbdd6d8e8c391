"""Speed and peak memory of `comments import disqus`, in two export shapes, on SQLite and (with
--postgresql URL, on 127.0.0.1 only) PostgreSQL.

    python bench/import_speed.py                      # 100,000 comments, SQLite
    python bench/import_speed.py 20000 --postgresql postgresql://postgres@127.0.0.1:5432/test

Shapes: "small" is many threads of 2 comments (50,000 x 2 at the default size), "big" a few
threads of 5,000. Bodies are Disqus-like HTML (paragraphs, <br>, links, some code). Each run
imports into a fresh database (a fresh schema on PostgreSQL) with the real command in a child
process, bounded by --timeout, and reads its peak resident memory from the kernel (wait4).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_memory import WORDS


def body(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
    parts = [f"<p>{words}<br>{rng.choice(WORDS)} &amp; more</p>"]
    if rng.random() < 0.3:
        parts.append(f'<p>see <a href="https://example.org/{rng.choice(WORDS)}">this</a></p>')
    if rng.random() < 0.1:
        parts.append("<pre><code>def f(x):\n    return x * 2\n</code></pre>")
    return "".join(parts)


def write_export(path: Path, comments: int, per_thread: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">\n'
        )
        for thread in range(comments // per_thread):
            out.write(
                f'<thread dsq:id="t{thread}"><link>https://old.example/{thread}/</link>'
                f"<title>Post {thread}</title><createdAt>2015-01-01T00:00:00Z</createdAt>"
                "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
            )
            for n in range(per_thread):
                parent = f'<parent dsq:id="{thread}-{n - 1}"/>' if n and n % 3 else ""
                out.write(
                    f'<post dsq:id="{thread}-{n}"><message><![CDATA[{body(rng)}]]></message>'
                    f"<createdAt>2015-01-02T{n % 24:02}:00:00Z</createdAt>"
                    "<isDeleted>false</isDeleted><isSpam>false</isSpam>"
                    f"<author><email>r{n % 50}@example.org</email><name>R{n % 50}</name></author>"
                    f'<ipAddress>192.0.2.{n % 250}</ipAddress><thread dsq:id="t{thread}"/>'
                    f"{parent}</post>\n"
                )
        out.write("</disqus>\n")


def database(kind: str, workdir: Path, postgresql: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    assert postgresql and urlsplit(postgresql).hostname == "127.0.0.1", "127.0.0.1 only"
    import sqlalchemy

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(postgresql.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    return f"{postgresql}?options=-csearch_path%3D{schema}"


def measure(
    export: Path, url: str, workdir: Path, timeout: float
) -> tuple[float, float, float, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")},
        "COMMENTS_DATA_DIR": str(workdir / "data"),
        "COMMENTS_DATABASE_URL": url,
        "COMMENTS_ORIGINS": "https://blog.example",
    }
    command = [sys.executable, "-m", "comments", "import", "disqus", str(export)]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, process.kill)  # bounded in time, whatever happens
    timer.start()
    _, status, usage = os.wait4(process.pid, 0)
    timer.cancel()
    seconds = time.monotonic() - started
    if status != 0:
        errors = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"import failed or stopped after {timeout:.0f} s: {errors}")
    output = process.stdout.read().decode() if process.stdout else ""
    # Linux: the largest of the process and its waited-for children (the render workers).
    peak = usage.ru_maxrss / 1024
    # CPU time, the import's and its render workers': steadier than the clock on a busy machine.
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, peak, cpu, next(line for line in output.splitlines() if "comments:" in line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("comments", nargs="?", type=int, default=100_000)
    parser.add_argument("--postgresql", help="a PostgreSQL URL on 127.0.0.1 (also measured)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per import")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.postgresql else [])
    with tempfile.TemporaryDirectory(prefix="import-speed-") as name:
        workdir = Path(name)
        for shape, per_thread in (("small", 2), ("big", 5000)):
            export = workdir / f"{shape}.xml"
            write_export(export, args.comments, min(per_thread, args.comments))
            for kind in kinds:
                url = database(kind, workdir, args.postgresql)
                seconds, peak, cpu, summary = measure(export, url, workdir, args.timeout)
                print(
                    f"{kind:10} {shape:5} {args.comments:>8,} comments: {seconds:6.1f} s, "
                    f"{args.comments / seconds:6,.0f} comments/s, {cpu:6.1f} s of CPU "
                    f"({args.comments / cpu:6,.0f} per CPU second), peak RSS (largest process) "
                    f"{peak:5.0f} MB; {summary.strip()}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
