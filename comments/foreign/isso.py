"""Isso: a SQLite file with `threads` (id, uri, title) and `comments` (tid, id, parent, created,
modified, mode, remote_addr, text, author, email, website, ...); times are Unix seconds and mode
is 1 (accepted), 2 (waiting for moderation) or 4 (deleted).

Read here with its own SELECTs: those are a foreign file format, like the XML paths of the other
readers, not our schema (whose SQL lives in comments/store/).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from comments.foreign.base import (
    ForeignComment,
    ForeignThread,
    Invalid,
    Markup,
    Record,
    Source,
    State,
)

_COLUMNS = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "modified", "mode", "remote_addr", "text"}
    | {"author", "email", "website"},
}
_STATES = {1: State.APPROVED, 2: State.PENDING, 4: State.DELETED}


class Isso(Source):
    name = "isso"

    def _read(self, label: str) -> Iterator[Record]:
        try:
            yield from self._rows(label)
        except sqlite3.DatabaseError as error:
            raise self._fail("the file", f"is not an Isso database ({error})") from None

    def _rows(self, label: str) -> Iterator[Record]:
        if not self.path.is_file():
            raise self._fail("the file", "does not exist")
        # Read-only: an import never changes the file it reads.
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        database = sqlite3.connect(uri, uri=True)
        try:
            for table, needed in _COLUMNS.items():
                found = {row[1] for row in database.execute(f"PRAGMA table_info({table})")}
                if needed - found:
                    missing = ", ".join(sorted(needed - found))
                    raise self._fail(
                        f"table {table}", f"is not Isso's (missing columns: {missing})"
                    )
            for thread_id, uri_, title in database.execute(
                "SELECT id, uri, title FROM threads ORDER BY id"
            ):
                yield ForeignThread(
                    key=str(thread_id),
                    url=str(uri_ or ""),
                    title=title or "",
                    where=f"thread {thread_id}",
                )
            (total,) = database.execute("SELECT count(*) FROM comments").fetchone()
            meter = self.meter(f"{label} {self.path.name}", total, " comments")
            try:
                for row in database.execute(
                    "SELECT id, tid, parent, created, modified, mode, remote_addr, text, author,"
                    " email, website FROM comments ORDER BY id"
                ):
                    meter.update(1)
                    yield self._comment(*row)
            finally:
                meter.close()
        finally:
            database.close()

    def _comment(
        self, id_, tid, parent, created, modified, mode, remote_addr, text, author, email, website
    ) -> ForeignComment | Invalid:
        where = f"comment {id_}"
        try:
            made = datetime.fromtimestamp(float(created), UTC)
            edited = datetime.fromtimestamp(float(modified), UTC) if modified else None
        except (TypeError, ValueError, OverflowError):
            return Invalid(where, "row", f"has no valid time: {created!r}")
        if mode not in _STATES:
            return Invalid(where, "row", f"has an unknown mode {mode!r} (1, 2 or 4)")
        return ForeignComment(
            key=f"isso:{id_}",
            thread=str(tid),
            parent=f"isso:{parent}" if parent else None,
            body=text or "",
            markup=Markup.MARKDOWN,
            created=made,
            edited=edited,
            state=_STATES[mode],
            author=author or None,
            email=email or None,
            website=website or None,
            ip=remote_addr or None,
            where=where,
        )
