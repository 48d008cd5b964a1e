"""Subscriptions, feed cursors and delivery leases in the account database.

Tables ``subscriptions`` and ``feed_cursors``, with their own schema version table
(``subscription_schema``), so this store migrates independently of the account store while
sharing its transactions and :class:`~eohub.auth.stores.sql.Dialect` (the same plain SQL runs on
the SQLite account file and on PostgreSQL). Times are epoch seconds, as in the account tables.

A *lease* (holder, until) on a row says which server process delivers it: a process takes a
free or expired lease in one conditional UPDATE, so only one pushes a given subscription (or
mails the saved searches) at a time, and a crashed process's lease simply expires.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Literal

from eohub.auth.stores.sql import Connection, Dialect, apply_migrations
from eohub.model.change import ChangeEvent
from eohub.subscriptions.model import Subscription, SubscriptionStatus

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY,
            username_key TEXT NOT NULL,
            owner TEXT NOT NULL,
            filter_param TEXT NOT NULL,
            events TEXT NOT NULL,
            status TEXT NOT NULL,
            endpoint TEXT,
            endpoint_username TEXT,
            endpoint_password TEXT,
            submitted DOUBLE PRECISION NOT NULL,
            last_notified DOUBLE PRECISION,
            acked_seq BIGINT NOT NULL,
            lease_holder TEXT,
            lease_until DOUBLE PRECISION
        )""",
        "CREATE INDEX subscriptions_user ON subscriptions (username_key)",
        """CREATE TABLE feed_cursors (
            name TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            lease_holder TEXT,
            lease_until DOUBLE PRECISION
        )""",
    ),
)

USER_TABLES = ("subscriptions",)
"""Tables whose rows belong to a user (``username_key``): removed with the account."""
_COLUMNS = (
    "id, owner, filter_param, events, status, endpoint, endpoint_username, endpoint_password, "
    "submitted, last_notified, acked_seq"
)
# Table and key column of each kind of lease (constants: never user input).
_LEASED = {"subscription": ("subscriptions", "id"), "cursor": ("feed_cursors", "name")}
LeaseKind = Literal["subscription", "cursor"]


def _key(username: str) -> str:
    return username.casefold()


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _subscription(row: Sequence[Any]) -> Subscription:
    sid, owner, flt, events, status, endpoint, ep_user, ep_password, sub, last, seq = row
    submitted = _time(sub)
    assert submitted is not None  # NOT NULL column
    return Subscription(
        id=uuid.UUID(str(sid)),
        owner=str(owner),
        filter_param=str(flt),
        events=tuple(ChangeEvent(e) for e in str(events).split(",") if e),
        status=SubscriptionStatus(str(status)),
        submission_date=submitted,
        cursor=int(seq),
        endpoint=endpoint,
        endpoint_username=ep_user,
        endpoint_password=ep_password,
        last_notification_date=_time(last),
    )


