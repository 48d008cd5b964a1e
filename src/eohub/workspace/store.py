"""The workspace store over the account database (tables ``cart_items`` and ``saved_searches``).

It shares the account store's transactions and :class:`Dialect`, so the same plain SQL runs on
the SQLite account file and on PostgreSQL. Every statement is scoped by the owner's key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from eohub.auth.stores.sql import Connection, Dialect
from eohub.workspace.ports import CartAdd, CartEntry, SavedSearch, Subscription

_SEARCH = "id, name, params, notify, created, last_notified"


def _key(username: str) -> str:
    return username.casefold()


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _search(row: Sequence[Any]) -> SavedSearch:
    search_id, name, params, notify, created, last_notified = row
    return SavedSearch(
        id=int(search_id),
        name=str(name),
        params=str(params),
        notify=bool(notify),
        created=_time(created),
        last_notified=None if last_notified is None else _time(last_notified),
    )


class SqlWorkspaceStore:
    """The :class:`eohub.workspace.ports.WorkspaceStore` in the account database.

    ``connect`` is the account store's: a context manager giving a connection inside one
    transaction (commit on a normal exit, rollback on an exception).
    """

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Connection]], dialect: Dialect
    ) -> None:
        self._connect = connect
        self._dialect = dialect

    def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self._connect() as conn:
            rows: list[Any] = conn.execute(self._dialect.sql(statement), params).fetchall()
            return rows

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        with self._connect() as conn:
            cursor = conn.execute(self._dialect.sql(statement), params)
            return int(cursor.rowcount)

    # -- cart --------------------------------------------------------------------------------
    def cart(self, username: str) -> list[CartEntry]:
        """The user's cart entries, newest first."""
        rows = self._rows(
            "SELECT product_id, added FROM cart_items WHERE username_key = ? "
            "ORDER BY added DESC, product_id",
            (_key(username),),
        )
        return [CartEntry(uuid.UUID(str(row[0])), _time(row[1])) for row in rows]

    def add_to_cart(
        self, username: str, product_id: uuid.UUID, added: datetime, *, max_items: int
    ) -> CartAdd:
        """Add one product unless it is already there or the cart is full (one transaction)."""
        key, pid = _key(username), str(product_id)
        with self._connect() as conn:
            cursor = conn.execute(
                self._dialect.sql(
                    "INSERT INTO cart_items (username_key, product_id, added) SELECT ?, ?, ? "
                    "WHERE (SELECT COUNT(*) FROM cart_items WHERE username_key = ?) < ? "
                    "ON CONFLICT (username_key, product_id) DO NOTHING"
                ),
                (key, pid, added.timestamp(), key, max_items),
            )
            if cursor.rowcount == 1:
                return CartAdd.ADDED
            present = conn.execute(
                self._dialect.sql(
                    "SELECT 1 FROM cart_items WHERE username_key = ? AND product_id = ?"
                ),
                (key, pid),
            ).fetchone()
            return CartAdd.PRESENT if present is not None else CartAdd.FULL

    def remove_from_cart(self, username: str, product_id: uuid.UUID) -> bool:
        """Remove one product; False when it was not in the cart."""
        return 0 < self._count(
            "DELETE FROM cart_items WHERE username_key = ? AND product_id = ?",
            (_key(username), str(product_id)),
        )

    def clear_cart(self, username: str) -> int:
        """Empty the cart; how many products it held."""
        return self._count("DELETE FROM cart_items WHERE username_key = ?", (_key(username),))

    def cart_count(self, username: str) -> int:
        """How many products the cart holds."""
        rows = self._rows(
            "SELECT COUNT(*) FROM cart_items WHERE username_key = ?", (_key(username),)
        )
        return int(rows[0][0])

    # -- saved searches ----------------------------------------------------------------------
    def add_search(
        self, username: str, name: str, params: str, created: datetime, *, max_searches: int
    ) -> SavedSearch | None:
        """Store a search unless the user already has ``max_searches`` (one transaction)."""
        key = _key(username)
        rows = self._rows(
            "INSERT INTO saved_searches (username_key, name, params, notify, created) "
            "SELECT ?, ?, ?, FALSE, ? "
            "WHERE (SELECT COUNT(*) FROM saved_searches WHERE username_key = ?) < ? "
            "RETURNING id",
            (key, name, params, created.timestamp(), key, max_searches),
        )
        if not rows:
            return None
        return SavedSearch(int(rows[0][0]), name, params, False, _time(created.timestamp()))

    def searches(self, username: str) -> list[SavedSearch]:
        """The user's saved searches, newest first."""
        rows = self._rows(
            f"SELECT {_SEARCH} FROM saved_searches WHERE username_key = ? "
            "ORDER BY created DESC, id DESC",
            (_key(username),),
        )
        return [_search(row) for row in rows]

    def get_search(self, username: str, search_id: int) -> SavedSearch | None:
        """One of the user's saved searches."""
        rows = self._rows(
            f"SELECT {_SEARCH} FROM saved_searches WHERE username_key = ? AND id = ?",
            (_key(username), search_id),
        )
        return _search(rows[0]) if rows else None

    def rename_search(self, username: str, search_id: int, name: str) -> bool:
        """Rename; False when the user has no such search."""
        return 0 < self._count(
            "UPDATE saved_searches SET name = ? WHERE username_key = ? AND id = ?",
            (name, _key(username), search_id),
        )

    def set_notify(self, username: str, search_id: int, notify: bool) -> bool:
        """Turn notification on or off; False when the user has no such search."""
        return 0 < self._count(
            "UPDATE saved_searches SET notify = ? WHERE username_key = ? AND id = ?",
            (notify, _key(username), search_id),
        )

    def remove_search(self, username: str, search_id: int) -> bool:
        """Delete; False when the user has no such search."""
        return 0 < self._count(
            "DELETE FROM saved_searches WHERE username_key = ? AND id = ?",
            (_key(username), search_id),
        )

    # -- notifications -----------------------------------------------------------------------
    def any_notify(self) -> bool:
        """Whether any saved search has notification on (answered by a partial index)."""
        return bool(self._rows("SELECT 1 FROM saved_searches WHERE notify LIMIT 1", ()))

    def subscriptions(self) -> list[Subscription]:
        """Searches with notification on whose owner can receive mail, by owner then Id."""
        columns = ", ".join(f"s.{c.strip()}" for c in _SEARCH.split(","))
        rows = self._rows(
            f"SELECT {columns}, a.username, a.email FROM saved_searches s "
            "JOIN accounts a ON a.username_key = s.username_key "
            "WHERE s.notify AND NOT a.locked AND NOT a.pending "
            "AND a.email IS NOT NULL AND a.email <> '' "
            "ORDER BY s.username_key, s.id",
            (),
        )
        return [Subscription(_search(row[:6]), str(row[6]), str(row[7])) for row in rows]

    def mark_notified(self, search_ids: Sequence[int], at: datetime) -> None:
        """Record when these searches last sent a notification."""
        if not search_ids:
            return
        marks = ", ".join("?" for _ in search_ids)
        self._count(
            f"UPDATE saved_searches SET last_notified = ? WHERE id IN ({marks})",
            (at.timestamp(), *search_ids),
        )
