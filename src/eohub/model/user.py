"""Users, roles and download quotas (DHuS role names and quota semantics)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

USERNAME = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
"""DHuS's username rule (``^[a-zA-Z0-9\\._\\-]+$``), bounded in length."""


class Role(StrEnum):
    """The DHuS roles; parsing is case-insensitive."""

    SEARCH = "search"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    DATA_MANAGER = "data_manager"
    USER_MANAGER = "user_manager"
    SYSTEM_MANAGER = "system_manager"
    ARCHIVE_MANAGER = "archive_manager"
    STATISTICS = "statistics"

    @classmethod
    def parse(cls, text: str) -> Role:
        """Parse a role name in any case (``ROLE_`` prefix allowed, as DHuS authorities)."""
        name = text.strip().lower().removeprefix("role_")
        try:
            return cls(name)
        except ValueError:
            valid = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {text!r} (valid roles: {valid})") from None


DEFAULT_ROLES = frozenset({Role.SEARCH, Role.DOWNLOAD})
"""What a user created without roles gets, as in DHuS."""


def check_username(name: str) -> str:
    """``name`` when it is a valid username, else ValueError naming the rule."""
    if not USERNAME.match(name):
        raise ValueError(
            f"invalid username {name[:80]!r}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return name


@dataclass(frozen=True)
class Quota:
    """Per-user download limits; ``None`` means no limit (DHuS channel user quotas)."""

    max_concurrent: int | None = None
    max_count: int | None = None
    """Downloads started per ``period_s`` (sliding window)."""
    max_volume: int | None = None
    """Bytes downloaded per ``period_s`` (sliding window)."""
    max_size: int | None = None
    """Largest single download in bytes."""
    max_bandwidth: int | None = None
    """Bytes per second of one download."""
    period_s: int = 86_400

    def merged(self, override: Quota | None) -> Quota:
        """This quota with every limit ``override`` sets replacing ours."""
        if override is None:
            return self
        return Quota(
            max_concurrent=_pick(override.max_concurrent, self.max_concurrent),
            max_count=_pick(override.max_count, self.max_count),
            max_volume=_pick(override.max_volume, self.max_volume),
            max_size=_pick(override.max_size, self.max_size),
            max_bandwidth=_pick(override.max_bandwidth, self.max_bandwidth),
            period_s=override.period_s,
        )


def _pick(mine: int | None, default: int | None) -> int | None:
    return default if mine is None else mine


@dataclass(frozen=True)
class User:
    """A hub account (without its password hash)."""

    username: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    email: str | None = None
    locked: bool = False
    lock_reason: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    country: str | None = None
    domain: str | None = None
    usage: str | None = None
    created: datetime | None = None
    quota: Quota | None = None
    """Limits of this user that differ from the hub's defaults."""
    pending: bool = False
    """Signed up but not yet confirmed by the link mailed to them: cannot log in."""

    def has(self, role: Role) -> bool:
        """Whether the user holds ``role``."""
        return role in self.roles


ANONYMOUS = User(username="anonymous")
"""Who a request without credentials is, where the hub allows anonymous access."""
