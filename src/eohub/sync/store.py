"""Synchronisers and their progress in the account database (table ``synchronisers``).

The table has its own schema version table (``sync_schema``), so it migrates independently of
the account store while sharing its transactions and :class:`~eohub.auth.stores.sql.Dialect`:
the same plain SQL runs on the SQLite account file and on PostgreSQL. The definition is kept as
JSON (new options need no migration); the progress has columns of its own, written in one
statement after each page. Times are epoch seconds, as in the account tables.

The remote password or token is stored as given (like DHuS's ``ServicePassword``): the account
database must be protected like the hub's own secrets.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from eohub.auth.stores.sql import Connection, Dialect, apply_migrations
from eohub.errors import Conflict, NotFound
from eohub.sync.model import (
    Cursor,
    DeletedCursor,
    FailedProduct,
    FailureState,
    FilterLanguage,
    SourceLogin,
    SourceProtocol,
    SourceState,
    SyncCounters,
    SyncDefinition,
    Synchroniser,
    SyncMode,
    SyncStatus,
    ValueServing,
    VerifyMode,
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE synchronisers (
            id {serial},
            label TEXT NOT NULL,
            definition TEXT NOT NULL,
            status TEXT NOT NULL,
            cursor_ms BIGINT,
            cursor_bucket BOOLEAN NOT NULL,
            cursor_after TEXT,
            deleted_ms BIGINT,
            deleted_skip BIGINT NOT NULL,
            products BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            deleted BIGINT NOT NULL,
            failures BIGINT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            last_run DOUBLE PRECISION,
            last_success DOUBLE PRECISION,
            last_error TEXT,
            last_remote DOUBLE PRECISION
        )""",
        "CREATE UNIQUE INDEX synchronisers_label ON synchronisers (label)",
    ),
    (
        # Per-source cursors and records (JSON: new fields need no migration), the source of
        # the last run, the schedule, the last run's rate, and the run lease that keeps two
        # server processes from running one synchroniser at once.
        "ALTER TABLE synchronisers ADD COLUMN sources TEXT",
        "ALTER TABLE synchronisers ADD COLUMN source TEXT",
        "ALTER TABLE synchronisers ADD COLUMN next_run DOUBLE PRECISION",
        "ALTER TABLE synchronisers ADD COLUMN last_rate DOUBLE PRECISION",
        "ALTER TABLE synchronisers ADD COLUMN lease_holder TEXT",
        "ALTER TABLE synchronisers ADD COLUMN lease_until DOUBLE PRECISION",
    ),
    (
        # Products whose transfer or verification failed: the skip list and its retries.
        """CREATE TABLE sync_failed_products (
            sync_id BIGINT NOT NULL,
            product_id TEXT NOT NULL,
            name TEXT NOT NULL,
            failures INTEGER NOT NULL,
            state TEXT NOT NULL,
            last_error TEXT,
            first_failed DOUBLE PRECISION NOT NULL,
            last_failed DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (sync_id, product_id)
        )""",
        "CREATE INDEX sync_failed_products_state ON sync_failed_products (sync_id, state)",
    ),
)

_COLUMNS = (
    "id, definition, status, cursor_ms, cursor_bucket, cursor_after, deleted_ms, deleted_skip, "
    "products, bytes, deleted, failures, created, last_run, last_success, last_error, "
    "last_remote, sources, source, next_run, last_rate, "
    "(SELECT COUNT(*) FROM sync_failed_products f WHERE f.sync_id = synchronisers.id "
    f"AND f.state = '{FailureState.SKIPPED.value}')"
)
_FAILED = "product_id, name, failures, state, last_error, first_failed, last_failed"


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def definition_json(definition: SyncDefinition) -> str:
    """The definition as stored."""
    return json.dumps(asdict(definition), sort_keys=True)


def _cursor_json(c: Cursor) -> dict[str, Any]:
    return {"ms": c.time_ms, "bucket": c.bucket, "after": c.after_id, "us": c.time_us}


def _deleted_json(d: DeletedCursor) -> dict[str, Any]:
    return {"ms": d.time_ms, "skip": d.skip, "us": d.time_us, "after": d.after_id}


