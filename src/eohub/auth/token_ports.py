"""The contract of the store behind OpenID Connect tokens and personal API keys.

It lives in the account database (SQLite file or PostgreSQL), so every server process signs
with the same key and sees the same refresh-token state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from eohub.auth.ports import Account


@dataclass(frozen=True)
class SigningKey:
    """An RSA key that signs tokens; ``kid`` names it in token headers and the JWKS."""

    kid: str
    private_pem: str
    created: datetime
    active: bool


@dataclass(frozen=True)
class TokenSession:
    """A chain of tokens started by one grant (Keycloak's session): revoking it ends them all."""

    id: str
    username: str
    client_id: str
    expires: datetime
    revoked: bool


@dataclass(frozen=True)
class ApiKey:
    """A personal API key as listed: never the key itself, only its first characters."""

    name: str
    shown: str
    created: datetime
    last_used: datetime | None
    expires: datetime | None


class TokenStore(Protocol):
    """Signing keys, token sessions, one-time refresh tokens and API keys.

    Usernames are matched regardless of case; rows of a removed account go with it.
    """

    def signing_keys(self) -> list[SigningKey]:
        """Every signing key, the active one first."""

    def add_signing_key(self, key: SigningKey) -> bool:
        """Store a new active key; False when another process stored one first."""

    def start_session(self, session: TokenSession, created: datetime) -> None:
        """Record a new token session (and forget the user's expired ones)."""

    def session_account(self, session_id: str) -> tuple[TokenSession, Account] | None:
        """A token session with its account (None when unknown: ended or account removed)."""

    def revoke_session(self, session_id: str) -> None:
        """End a token session: its access and refresh tokens stop working."""

    def add_refresh(
        self, jti: str, session_id: str, username: str, expires: datetime, *, extend: bool
    ) -> None:
        """Record an unused refresh token; ``extend``: the session lasts until it expires."""

    def use_refresh(self, jti: str) -> str:
        """Mark a refresh token used, at most once across processes.

        Returns ``"ok"`` for the first use, ``"replayed"`` when it was used before, and
        ``"unknown"`` when no such token is recorded.
        """

    def add_api_key(
        self, username: str, name: str, key_hash: str, shown: str, created: datetime,
        expires: datetime | None,
    ) -> None:  # fmt: skip
        """Record a key; Conflict when the user already has a key of this name."""

    def api_keys(self, username: str) -> list[ApiKey]:
        """A user's keys, by name."""

    def remove_api_key(self, username: str, name: str) -> bool:
        """Revoke (delete) a key; False when the user has none of this name."""

    def api_key_account(self, key_hash: str) -> tuple[ApiKey, Account] | None:
        """The key with this hash and its account."""

    def touch_api_key(self, key_hash: str, at: datetime) -> None:
        """Note when a key was last used."""
