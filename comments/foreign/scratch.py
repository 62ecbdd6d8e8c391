"""The first pass's notes, in a temporary SQLite file: every thread, every comment key seen.

Kept on disk so an import's memory stays flat however many threads and comments a file holds.
This is a file of the reader's own, deleted when the import ends, never our database (whose SQL
lives in comments/store/): like Isso's database, read in comments/foreign/isso.py.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE threads (key TEXT PRIMARY KEY, record BLOB NOT NULL)",
    "CREATE TABLE keys (key TEXT PRIMARY KEY, place TEXT NOT NULL)",
)
_LOOKUP = 500  # keys per SELECT ... IN: under SQLite's limit of bound parameters


class Scratch:
    """`with Scratch() as scratch:` a fresh file, removed at the end."""

    def __enter__(self) -> Scratch:
        self._directory = tempfile.TemporaryDirectory(prefix="comments-import-")
        self._db = sqlite3.connect(Path(self._directory.name) / "scratch.db")
        self._db.execute("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover
        self._db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._db.execute(statement)
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()
        self._directory.cleanup()

    def add_thread(self, thread: Any) -> str | None:
        """Note a thread; returns where the first of that key was if it is a duplicate."""
        return self._add("threads", thread.key, pickle.dumps(thread), thread.where)

    def add_key(self, key: str, where: str) -> str | None:
        """Note a comment's key; returns where the first was if it is a duplicate."""
        return self._add("keys", key, where, where)

    def _add(self, table: str, key: str, value: object, where: str) -> str | None:
        inserted = self._db.execute(
            f"INSERT OR IGNORE INTO {table} VALUES (?, ?)", (key, value)
        ).rowcount
        if inserted:
            return None
        if table == "keys":
            return self._db.execute("SELECT place FROM keys WHERE key = ?", (key,)).fetchone()[0]
        (record,) = self._db.execute("SELECT record FROM threads WHERE key = ?", (key,)).fetchone()
        return pickle.loads(record).where or f"thread {key}"

    def commit(self) -> None:
        self._db.commit()

    def threads(self, keys: Iterable[str]) -> dict[str, Any]:
        """The threads noted under these keys (those not noted are missing)."""
        wanted = sorted(set(keys))
        found = {}
        for start in range(0, len(wanted), _LOOKUP):
            chunk = wanted[start : start + _LOOKUP]
            marks = ", ".join("?" * len(chunk))
            for key, record in self._db.execute(
                f"SELECT key, record FROM threads WHERE key IN ({marks})", chunk
            ):
                found[key] = pickle.loads(record)
        return found
