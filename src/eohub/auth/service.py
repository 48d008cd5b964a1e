"""Accounts: who a request is, what they may do, and managing users.

Failed logins are counted per account in the store, so the throttle holds across server
processes: after ``max_failures`` consecutive failures every attempt, even with the right
password, waits a delay that doubles with each further failure (up to ``max_delay_s``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eohub.auth.passwords import Passwords
from eohub.auth.ports import Account, AccountStore
from eohub.errors import Forbidden, NotFound, TooManyRequests, Unauthenticated
from eohub.model.user import DEFAULT_ROLES, USERNAME, Quota, Role, User, check_username

INVALID_CREDENTIALS = "Invalid user name or password"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class LoginPolicy:
    """Throttling of failed logins."""

    max_failures: int = 5
    base_delay_s: int = 30
    max_delay_s: int = 900

    def delay(self, failures: int) -> int:
        """Seconds an account waits after ``failures`` consecutive failures (0: none)."""
        if failures < self.max_failures:
            return 0
        return int(min(self.max_delay_s, self.base_delay_s * 2 ** (failures - self.max_failures)))


def check_active(user: User) -> None:
    """Forbidden when the account may not be used (locked, or not yet confirmed)."""
    if user.pending:
        raise Forbidden(
            f"User '{user.username}' is not confirmed yet: follow the link mailed to you"
        )
    if user.locked:
        reason = f": {user.lock_reason}" if user.lock_reason else ""
        raise Forbidden(f"User '{user.username}' is locked{reason}")


def token_hash(token: str) -> str:
    """How a session or one-time token is stored: its SHA-256 (the token is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Session:
    """A login session: the cookie value, its CSRF secret and when it ends."""

    token: str
    csrf: str
    expires: datetime


def check_password(password: str) -> str:
    """``password`` when acceptable, else ValueError saying why."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


class Accounts:
    """Authentication and user management over an :class:`AccountStore`."""

    def __init__(
        self,
        store: AccountStore,
        *,
        passwords: Passwords | None = None,
        policy: LoginPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self.policy = policy or LoginPolicy()
        self._clock = clock
        self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> User:
        """The active user these credentials belong to.

        Raises Unauthenticated (unknown user or wrong password), TooManyRequests (throttled
        after repeated failures) or Forbidden (a locked account).
        """
        account = self.store.get(username) if USERNAME.match(username) else None
        if account is None:
            self.passwords.verify(self._dummy_hash, password)  # same cost as a real check
            raise Unauthenticated(INVALID_CREDENTIALS)
        wait = self._throttled_for(account)
        if wait > 0:
            raise TooManyRequests(
                f"Too many failed logins for user '{account.user.username}': "
                f"retry in {wait} seconds",
                retry_after=wait,
            )
        if not self.passwords.verify(account.password_hash, password):
            self.store.record_failed_login(username, self._clock())
            raise Unauthenticated(INVALID_CREDENTIALS)
        check_active(account.user)
        if account.failed_logins:
            self.store.clear_failed_logins(username)
        if self.passwords.needs_rehash(account.password_hash):
            self.store.set_password(username, self.passwords.hash(password))
        return account.user

    def _throttled_for(self, account: Account) -> int:
        delay = self.policy.delay(account.failed_logins)
        if not delay or account.last_failed_login is None:
            return 0
        until = account.last_failed_login + timedelta(seconds=delay)
        remaining = (until - self._clock()).total_seconds()
        return max(0, int(remaining + 0.999))

    # -- sessions and one-time links --------------------------------------------------------

    def start_session(self, user: User, lifetime: timedelta) -> Session:
        """A new session for ``user`` (a fresh token on every login: no session fixation)."""
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(24), now + lifetime)
        self.store.add_session(
            token_hash(session.token), user.username, session.csrf, now, session.expires
        )
        return session

    def session_user(self, token: str) -> tuple[User, str] | None:
        """The active user and CSRF secret of a session token; None when not (or no longer)
        valid: expired, ended, or the account was locked or removed."""
        found = self.store.get_session(token_hash(token), self._clock())
        if found is None:
            return None
        account, csrf = found
        if account.user.locked or account.user.pending:
            return None
        return account.user, csrf

    def end_session(self, token: str) -> None:
        """Log out."""
        self.store.remove_session(token_hash(token))

    def issue_token(self, username: str, purpose: str, lifetime: timedelta) -> str:
        """A one-time token (for a mailed link) that replaces the user's older one."""
        token = secrets.token_urlsafe(32)
        self.store.add_token(token_hash(token), username, purpose, self._clock() + lifetime)
        return token

    def use_token(self, token: str, purpose: str) -> str | None:
        """Consume a one-time token: its username, or None (unknown, used or expired)."""
        return self.store.take_token(token_hash(token), purpose, self._clock())

    # -- management ------------------------------------------------------------------------

    def user(self, username: str) -> User:
        """One user; NotFound when unknown."""
        account = self.store.get(username)
        if account is None:
            raise NotFound(f"User '{username}' not found")
        return account.user

    def users(self) -> list[User]:
        """Every user."""
        return self.store.list_users()

    def create(
        self,
        username: str,
        password: str,
        roles: Iterable[Role] = (),
        *,
        pending: bool = False,
        **profile: str | None,
    ) -> User:
        """A new user; without roles it gets SEARCH and DOWNLOAD (as DHuS). A ``pending``
        one cannot log in until it is confirmed (self sign-up)."""
        check_username(username)
        check_password(password)
        user = User(
            username=username,
            roles=frozenset(roles) or DEFAULT_ROLES,
            created=self._clock(),
            pending=pending,
            **profile,  # type: ignore[arg-type]
        )
        self.store.add(user, self.passwords.hash(password))
        return user

    def change_password(
        self, username: str, new_password: str, *, old_password: str | None = None
    ) -> None:
        """Set a new password; with ``old_password`` it must match first."""
        check_password(new_password)
        if old_password is not None:
            account = self.store.get(username)
            if account is None or not self.passwords.verify(account.password_hash, old_password):
                raise Unauthenticated("The current password is wrong")
        self.store.set_password(username, self.passwords.hash(new_password))
        self.store.remove_sessions(username)  # logged-in browsers must log in again

    def set_roles(self, username: str, roles: Iterable[Role]) -> None:
        """Replace a user's roles."""
        self.store.set_roles(username, frozenset(roles))

    def lock(self, username: str, reason: str | None = None) -> None:
        """Lock an account: its credentials stop working at once."""
        self.store.set_lock(username, True, reason or "locked by an administrator")
        self.store.remove_sessions(username)

    def unlock(self, username: str) -> None:
        """Unlock an account (and forget its failed logins)."""
        self.store.set_lock(username, False, None)

    def set_quota(self, username: str, quota: Quota | None) -> None:
        """A user's own download limits (None: the hub's defaults)."""
        self.store.set_quota(username, quota)

    def remove(self, username: str) -> None:
        """Delete an account."""
        self.store.remove(username)

    def confirm(self, username: str) -> None:
        """Mark a signed-up account as confirmed: it can log in from now on."""
        self.store.set_pending(username, False)

    def purge_unconfirmed(self, max_age: timedelta) -> list[str]:
        """Delete accounts left unconfirmed for longer than ``max_age``; their usernames."""
        removed = []
        for username in self.store.pending_before(self._clock() - max_age):
            account = self.store.get(username)
            if account is None or not account.user.pending:  # confirmed meanwhile
                continue
            try:
                self.store.remove(username)
            except NotFound:  # removed by another process meanwhile
                continue
            removed.append(username)
        return removed

    def ensure_administrator(self, username: str, password: str | None) -> str | None:
        """Make sure ``username`` exists with every role (as DHuS's root account).

        The password is used only when the account is created; when none is configured one
        is generated and returned (None when nothing was generated).
        """
        account = self.store.get(username)
        if account is not None:
            if account.user.roles != frozenset(Role):
                self.store.set_roles(username, frozenset(Role))
            return None
        generated = None if password else secrets.token_urlsafe(12)
        self.create(username, password or generated or "", frozenset(Role))
        return generated
