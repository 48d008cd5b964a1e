"""The account store in PostgreSQL, in the catalogue's database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from eohub.auth.stores.sql import Connection, Dialect, SqlAccountStore
from eohub.errors import CatalogueUnavailable

DIALECT = Dialect(
    placeholder="%s",
    serial="BIGSERIAL PRIMARY KEY",
    migration_lock="SELECT pg_advisory_xact_lock(7201004)",
    unique_violation=psycopg.errors.UniqueViolation,
    user_lock="SELECT pg_advisory_xact_lock(7201005, hashtext(?))",
)


class PostgresAccountStore(SqlAccountStore):
    """Accounts in the PostgreSQL database at ``dsn`` (a small pool of its own)."""

    def __init__(self, dsn: str, *, pool_size: int = 4, connect_timeout_s: float = 10.0) -> None:
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout_s,
            kwargs={"connect_timeout": max(1, int(connect_timeout_s))},
            open=False,
        )
        self._opened = False
        self._open_lock = threading.Lock()
        super().__init__(self._transaction, DIALECT)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            if not self._opened:
                with self._open_lock:
                    if not self._opened:
                        self._pool.open(wait=True, timeout=self._pool.timeout)
                        self._opened = True
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise CatalogueUnavailable(
                "The account database is unavailable", detail=str(exc)
            ) from exc

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()
