"""Personal API keys: long-lived secrets a user makes, names, and revokes.

A key is ``eohub_`` followed by 256 random bits; only its SHA-256 is stored (a key is as
strong as a random token, so a slow password hash would only slow every request). The prefix
tells a key from a JWT where either may come (``Authorization: Bearer``, ``?token=``) and
from a password in HTTP Basic.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eohub.auth.token_ports import ApiKey, TokenStore
from eohub.errors import Conflict, NotFound
from eohub.model.user import User

PREFIX = "eohub_"
MAX_NAME = 64
_TOUCH_EVERY = timedelta(minutes=1)
"""How stale ``last used`` may get: a write on every request would cost more than it tells."""


def is_api_key(value: str) -> bool:
    """Whether ``value`` has the form of an API key (it may still be unknown)."""
    return value.startswith(PREFIX)


def key_hash(key: str) -> str:
    """How a key is stored."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def check_name(name: str) -> str:
    """``name`` stripped when acceptable, else ValueError saying why."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise ValueError(f"an API key name needs 1 to {MAX_NAME} printable characters")
    return name


class ApiKeys:
    """Create, list, revoke and check personal API keys."""

    def __init__(
        self,
        store: TokenStore,
        *,
        max_keys: int = 20,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._max_keys = max_keys
        self._clock = clock

    def create(
        self, username: str, name: str, *, lifetime: timedelta | None = None
    ) -> tuple[ApiKey, str]:
        """A new key of ``username``: its listing and the key itself (shown only now).

        ValueError for a bad name; Conflict for a name in use or too many keys.
        """
        name = check_name(name)
        if len(self._store.api_keys(username)) >= self._max_keys:
            raise Conflict(f"You have {self._max_keys} API keys already: revoke one first")
        key = PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        expires = None if lifetime is None else now + lifetime
        shown = key[: len(PREFIX) + 4] + "…"
        self._store.add_api_key(username, name, key_hash(key), shown, now, expires)
        return ApiKey(name, shown, now, None, expires), key

    def list(self, username: str) -> list[ApiKey]:
        """The user's keys, by name."""
        return self._store.api_keys(username)

    def revoke(self, username: str, name: str) -> None:
        """Revoke a key at once; NotFound when the user has none of this name."""
        if not self._store.remove_api_key(username, name):
            raise NotFound(f"No API key named '{name}'")

    def user_of(self, key: str) -> User | None:
        """The active user a key belongs to; None for an unknown, expired or revoked key or an
        account that is locked or not confirmed."""
        digest = key_hash(key)
        found = self._store.api_key_account(digest)
        if found is None:
            return None
        listed, account = found
        now = self._clock()
        if listed.expires is not None and listed.expires <= now:
            return None
        if account.user.locked or account.user.pending:
            return None
        if listed.last_used is None or now - listed.last_used > _TOUCH_EVERY:
            self._store.touch_api_key(digest, now)
        return account.user
