"""HTML the sanitizer rendered in an earlier run, kept in bench/.cache to load the sites faster.

Rendering Markdown is nearly all the cost of loading 100,000 comments. The cache holds, per
thread, the HTML of its texts; its file is named after the sanitizer's source and the versions of
the libraries it calls, so a change to any of them starts a new cache and nothing stale is served.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from importlib import metadata
from pathlib import Path

from comments import sanitize

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
LIBRARIES = ("bleach", "markdown-it-py", "linkify-it-py")


def cache_path() -> Path:
    digest = hashlib.sha256(Path(sanitize.__file__).read_bytes())
    for library in LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}".encode())
    return CACHE_DIR / f"rendered-{digest.hexdigest()[:16]}.db"


def texts_key(texts: list[str]) -> bytes:
    return hashlib.sha256("\0".join(texts).encode()).digest()


class RenderedCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(exist_ok=True)
        self.connection = sqlite3.connect(path, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS rendered (texts BLOB PRIMARY KEY, htmls BLOB NOT NULL)"
        )

    def get(self, texts: list[str]) -> list[str] | None:
        row = self.connection.execute(
            "SELECT htmls FROM rendered WHERE texts = ?", (texts_key(texts),)
        ).fetchone()
        return json.loads(zlib.decompress(row[0])) if row else None

    def put(self, texts: list[str], htmls: list[str]) -> None:
        packed = zlib.compress(json.dumps(htmls).encode())
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO rendered VALUES (?, ?)", (texts_key(texts), packed)
            )
