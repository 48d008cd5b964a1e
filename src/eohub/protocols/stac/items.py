"""Products -> STAC 1.1.0 Items (GeoJSON Features).

The Item id is the product name without extension (``Product.name``), unique in a catalogue.
Properties follow the community extensions CDSE's STAC uses (eo, sat, sar, view, processing,
product, grid); an extension is listed in ``stac_extensions`` only when the Item carries one of
its fields. Assets: ``product`` (the whole product through the OData ``$value`` download),
``quicklook`` and ``thumbnail`` when the hub holds them, and, on the single-Item endpoint only,
one asset per file inside a stored zip (:class:`FileEntry`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from eohub.model.documents import BASE_MARK, DocumentKind, with_base
from eohub.model.product import Product
from eohub.protocols.stac.collections import collection_id_of

STAC_VERSION = "1.1.0"
EXT = {
    "eo": "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "product": "https://stac-extensions.github.io/product/v0.1.0/schema.json",
    "grid": "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
}
# multihash prefix of an MD5 digest: code 0xd5 (varint d5 01), length 16 (0x10)
_MD5_MULTIHASH = "d50110"
_MEDIA = {".zip": "application/zip", ".nc": "application/x-netcdf"}


@dataclass(frozen=True)
class FileEntry:
    """A file inside a stored product: its path below the product's root node and size."""

    path: tuple[str, ...]  # node names from the root (e.g. ("X.SAFE", "manifest.safe"))
    size: int
    media_type: str
    md5: str | None = None  # lower-case hex, when the hub knows the file's checksums


