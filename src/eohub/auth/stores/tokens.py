"""The token store over the account database (tables of account migration 4).

It shares the account store's transactions and :class:`Dialect`, so the same plain SQL runs on
the SQLite account file and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eohub.auth.ports import Account
from eohub.auth.stores.sql import SqlAccountStore, account_columns, account_of
from eohub.auth.token_ports import ApiKey, SigningKey, TokenSession
from eohub.errors import Conflict


def _key(username: str) -> str:
    return username.casefold()


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _api_key(row: Sequence[Any]) -> ApiKey:
    name, shown, created, last_used, expires = row
    return ApiKey(
        name=str(name),
        shown=str(shown),
        created=_time(created),
        last_used=None if last_used is None else _time(last_used),
        expires=None if expires is None else _time(expires),
    )


_KEY_COLUMNS = "k.name, k.shown, k.created, k.last_used, k.expires"


class SqlTokenStore:
    """The :class:`eohub.auth.token_ports.TokenStore` in the account database."""

    def __init__(self, accounts: SqlAccountStore) -> None:
        self._connect = accounts.connect
        self._dialect = accounts.dialect

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as conn:
            rows: list[Any] = conn.execute(self._dialect.sql(statement), params).fetchall()
            return rows

    def _count(self, statement: str, params: Sequence[Any]) -> int:
        with self._connect() as conn:
            return int(conn.execute(self._dialect.sql(statement), params).rowcount)

    # -- signing keys --------------------------------------------------------------------------
    def signing_keys(self) -> list[SigningKey]:
        """Every key, the active one first, then the newest."""
        rows = self._rows(
            "SELECT kid, private_pem, created, active FROM signing_keys "
            "ORDER BY active DESC, created DESC, kid"
        )
        return [SigningKey(str(r[0]), str(r[1]), _time(r[2]), bool(r[3])) for r in rows]

    def add_signing_key(self, key: SigningKey) -> bool:
        """Store an active key unless another process stored one first."""
        try:
            with self._connect() as conn:
                conn.execute(
                    self._dialect.sql(
                        "INSERT INTO signing_keys (kid, private_pem, created, active) "
                        "VALUES (?, ?, ?, ?)"
                    ),
                    (key.kid, key.private_pem, key.created.timestamp(), key.active),
                )
        except self._dialect.unique_violation:
            return False
        return True

    # -- token sessions and refresh tokens ----------------------------------------------------
    def start_session(self, session: TokenSession, created: datetime) -> None:
        """Record a session; the user's expired sessions and refresh tokens go (bounded work)."""
        key, now = _key(session.username), created.timestamp()
        with self._connect() as conn:
            for table in ("token_sessions", "refresh_tokens"):
                conn.execute(
                    self._dialect.sql(
                        f"DELETE FROM {table} WHERE username_key = ? AND expires <= ?"
                    ),
                    (key, now),
                )
            conn.execute(
                self._dialect.sql(
                    "INSERT INTO token_sessions (id, username_key, client_id, created, expires, "
                    "revoked) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (session.id, key, session.client_id, now, session.expires.timestamp(),
                 session.revoked),
            )  # fmt: skip

    def session_account(self, session_id: str) -> tuple[TokenSession, Account] | None:
        """A session and its account, in one query."""
        rows = self._rows(
            f"SELECT {account_columns('a')}, s.client_id, s.expires, s.revoked "
            "FROM token_sessions s JOIN accounts a ON a.username_key = s.username_key "
            "WHERE s.id = ?",
            (session_id,),
        )
        if not rows:
            return None
        row = rows[0]
        account = account_of(row)
        client_id, expires, revoked = row[-3:]
        session = TokenSession(
            session_id, account.user.username, str(client_id), _time(expires), bool(revoked)
        )
        return session, account

    def revoke_session(self, session_id: str) -> None:
        """End a session."""
        self._count("UPDATE token_sessions SET revoked = TRUE WHERE id = ?", (session_id,))

    def add_refresh(
        self, jti: str, session_id: str, username: str, expires: datetime, *, extend: bool
    ) -> None:
        """Record an unused refresh token (and let its session last as long)."""
        with self._connect() as conn:
            conn.execute(
                self._dialect.sql(
                    "INSERT INTO refresh_tokens (jti, session_id, username_key, used, expires) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (jti, session_id, _key(username), False, expires.timestamp()),
            )
            if extend:
                conn.execute(
                    self._dialect.sql(
                        "UPDATE token_sessions SET expires = ? WHERE id = ? AND expires < ?"
                    ),
                    (expires.timestamp(), session_id, expires.timestamp()),
                )

    def use_refresh(self, jti: str) -> str:
        """First use wins: the conditional update is atomic on both databases."""
        with self._connect() as conn:
            cursor = conn.execute(
                self._dialect.sql(
                    "UPDATE refresh_tokens SET used = TRUE WHERE jti = ? AND NOT used"
                ),
                (jti,),
            )
            if cursor.rowcount == 1:
                return "ok"
            row = conn.execute(
                self._dialect.sql("SELECT used FROM refresh_tokens WHERE jti = ?"), (jti,)
            ).fetchone()
        return "unknown" if row is None else "replayed"

    # -- API keys -------------------------------------------------------------------------------
    def add_api_key(
        self, username: str, name: str, key_hash: str, shown: str, created: datetime,
        expires: datetime | None,
    ) -> None:  # fmt: skip
        """Record a key; Conflict for a name the user already uses."""
        try:
            with self._connect() as conn:
                conn.execute(
                    self._dialect.sql(
                        "INSERT INTO api_keys (username_key, name, key_hash, shown, created, "
                        "expires) VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    (_key(username), name, key_hash, shown, created.timestamp(),
                     None if expires is None else expires.timestamp()),
                )  # fmt: skip
        except self._dialect.unique_violation:
            raise Conflict(f"You already have an API key named '{name}'") from None

    def api_keys(self, username: str) -> list[ApiKey]:
        """A user's keys by name."""
        rows = self._rows(
            f"SELECT {_KEY_COLUMNS} FROM api_keys k WHERE k.username_key = ? ORDER BY k.name",
            (_key(username),),
        )
        return [_api_key(row) for row in rows]

    def remove_api_key(self, username: str, name: str) -> bool:
        """Delete a key."""
        return (
            self._count(
                "DELETE FROM api_keys WHERE username_key = ? AND name = ?", (_key(username), name)
            )
            > 0
        )

    def api_key_account(self, key_hash: str) -> tuple[ApiKey, Account] | None:
        """A key and its account, in one query."""
        rows = self._rows(
            f"SELECT {account_columns('a')}, {_KEY_COLUMNS} "
            "FROM api_keys k JOIN accounts a ON a.username_key = k.username_key "
            "WHERE k.key_hash = ?",
            (key_hash,),
        )
        if not rows:
            return None
        return _api_key(rows[0][-5:]), account_of(rows[0])

    def touch_api_key(self, key_hash: str, at: datetime) -> None:
        """Note the last use."""
        self._count(
            "UPDATE api_keys SET last_used = ? WHERE key_hash = ?", (at.timestamp(), key_hash)
        )