class SqlSubscriptionStore:
    """Subscriptions and feed cursors over the account store's ``connect`` and ``dialect``.

    ``connect`` gives a connection inside one transaction (commit on a normal exit, rollback
    on an exception). Every owner-facing statement is scoped by the owner's key.
    """

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Connection]], dialect: Dialect
    ) -> None:
        self._connect = connect
        self._dialect = dialect

    def _sql(self, statement: str) -> str:
        return self._dialect.sql(statement)

    def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self._connect() as conn:
            rows: list[Any] = conn.execute(self._sql(statement), params).fetchall()
            return rows

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        with self._connect() as conn:
            return int(conn.execute(self._sql(statement), params).rowcount)

    def migrate(self) -> None:
        """Apply the migrations not yet applied, under the account store's migration lock."""
        with self._connect() as conn:
            apply_migrations(conn, self._dialect, "subscription_schema", MIGRATIONS)

    # -- subscriptions -------------------------------------------------------------------------
    def counts(self, owner: str) -> tuple[int, int]:
        """(running, running or paused) subscriptions of ``owner``."""
        rows = self._rows(
            "SELECT status, COUNT(*) FROM subscriptions WHERE username_key = ? GROUP BY status",
            (_key(owner),),
        )
        by_status = {str(status): int(n) for status, n in rows}
        running = by_status.get(SubscriptionStatus.RUNNING, 0)
        return running, running + by_status.get(SubscriptionStatus.PAUSED, 0)

    def insert(self, sub: Subscription, *, max_running: int, max_total: int) -> bool:
        """Store ``sub`` unless its owner is at a limit (checked in the same statement)."""
        key = _key(sub.owner)
        running = 1 if sub.status is SubscriptionStatus.RUNNING else 0
        with self._connect() as conn:
            cursor = conn.execute(
                self._sql(
                    f"INSERT INTO subscriptions (username_key, {_COLUMNS}) "
                    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                    "WHERE (SELECT COUNT(*) FROM subscriptions WHERE username_key = ? "
                    "AND status IN ('running', 'paused')) < ? "
                    "AND (SELECT COUNT(*) FROM subscriptions WHERE username_key = ? "
                    "AND status = 'running') + ? <= ?"
                ),
                (
                    key,
                    str(sub.id),
                    sub.owner,
                    sub.filter_param,
                    ",".join(e.value for e in sub.events),
                    sub.status.value,
                    sub.endpoint,
                    sub.endpoint_username,
                    sub.endpoint_password,
                    sub.submission_date.timestamp(),
                    None,
                    sub.cursor,
                    key,
                    max_total,
                    key,
                    running,
                    max_running,
                ),
            )
            return int(cursor.rowcount) == 1

    def owned(self, owner: str) -> list[Subscription]:
        """The owner's subscriptions, oldest first."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE username_key = ? ORDER BY submitted, id",
            (_key(owner),),
        )
        return [_subscription(r) for r in rows]

    def get(self, owner: str | None, sub_id: uuid.UUID) -> Subscription | None:
        """One subscription of ``owner`` (of anyone when None)."""
        statement = f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?"
        params: list[Any] = [str(sub_id)]
        if owner is not None:
            statement += " AND username_key = ?"
            params.append(_key(owner))
        rows = self._rows(statement, params)
        return _subscription(rows[0]) if rows else None

    def update(self, sub: Subscription, *, max_running: int) -> bool:
        """Write status and endpoint of ``sub``; False when it would pass ``max_running``."""
        key = _key(sub.owner)
        running = 1 if sub.status is SubscriptionStatus.RUNNING else 0
        return 1 == self._count(
            "UPDATE subscriptions SET status = ?, endpoint = ?, endpoint_username = ?, "
            "endpoint_password = ? WHERE id = ? AND username_key = ? "
            "AND (SELECT COUNT(*) FROM subscriptions WHERE username_key = ? "
            "AND status = 'running' AND id <> ?) + ? <= ?",
            (
                sub.status.value,
                sub.endpoint,
                sub.endpoint_username,
                sub.endpoint_password,
                str(sub.id),
                key,
                key,
                str(sub.id),
                running,
                max_running,
            ),
        )

    def delete(self, owner: str, sub_id: uuid.UUID) -> bool:
        """Remove one subscription; False when the owner has none with this Id."""
        return 1 == self._count(
            "DELETE FROM subscriptions WHERE id = ? AND username_key = ?",
            (str(sub_id), _key(owner)),
        )

    def advance(self, sub_id: uuid.UUID, seq: int, notified: datetime | None) -> bool:
        """Move the cursor forward to ``seq`` (never back); ``notified`` also records a
        notification date. False when the cursor was already there or further."""
        return 1 == self._count(
            "UPDATE subscriptions SET acked_seq = ?, last_notified = COALESCE(?, last_notified) "
            "WHERE id = ? AND acked_seq < ?",
            (seq, None if notified is None else notified.timestamp(), str(sub_id), seq),
        )

    def pushed(self) -> list[Subscription]:
        """Every running subscription with a push endpoint."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE status = 'running' "
            "AND endpoint IS NOT NULL ORDER BY submitted, id",
            (),
        )
        return [_subscription(r) for r in rows]

    # -- feed cursors (saved-search mails) -----------------------------------------------------
    def cursor(self, name: str, start: Callable[[], int]) -> int:
        """The named cursor; created at ``start()`` on first use."""
        rows = self._rows("SELECT seq FROM feed_cursors WHERE name = ?", (name,))
        if rows:
            return int(rows[0][0])
        with self._connect() as conn:
            conn.execute(
                self._sql(
                    "INSERT INTO feed_cursors (name, seq) VALUES (?, ?) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                (name, start()),
            )
        return int(self._rows("SELECT seq FROM feed_cursors WHERE name = ?", (name,))[0][0])

    def move_cursor(self, name: str, seq: int) -> None:
        """Move the named cursor forward to ``seq`` (never back)."""
        self._count("UPDATE feed_cursors SET seq = ? WHERE name = ? AND seq < ?", (seq, name, seq))

    # -- leases --------------------------------------------------------------------------------
    def take_lease(
        self, kind: LeaseKind, key: str, holder: str, now: datetime, seconds: float
    ) -> bool:
        """Take (or extend) the lease of one row unless another holder's is still valid."""
        table, column = _LEASED[kind]
        return 1 == self._count(
            f"UPDATE {table} SET lease_holder = ?, lease_until = ? WHERE {column} = ? "
            "AND (lease_holder IS NULL OR lease_holder = ? OR lease_until < ?)",
            (holder, now.timestamp() + seconds, key, holder, now.timestamp()),
        )

    def release_lease(self, kind: LeaseKind, key: str, holder: str) -> None:
        """Give a lease back (only when ``holder`` still has it)."""
        table, column = _LEASED[kind]
        self._count(
            f"UPDATE {table} SET lease_holder = NULL, lease_until = NULL "
            f"WHERE {column} = ? AND lease_holder = ?",
            (key, holder),
        )
