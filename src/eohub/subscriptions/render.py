"""Subscriptions and notifications as CDSE JSON (reference: cdse.md section 5.1).

A notification's ``value`` is the product entity with Attributes, Assets and Locations
expanded, or for a product deleted since, its ``DeletedProducts(Attributes())`` entity.
``NotificationDate`` is when the event entered the feed, so a notification read twice is the
same notification. The push endpoint's password is never shown.
"""

from __future__ import annotations

import uuid
from typing import Any

from eohub.protocols.csc.attributes import format_datetime
from eohub.protocols.csc.entities import S3Paths, deleted_entity, product_entity
from eohub.subscriptions.model import Notification, Subscription

SUBSCRIPTION_CONTEXT = "$metadata#OData.CSC.Subscription"
NOTIFICATION_CONTEXT = "$metadata#Notification/$entity"
_EXPAND = ("Attributes", "Assets", "Locations")


def subscription_entity(sub: Subscription) -> dict[str, Any]:
    """One subscription (without the endpoint password)."""
    last = sub.last_notification_date
    return {
        "Id": str(sub.id),
        "Status": sub.status.value,
        "FilterParam": sub.filter_param,
        "SubscriptionEvent": [e.value for e in sub.events],
        "SubmissionDate": format_datetime(sub.submission_date),
        "LastNotificationDate": None if last is None else format_datetime(last),
        "StageOrder": True,
        "Priority": 1,
        "NotificationEndpoint": sub.endpoint,
        "NotificationEpUsername": sub.endpoint_username,
        "AckedPosition": sub.cursor,
    }


def notification(
    note: Notification, sub_id: uuid.UUID, root: str, s3: S3Paths | None = None
) -> dict[str, Any]:
    """The CDSE notification envelope of one event; ``root`` is the OData service root URL,
    ``s3`` the archive's bucket (the entities' S3Path; None with the local folder)."""
    if note.product is not None:
        value = product_entity(note.product, root, _EXPAND, s3=s3)
    else:
        assert note.deleted is not None  # a Notification has one or the other
        value = deleted_entity(note.deleted, root, ("Attributes",))
    return {
        "@odata.context": NOTIFICATION_CONTEXT,
        "SubscriptionEvent": note.change.event.value,
        "ProductId": str(note.change.product_id),
        "ProductName": value.get("Name", note.change.name),
        "SubscriptionId": str(sub_id),
        "NotificationDate": format_datetime(note.change.at),
        "AckId": note.ack_id,
        "value": value,
    }
