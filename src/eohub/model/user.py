"""Users and roles (DHuS role names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
        """Parse a role name in any case."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {text!r} (valid roles: {valid})") from None


@dataclass(frozen=True)
class User:
    """A hub account."""

    username: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    email: str | None = None
    locked: bool = False
