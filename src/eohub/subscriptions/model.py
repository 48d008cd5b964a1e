"""Subscription values: what a user asked for, where its cursor is, what a Read returns.

Frozen values, no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from eohub.model.change import Change, ChangeEvent
from eohub.model.deleted import DeletedProduct
from eohub.model.product import Product


class SubscriptionStatus(StrEnum):
    """CDSE's statuses. A paused subscription can still be read (nothing is lost while it is
    paused) but is not pushed; a cancelled one can be listed and deleted, nothing else."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class NewSubscription:
    """What a create request asks for (already parsed from the wire)."""

    filter_param: str
    events: tuple[ChangeEvent, ...] = (ChangeEvent.CREATED,)
    status: SubscriptionStatus = SubscriptionStatus.RUNNING
    endpoint: str | None = None
    endpoint_username: str | None = None
    endpoint_password: str | None = None


@dataclass(frozen=True)
class SubscriptionChanges:
    """What a PATCH changes; None leaves a value as it is. ``clear_endpoint`` removes the push
    endpoint and its credentials (the subscription becomes pull only)."""

    status: SubscriptionStatus | None = None
    endpoint: str | None = None
    endpoint_username: str | None = None
    endpoint_password: str | None = None
    clear_endpoint: bool = False


@dataclass(frozen=True)
class Subscription:
    """A stored subscription. ``cursor`` is the feed position acknowledged so far: every event
    up to it was delivered, acknowledged or could never match."""

    id: uuid.UUID
    owner: str
    filter_param: str
    events: tuple[ChangeEvent, ...]
    status: SubscriptionStatus
    submission_date: datetime
    cursor: int
    endpoint: str | None = None
    endpoint_username: str | None = None
    endpoint_password: str | None = field(default=None, repr=False)
    last_notification_date: datetime | None = None

    @property
    def push(self) -> bool:
        """Whether notifications are pushed to an endpoint."""
        return self.endpoint is not None


@dataclass(frozen=True)
class Notification:
    """One feed event for a subscription: the event, and the product as it is now (created,
    modified) or its deletion record (deleted). ``ack_id`` is the event's feed position."""

    change: Change
    product: Product | None = None
    deleted: DeletedProduct | None = None

    @property
    def ack_id(self) -> int:
        """What the client acknowledges (the feed sequence number)."""
        return self.change.seq


@dataclass(frozen=True)
class AckResult:
    """The answer to an Ack: messages acknowledged now and those still waiting."""

    acknowledged: int
    queue_length: int


@dataclass(frozen=True)
class Limits:
    """Per-user limits and Read bounds (see ``docs/subscriptions.md``)."""

    max_running: int = 10
    max_total: int = 50
    max_top: int = 1000
    scan_events: int = 50_000
    """Feed events one Read or Ack looks at, at most (bounds the work of one request)."""
