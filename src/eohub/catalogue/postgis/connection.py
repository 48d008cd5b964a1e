"""Connection pool, retries and translation of driver errors into ``eohub.errors``.

Transient failures (server unreachable, connection dropped, serialization failure, deadlock)
are retried a couple of times with a short back-off; what remains becomes
:class:`~eohub.errors.CatalogueUnavailable` with a message that says what went wrong. A
statement the database refuses because of the query's values becomes
:class:`~eohub.errors.InvalidQuery`. Raw psycopg errors never leave this module.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from eohub.errors import CatalogueUnavailable, Conflict, HubError, InvalidGeometry, InvalidQuery

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[tuple[object, ...]]

ATTEMPTS = 3
BACKOFF_S = (0.2, 0.5)
# SQLSTATEs worth another try: the connection went away or the transaction lost a race.
_RETRY_STATES = {"40001", "40P01", "57P01", "57P02", "57P03"}
_SESSION_SETUP = (
    "SET TIME ZONE 'UTC'",
    "SET jit = off",  # JIT compilation costs more than it saves on index-driven searches
    "SET plan_cache_mode = force_custom_plan",  # plan each search for its own values
)


def _describe_target(dsn: str) -> str:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "the configured server"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or "5432"
    dbname = params.get("dbname") or params.get("user") or ""
    return f"{host}:{port}/{dbname}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _id_race(exc: psycopg.Error) -> bool:
    """A concurrent writer inserted a product Id this upsert was about to insert."""
    return isinstance(exc, pg_errors.UniqueViolation) and exc.diag.constraint_name in (
        "products_pkey",
        "product_attributes_pkey",
    )


class Database:
    """A lazily opened psycopg pool that runs functions with retries and error translation."""

    def __init__(self, dsn: str, *, pool_size: int, connect_timeout_s: float) -> None:
        try:
            conninfo_to_dict(dsn)
        except psycopg.Error as exc:
            raise CatalogueUnavailable(
                "catalogue database misconfigured: invalid PostgreSQL DSN",
                detail=f"invalid PostgreSQL DSN: {_first_line(exc)}",
            ) from None
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._dsn = dsn
        self._target = _describe_target(dsn)
        self._pool_size = pool_size
        self._timeout = float(connect_timeout_s)
        self._pool: ConnectionPool[Conn] | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- pool ---------------------------------------------------------------------------------
    def _connect_kwargs(self) -> dict[str, object]:
        # libpq takes whole seconds (and treats 1 as 2).
        return {"autocommit": True, "connect_timeout": max(1, math.ceil(self._timeout))}

    @staticmethod
    def _configure(conn: Conn) -> None:
        for statement in _SESSION_SETUP:
            conn.execute(statement)  # type: ignore[arg-type]

    def _unavailable(self, reason: str) -> CatalogueUnavailable:
        return CatalogueUnavailable(
            f"catalogue database unavailable: cannot reach PostgreSQL at {self._target}",
            detail=f"catalogue database unavailable at {self._target}: {reason}",
        )

    def _diagnose(self) -> str:
        """Why a connection cannot be made right now (a direct attempt, outside the pool)."""
        try:
            with psycopg.connect(self._dsn, **self._connect_kwargs()):  # type: ignore[arg-type]
                return f"no free connection within {self._timeout:g} s (pool exhausted or slow)"
        except psycopg.Error as exc:
            return _first_line(exc)

    def _open_pool(self) -> ConnectionPool[Conn]:
        with self._lock:
            if self._closed:
                raise CatalogueUnavailable("catalogue backend is closed")
            if self._pool is not None:
                return self._pool
            # A direct first connection gives a precise error when the server is unreachable.
            last = ""
            for attempt in range(ATTEMPTS):
                try:
                    with psycopg.connect(self._dsn, **self._connect_kwargs()):  # type: ignore[arg-type]
                        break
                except psycopg.Error as exc:
                    last = _first_line(exc)
                    if attempt + 1 < ATTEMPTS:
                        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            else:
                raise self._unavailable(last)
            pool: ConnectionPool[Conn] = ConnectionPool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                kwargs=self._connect_kwargs(),
                configure=self._configure,
                check=ConnectionPool.check_connection,  # drop connections the server closed
                open=False,
                timeout=self._timeout,
                name="eohub-catalogue",
            )
            try:
                pool.open(wait=True, timeout=self._timeout)
            except PoolTimeout:
                raise self._unavailable(self._diagnose()) from None
            self._pool = pool
            return pool

    def close(self) -> None:
        """Close every connection; later calls raise CatalogueUnavailable."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- running ------------------------------------------------------------------------------
    def run(self, fn: Callable[[Conn], T], *, retry: bool = True, query: bool = False) -> T:
        """Run ``fn`` on a pooled connection, retrying transient failures.

        ``query``: errors caused by the values of a search become InvalidQuery.
        """
        attempts = ATTEMPTS if retry else 1
        for attempt in range(attempts):
            pool = self._open_pool()
            try:
                with pool.connection(timeout=self._timeout) as conn:
                    return fn(conn)
            except PoolTimeout:
                raise self._unavailable(self._diagnose()) from None
            except psycopg.Error as exc:
                if attempt + 1 < attempts and self._transient(exc):
                    log.warning("catalogue database: retrying after %s", _first_line(exc))
                    time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                    continue
                raise self._translate(exc, query=query) from exc
            except UnicodeEncodeError:
                raise InvalidQuery("query text is not valid Unicode (lone surrogate)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _transient(exc: psycopg.Error) -> bool:
        if exc.sqlstate in _RETRY_STATES or _id_race(exc):
            return True
        if exc.sqlstate is not None and exc.sqlstate.startswith("08"):
            return True
        # Connection lost mid-query: OperationalError without a server SQLSTATE.
        return isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None

    def _translate(self, exc: psycopg.Error, *, query: bool) -> HubError:
        message = _first_line(exc)
        if isinstance(exc, pg_errors.QueryCanceled):
            return CatalogueUnavailable(
                "catalogue database timed out", detail=f"statement timed out: {message}"
            )
        if _id_race(exc):
            return Conflict(
                "the same product was being written concurrently; retry",
                detail=f"concurrent insert of one Id: {message}",
            )
        if isinstance(exc, pg_errors.UniqueViolation):
            which = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
            return Conflict(
                f"a product with this name already exists under another Id{which}",
                detail=f"unique constraint violated: {message}",
            )
        if self._transient(exc) or isinstance(exc, psycopg.OperationalError):
            return self._unavailable(message)
        if query and isinstance(exc, psycopg.DataError):
            return InvalidQuery(f"the catalogue database refused the query: {message}")
        if query and isinstance(exc, pg_errors.InternalError_) and "GEOS" in message:
            return InvalidGeometry(f"spatial predicate failed on this geometry: {message}")
        return HubError("catalogue database error", detail=f"{type(exc).__name__}: {message}")
