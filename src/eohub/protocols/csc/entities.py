"""Products and deleted products as CDSE OData JSON entities (reference: cdse.md section 1.2).

Every datetime has six fractional digits and ``Z``; ``EvictionDate`` is CDSE's "never"
(``9999-12-31T23:59:59.999999Z``) unless an eviction policy gives the product a date.
``S3Path`` is where the bytes are when the archive is an S3 bucket, in CDSE's form
``/<bucket>/<key>`` (CDSE writes ``/eodata/Sentinel-1/...``; clients strip the bucket or put
``s3:/`` in front), and null with the local-folder archive, for a product without bytes here
and for deleted products. ``Footprint`` and ``GeoFootprint`` are the search footprint (WGS84,
split at the antimeridian), so both are valid lon/lat geometries.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import shapely
from shapely.geometry import MultiPolygon, Polygon

from eohub.model.deleted import DeletedProduct
from eohub.model.documents import DocumentKind
from eohub.model.files import FileDigest
from eohub.model.geometry import Footprint
from eohub.model.product import Checksum, Product
from eohub.protocols.csc.attributes import format_datetime, product_attributes

NEVER = "9999-12-31T23:59:59.999999Z"
CONTENT_TYPE = "application/octet-stream"
EXPANSIONS = ("Attributes", "Assets", "Locations")
DELETED_EXPANSIONS = ("Attributes",)
PROPERTIES = (
    "Id",
    "Name",
    "ContentType",
    "ContentLength",
    "OriginDate",
    "PublicationDate",
    "ModificationDate",
    "Online",
    "EvictionDate",
    "S3Path",
    "Checksum",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
)
DELETED_PROPERTIES = (*PROPERTIES[:9], "DeletionDate", "DeletionCause", *PROPERTIES[9:])
# Asset Ids are the product Id XOR this mask: stable, distinct from the product Id, and
# reversible, so ``Assets(<id>)/$value`` finds its product without a table of assets.
_ASSET_MASK = uuid.uuid5(uuid.NAMESPACE_URL, "eohub:csc:asset:quicklook").int


@dataclass(frozen=True)
class S3Paths:
    """Where the archive's objects are when it is an S3 bucket: ``S3Path`` values."""

    bucket: str
    prefix: str = ""  # the store's key prefix: empty, or ending with "/"

    def path(self, key: str | None) -> str | None:
        """``/<bucket>/<prefix><key>`` of an archive key (None for None)."""
        return None if key is None else f"/{self.bucket}/{self.prefix}{key}"


def _s3_path(s3: S3Paths | None, key: str | None) -> str | None:
    return None if s3 is None else s3.path(key)


def context(entity_set: str, expand: Collection[str] = (), *, entity: bool = False) -> str:
    """``$metadata#Products``, ``$metadata#Products(Attributes(),Assets())/$entity``..."""
    shown = ",".join(f"{name}()" for name in EXPANSIONS if name in expand)
    text = f"$metadata#{entity_set}" + (f"({shown})" if shown else "")
    return text + ("/$entity" if entity else "")


def quicklook_id(product_id: uuid.UUID) -> uuid.UUID:
    """The Id of a product's quicklook asset."""
    return uuid.UUID(int=product_id.int ^ _ASSET_MASK)


def asset_product(asset: uuid.UUID) -> uuid.UUID:
    """The product Id behind an asset Id (the inverse of :func:`quicklook_id`)."""
    return uuid.UUID(int=asset.int ^ _ASSET_MASK)


def file_checksums(digest: FileDigest | None, computed_at: datetime) -> list[dict[str, Any]]:
    """The ``Checksum`` list of a file inside a product (empty when unknown)."""
    if digest is None:
        return []
    return checksums(
        [Checksum("MD5", digest.md5, computed_at), Checksum("BLAKE3", digest.blake3, computed_at)]
    )


def checksums(values: Collection[Checksum]) -> list[dict[str, Any]]:
    """``[{"Value", "Algorithm", "ChecksumDate"}]``, MD5 first then BLAKE3 then any other."""
    order = {"MD5": 0, "BLAKE3": 1}
    return [
        {
            "Value": c.value,
            "Algorithm": c.algorithm,
            "ChecksumDate": format_datetime(c.computed_at) if c.computed_at else None,
        }
        for c in sorted(values, key=lambda c: (order.get(c.algorithm, 2), c.algorithm))
    ]


def _rings(polygon: Polygon) -> list[list[list[float]]]:
    rings = (polygon.exterior, *polygon.interiors)
    return [shapely.get_coordinates(ring).tolist() for ring in rings]


def geojson(footprint: Footprint) -> dict[str, Any]:
    """GeoJSON of the search geometry, as ``Footprint.geojson`` but with the coordinates read
    in one array per ring (five times faster than shapely's ``mapping``; the same JSON)."""
    geom = footprint.search
    if isinstance(geom, Polygon):
        return {"type": "Polygon", "coordinates": _rings(geom)}
    if isinstance(geom, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [_rings(part) for part in geom.geoms]}
    return footprint.geojson


def footprint_literal(footprint: Footprint | None) -> str | None:
    """``geography'SRID=4326;POLYGON ((...))'``, or None."""
    return None if footprint is None else f"geography'SRID=4326;{footprint.search_wkt}'"


def product_path(root: str, product_id: uuid.UUID) -> str:
    """``<root>/Products(<id>)``."""
    return f"{root}/Products({product_id})"


