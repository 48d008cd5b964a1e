"""Deleted products: a product removed from the catalogue, with when and why (DHuS
``DeletedProducts``). Frozen values, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from eohub.model.product import Product, utc

MAX_CAUSE_LENGTH = 1000


@dataclass(frozen=True)
class DeletedProduct:
    """A product as it was when it was deleted, the UTC time of the deletion and its cause."""

    product: Product
    deletion_date: datetime
    deletion_cause: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "deletion_date", utc(self.deletion_date))

    @property
    def id(self) -> uuid.UUID:
        """The Id the product had (kept across hubs)."""
        return self.product.id

    @property
    def name(self) -> str:
        """The product identifier (name without extension)."""
        return self.product.name


def cause_problem(cause: str) -> str | None:
    """Why ``cause`` cannot be recorded as a deletion cause, or None when it can."""
    if len(cause) > MAX_CAUSE_LENGTH:
        return f"a deletion cause has at most {MAX_CAUSE_LENGTH} characters"
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in cause) or "\x7f" in cause:
        return "a deletion cause cannot contain control characters"
    try:
        cause.encode("utf-8")
    except UnicodeEncodeError:
        return "a deletion cause must be valid Unicode text"
    return None