@dataclass(frozen=True)
class Urls:
    """Where links point: the STAC root and the hub root (for OData downloads)."""

    stac: str  # e.g. http://host/stac (no trailing slash)
    hub: str  # e.g. http://host (no trailing slash)

    def odata_product(self, product: Product) -> str:
        """The OData v1 entity URL of a product (ends with ``/``)."""
        return f"{self.hub}/odata/v1/Products('{product.id}')/"

    def item(self, collection_id: str, item_id: str) -> str:
        """The URL of an Item."""
        return f"{self.stac}/collections/{collection_id}/items/{_q(item_id)}"


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def iso(value: datetime) -> str:
    """RFC 3339 UTC with microseconds when there are some (``Z`` suffix)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _properties(product: Product) -> tuple[dict[str, Any], list[str]]:
    props: dict[str, Any] = {
        "datetime": iso(product.sensing.start),
        "start_datetime": iso(product.sensing.start),
        "end_datetime": iso(product.sensing.end),
        "created": iso(product.ingestion_date),
        "updated": iso(product.modification_date),
        "published": iso(product.publication_date),
        "platform": product.platform.lower(),
        "constellation": product.mission.lower(),
        "mission": product.mission.lower(),
    }
    if product.instrument:
        props["instruments"] = [product.instrument.lower()]
    ext: list[str] = []

    def put(extension: str, name: str, value: object) -> None:
        if value is None or value == "":
            return
        props[name] = value
        if extension and extension not in ext:
            ext.append(extension)

    put("eo", "eo:cloud_cover", product.cloud_cover)
    put("sat", "sat:absolute_orbit", product.orbit_number)
    put("sat", "sat:relative_orbit", product.relative_orbit)
    put(
        "sat",
        "sat:orbit_state",
        product.orbit_direction.lower() if product.orbit_direction else None,
    )
    if product.collection == "SENTINEL-1":
        put("sar", "sar:instrument_mode", product.sensor_mode)
        put("sar", "sar:frequency_band", "C")
        put("sar", "sar:center_frequency", 5.405)
        put("sar", "sar:polarizations", (product.polarisation or "").split() or None)
        put("sar", "sar:product_type", product.product_type)
    azimuth = product.attributes.get("illuminationAzimuthAngle")
    zenith = product.attributes.get("illuminationZenithAngle")
    if isinstance(azimuth, (int, float)) and not isinstance(azimuth, bool):
        put("view", "view:sun_azimuth", float(azimuth))
    if isinstance(zenith, (int, float)) and not isinstance(zenith, bool):
        put("view", "view:sun_elevation", round(90.0 - float(zenith), 6))
    put("processing", "processing:level", product.processing_level)
    put("processing", "processing:version", product.processing_baseline)
    put("product", "product:type", product.product_type)
    put("product", "product:timeliness_category", product.timeliness)
    put("grid", "grid:code", f"MGRS-{product.tile_id}" if product.tile_id else None)
    return props, ext


def _media_type(name: str) -> str:
    lower = name.lower()
    return next((t for s, t in _MEDIA.items() if lower.endswith(s)), "application/octet-stream")


def download_name(product: Product) -> str:
    """The file name of the whole-product download (as the OData ``$value`` names it)."""
    if product.archive_key:
        return product.archive_key.rsplit("/", 1)[-1]
    if product.filename.lower().endswith(".nc"):
        return product.filename
    return f"{product.name}.zip"


def _assets(
    product: Product, urls: Urls, files: Sequence[FileEntry] | None
) -> tuple[dict[str, Any], bool]:
    odata = urls.odata_product(product)
    name = download_name(product)
    main: dict[str, Any] = {
        "href": odata + "$value",
        "type": _media_type(name),
        "title": name,
        "roles": ["data"],
        "file:size": product.size,
    }
    md5 = product.checksum("MD5")
    if md5:
        main["file:checksum"] = _MD5_MULTIHASH + md5
    assets: dict[str, Any] = {"product": main}
    if product.quicklook_key:
        assets["quicklook"] = {"href": odata + "Products('Quicklook')/$value",
                               "type": "image/jpeg", "title": "Quicklook",
                               "roles": ["overview"]}  # fmt: skip
    if product.thumbnail_key:
        assets["thumbnail"] = {"href": odata + "Products('Thumbnail')/$value",
                               "type": "image/jpeg", "title": "Thumbnail",
                               "roles": ["thumbnail"]}  # fmt: skip
    for entry in files or ():
        key = "/".join(entry.path[1:]) or entry.path[-1]
        if key in assets:
            key = "file:" + key
        nodes = "/".join(f"Nodes('{_node_key(n)}')" for n in entry.path)
        assets[key] = {"href": f"{odata}{nodes}/$value", "type": entry.media_type,
                       "title": entry.path[-1], "roles": ["data"],
                       "file:size": entry.size}  # fmt: skip
        if entry.md5:
            assets[key]["file:checksum"] = _MD5_MULTIHASH + entry.md5
    return assets, True


def _node_key(name: str) -> str:
    return urllib.parse.quote(name.replace("'", "''"), safe="-._~:!$&*+,;=@")


def render_item(
    product: Product, urls: Urls, *, files: Sequence[FileEntry] | None = None
) -> dict[str, Any]:
    """The STAC Item of one product."""
    collection_id = collection_id_of(product)
    props, ext = _properties(product)
    assets, has_file = _assets(product, urls, files)
    if has_file:
        ext.append("file")
    footprint = product.footprint
    geometry = footprint.geojson if footprint is not None else None
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXT[e] for e in ext],
        "id": product.name,
        "collection": collection_id,
        "geometry": geometry,
    }
    if footprint is not None:
        item["bbox"] = list(footprint.bounds)
    item["properties"] = props
    self_url = urls.item(collection_id, product.name)
    item["links"] = [
        {"rel": "self", "href": self_url, "type": "application/geo+json"},
        {"rel": "parent", "href": f"{urls.stac}/collections/{collection_id}",
         "type": "application/json"},
        {"rel": "collection", "href": f"{urls.stac}/collections/{collection_id}",
         "type": "application/json"},
        {"rel": "root", "href": f"{urls.stac}", "type": "application/json"},
        {"rel": "alternate", "href": urls.odata_product(product), "type": "application/xml",
         "title": "OData v1 entity"},
    ]  # fmt: skip
    item["assets"] = assets
    return item


# The Urls a stored Item is rendered with: every link under the hub's URL, the mark (see
# eohub.model.documents); the STAC root must then be the hub's URL + STORED_STAC_PATH.
STORED_STAC_PATH = "/stac"
_STORED_URLS = Urls(stac=BASE_MARK + STORED_STAC_PATH, hub=BASE_MARK)


def item_document(product: Product) -> bytes:
    """The stored Item of a product (without file assets), links under ``BASE_MARK``."""
    return orjson.dumps(render_item(product, _STORED_URLS))


# Bump when ``render_item`` changes what it writes: older stored Items are then rendered afresh
# when read (see eohub.model.documents).
ITEM_DOCUMENT = DocumentKind("stac_item", 1, item_document, on_write=False)


def serves_stored(urls: Urls) -> bool:
    """Whether stored Items can be served under ``urls`` (else they are rendered)."""
    return urls.stac == urls.hub + STORED_STAC_PATH


def stored_item(document: bytes, urls: Urls) -> orjson.Fragment:
    """A stored Item with its links under ``urls`` (which :func:`serves_stored`)."""
    return orjson.Fragment(with_base(document, urls.hub))


DEFAULT_FIELDS = ("type", "stac_version", "id", "collection", "geometry", "bbox", "links",
                  "assets", "properties.datetime")  # fmt: skip
"""What an Item keeps when a request names an empty or null ``include``."""
IDENTITY_FIELDS = ("type", "stac_version", "id", "links")
"""Kept with any non-empty ``include``, so that the result is still a recognisable Item."""


def apply_fields(
    item: dict[str, Any], include: Sequence[str] | None, exclude: Sequence[str]
) -> None:
    """The fields extension, in place. ``include`` None (not given): every field; empty: the
    :data:`DEFAULT_FIELDS`; else the listed dotted paths plus :data:`IDENTITY_FIELDS`. Then
    ``exclude`` drops paths, except where a path is also included or lies inside an excluded
    one (the more explicit include wins)."""
    wanted = list(include or ())
    if include is None:
        kept = dict(item)
    else:
        kept = {}
        for path in [*IDENTITY_FIELDS, *wanted] if wanted else DEFAULT_FIELDS:
            _copy_path(item, kept, path.split("."))
    for path in exclude:
        _drop_path(kept, path.split("."))
        for again in wanted:
            if again == path or again.startswith(path + "."):
                _copy_path(item, kept, again.split("."))
    item.clear()
    item.update(kept)


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in src:
        return
    if not rest:
        dst[head] = src[head]
        return
    child = src[head]
    if isinstance(child, dict):
        target = dst.setdefault(head, {})
        if isinstance(target, dict):
            _copy_path(child, target, rest)


def _drop_path(obj: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        obj.pop(head, None)
        return
    child = obj.get(head)
    if isinstance(child, dict):
        _drop_path(child, rest)
