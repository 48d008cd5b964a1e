"""The client of a CDSE-style OData source (CDSE, or another eohub's ``/catalogue/odata/v1``).

Pages are read in ``PublicationDate`` then ``Id`` order by following the server's
``@odata.nextLink`` (a keyset ``$skiptoken`` on eohub: every page is an index range scan, however
deep). Requests are retried like the DHuS client's (see :mod:`eohub.sync.remote`); only the
paths, the JSON shape (``{"value": [...]}``) and the key syntax differ.
"""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson

from eohub.errors import HubError
from eohub.sync.cdse_entry import parse_datetime
from eohub.sync.remote import RemoteError, RemoteHub

SERVICE = "/catalogue/odata/v1"
# The entity properties a synchroniser reads (not GeoFootprint: the same shape as Footprint).
SELECT = (
    "Id,Name,ContentLength,OriginDate,PublicationDate,ModificationDate,Online,Checksum,"
    "ContentDate,Footprint"
)


def cdse_root(url: str) -> str:
    """The service root of ``url``: a hub's base URL gets ``/catalogue/odata/v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/odata/v1") else f"{url}{SERVICE}"


class CdseHub(RemoteHub):
    """Pages of products and deletions, and product bytes, from one CDSE-style service."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.root = cdse_root(url)

    def _get_value(
        self, url: str, params: dict[str, str] | None, what: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        def once() -> tuple[list[dict[str, Any]], str | None]:
            try:
                response = self.client.get(url, params=params)
                self.check(response, what)
                body = orjson.loads(response.content)
            except httpx.TransportError as exc:
                raise RemoteError(f"{what}: {type(exc).__name__}: {exc}") from None
            except orjson.JSONDecodeError:
                raise RemoteError(
                    f"{what}: the remote answered with a body that is not JSON"
                ) from None
            values = body.get("value") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise RemoteError(f"{what}: the remote answer is not an OData JSON collection")
            link = body.get("@odata.nextLink")
            if isinstance(link, str) and link:
                link = urllib.parse.urljoin(url, link)
            else:
                link = None
            return [v for v in values if isinstance(v, dict)], link

        result: tuple[list[dict[str, Any]], str | None] = self.retrying(what, once)
        return result

    def product_page(
        self, *, filter: str | None, top: int, link: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of Product entities with Attributes and Assets, in publication order, and
        the next page's link (None at the end); ``link`` continues a previous page."""
        if link is not None:
            return self._get_value(link, None, "listing remote products")
        params = {"$orderby": "PublicationDate asc", "$top": str(top),
                  "$expand": "Attributes,Assets", "$select": SELECT}  # fmt: skip
        if filter:
            params["$filter"] = filter
        return self._get_value(f"{self.root}/Products", params, "listing remote products")

    def deleted_page(
        self, *, filter: str | None, top: int, link: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of DeletedProduct entities by DeletionDate then Id, and the next link."""
        if link is not None:
            return self._get_value(link, None, "listing remote deletions")
        params = {"$orderby": "DeletionDate asc", "$top": str(top),
                  "$select": "Id,Name,DeletionDate"}  # fmt: skip
        if filter:
            params["$filter"] = filter
        return self._get_value(f"{self.root}/DeletedProducts", params, "listing remote deletions")

    def newest(self, filter: str | None = None) -> datetime | None:
        """The PublicationDate of the source's newest product (matching ``filter``), None
        when it has none."""
        params = {"$orderby": "PublicationDate desc", "$top": "1", "$select": "PublicationDate"}
        if filter:
            params["$filter"] = filter
        values, _ = self._get_value(
            f"{self.root}/Products", params, "reading the newest remote product"
        )
        try:
            return parse_datetime(values[0].get("PublicationDate"), "PublicationDate")
        except (IndexError, HubError):
            return None

    def availability(self, product_id: uuid.UUID) -> tuple[bool, str | None] | None:
        """(online there, its MD5 there) from the ``Products(<id>)`` entity; None on 404."""
        what = f"reading product {product_id}"
        entity = self.json_or_none(f"{self.root}/Products({product_id})", {}, what)
        if entity is None:
            return None
        if not isinstance(entity, dict) or "Id" not in entity:
            raise RemoteError(f"{what}: the remote answer is not a product entity")
        md5 = next((c.get("Value") for c in entity.get("Checksum") or []
                    if isinstance(c, dict) and c.get("Algorithm") == "MD5"), None)  # fmt: skip
        online = entity.get("Online") is not False
        return online, md5.lower() if isinstance(md5, str) else None

    def value_url(self, product_id: uuid.UUID) -> str:
        """``Products(<id>)/$value``, CDSE's key syntax."""
        return f"{self.root}/Products({product_id})/$value"

    def derived(self, product_id: uuid.UUID, kind: str) -> bytes | None:
        """CDSE-style sources give previews as assets (see ``RemoteProduct.quicklook_url``)."""
        return None
