"""The contract of an account store (SQLite file or PostgreSQL, next to the catalogue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from eohub.model.user import Quota, Role, User


@dataclass(frozen=True)
class Account:
    """A stored account: the user, its password hash and its recent failed logins."""

    user: User
    password_hash: str
    failed_logins: int = 0
    last_failed_login: datetime | None = None


@dataclass(frozen=True)
class Profile:
    """What a user says about themselves (sign-up form, profile page)."""

    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    country: str | None = None
    domain: str | None = None
    usage: str | None = None


@dataclass(frozen=True)
class Usage:
    """Downloads a user started within a period: how many and how many bytes."""

    count: int
    volume: int


class AccountStore(Protocol):
    """Stores accounts and download records; usernames are unique regardless of case.

    Methods that change an account raise ``eohub.errors.NotFound`` for an unknown username;
    ``add`` raises ``eohub.errors.Conflict`` for a taken one.
    """

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent, safe when several processes start)."""

    def get(self, username: str) -> Account | None:
        """One account, looked up case-insensitively."""

    def list_users(self) -> list[User]:
        """Every account, by username."""

    def add(self, user: User, password_hash: str) -> None:
        """Create an account."""

    def set_password(self, username: str, password_hash: str) -> None:
        """Replace the password hash (and clear failed logins)."""

    def set_roles(self, username: str, roles: frozenset[Role]) -> None:
        """Replace the roles."""

    def set_lock(self, username: str, locked: bool, reason: str | None) -> None:
        """Lock (with a reason) or unlock an account."""

    def set_quota(self, username: str, quota: Quota | None) -> None:
        """Set the user's own limits (None: the hub's defaults)."""

    def remove(self, username: str) -> None:
        """Delete an account and its download records."""

    def record_failed_login(self, username: str, at: datetime) -> int:
        """Count one more failed login; returns the consecutive failures (0: unknown user)."""

    def clear_failed_logins(self, username: str) -> None:
        """Forget failed logins after a successful one."""

    def record_download(
        self, username: str, product_id: uuid.UUID, size: int, at: datetime, *, counted: bool
    ) -> None:
        """Record ``size`` bytes requested by ``username``; ``counted``: a new download."""

    def usage_since(self, username: str, since: datetime) -> Usage:
        """Counted downloads and bytes of ``username`` at or after ``since``."""

    def open_flow(
        self, username: str, flow: str, now: datetime, expires: datetime, limit: int | None
    ) -> bool:
        """Start a download flow leased until ``expires`` unless ``username`` has ``limit``
        unexpired ones (in every server process); whether it started."""

    def renew_flow(self, flow: str, expires: datetime) -> None:
        """Extend a flow's lease."""

    def close_flow(self, flow: str) -> None:
        """End a flow (idempotent)."""

    def open_flows(self, username: str, now: datetime) -> int:
        """The user's unexpired flows."""

    def find_by_email(self, email: str) -> Account | None:
        """The account with this e-mail address (case-insensitive)."""

    def set_pending(self, username: str, pending: bool) -> None:
        """Mark an account as awaiting (or no longer awaiting) e-mail confirmation."""

    def set_profile(self, username: str, profile: Profile) -> None:
        """Replace e-mail and profile fields; Conflict when the e-mail belongs to another."""

    def pending_before(self, created_before: datetime) -> list[str]:
        """Usernames of unconfirmed accounts created before a time."""

    def add_session(
        self, token_hash: str, username: str, csrf: str, created: datetime, expires: datetime
    ) -> None:
        """Record a login session (only the token's hash is stored)."""

    def get_session(self, token_hash: str, now: datetime) -> tuple[Account, str] | None:
        """The account and CSRF secret of a live session."""

    def remove_session(self, token_hash: str) -> None:
        """End one session."""

    def remove_sessions(self, username: str) -> None:
        """End every session of a user (portal logins and token sessions)."""

    def remove_expired_sessions(self, now: datetime) -> int:
        """Forget expired sessions; how many."""

    def add_token(self, token_hash: str, username: str, purpose: str, expires: datetime) -> None:
        """Record a one-time token; it replaces the user's older token of that purpose."""

    def take_token(self, token_hash: str, purpose: str, now: datetime) -> str | None:
        """Use a one-time token: its username, or None when unknown, used or expired."""

    def close(self) -> None:
        """Release connections."""
