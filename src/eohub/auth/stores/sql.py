"""One account store for both SQL databases: the statements are plain, portable SQL.

The two databases differ only in their placeholder style, the auto-increment column and how a
migration takes its lock; :class:`Dialect` carries those differences. Writing the few
statements by hand keeps the store free of an ORM for two small tables.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eohub.auth.ports import Account, Profile, Usage
from eohub.errors import Conflict, NotFound
from eohub.model.user import Quota, Role, User


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    """A connection whose ``execute`` returns a cursor (sqlite3 and psycopg both do)."""

    def execute(self, sql: Any, params: Sequence[Any] = ...) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases."""

    placeholder: str
    serial: str
    migration_lock: str | None
    unique_violation: type[Exception]
    # Serialises one user's download-flow changes across processes inside a transaction (one
    # ``?``: the user's key); None where the first write already locks the database (SQLite).
    user_lock: str | None = None

    def sql(self, statement: str) -> str:
        """``statement`` with ``?`` placeholders in this dialect's style."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


def apply_migrations(
    conn: Connection, dialect: Dialect, table: str, migrations: Sequence[Sequence[str]]
) -> None:
    """Run the ``migrations`` (lists of statements; ``{serial}`` stands for the dialect's
    auto-increment key type) not yet recorded in ``table``, under the dialect's migration
    lock, inside the caller's transaction. Each store of the account database (accounts,
    workspace, subscriptions, synchronisers, archive) keeps its own version table this way."""
    if dialect.migration_lock:
        conn.execute(dialect.migration_lock)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER NOT NULL)")
    row = conn.execute(f"SELECT MAX(version) FROM {table}").fetchone()
    done = int(row[0] or 0)
    for version, statements in enumerate(migrations, start=1):
        if version <= done:
            continue
        for statement in statements:
            conn.execute(statement.format(serial=dialect.serial))
        conn.execute(dialect.sql(f"INSERT INTO {table} (version) VALUES (?)"), (version,))


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE accounts (
            username_key TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            email TEXT,
            roles TEXT NOT NULL,
            locked BOOLEAN NOT NULL DEFAULT FALSE,
            lock_reason TEXT,
            firstname TEXT,
            lastname TEXT,
            country TEXT,
            domain TEXT,
            usage TEXT,
            created DOUBLE PRECISION NOT NULL,
            quota TEXT,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            last_failed_login DOUBLE PRECISION
        )""",
        """CREATE TABLE account_downloads (
            id {serial},
            username_key TEXT NOT NULL,
            product_id TEXT NOT NULL,
            size BIGINT NOT NULL,
            counted BOOLEAN NOT NULL,
            started DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX account_downloads_user_time ON account_downloads (username_key, started)",
    ),
    (
        "ALTER TABLE accounts ADD COLUMN email_key TEXT",
        "UPDATE accounts SET email_key = LOWER(email)",
        "CREATE UNIQUE INDEX accounts_email ON accounts (email_key)",
        "ALTER TABLE accounts ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username_key TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX sessions_user ON sessions (username_key)",
        """CREATE TABLE account_tokens (
            token_hash TEXT PRIMARY KEY,
            username_key TEXT NOT NULL,
            purpose TEXT NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE cart_items (
            username_key TEXT NOT NULL,
            product_id TEXT NOT NULL,
            added DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (username_key, product_id)
        )""",
        """CREATE TABLE saved_searches (
            id {serial},
            username_key TEXT NOT NULL,
            name TEXT NOT NULL,
            params TEXT NOT NULL,
            notify BOOLEAN NOT NULL DEFAULT FALSE,
            created DOUBLE PRECISION NOT NULL,
            last_notified DOUBLE PRECISION
        )""",
        "CREATE INDEX saved_searches_user ON saved_searches (username_key)",
    ),
    (  # the notifier asks on every ingest whether anyone wants mail: a partial index answers
        "CREATE INDEX saved_searches_notify ON saved_searches (username_key) WHERE notify",
    ),
    (  # OpenID Connect tokens and personal API keys (eohub.auth.tokens, eohub.auth.apikeys)
        """CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            private_pem TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            active BOOLEAN NOT NULL
        )""",
        # one active key even when several server processes create it at the same moment
        "CREATE UNIQUE INDEX signing_keys_active ON signing_keys (active) WHERE active",
        """CREATE TABLE token_sessions (
            id TEXT PRIMARY KEY,
            username_key TEXT NOT NULL,
            client_id TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            revoked BOOLEAN NOT NULL DEFAULT FALSE
        )""",
        "CREATE INDEX token_sessions_user ON token_sessions (username_key, expires)",
        """CREATE TABLE refresh_tokens (
            jti TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            username_key TEXT NOT NULL,
            used BOOLEAN NOT NULL DEFAULT FALSE,
            expires DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
        "CREATE INDEX refresh_tokens_user ON refresh_tokens (username_key, expires)",
        """CREATE TABLE api_keys (
            id {serial},
            username_key TEXT NOT NULL,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL,
            shown TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            last_used DOUBLE PRECISION,
            expires DOUBLE PRECISION
        )""",
        "CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash)",
        "CREATE UNIQUE INDEX api_keys_name ON api_keys (username_key, name)",
    ),
    (  # downloads in progress, shared by every server process (eohub.auth.quotas)
        """CREATE TABLE download_flows (
            id TEXT PRIMARY KEY,
            username_key TEXT NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX download_flows_user ON download_flows (username_key, expires)",
    ),
)

_COLUMNS = (
    "username, password_hash, email, roles, locked, lock_reason, firstname, lastname, country, "
    "domain, usage, created, quota, failed_logins, last_failed_login, pending"
)
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_USER_DATA = (
    "account_downloads", "sessions", "account_tokens", "cart_items", "saved_searches",
    "token_sessions", "refresh_tokens", "api_keys", "download_flows",
)  # fmt: skip


def _key(username: str) -> str:
    return username.casefold()


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _quota_json(quota: Quota | None) -> str | None:
    if quota is None:
        return None
    return json.dumps(quota.__dict__, sort_keys=True)


def _quota(text: str | None) -> Quota | None:
    return None if text is None else Quota(**json.loads(text))


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(name) for name in text.split(",") if name)


class SqlAccountStore:
    """The :class:`eohub.auth.ports.AccountStore` over a DB-API connection factory.

    ``connect`` returns a context manager giving a connection inside one transaction that
    commits on a normal exit and rolls back on an exception.
    """

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Connection]], dialect: Dialect
    ) -> None:
        self.connect = connect
        """The store's transactions, for other stores keeping their tables in this database."""
        self.dialect = dialect
        self._user_data: tuple[str, ...] = _USER_DATA

    def add_user_data(self, *tables: str) -> None:
        """Tables of other stores in this database whose rows (by ``username_key``) belong to an
        account and go with it in :meth:`remove`. The composition root registers them, since
        this store cannot know them (subscriptions sit above the account layer)."""
        for table in tables:
            if not _TABLE_NAME.fullmatch(table):  # interpolated into SQL below: names only
                raise ValueError(f"not a table name: {table!r}")
            if table not in self._user_data:
                self._user_data = (*self._user_data, table)

    def _run(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        with self.connect() as conn:
            cursor: Cursor = conn.execute(self.dialect.sql(statement), params)
            return cursor

    def _one(self, statement: str, params: Sequence[Any]) -> Any:
        with self.connect() as conn:
            return conn.execute(self.dialect.sql(statement), params).fetchone()

    def _change(self, username: str, statement: str, params: Sequence[Any]) -> None:
        with self.connect() as conn:
            cursor = conn.execute(self.dialect.sql(statement), (*params, _key(username)))
            if cursor.rowcount == 0:
                raise NotFound(f"User '{username}' not found")

    def migrate(self) -> None:
        """Apply the migrations not yet applied, under a lock."""
        with self.connect() as conn:
            apply_migrations(conn, self.dialect, "account_schema", MIGRATIONS)

    def get(self, username: str) -> Account | None:
        """One account, case-insensitively."""
        row = self._one(
            f"SELECT {_COLUMNS} FROM accounts WHERE username_key = ?", (_key(username),)
        )
        return None if row is None else _account(row)

    def list_users(self) -> list[User]:
        """Every account, by username."""
        with self.connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY username_key")
            return [_account(row).user for row in rows.fetchall()]

    def add(self, user: User, password_hash: str) -> None:
        """Create an account; Conflict when the name is taken."""
        created = user.created or datetime.now(UTC)
        params = (
            _key(user.username), user.username, password_hash, user.email,
            ",".join(sorted(user.roles)), user.locked, user.lock_reason, user.firstname,
            user.lastname, user.country, user.domain, user.usage, _epoch(created),
            _quota_json(user.quota), user.pending, _email_key(user.email),
        )  # fmt: skip
        statement = (
            "INSERT INTO accounts (username_key, username, password_hash, email, roles, locked, "
            "lock_reason, firstname, lastname, country, domain, usage, created, quota, pending, "
            "email_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        if user.email and self.find_by_email(user.email) is not None:
            raise Conflict("An account with this e-mail address already exists")
        try:
            self._run(statement, params)
        except self.dialect.unique_violation:
            raise Conflict(f"User '{user.username}' already exists") from None

    def set_password(self, username: str, password_hash: str) -> None:
        """New hash; failed logins forgotten."""
        self._change(
            username,
            "UPDATE accounts SET password_hash = ?, failed_logins = 0, last_failed_login = NULL "
            "WHERE username_key = ?",
            (password_hash,),
        )

    def set_roles(self, username: str, roles: frozenset[Role]) -> None:
        """Replace the roles."""
        self._change(
            username, "UPDATE accounts SET roles = ? WHERE username_key = ?",
            (",".join(sorted(roles)),),
        )  # fmt: skip

    def set_lock(self, username: str, locked: bool, reason: str | None) -> None:
        """Lock or unlock; unlocking also forgets failed logins."""
        self._change(
            username,
            "UPDATE accounts SET locked = ?, lock_reason = ?, "
            "failed_logins = CASE WHEN ? THEN failed_logins ELSE 0 END WHERE username_key = ?",
            (locked, reason if locked else None, locked),
        )

    def set_quota(self, username: str, quota: Quota | None) -> None:
        """The user's own limits."""
        self._change(
            username, "UPDATE accounts SET quota = ? WHERE username_key = ?",
            (_quota_json(quota),),
        )  # fmt: skip

    def remove(self, username: str) -> None:
        """Delete an account and everything of it (downloads, sessions, cart, searches)."""
        with self.connect() as conn:
            key = _key(username)
            for table in self._user_data:
                conn.execute(
                    self.dialect.sql(f"DELETE FROM {table} WHERE username_key = ?"), (key,)
                )
            cursor = conn.execute(
                self.dialect.sql("DELETE FROM accounts WHERE username_key = ?"), (key,)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"User '{username}' not found")

    def record_failed_login(self, username: str, at: datetime) -> int:
        """One more failed login; the new count (0 for an unknown user)."""
        with self.connect() as conn:
            conn.execute(
                self.dialect.sql(
                    "UPDATE accounts SET failed_logins = failed_logins + 1, last_failed_login = ? "
                    "WHERE username_key = ?"
                ),
                (_epoch(at), _key(username)),
            )
            row = conn.execute(
                self.dialect.sql("SELECT failed_logins FROM accounts WHERE username_key = ?"),
                (_key(username),),
            ).fetchone()
            return 0 if row is None else int(row[0])

    def clear_failed_logins(self, username: str) -> None:
        """Forget failed logins."""
        self._run(
            "UPDATE accounts SET failed_logins = 0, last_failed_login = NULL "
            "WHERE username_key = ? AND failed_logins > 0",
            (_key(username),),
        )

    def record_download(
        self, username: str, product_id: uuid.UUID, size: int, at: datetime, *, counted: bool
    ) -> None:
        """Record a download start."""
        self._run(
            "INSERT INTO account_downloads (username_key, product_id, size, counted, started) "
            "VALUES (?, ?, ?, ?, ?)",
            (_key(username), str(product_id), size, counted, _epoch(at)),
        )

    def usage_since(self, username: str, since: datetime) -> Usage:
        """Count and bytes of the downloads started since ``since``."""
        row = self._one(
            "SELECT COALESCE(SUM(CASE WHEN counted THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(size), 0) FROM account_downloads "
            "WHERE username_key = ? AND started >= ?",
            (_key(username), _epoch(since)),
        )
        return Usage(count=int(row[0]), volume=int(row[1]))

    # -- downloads in progress ----------------------------------------------------------------
    def open_flow(
        self, username: str, flow: str, now: datetime, expires: datetime, limit: int | None
    ) -> bool:
        """Start download flow ``flow`` of ``username`` (lease until ``expires``) unless the
        user already has ``limit`` unexpired ones; whether it started. Flows whose lease ran
        out (their process died) are dropped first."""
        key = _key(username)
        with self.connect() as conn:
            if self.dialect.user_lock is not None:
                conn.execute(self.dialect.sql(self.dialect.user_lock), (key,))
            # The first write: in SQLite it takes the database's write lock, so the count and
            # the insert below see no other process's flows change meanwhile.
            conn.execute(
                self.dialect.sql(
                    "DELETE FROM download_flows WHERE username_key = ? AND expires < ?"
                ),
                (key, _epoch(now)),
            )
            if limit is not None:
                row = conn.execute(
                    self.dialect.sql("SELECT COUNT(*) FROM download_flows WHERE username_key = ?"),
                    (key,),
                ).fetchone()
                if int(row[0]) >= limit:
                    return False
            conn.execute(
                self.dialect.sql(
                    "INSERT INTO download_flows (id, username_key, expires) VALUES (?, ?, ?)"
                ),
                (flow, key, _epoch(expires)),
            )
            return True

    def renew_flow(self, flow: str, expires: datetime) -> None:
        """Extend a flow's lease (a long download keeps its slot)."""
        self._run("UPDATE download_flows SET expires = ? WHERE id = ?", (_epoch(expires), flow))

    def close_flow(self, flow: str) -> None:
        """End a flow (idempotent)."""
        self._run("DELETE FROM download_flows WHERE id = ?", (flow,))

    def open_flows(self, username: str, now: datetime) -> int:
        """The user's flows whose lease has not run out."""
        row = self._one(
            "SELECT COUNT(*) FROM download_flows WHERE username_key = ? AND expires >= ?",
            (_key(username), _epoch(now)),
        )
        return int(row[0])

    # -- sign-up, profile ------------------------------------------------------------------
    def find_by_email(self, email: str) -> Account | None:
        """The account with this e-mail address (case-insensitive)."""
        row = self._one(
            f"SELECT {_COLUMNS} FROM accounts WHERE email_key = ?", (_email_key(email),)
        )
        return None if row is None else _account(row)

    def set_pending(self, username: str, pending: bool) -> None:
        """Mark an account as awaiting (or no longer awaiting) e-mail confirmation."""
        self._change(username, "UPDATE accounts SET pending = ? WHERE username_key = ?", (pending,))

    def set_profile(self, username: str, profile: Profile) -> None:
        """Replace e-mail and profile fields; Conflict when the e-mail belongs to another."""
        if profile.email:
            other = self.find_by_email(profile.email)
            if other is not None and _key(other.user.username) != _key(username):
                raise Conflict("An account with this e-mail address already exists")
        self._change(
            username,
            "UPDATE accounts SET email = ?, email_key = ?, firstname = ?, lastname = ?, "
            "country = ?, domain = ?, usage = ? WHERE username_key = ?",
            (profile.email, _email_key(profile.email), profile.firstname, profile.lastname,
             profile.country, profile.domain, profile.usage),
        )  # fmt: skip

    def pending_before(self, created_before: datetime) -> list[str]:
        """Usernames of accounts still unconfirmed that were created before a time."""
        with self.connect() as conn:
            rows = conn.execute(
                self.dialect.sql(
                    "SELECT username FROM accounts WHERE pending AND created < ? "
                    "ORDER BY username_key"
                ),
                (_epoch(created_before),),
            ).fetchall()
        return [str(row[0]) for row in rows]

    # -- sessions and one-time tokens --------------------------------------------------------
    def add_session(
        self, token_hash: str, username: str, csrf: str, created: datetime, expires: datetime
    ) -> None:
        """Record a login session (the token itself is never stored, only its hash)."""
        self._run(
            "INSERT INTO sessions (token_hash, username_key, csrf, created, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_hash, _key(username), csrf, _epoch(created), _epoch(expires)),
        )

    def get_session(self, token_hash: str, now: datetime) -> tuple[Account, str] | None:
        """The account and CSRF secret of a live session."""
        row = self._one(
            f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}, s.csrf "
            "FROM sessions s JOIN accounts a ON a.username_key = s.username_key "
            "WHERE s.token_hash = ? AND s.expires > ?",
            (token_hash, _epoch(now)),
        )
        return None if row is None else (_account(row[:-1]), str(row[-1]))

    def remove_session(self, token_hash: str) -> None:
        """End one session."""
        self._run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def remove_sessions(self, username: str) -> None:
        """End every session of a user: portal logins and OpenID Connect token sessions (a
        password change or a lock thereby revokes the user's access and refresh tokens)."""
        with self.connect() as conn:
            key = (_key(username),)
            conn.execute(self.dialect.sql("DELETE FROM sessions WHERE username_key = ?"), key)
            conn.execute(
                self.dialect.sql("UPDATE token_sessions SET revoked = TRUE WHERE username_key = ?"),
                key,
            )

    def remove_expired_sessions(self, now: datetime) -> int:
        """Forget sessions that have expired; how many."""
        return self._run("DELETE FROM sessions WHERE expires <= ?", (_epoch(now),)).rowcount

    def add_token(self, token_hash: str, username: str, purpose: str, expires: datetime) -> None:
        """Record a one-time token (confirmation or reset link); replaces older ones."""
        with self.connect() as conn:
            conn.execute(
                self.dialect.sql(
                    "DELETE FROM account_tokens WHERE username_key = ? AND purpose = ?"
                ),
                (_key(username), purpose),
            )
            conn.execute(
                self.dialect.sql(
                    "INSERT INTO account_tokens (token_hash, username_key, purpose, expires) "
                    "VALUES (?, ?, ?, ?)"
                ),
                (token_hash, _key(username), purpose, _epoch(expires)),
            )

    def take_token(self, token_hash: str, purpose: str, now: datetime) -> str | None:
        """Use a one-time token: the username it was for, or None (unknown, used, expired)."""
        with self.connect() as conn:
            row = conn.execute(
                self.dialect.sql(
                    "SELECT a.username, t.expires FROM account_tokens t "
                    "JOIN accounts a ON a.username_key = t.username_key "
                    "WHERE t.token_hash = ? AND t.purpose = ?"
                ),
                (token_hash, purpose),
            ).fetchone()
            cursor = conn.execute(
                self.dialect.sql("DELETE FROM account_tokens WHERE token_hash = ?"),
                (token_hash,),
            )
            if row is None or cursor.rowcount == 0 or float(row[1]) <= _epoch(now):
                return None
            return str(row[0])


def account_columns(alias: str) -> str:
    """The account columns :func:`account_of` reads, qualified by a table ``alias``."""
    return ", ".join(f"{alias}.{column.strip()}" for column in _COLUMNS.split(","))


def account_of(row: Sequence[Any]) -> Account:
    """The account of a row holding :func:`account_columns` first (other stores' joins)."""
    return _account(row[:16])


def _email_key(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def _account(row: Sequence[Any]) -> Account:
    (username, password_hash, email, roles, locked, lock_reason, firstname, lastname, country,
     domain, usage, created, quota, failed, last_failed, pending) = row  # fmt: skip
    user = User(
        username=username,
        roles=_roles(roles),
        email=email,
        locked=bool(locked),
        lock_reason=lock_reason,
        firstname=firstname,
        lastname=lastname,
        country=country,
        domain=domain,
        usage=usage,
        created=_time(created),
        quota=_quota(quota),
        pending=bool(pending),
    )
    return Account(
        user=user,
        password_hash=password_hash,
        failed_logins=int(failed),
        last_failed_login=_time(last_failed),
    )
