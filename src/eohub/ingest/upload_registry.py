"""The registry of OData ``Ingests``: uploads waiting for, undergoing or done with ingestion.

One small SQLite file (``<data_dir>/uploads/ingests.sqlite``) keeps the records, so they
survive restarts and are shared by the server processes of one host. Ids are SQLite
``AUTOINCREMENT`` integers (DHuS's Int64 ``Id``): never reused, even after a deletion.
Every call opens its own short-lived connection, so the registry is safe to use from any
thread. Values are bound parameters, never SQL text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    status_date TEXT NOT NULL,
    status_message TEXT,
    filename TEXT,
    md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploader TEXT NOT NULL,
    target_collections TEXT NOT NULL DEFAULT '[]'
)
"""
_COLUMNS = (
    "id, status, status_date, status_message, filename, md5, size, uploader, target_collections"
)


class IngestStatus(StrEnum):
    """Where an upload stands."""

    PENDING = "PENDING"  # received, waiting for its file name (PUT)
    INGESTING = "INGESTING"
    INGESTED = "INGESTED"
    ERROR = "ERROR"


@dataclass(frozen=True)
class IngestRecord:
    """One uploaded body and what became of it."""

    id: int
    status: IngestStatus
    status_date: datetime
    status_message: str | None
    filename: str | None
    md5: str
    size: int
    uploader: str
    target_collections: tuple[str, ...] = ()


def _record(row: sqlite3.Row) -> IngestRecord:
    return IngestRecord(
        id=int(row["id"]),
        status=IngestStatus(row["status"]),
        status_date=datetime.fromisoformat(row["status_date"]),
        status_message=row["status_message"],
        filename=row["filename"],
        md5=row["md5"],
        size=int(row["size"]),
        uploader=row["uploader"],
        target_collections=tuple(json.loads(row["target_collections"])),
    )


class IngestRegistry:
    """Ingest records in an SQLite file."""

    def __init__(
        self, path: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (committed on success, else rolled back)."""
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            with conn:
                yield conn

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat()

    def add(self, uploader: str, md5: str, size: int) -> IngestRecord:
        """A new PENDING record."""
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO ingests (status, status_date, md5, size, uploader) "
                "VALUES (?, ?, ?, ?, ?)",
                (IngestStatus.PENDING.value, self._now(), md5, size, uploader),
            )
            row_id = cursor.lastrowid
        assert row_id is not None
        found = self.get(row_id)
        assert found is not None
        return found

    def get(self, ingest_id: int) -> IngestRecord | None:
        """One record, None when there is none with this id."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ingests WHERE id = ?", (ingest_id,)
            ).fetchone()
        return None if row is None else _record(row)

    def records(
        self, uploader: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[IngestRecord]:
        """Records by id, of one uploader or (``uploader`` None) of everyone."""
        where, params = ("WHERE uploader = ?", [uploader]) if uploader is not None else ("", [])
        sql = f"SELECT {_COLUMNS} FROM ingests {where} ORDER BY id LIMIT ? OFFSET ?"
        with self._connect() as conn:
            rows = conn.execute(sql, (*params, -1 if limit is None else limit, offset))
            return [_record(row) for row in rows.fetchall()]

    def claim(self, ingest_id: int, filename: str, collections: Sequence[str]) -> bool:
        """PENDING -> INGESTING with the file name; False when the record was not PENDING."""
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE ingests SET status = ?, status_date = ?, filename = ?, "
                "target_collections = ? WHERE id = ? AND status = ?",
                (
                    IngestStatus.INGESTING.value,
                    self._now(),
                    filename,
                    json.dumps(list(collections)),
                    ingest_id,
                    IngestStatus.PENDING.value,
                ),
            )
            return cursor.rowcount == 1

    def finish(self, ingest_id: int, status: IngestStatus, message: str | None) -> None:
        """Record the end of an ingestion (INGESTED or ERROR) with its message."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE ingests SET status = ?, status_date = ?, status_message = ? WHERE id = ?",
                (status.value, self._now(), message, ingest_id),
            )

    def remove(self, ingest_id: int) -> bool:
        """Delete a record unless it is being ingested; False when it was not deleted."""
        with self._connect() as conn:
            cursor = conn.execute(
                "DELETE FROM ingests WHERE id = ? AND status <> ?",
                (ingest_id, IngestStatus.INGESTING.value),
            )
            return cursor.rowcount == 1

    def stale(self, before: datetime) -> list[IngestRecord]:
        """INGESTING records whose status is older than ``before`` (an interrupted server)."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM ingests WHERE status = ? AND status_date < ?",
                (IngestStatus.INGESTING.value, before.astimezone(UTC).isoformat()),
            ).fetchall()
        return [_record(row) for row in rows]