def sources_json(states: Sequence[SourceState]) -> str:
    """Per-source cursors and records, as stored."""
    return json.dumps(
        [
            {"url": s.url, "cursor": _cursor_json(s.cursor),
             "deleted": _deleted_json(s.deleted_cursor), "successes": s.successes,
             "failures": s.failures, "rate": s.rate, "last_error": s.last_error,
             "newest": _epoch(s.newest), "tier": s.tier, "window": s.window}
            for s in states
        ]
    )  # fmt: skip


def sources_from_json(text: str | None) -> tuple[SourceState, ...]:
    """Stored per-source states (none before the first run)."""
    found: list[SourceState] = []
    for item in json.loads(text) if text else []:
        c, d = item.get("cursor") or {}, item.get("deleted") or {}
        found.append(
            SourceState(
                url=str(item["url"]),
                cursor=Cursor(c.get("ms"), bool(c.get("bucket")), c.get("after"), c.get("us")),
                deleted_cursor=DeletedCursor(
                    d.get("ms"), int(d.get("skip") or 0), d.get("us"), d.get("after")
                ),
                successes=int(item.get("successes") or 0),
                failures=int(item.get("failures") or 0),
                rate=float(item.get("rate") or 0.0),
                last_error=item.get("last_error"),
                newest=_time(item.get("newest")),
                tier=item.get("tier") if isinstance(item.get("tier"), int) else None,
                window=item.get("window") if isinstance(item.get("window"), str) else None,
            )
        )
    return tuple(found)


def definition_from_json(text: str) -> SyncDefinition:
    """A stored definition (unknown keys of a newer version are ignored)."""
    data: dict[str, Any] = json.loads(text)
    known = SyncDefinition.__dataclass_fields__
    values = {k: v for k, v in data.items() if k in known}
    values["mode"] = SyncMode(values.get("mode", SyncMode.METADATA))
    values["filter_language"] = FilterLanguage(values.get("filter_language", "odata"))
    if values.get("protocol"):
        values["protocol"] = SourceProtocol(values["protocol"])
    values["sources"] = tuple(values.get("sources") or ())
    values["value"] = ValueServing(values.get("value") or ValueServing.NONE)
    values["verify"] = VerifyMode(values.get("verify") or VerifyMode.ALL)
    values["source_logins"] = tuple(
        SourceLogin(**{k: v for k, v in login.items() if k in SourceLogin.__dataclass_fields__})
        for login in values.get("source_logins") or ()
    )
    return SyncDefinition(**values)


def _row(row: Sequence[Any]) -> Synchroniser:
    (sid, definition, status, c_ms, c_bucket, c_after, d_ms, d_skip, products, nbytes, deleted,
     failures, created, last_run, last_success, last_error, last_remote, sources, source,
     next_run, last_rate, skipped) = row  # fmt: skip
    return Synchroniser(
        id=int(sid),
        definition=definition_from_json(str(definition)),
        status=SyncStatus(str(status)),
        cursor=Cursor(None if c_ms is None else int(c_ms), bool(c_bucket), c_after),
        deleted_cursor=DeletedCursor(None if d_ms is None else int(d_ms), int(d_skip)),
        counters=SyncCounters(int(products), int(nbytes), int(deleted), int(failures)),
        created=_time(created),
        last_run=_time(last_run),
        last_success=_time(last_success),
        last_error=last_error,
        last_remote_date=_time(last_remote),
        sources=sources_from_json(sources),
        source=source,
        next_run=_time(next_run),
        last_rate=float(last_rate or 0.0),
        skipped=int(skipped or 0),
    )


def _failed(row: Sequence[Any]) -> FailedProduct:
    pid, name, failures, state, last_error, first, last = row
    first_failed, last_failed = _time(first), _time(last)
    assert first_failed is not None and last_failed is not None
    return FailedProduct(uuid.UUID(str(pid)), str(name), int(failures), FailureState(str(state)),
                         last_error, first_failed, last_failed)  # fmt: skip


