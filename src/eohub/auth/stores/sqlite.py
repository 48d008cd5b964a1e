"""The account store in an SQLite file of its own (the embedded default).

Accounts live beside the catalogue file rather than in it, so logins never queue behind the
catalogue's single writer during a large ingest.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eohub.auth.stores.sql import Connection, Dialect, SqlAccountStore
from eohub.errors import CatalogueUnavailable

DIALECT = Dialect(
    placeholder="?",
    serial="INTEGER PRIMARY KEY AUTOINCREMENT",
    migration_lock="BEGIN IMMEDIATE",
    unique_violation=sqlite3.IntegrityError,
)


class SQLiteAccountStore(SqlAccountStore):
    """Accounts in ``path`` (WAL mode; one connection per thread)."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        super().__init__(self._transaction, DIALECT)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self._busy_timeout_s, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise CatalogueUnavailable(
                    "The account database cannot be opened", detail=f"{self.path}: {exc}"
                ) from exc
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        conn = self._connection()
        try:
            with conn:
                yield conn
        except sqlite3.OperationalError as exc:
            raise CatalogueUnavailable(
                "The account database is unavailable", detail=f"{self.path}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close every thread's connection."""
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
