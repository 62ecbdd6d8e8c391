"""Export and restore: the whole database as JSON Lines (docs/backup.md), streaming both ways.

`comments export` writes a header line, then every row of the tables in RECORDS, table by table in
that order and each by primary key, from one snapshot. `comments import backup` reads such a file
back into an empty database, ids and all, in one transaction, after a first pass has checked every
line. Exporting the restored database gives the same file, byte for byte, whichever database each
side runs on: the way to move from SQLite to PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from comments import store
from comments.db import Engine, transaction
from comments.errors import CommandError
from comments.foreign import MeterFactory, quiet
from comments.tables import metadata

FORMAT = "comments-backup"
VERSION = 1
# Record type -> table, in the file's order: a row's foreign keys point to rows above it. Not
# exported: sign_in_failures (failed sign-ins, which count for 15 minutes only).
RECORDS = {
    "thread": "threads",
    "comment": "comments",
    "report": "reports",
    "reply_notice": "reply_notices",
    "moderator": "moderators",
    "ban": "bans",
    "audit": "audit_log",
    "confirmed_email": "confirmed_emails",
    "confirmation_request": "confirmation_requests",
    "used_link": "used_links",
    "outbox": "outbox",
}
ORDER = {kind: position for position, kind in enumerate(RECORDS)}
BATCH = 1000


def fields_of(kind: str) -> list[str]:
    """A record's fields after "type": its table's columns, in order (docs/backup.md)."""
    return [column.name for column in metadata.tables[RECORDS[kind]].columns]


# Export


def export_lines(engine: Engine, with_password_hashes: bool = False) -> Iterator[bytes]:
    """The backup, a line at a time; moderators' password hashes only when asked for."""
    with transaction(engine) as conn:
        store.transfer.start_snapshot(conn)
        yield _line({"format": FORMAT, "version": VERSION, "password_hashes": with_password_hashes})
        for kind, table in RECORDS.items():
            for row in store.transfer.rows_of(conn, table):
                if kind == "moderator" and not with_password_hashes:
                    row["password_hash"] = None
                yield _line({"type": kind, **{name: _out(value) for name, value in row.items()}})


def _line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def _out(value: Any) -> Any:
    # One spelling of time, whatever the database gave: UTC, microseconds, "Z".
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return value


# Restore


def restore(engine: Engine, path: str | Path, meter: MeterFactory = quiet) -> dict[str, int]:
    """Load a backup into an empty database; returns the rows restored per table.

    Raises CommandError, before writing anything, when the database is not empty or a line of
    the file is not what the format says.
    """
    path = Path(path)
    with transaction(engine) as conn:
        _refuse_unless_empty(conn)
    counts = {table: 0 for table in RECORDS.values()}
    for kind, _row in _rows(path, meter, "checking"):
        counts[RECORDS[kind]] += 1
    late_parents = False
    with transaction(engine, write=True) as conn:
        _refuse_unless_empty(conn)
        batch: list[dict[str, Any]] = []
        batch_table = ""
        for kind, row in _rows(path, meter, "restoring"):
            table = RECORDS[kind]
            if table != batch_table or len(batch) >= BATCH:
                store.transfer.insert_rows(conn, batch_table, batch)
                batch, batch_table = [], table
            if kind == "comment" and row["parent_id"] is not None and row["parent_id"] > row["id"]:
                # An imported reply may be older than its parent (ids follow the import's file):
                # the parent is not in yet, so the link waits for a last pass.
                row["parent_id"], late_parents = None, True
            batch.append(row)
        store.transfer.insert_rows(conn, batch_table, batch)
        if late_parents:
            pairs = []
            for kind, row in _rows(path, quiet, "linking"):
                if kind == "comment" and (row["parent_id"] or 0) > row["id"]:
                    pairs.append((row["id"], row["parent_id"]))
                    if len(pairs) >= BATCH:
                        store.transfer.set_parents(conn, pairs)
                        pairs = []
            store.transfer.set_parents(conn, pairs)
        store.transfer.fix_sequences(conn)
    return {table: count for table, count in counts.items() if count}


def _refuse_unless_empty(conn) -> None:
    found = store.transfer.row_counts(conn)
    if found:
        held = ", ".join(f"{count} {table}" for table, count in found.items())
        raise CommandError(
            f"the database is not empty ({held}): restore a backup into an empty database only"
        )


def _rows(path: Path, meter: MeterFactory, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records of the file, checked and typed; CommandError names the first bad line."""
    progress = meter(f"{label} {path.name}", path.stat().st_size, "B")
    try:
        with open(path, "rb") as file:
            last_kind, last_id, number = "", None, 0
            for number, raw in enumerate(file, 1):
                progress.update(len(raw))
                try:
                    record = orjson.loads(raw)
                    if number == 1:
                        _check_header(record)
                        continue
                    kind, row = _record(record)
                    if ORDER[kind] < ORDER.get(last_kind, 0):
                        raise ValueError(f"a {kind} record after the {last_kind} records")
                    key = row.get("id")
                    if kind == last_kind and isinstance(key, int) and key <= (last_id or 0):
                        raise ValueError(f"{kind} {key} is out of order (ids go up)")
                except (orjson.JSONDecodeError, ValueError) as error:
                    raise CommandError(f"{path}: line {number}: {error}") from None
                last_kind, last_id = kind, key
                yield kind, row
            if number == 0:
                raise CommandError(f"{path}: the file is empty")
    finally:
        progress.close()


def _check_header(record: Any) -> None:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f'not a backup of comments (the first line has no "format": "{FORMAT}")')
    if record.get("version") != VERSION:
        raise ValueError(
            f"format version {record.get('version')!r}: this server reads version {VERSION}"
        )


def _record(record: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(record, dict) or record.get("type") not in RECORDS:
        kind = record.get("type") if isinstance(record, dict) else None
        raise ValueError(f"not a record of a known type: {kind!r}")
    kind = record["type"]
    table = metadata.tables[RECORDS[kind]]
    extra = set(record) - {"type"} - set(table.columns.keys())
    if extra:
        raise ValueError(f"{kind} has unknown fields: {', '.join(sorted(extra))}")
    row = {}
    for column in table.columns:
        if column.name not in record:
            raise ValueError(f"{kind} has no field {column.name!r}")
        row[column.name] = _value(kind, column, record[column.name])
    return kind, row


def _value(kind: str, column, value: Any) -> Any:
    where = f"{kind} field {column.name!r}"
    if value is None:
        if not column.nullable:
            raise ValueError(f"{where} must not be null")
        return None
    expected = getattr(column.type, "impl", column.type).python_type  # UTCDateTime: datetime
    if expected is datetime:
        if not isinstance(value, str):
            raise ValueError(f"{where} is not a time")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"{where} has no time zone")
        return moment.astimezone(UTC)
    if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{where} is not a whole number")
    if expected is bool and not isinstance(value, bool):
        raise ValueError(f"{where} is not true or false")
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} is not text")
        length = getattr(column.type, "length", None)
        if length is not None and len(value) > length:
            raise ValueError(f"{where} is longer than {length} characters")
    return value
