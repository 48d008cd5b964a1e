"""The rolling archive's state in the account database: eviction policies, the products kept
online until a date (retrieved on demand), and the queue of retrievals.

Like :mod:`eohub.sync.store`, the tables have their own schema version table
(``archive_schema``), migrate independently of the account store, share its transactions and
:class:`~eohub.auth.stores.sql.Dialect`, and run the same plain SQL on the SQLite account file
and on PostgreSQL. Times are epoch seconds. The last download of a product (for LRU eviction)
is read from ``account_downloads``, which every download already writes: an index on its
product Id is added here so that read stays cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eohub.auth.stores.sql import Connection, Dialect, apply_migrations
from eohub.errors import Conflict, NotFound
from eohub.sync.policy import EvictionPolicy, policy_from_json, policy_json

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE eviction_policies (
            name TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            last_run DOUBLE PRECISION
        )""",
        """CREATE TABLE product_keep (
            product_id TEXT PRIMARY KEY,
            keep_until DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE retrievals (
            id {serial},
            product_id TEXT NOT NULL,
            username_key TEXT NOT NULL,
            username TEXT NOT NULL,
            status TEXT NOT NULL,
            requested DOUBLE PRECISION NOT NULL,
            finished DOUBLE PRECISION,
            attempts INTEGER NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX retrievals_user ON retrievals (username_key, status)",
        "CREATE INDEX retrievals_product ON retrievals (product_id, status)",
        "CREATE INDEX account_downloads_product ON account_downloads (product_id, started)",
    ),
)

PENDING, DONE, FAILED = "pending", "done", "failed"


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True)
class Retrieval:
    """One user's request for an offline product."""

    id: int
    product_id: uuid.UUID
    username: str
    status: str  # pending | done | failed
    requested: datetime
    finished: datetime | None = None
    attempts: int = 0
    error: str | None = None


_RETRIEVAL = "id, product_id, username, status, requested, finished, attempts, error"


def _retrieval(row: Sequence[Any]) -> Retrieval:
    rid, pid, username, status, requested, finished, attempts, error = row
    when = _time(requested)
    assert when is not None
    return Retrieval(int(rid), uuid.UUID(str(pid)), str(username), str(status), when,
                     _time(finished), int(attempts), error)  # fmt: skip


