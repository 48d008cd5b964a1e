"""``DELETE Products('<uuid>')?cause=...&purge=true``: DHuS's deletion of a product.

The catalogue entry goes first (recorded in DeletedProducts with the cause unless ``purge``),
then the product's objects in the archive (product, quicklook, thumbnail). An object that
cannot be removed is logged, not an error: the product is already deleted, and ``eohub fsck``
reports the orphan bytes. Framework-free: the web layer only maps the outcome to HTTP.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from eohub.errors import HubError, NotFound
from eohub.model.deleted import DeletedProduct
from eohub.protocols.dhus.odata_v1.errors import ODataError, bad_request, invalid_key
from eohub.protocols.dhus.odata_v1.options import Segment

log = logging.getLogger("eohub.protocols.odata.deletion")

_PARAMETERS = {"cause", "purge"}


class Deleter(Protocol):
    """What a deletion needs from the catalogue."""

    def delete(
        self, product_id: uuid.UUID, *, cause: str | None = None, purge: bool = False
    ) -> DeletedProduct | None:
        """Remove a product (recording it unless ``purge``); None for an unknown Id."""


class Remover(Protocol):
    """What a deletion needs from the archive."""

    def delete(self, key: str) -> bool:
        """Remove an object; False when it was not there."""


@dataclass(frozen=True)
class DeleteRequest:
    """A parsed DELETE request."""

    product_id: uuid.UUID
    cause: str | None = None
    purge: bool = False


def parse_delete(segments: Sequence[Segment], params: Mapping[str, str]) -> DeleteRequest:
    """The request of ``DELETE Products('<uuid>')``; other resources cannot be deleted."""
    if len(segments) != 1 or segments[0].name != "Products" or segments[0].key is None:
        raise ODataError(405, "Only a product can be deleted: DELETE Products('<Id>')",
                         cause="ODataMethodNotAllowedException")  # fmt: skip
    key = segments[0].key
    try:
        product_id = uuid.UUID(key)
    except ValueError:
        raise invalid_key(key, "Products") from None
    unknown = sorted(set(params) - _PARAMETERS)
    if unknown:
        raise bad_request(f"Invalid parameter '{unknown[0][:40]}' of a deletion (cause, purge)")
    purge = params.get("purge", "false").strip().lower()
    if purge not in ("true", "false"):
        raise bad_request(f"Invalid value '{purge[:20]}' for purge (true or false)")
    return DeleteRequest(product_id, params.get("cause"), purge == "true")


def delete_product(catalogue: Deleter, archive: Remover, request: DeleteRequest) -> DeletedProduct:
    """Delete a product from the catalogue, then its objects; invalid key for an unknown Id."""
    try:
        found = catalogue.delete(request.product_id, cause=request.cause, purge=request.purge)
    except NotFound:
        found = None
    if found is None:
        raise invalid_key(str(request.product_id), "Products")
    product = found.product
    for key in (product.archive_key, product.quicklook_key, product.thumbnail_key):
        if key is None:
            continue
        try:
            if not archive.delete(key):
                log.warning("product %s: object %s was already gone from the archive",
                            product.id, key)  # fmt: skip
        except (HubError, OSError) as exc:  # fsck reports what is left behind
            log.warning("product %s: could not remove %s from the archive: %s",
                        product.id, key, exc)  # fmt: skip
    log.info("deleted product %s (%s)%s", product.id, product.name,
             " and purged it" if request.purge else "")  # fmt: skip
    return found