class SqlSyncStore:
    """Synchronisers over the account store's ``connect`` (one transaction per call) and
    ``dialect``."""

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Connection]], dialect: Dialect
    ) -> None:
        self._connect = connect
        self._dialect = dialect

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as conn:
            rows: list[Any] = conn.execute(self._dialect.sql(statement), params).fetchall()
            return rows

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        with self._connect() as conn:
            return int(conn.execute(self._dialect.sql(statement), params).rowcount)

    def migrate(self) -> None:
        """Apply the migrations not yet applied, under the account store's migration lock."""
        with self._connect() as conn:
            apply_migrations(conn, self._dialect, "sync_schema", MIGRATIONS)

    def add(self, definition: SyncDefinition, created: datetime) -> Synchroniser:
        """Store a new synchroniser (running, at the start); Conflict when the label is taken."""
        try:
            rows = self._rows(
                "INSERT INTO synchronisers (label, definition, status, cursor_bucket, "
                "deleted_skip, products, bytes, deleted, failures, created) "
                "VALUES (?, ?, ?, FALSE, 0, 0, 0, 0, 0, ?) RETURNING id",
                (definition.label, definition_json(definition), SyncStatus.RUNNING.value,
                 created.timestamp()),
            )  # fmt: skip
        except self._dialect.unique_violation:
            raise Conflict(f"a synchroniser named '{definition.label}' already exists") from None
        return self.get(int(rows[0][0]))

    def list(self) -> list[Synchroniser]:
        """Every synchroniser, by Id."""
        return [_row(r) for r in self._rows(f"SELECT {_COLUMNS} FROM synchronisers ORDER BY id")]

    def get(self, ref: int | str) -> Synchroniser:
        """One synchroniser by Id or label; NotFound otherwise."""
        if isinstance(ref, int) or ref.isdigit():
            rows = self._rows(f"SELECT {_COLUMNS} FROM synchronisers WHERE id = ?", (int(ref),))
        else:
            rows = self._rows(f"SELECT {_COLUMNS} FROM synchronisers WHERE label = ?", (ref,))
        if not rows:
            raise NotFound(f"synchroniser '{ref}' not found")
        return _row(rows[0])

    def set_status(self, sync_id: int, status: SyncStatus) -> None:
        """Pause or resume."""
        if not self._count(
            "UPDATE synchronisers SET status = ? WHERE id = ?", (status.value, sync_id)
        ):
            raise NotFound(f"synchroniser {sync_id} not found")

    def save_progress(self, sync: Synchroniser) -> None:
        """Write the cursors, counters and last run of ``sync`` (its definition and status are
        left as stored: a pause during a run stands)."""
        c, d, n = sync.cursor, sync.deleted_cursor, sync.counters
        self._count(
            "UPDATE synchronisers SET cursor_ms = ?, cursor_bucket = ?, cursor_after = ?, "
            "deleted_ms = ?, deleted_skip = ?, products = ?, bytes = ?, deleted = ?, "
            "failures = ?, last_run = ?, last_success = ?, last_error = ?, last_remote = ?, "
            "sources = ?, source = ?, last_rate = ? WHERE id = ?",
            (c.time_ms, c.bucket, c.after_id, d.time_ms, d.skip, n.products, n.bytes, n.deleted,
             n.failures, _epoch(sync.last_run), _epoch(sync.last_success), sync.last_error,
             _epoch(sync.last_remote_date), sources_json(sync.sources), sync.source,
             sync.last_rate, sync.id),
        )  # fmt: skip

    def update(self, sync_id: int, definition: SyncDefinition) -> None:
        """Replace the definition (cursors and records stay); Conflict when the new label is
        taken."""
        try:
            count = self._count(
                "UPDATE synchronisers SET label = ?, definition = ? WHERE id = ?",
                (definition.label, definition_json(definition), sync_id),
            )
        except self._dialect.unique_violation:
            raise Conflict(f"a synchroniser named '{definition.label}' already exists") from None
        if not count:
            raise NotFound(f"synchroniser {sync_id} not found")

    def set_next_run(self, sync_id: int, when: datetime | None) -> None:
        """When a serving hub runs it next (None: from its schedule and last run, see
        :func:`eohub.sync.schedule.planned_run`)."""
        self._count("UPDATE synchronisers SET next_run = ? WHERE id = ?", (_epoch(when), sync_id))

    def take_lease(self, sync_id: int, holder: str, now: datetime, seconds: float) -> bool:
        """Take (or extend) the run lease unless another holder's is still valid: one server
        process at a time runs a synchroniser."""
        return 1 == self._count(
            "UPDATE synchronisers SET lease_holder = ?, lease_until = ? WHERE id = ? "
            "AND (lease_holder IS NULL OR lease_holder = ? OR lease_until < ?)",
            (holder, now.timestamp() + seconds, sync_id, holder, now.timestamp()),
        )

    def release_lease(self, sync_id: int, holder: str) -> None:
        """Give the lease back (only when ``holder`` still has it)."""
        self._count(
            "UPDATE synchronisers SET lease_holder = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_holder = ?",
            (sync_id, holder),
        )

    def remove(self, sync_id: int) -> None:
        """Delete a synchroniser, its progress and its failed products (the products it copied
        stay), in one transaction."""
        q = self._dialect.sql
        with self._connect() as conn:
            conn.execute(q("DELETE FROM sync_failed_products WHERE sync_id = ?"), (sync_id,))
            if not conn.execute(q("DELETE FROM synchronisers WHERE id = ?"), (sync_id,)).rowcount:
                raise NotFound(f"synchroniser {sync_id} not found")

    # -- failed products and the skip list -------------------------------------------------
    def product_failed(
        self,
        sync_id: int,
        product_id: uuid.UUID,
        name: str,
        error: str,
        at: datetime,
        *,
        limit: int,
        state: FailureState,
    ) -> FailedProduct:
        """Count one more failed run of a product; it goes on the skip list once it has
        failed ``limit`` times (never with 0), else it takes ``state`` (failing: ahead of the
        cursor; retry: behind it). One statement: two processes never lose a count."""
        skipped = FailureState.SKIPPED.value
        rows = self._rows(
            "INSERT INTO sync_failed_products (sync_id, product_id, name, failures, state, "
            "last_error, first_failed, last_failed) VALUES (?, ?, ?, 1, "
            "CASE WHEN ? > 0 AND 1 >= ? THEN ? ELSE ? END, ?, ?, ?) "
            "ON CONFLICT (sync_id, product_id) DO UPDATE SET "
            "failures = sync_failed_products.failures + 1, name = excluded.name, "
            "state = CASE WHEN ? > 0 AND sync_failed_products.failures + 1 >= ? THEN ? "
            "ELSE ? END, last_error = excluded.last_error, last_failed = excluded.last_failed "
            f"RETURNING {_FAILED}",
            (sync_id, str(product_id), name, limit, limit, skipped, state.value, error[:2000],
             at.timestamp(), at.timestamp(), limit, limit, skipped, state.value),
        )  # fmt: skip
        return _failed(rows[0])

    def products_done(self, sync_id: int, product_ids: Sequence[uuid.UUID]) -> None:
        """Forget the failures of products now catalogued (or gone upstream)."""
        ids = [str(p) for p in product_ids]
        for at in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[at : at + 500]
            marks = ", ".join("?" for _ in chunk)
            self._count(
                f"DELETE FROM sync_failed_products WHERE sync_id = ? AND product_id IN ({marks})",
                (sync_id, *chunk),
            )

    def failed_products(
        self, sync_id: int, state: FailureState | None = None, *, limit: int = 10_000
    ) -> tuple[FailedProduct, ...]:
        """A synchroniser's failed products (of one ``state``), oldest failure first."""
        params: tuple[Any, ...]
        where, params = "sync_id = ?", (sync_id,)
        if state is not None:
            where, params = "sync_id = ? AND state = ?", (sync_id, str(state.value))
        rows = self._rows(
            f"SELECT {_FAILED} FROM sync_failed_products WHERE {where} "
            "ORDER BY first_failed, product_id LIMIT ?",
            (*params, limit),
        )
        return tuple(_failed(r) for r in rows)

    def retry(self, sync_id: int, product_id: uuid.UUID | None = None) -> int:
        """Take skipped products (all, or one) off the skip list: queued for the next run, with
        their count of failures from 0; how many. NotFound for a product not on the list."""
        params: tuple[Any, ...] = (FailureState.RETRY.value, sync_id, FailureState.SKIPPED.value)
        where = ""
        if product_id is not None:
            where, params = " AND product_id = ?", (*params, str(product_id))
        count = self._count(
            "UPDATE sync_failed_products SET state = ?, failures = 0 "
            f"WHERE sync_id = ? AND state = ?{where}",
            params,
        )
        if product_id is not None and not count:
            raise NotFound(f"product {product_id} is not on the skip list")
        return count