class SqlArchiveStore:
    """Policies, keep dates and retrievals over the account store's ``connect`` (one
    transaction per call) and ``dialect``."""

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Connection]], dialect: Dialect
    ) -> None:
        self._connect = connect
        self._dialect = dialect

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as conn:
            rows: list[Any] = conn.execute(self._dialect.sql(statement), params).fetchall()
            return rows

    def _count(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self._connect() as conn:
            return int(conn.execute(self._dialect.sql(statement), params).rowcount)

    def migrate(self) -> None:
        """Apply the migrations not yet applied, under the account store's migration lock."""
        with self._connect() as conn:
            apply_migrations(conn, self._dialect, "archive_schema", MIGRATIONS)

    # -- policies -------------------------------------------------------------------------------
    def add_policy(self, policy: EvictionPolicy, created: datetime) -> None:
        """Store a policy; Conflict when its name is taken."""
        try:
            self._count(
                "INSERT INTO eviction_policies (name, definition, created) VALUES (?, ?, ?)",
                (policy.name, policy_json(policy), _epoch(created)),
            )
        except self._dialect.unique_violation:
            raise Conflict(f"an eviction policy named '{policy.name}' already exists") from None

    def policies(self) -> list[tuple[EvictionPolicy, datetime | None]]:
        """Every policy with its last run, by name."""
        rows = self._rows("SELECT definition, last_run FROM eviction_policies ORDER BY name")
        return [(policy_from_json(str(r[0])), _time(r[1])) for r in rows]

    def policy_runs(self) -> list[tuple[EvictionPolicy, datetime, datetime | None]]:
        """Every policy with its creation and last run, by name (its schedule counts from
        them)."""
        rows = self._rows(
            "SELECT definition, created, last_run FROM eviction_policies ORDER BY name"
        )
        return [(policy_from_json(str(r[0])), datetime.fromtimestamp(float(r[1]), UTC),
                 _time(r[2])) for r in rows]  # fmt: skip

    def remove_policy(self, name: str) -> None:
        """Forget a policy; NotFound when there is none of that name."""
        if not self._count("DELETE FROM eviction_policies WHERE name = ?", (name,)):
            raise NotFound(f"eviction policy '{name}' not found")

    def policy_ran(self, name: str, at: datetime) -> None:
        """Note the time of a policy's last run (its schedule counts from it)."""
        self._count("UPDATE eviction_policies SET last_run = ? WHERE name = ?", (_epoch(at), name))

    # -- keep dates and last downloads ------------------------------------------------------------
    def keep_until(self, product_id: uuid.UUID, until: datetime) -> None:
        """Keep a product online at least until ``until`` (a later date stands)."""
        self._count(
            "INSERT INTO product_keep (product_id, keep_until) VALUES (?, ?) "
            "ON CONFLICT (product_id) DO UPDATE SET keep_until = CASE "
            "WHEN excluded.keep_until > product_keep.keep_until THEN excluded.keep_until "
            "ELSE product_keep.keep_until END",
            (str(product_id), _epoch(until)),
        )

    def kept(self, now: datetime) -> dict[uuid.UUID, datetime]:
        """Products kept online after ``now``, with their date (older rows are dropped)."""
        self._count("DELETE FROM product_keep WHERE keep_until <= ?", (_epoch(now),))
        rows = self._rows("SELECT product_id, keep_until FROM product_keep")
        return {uuid.UUID(str(r[0])): datetime.fromtimestamp(float(r[1]), UTC) for r in rows}

    def last_downloads(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, datetime]:
        """The last download start of each product that was ever downloaded."""
        ids = [str(p) for p in product_ids]
        found: dict[uuid.UUID, datetime] = {}
        for at in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[at : at + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._rows(
                f"SELECT product_id, MAX(started) FROM account_downloads "
                f"WHERE product_id IN ({marks}) GROUP BY product_id",
                chunk,
            )
            for pid, started in rows:
                found[uuid.UUID(str(pid))] = datetime.fromtimestamp(float(started), UTC)
        return found

    # -- retrievals -----------------------------------------------------------------------------
    def queue(
        self, product_id: uuid.UUID, username: str, at: datetime, limit: int
    ) -> tuple[str, int]:
        """Queue ``username``'s retrieval of a product in one transaction: ``("joined", n)``
        when the user already waits for it, ``("refused", n)`` when the user has ``limit``
        pending retrievals, else ``("added", n)``; ``n`` is the user's pending count before."""
        key, pid = username.casefold(), str(product_id)
        q = self._dialect.sql
        with self._connect() as conn:
            pending = int(conn.execute(
                q("SELECT COUNT(*) FROM retrievals WHERE username_key = ? AND status = ?"),
                (key, PENDING),
            ).fetchone()[0])  # fmt: skip
            same = conn.execute(
                q("SELECT COUNT(*) FROM retrievals WHERE username_key = ? AND status = ? "
                  "AND product_id = ?"), (key, PENDING, pid),
            ).fetchone()  # fmt: skip
            if int(same[0]):
                return "joined", pending
            if pending >= limit:
                return "refused", pending
            conn.execute(
                q("INSERT INTO retrievals (product_id, username_key, username, status, "
                  "requested, attempts) VALUES (?, ?, ?, ?, ?, 0)"),
                (pid, key, username, PENDING, _epoch(at)),
            )  # fmt: skip
            return "added", pending

    def pending_products(self, limit: int) -> list[uuid.UUID]:
        """Products with pending retrievals, oldest request first."""
        rows = self._rows(
            "SELECT product_id, MIN(requested) AS first FROM retrievals WHERE status = ? "
            "GROUP BY product_id ORDER BY first, product_id",
            (PENDING,),
        )
        return [uuid.UUID(str(r[0])) for r in rows[:limit]]

    def of_product(self, product_id: uuid.UUID, status: str = PENDING) -> list[Retrieval]:
        """The retrievals of a product in one status."""
        rows = self._rows(
            f"SELECT {_RETRIEVAL} FROM retrievals WHERE product_id = ? AND status = ? ORDER BY id",
            (str(product_id), status),
        )
        return [_retrieval(r) for r in rows]

    def latest(self, product_id: uuid.UUID, username: str) -> Retrieval | None:
        """A user's latest retrieval of a product."""
        rows = self._rows(
            f"SELECT {_RETRIEVAL} FROM retrievals WHERE product_id = ? AND username_key = ? "
            "ORDER BY id DESC",
            (str(product_id), username.casefold()),
        )
        return _retrieval(rows[0]) if rows else None

    def finish(
        self, product_id: uuid.UUID, status: str, at: datetime, error: str | None = None
    ) -> None:
        """Close the product's pending retrievals as done or failed."""
        self._count(
            "UPDATE retrievals SET status = ?, finished = ?, error = ?, attempts = attempts + 1 "
            "WHERE product_id = ? AND status = ?",
            (status, _epoch(at), error, str(product_id), PENDING),
        )

    def tried(self, product_id: uuid.UUID, error: str) -> int:
        """Count a failed try of the product's pending retrievals; the most tries of them."""
        self._count(
            "UPDATE retrievals SET attempts = attempts + 1, error = ? "
            "WHERE product_id = ? AND status = ?",
            (error, str(product_id), PENDING),
        )
        rows = self._rows(
            "SELECT MAX(attempts) FROM retrievals WHERE product_id = ? AND status = ?",
            (str(product_id), PENDING),
        )
        return int(rows[0][0] or 0)
