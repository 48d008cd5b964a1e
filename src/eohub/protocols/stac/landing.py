"""The landing page, the conformance classes and the collection documents."""

from __future__ import annotations

from typing import Any

from eohub.protocols.stac import collections
from eohub.protocols.stac.extents import WORLD, Extent
from eohub.protocols.stac.items import STAC_VERSION, iso

CATALOG_ID = "eohub"
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
_FEATURES_3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"

CONFORMANCE: tuple[str, ...] = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#query",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    f"{_FEATURES_3}filter",
    f"{_FEATURES_3}features-filter",
    f"{_CQL2}cql2-text",
    f"{_CQL2}cql2-json",
    f"{_CQL2}basic-cql2",
    f"{_CQL2}advanced-comparison-operators",
    f"{_CQL2}basic-spatial-operators",
    f"{_CQL2}basic-spatial-functions",
)
"""Only what works: the temporal, full spatial, array and arithmetic classes are not claimed
(their operators are partly supported; see docs/stac.md)."""


def landing_page(stac: str, title: str) -> dict[str, Any]:
    """The STAC API landing page at ``stac`` (the API root URL)."""
    links = [
        {"rel": "self", "href": stac, "type": JSON},
        {"rel": "root", "href": stac, "type": JSON},
        {"rel": "conformance", "href": f"{stac}/conformance", "type": JSON},
        {"rel": "data", "href": f"{stac}/collections", "type": JSON},
        {"rel": "search", "href": f"{stac}/search", "type": GEOJSON, "method": "GET"},
        {"rel": "search", "href": f"{stac}/search", "type": GEOJSON, "method": "POST"},
        {"rel": "service-desc", "href": f"{stac}/api", "type": OPENAPI},
        {"rel": "service-doc", "href": f"{stac}/api.html", "type": "text/html"},
        {"rel": QUERYABLES_REL, "href": f"{stac}/queryables", "type": SCHEMA_JSON},
    ]
    links += [
        {"rel": "child", "href": f"{stac}/collections/{c.id}", "type": JSON, "title": c.title}
        for c in collections.TABLE
    ]
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": CATALOG_ID,
        "title": title,
        "description": "Sentinel products of this hub, searchable with the STAC API.",
        "conformsTo": list(CONFORMANCE),
        "links": links,
    }


def conformance() -> dict[str, Any]:
    """The conformance document."""
    return {"conformsTo": list(CONFORMANCE)}


def collection_document(
    stac: str, collection: collections.StacCollection, extent: Extent
) -> dict[str, Any]:
    """One STAC collection, with its temporal extent and summaries from the catalogue."""
    base = f"{stac}/collections/{collection.id}"
    interval = [iso(extent.start) if extent.start else None,
                iso(extent.end) if extent.end else None]  # fmt: skip
    # What the catalogue holds; an empty collection shows what it is for.
    summaries: dict[str, Any] = {}
    platforms = [p.lower() for p in extent.platforms] or list(collection.platforms)
    if platforms:
        summaries["platform"] = platforms
    if collection.instruments:
        summaries["instruments"] = list(collection.instruments)
    types = list(extent.product_types) or list(collection.product_types)
    if types:
        summaries["product:type"] = types
    if extent.cloud_cover is not None:
        low, high = extent.cloud_cover
        summaries["eo:cloud_cover"] = {"minimum": low, "maximum": high}
    source = collection.catalogue_collection or "any collection without a STAC mapping"
    kinds = ", ".join(collection.product_types + tuple(f"{p}*" for p in collection.type_prefixes))
    description = collection.description or (
        f"{collection.title}: catalogue collection {source}"
        + (f", product types {kinds}." if kinds else ", product types not listed elsewhere.")
    )
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection.id,
        "title": collection.title,
        "description": description,
        "license": "other",
        "keywords": [k for k in (collection.catalogue_collection, "Copernicus") if k],
        "providers": [
            {"name": "ESA", "roles": ["producer", "licensor"]},
            {"name": CATALOG_ID, "roles": ["host"]},
        ],  # fmt: skip
        "extent": {
            "spatial": {"bbox": [list(WORLD)]},
            "temporal": {"interval": [interval]},
        },
        "summaries": summaries,
        "links": [
            {"rel": "self", "href": base, "type": JSON, "title": collection.title},
            {"rel": "root", "href": stac, "type": JSON, "title": "eohub STAC API"},
            {"rel": "parent", "href": stac, "type": JSON, "title": "eohub STAC API"},
            {"rel": "items", "href": f"{base}/items", "type": GEOJSON, "title": "Items"},
            {
                "rel": QUERYABLES_REL,
                "href": f"{base}/queryables",
                "type": SCHEMA_JSON,
                "title": "Queryables",
            },
        ],
    }


def collections_document(stac: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """``/collections``."""
    return {
        "collections": documents,
        "links": [
            {"rel": "self", "href": f"{stac}/collections", "type": JSON},
            {"rel": "root", "href": stac, "type": JSON},
            {"rel": "parent", "href": stac, "type": JSON},
        ],
        "numberMatched": len(documents),
        "numberReturned": len(documents),
    }
