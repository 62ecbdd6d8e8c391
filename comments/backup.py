"""Export and restore: the whole database as JSON Lines (docs/backup.md), streaming both ways.

`comments export` writes a header line, then every row of the tables in RECORDS, table by table in
that order and each by primary key, from one snapshot, then a manifest: the rows per table and a
SHA-256 of every line above it. `comments import backup` reads such a file back into an empty
database, ids and all, in one transaction, after a first pass has checked every line and the
manifest: a file cut short, or changed, is refused, naming the line where it stops.
Exporting the restored database gives the same file, byte for byte, whichever database each
side runs on: the way to move from SQLite to PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from comments import store
from comments.db import DatabaseError, Engine, reason, transaction
from comments.errors import CommandError
from comments.foreign import MeterFactory, quiet
from comments.tables import metadata

FORMAT = "comments-backup"
VERSION = 2  # 2: the manifest line
# Fields added since version 2 came out, with the value a backup without them means.
ADDED_LATER: dict[tuple[str, str], Any] = {
    ("thread", "title_moderated"): False,
    ("report", "category"): "other",
    ("thread", "verified_only"): False,
    ("comment", "reader_id"): None,
    ("comment", "badge"): None,
    ("comment", "votes"): 0,
    ("ban", "reader_id"): None,
    ("audit", "reader_id"): None,
}
READABLE = (1, 2)  # version 1 files (no manifest) still restore, unchecked for completeness
# Record type -> table, in the file's order: a row's foreign keys point to rows above it. Not
# exported: sign_in_failures (failed sign-ins, which count for 15 minutes only) and
# moderator_sessions (a restored server asks its moderators to sign in again), thread_changes
# (the last minutes' news for live streams: a stream on a restored thread starts over).
RECORDS = {
    "thread": "threads",
    "reader": "readers",
    "comment": "comments",
    "vote": "votes",
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
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    with transaction(engine) as conn:
        store.transfer.start_snapshot(conn)
        line = _line(
            {"format": FORMAT, "version": VERSION, "password_hashes": with_password_hashes}
        )
        digest.update(line)
        yield line
        for kind, table in RECORDS.items():
            for row in store.transfer.rows_of(conn, table):
                if kind == "moderator" and not with_password_hashes:
                    row["password_hash"] = None
                line = _line({"type": kind, **{name: _out(value) for name, value in row.items()}})
                digest.update(line)
                counts[table] = counts.get(table, 0) + 1
                yield line
    yield _line(_manifest(counts, digest.hexdigest()))


def _manifest(counts: dict[str, int], sha256: str) -> dict[str, Any]:
    return {"type": "manifest", "counts": counts, "sha256": sha256}


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

    Raises CommandError, before writing anything, when the database is not empty, a line of the
    file is not what the format says, or the manifest is missing or does not match; and, having
    written nothing, naming the line, when the database refuses a row.
    """
    path = Path(path)
    with transaction(engine) as conn:
        _refuse_unless_empty(conn)
    counts = {table: 0 for table in RECORDS.values()}
    for _number, kind, _row in _rows(path, meter, "checking"):
        counts[RECORDS[kind]] += 1
    late_parents = False
    with transaction(engine, write=True) as conn:
        _refuse_unless_empty(conn)
        batch: list[tuple[int, dict[str, Any]]] = []
        batch_table = ""
        for number, kind, row in _rows(path, meter, "restoring"):
            table = RECORDS[kind]
            if table != batch_table or len(batch) >= BATCH:
                _insert(conn, path, batch_table, batch)
                batch, batch_table = [], table
            if kind == "comment" and row["parent_id"] is not None and row["parent_id"] > row["id"]:
                # An imported reply may be older than its parent (ids follow the import's file):
                # the parent is not in yet, so the link waits for a last pass.
                row["parent_id"], late_parents = None, True
            batch.append((number, row))
        _insert(conn, path, batch_table, batch)
        if late_parents:
            pairs = []
            for _number, kind, row in _rows(path, quiet, "linking"):
                if kind == "comment" and (row["parent_id"] or 0) > row["id"]:
                    pairs.append((row["id"], row["parent_id"]))
                    if len(pairs) >= BATCH:
                        store.transfer.set_parents(conn, pairs)
                        pairs = []
            store.transfer.set_parents(conn, pairs)
        store.transfer.fix_sequences(conn)
        store.changes.announce_everything(conn)  # a running server's caches forget the empty one
    return {table: count for table, count in counts.items() if count}


