"""Peak memory of `comments import disqus` at growing export sizes: it should stay flat.

    python bench/import_memory.py              # 20 MB and 200 MB
    python bench/import_memory.py 5 50 500     # sizes in MB

For each size it writes a Disqus export (seeded, streamed to a temporary file: threads of 20
comments, 1 KB of HTML each, a third of them replies, some listed before their parent), imports
it into a fresh SQLite database with the real command in a child process, and reads that
process's peak resident memory from the kernel (wait4). Prints one line per size.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

COMMENTS_PER_THREAD = 20
WORDS = [
    "comment",
    "thread",
    "reply",
    "markdown",
    "sqlite",
    "postgres",
    "import",
    "export",
    "blog",
    "reader",
    "author",
    "moderator",
    "queue",
    "stream",
    "memory",
    "parser",
    "element",
    "disqus",
    "wordpress",
    "isso",
    "feed",
    "atom",
    "sanitize",
]


def paragraph(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(20, 40))]
    words[rng.randrange(len(words))] = f"<b>{rng.choice(WORDS)}</b>"
    words[rng.randrange(len(words))] = f'<a href="https://example.org/{rng.choice(WORDS)}">link</a>'
    return "<p>" + " ".join(words) + " &amp; more.</p>"


def write_export(path: Path, megabytes: int, seed: int = 6) -> int:
    """A Disqus export of about `megabytes` MB; returns how many comments it holds."""
    rng = random.Random(seed)
    target = megabytes * 1024 * 1024
    posts = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">\n'
        )
        thread = 0
        while out.tell() < target:
            thread += 1
            out.write(
                f'<thread dsq:id="t{thread}"><link>https://old.example/{thread}/post/</link>'
                f"<title>Post {thread} &amp; more</title>"
                "<createdAt>2015-01-01T00:00:00Z</createdAt></thread>\n"
            )
            ids = [f"{thread}-{n}" for n in range(COMMENTS_PER_THREAD)]
            order = ids[:]
            # Some replies come before their parent, as in real exports.
            for n in range(0, len(order) - 1, 7):
                order[n], order[n + 1] = order[n + 1], order[n]
            for key in order:
                n = int(key.split("-")[1])
                parent = ""
                if n and rng.random() < 0.35:
                    parent = f'<parent dsq:id="{ids[rng.randrange(n)]}"/>'
                message = "".join(paragraph(rng) for _ in range(rng.randint(2, 4)))
                out.write(
                    f'<post dsq:id="{key}"><message><![CDATA[{message}]]></message>'
                    f"<createdAt>2015-01-0{1 + n % 9}T{n % 24:02}:00:00Z</createdAt>"
                    "<isDeleted>false</isDeleted><isSpam>false</isSpam>"
                    f"<author><email>r{n}@example.org</email><name>{escape(rng.choice(WORDS))}"
                    f"</name></author><ipAddress>192.0.2.{n}</ipAddress>"
                    f'<thread dsq:id="t{thread}"/>{parent}</post>\n'
                )
                posts += 1
        out.write("</disqus>\n")
    return posts


def measure(megabytes: int, workdir: Path) -> None:
    export = workdir / f"disqus-{megabytes}mb.xml"
    posts = write_export(export, megabytes)
    data = workdir / f"data-{megabytes}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")},
        "COMMENTS_DATA_DIR": str(data),
        "COMMENTS_ORIGINS": "https://blog.example",
    }
    command = [sys.executable, "-m", "comments", "import", "disqus", str(export)]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        errors = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"import failed: {errors}")
    imported = next(line for line in output.splitlines() if "comments:" in line).strip()
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    size = export.stat().st_size / 1024 / 1024
    print(
        f"{size:7.1f} MB export, {posts:>8,} comments: peak RSS {peak:6.1f} MB, "
        f"{seconds:6.1f} s ({posts / seconds:,.0f} comments/s); {imported}",
        flush=True,
    )
    export.unlink()


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [20, 200]
    with tempfile.TemporaryDirectory(prefix="import-memory-") as workdir:
        for megabytes in sizes:
            measure(megabytes, Path(workdir))


if __name__ == "__main__":
    main()
