"""Catalogue subscriptions (CDSE ``/odata/v1/Subscriptions``) on top of the change feed:
pull with Read/Ack and cumulative acknowledgement, push with retries, and the background worker
that also drives the saved-search mails."""

from eohub.subscriptions.model import (
    AckResult,
    Limits,
    NewSubscription,
    Notification,
    Subscription,
    SubscriptionChanges,
    SubscriptionStatus,
)
from eohub.subscriptions.service import Subscriptions

__all__ = [
    "AckResult",
    "Limits",
    "NewSubscription",
    "Notification",
    "Subscription",
    "SubscriptionChanges",
    "SubscriptionStatus",
    "Subscriptions",
]
