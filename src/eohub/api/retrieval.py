"""Downloads of offline products: queue their retrieval from an upstream hub (the protocols
answer 202 Accepted); shared by the DHuS OData v1, CDSE OData and portal routes."""

from __future__ import annotations

import uuid

import anyio

from eohub.model.user import User
from eohub.wiring import Hub


def _queue(hub: Hub, user: User, product_id: uuid.UUID) -> bool:
    retrievals = hub.retrievals
    if retrievals is None or not retrievals.available():
        return False
    retrievals.request(user, hub.catalogue.get(product_id))
    return True


async def queue_retrieval(hub: Hub, user: User, product_id: uuid.UUID | None) -> bool:
    """Queue ``user``'s retrieval of an offline product; False when this hub has no source
    to retrieve from. RetrievalQuotaExceeded when the user waits for too many already."""
    if product_id is None:
        return False
    return await anyio.to_thread.run_sync(_queue, hub, user, product_id)