def _insert(conn, path: Path, table: str, batch: list[tuple[int, dict[str, Any]]]) -> None:
    """Insert a batch; when the database refuses it (a duplicate id, a reference to a row not
    in the file, a status it does not know), find the line it refuses, one row at a time in a
    savepoint, and name it. The transaction then rolls back: nothing is restored."""
    try:
        with conn.begin_nested():
            store.transfer.insert_rows(conn, table, [row for _, row in batch])
        return
    except DatabaseError:
        pass
    for number, row in batch:
        try:
            with conn.begin_nested():
                store.transfer.insert_rows(conn, table, [row])
        except DatabaseError as error:
            raise CommandError(
                f"{path}: line {number}: the database refuses this {table} row: {reason(error)}"
            ) from None
    raise CommandError(f"{path}: the database refuses the {table} rows above line {batch[-1][0]}")


def _refuse_unless_empty(conn) -> None:
    found = store.transfer.row_counts(conn)
    if found:
        held = ", ".join(f"{count} {table}" for table, count in found.items())
        raise CommandError(
            f"the database is not empty ({held}): restore a backup into an empty database only"
        )


def _rows(path: Path, meter: MeterFactory, label: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The records of the file (line number, type, row), checked and typed, then the manifest
    checked; CommandError names the first bad line."""
    progress = meter(f"{label} {path.name}", path.stat().st_size, "B")
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    version, manifest = VERSION, None
    try:
        with open(path, "rb") as file:
            last_kind, last_id, number = "", None, 0
            for number, raw in enumerate(file, 1):
                progress.update(len(raw))
                try:
                    if manifest is not None:
                        raise ValueError("a line after the manifest, which ends the file")
                    record = orjson.loads(raw)
                    if number == 1:
                        version = _check_header(record)
                    elif isinstance(record, dict) and record.get("type") == "manifest":
                        manifest = record
                        _check_manifest(record, counts, digest.hexdigest(), raw)
                        continue
                    else:
                        kind, row = _record(record)
                        if ORDER[kind] < ORDER.get(last_kind, 0):
                            raise ValueError(f"a {kind} record after the {last_kind} records")
                        key = row.get("id")
                        if kind == last_kind and isinstance(key, int) and key <= (last_id or 0):
                            raise ValueError(f"{kind} {key} is out of order (ids go up)")
                except (orjson.JSONDecodeError, ValueError) as error:
                    raise CommandError(f"{path}: line {number}: {error}") from None
                digest.update(raw)
                if number == 1:
                    continue
                counts[RECORDS[kind]] = counts.get(RECORDS[kind], 0) + 1
                last_kind, last_id = kind, key
                yield number, kind, row
            if number == 0:
                raise CommandError(f"{path}: the file is empty")
            if manifest is None and version >= 2:
                raise CommandError(
                    f"{path}: line {number}: the file stops here, without its manifest: it is "
                    "incomplete (cut short?), nothing was restored"
                )
    finally:
        progress.close()


def _check_manifest(record: dict, counts: dict[str, int], sha256: str, raw: bytes) -> None:
    if not raw.endswith(b"\n"):
        raise ValueError("the manifest line is cut short")
    if record.get("counts") != counts:
        raise ValueError(
            f"the manifest counts {record.get('counts')!r} rows, the file holds {counts!r}:"
            " lines are missing or changed"
        )
    if record.get("sha256") != sha256:
        raise ValueError("the checksum of the lines above does not match the manifest's")


def _check_header(record: Any) -> int:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f'not a backup of comments (the first line has no "format": "{FORMAT}")')
    version = record.get("version")
    if version not in READABLE or isinstance(version, bool):
        raise ValueError(
            f"format version {version!r}: this server reads versions "
            + " and ".join(map(str, READABLE))
        )
    return version


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
        if column.name not in record and (kind, column.name) in ADDED_LATER:
            record = {**record, column.name: ADDED_LATER[kind, column.name]}
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
