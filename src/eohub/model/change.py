"""The catalogue change feed: one event per product created, modified or deleted.

Each event has a sequence number that only grows; a reader that has seen ``seq`` N never later
finds an event with a smaller ``seq`` (the backends assign numbers in commit order). Numbers may
skip values (a rolled-back write consumes some), so readers compare, never count. Frozen values,
no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from eohub.model.product import utc


class ChangeEvent(StrEnum):
    """What happened to a product (the CDSE subscription event names)."""

    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One event of the feed: its sequence number, kind, the product's Id and name, and when
    it was written (UTC)."""

    seq: int
    event: ChangeEvent
    product_id: uuid.UUID
    name: str
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at))