def assets(product: Product, root: str, s3: S3Paths | None = None) -> list[dict[str, Any]]:
    """The quicklook asset, when the product has one."""
    if not product.quicklook_key:
        return []
    asset = quicklook_id(product.id)
    return [
        {
            "Type": "QUICKLOOK",
            "Id": str(asset),
            "DownloadLink": f"{root}/Assets({asset})/$value",
            "S3Path": _s3_path(s3, product.quicklook_key),
        }
    ]


def locations(product: Product, root: str, s3: S3Paths | None = None) -> list[dict[str, Any]]:
    """Where the bytes can be fetched: the product's ``$value`` when the hub holds them."""
    if not (product.online and product.archive_key):
        return []
    return [
        {
            "FormatType": "Extracted",
            "DownloadLink": f"{product_path(root, product.id)}/$value",
            "ContentLength": product.size,
            "Checksum": checksums(product.checksums),
            "S3Path": _s3_path(s3, product.archive_key),
        }
    ]


def _body(product: Product, s3: S3Paths | None = None) -> dict[str, Any]:
    online = bool(product.online and product.archive_key)
    return {
        "@odata.mediaContentType": CONTENT_TYPE,
        "Id": str(product.id),
        "Name": product.filename,
        "ContentType": CONTENT_TYPE,
        "ContentLength": product.size,
        "OriginDate": format_datetime(product.ingestion_date),
        "PublicationDate": format_datetime(product.publication_date),
        "ModificationDate": format_datetime(product.modification_date),
        "Online": online,
        "EvictionDate": NEVER,
        "S3Path": _s3_path(s3, product.archive_key) if online else None,
        "Checksum": checksums(product.checksums),
        "ContentDate": {
            "Start": format_datetime(product.sensing.start),
            "End": format_datetime(product.sensing.end),
        },
        "Footprint": footprint_literal(product.footprint),
        "GeoFootprint": geojson(product.footprint) if product.footprint else None,
    }


def product_document(product: Product) -> bytes:
    """The entity without expansions as JSON bytes, with the local-folder archive (S3Path
    null): the catalogue keeps these (document kind ``PRODUCT_DOCUMENT``) so that long pages
    are read, not rendered."""
    return orjson.dumps(_body(product))


# Bump the version whenever ``_body`` changes what it writes: stored documents of an older
# version are then rendered afresh when read, until ``eohub fsck --repair`` stores new ones.
DOCUMENT_VERSION = 1
PRODUCT_DOCUMENT = DocumentKind("csc_product", DOCUMENT_VERSION, product_document)


def product_document_kind(s3: S3Paths | None) -> DocumentKind:
    """The stored CDSE entity of a hub whose archive is ``s3`` (None: the local folder).

    The S3Path is written into the stored documents, so the bucket and prefix take part in
    the version: a hub that moves its archive to another bucket (or from its local folder to
    S3) then renders its documents afresh rather than serve old paths.
    """
    if s3 is None:
        return PRODUCT_DOCUMENT
    where = zlib.crc32(f"{s3.bucket}/{s3.prefix}".encode()) & 0xFFFFFF
    # DOCUMENT_VERSION stays below 64; the result fits PostgreSQL's integer column.
    version = DOCUMENT_VERSION + 64 * (1 + where)

    def render(product: Product) -> bytes:
        return orjson.dumps(_body(product, s3))

    return DocumentKind(PRODUCT_DOCUMENT.name, version, render)


def product_entity(
    product: Product,
    root: str,
    expand: Collection[str] = (),
    *,
    eviction_date: datetime | None = None,
    s3: S3Paths | None = None,
) -> dict[str, Any]:
    """One product as CDSE shows it, with the asked expansions (Attributes, Assets,
    Locations) after the properties. ``root`` is the absolute service root URL;
    ``eviction_date`` the date the rolling archive would evict it (None: never); ``s3`` the
    bucket of the archive (None: the local folder, S3Path null)."""
    entity = _body(product, s3)
    if eviction_date is not None:
        entity["EvictionDate"] = format_datetime(eviction_date)
    if "Attributes" in expand:
        entity["Attributes"] = product_attributes(product)
    if "Assets" in expand:
        entity["Assets"] = assets(product, root, s3)
    if "Locations" in expand:
        entity["Locations"] = locations(product, root, s3)
    return entity


def deleted_entity(
    deleted: DeletedProduct, root: str, expand: Collection[str] = ()
) -> dict[str, Any]:
    """One deleted product: the product's properties (offline, no bytes) with its
    ``DeletionDate`` and ``DeletionCause``; only Attributes can be expanded."""
    del root  # a deleted product links nowhere; kept for the same signature as products
    body = _body(deleted.product)
    body["Online"] = False
    entity: dict[str, Any] = {}
    for name, value in body.items():
        if name == "S3Path":
            entity["DeletionDate"] = format_datetime(deleted.deletion_date)
            entity["DeletionCause"] = deleted.deletion_cause
        entity[name] = value
    if "Attributes" in expand:
        entity["Attributes"] = product_attributes(deleted.product)
    return entity


def select(entity: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """The entity with only the selected properties (``Id`` always, expansions kept, the
    server's order); no names or ``*`` keeps everything."""
    if not names or "*" in names:
        return entity
    keep = {"@odata.mediaContentType", "Id", *names, *EXPANSIONS}
    return {k: v for k, v in entity.items() if k in keep}
