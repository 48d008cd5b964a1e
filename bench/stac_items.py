"""STAC items and collections of generated products, written as ndjson for ``pypgstac load``.

Both servers of ``stac_vs_pgstac.py`` must serve the same documents. When the hub has its own
STAC rendering (``eohub.protocols.stac``), items and collections are rendered by it (links to
the hub pointing at :data:`HUB_URL`); while it is missing or fails, :func:`fallback_item`
writes an equivalent STAC 1.1 item: id = product name, the collection,
the search footprint as geometry (split at the antimeridian, as the hub searches it) with its
bbox, ``datetime`` = ``start_datetime`` = sensing start, ``end_datetime`` = sensing end, and
the common fields of the hub's STAC aliases (``query/fields.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from eohub.model import Product

Item = dict[str, Any]
# Where the hub's links point in the stored documents (pgstac keeps links it does not make).
HUB_URL = "http://127.0.0.1"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def fallback_item(product: Product) -> Item:
    """A STAC item of ``product`` with the hub's field names (no assets, no links)."""
    props: dict[str, Any] = {
        "datetime": _iso(product.sensing.start),
        "start_datetime": _iso(product.sensing.start),
        "end_datetime": _iso(product.sensing.end),
        "platform": product.platform.lower(),
        "constellation": product.mission.lower(),
        "instruments": [product.instrument.lower()] if product.instrument else [],
        "product:type": product.product_type,
        "published": _iso(product.publication_date),
        "created": _iso(product.ingestion_date),
        "updated": _iso(product.modification_date),
    }
    optional = {
        "processing:level": product.processing_level,
        "eo:cloud_cover": product.cloud_cover,
        "sat:absolute_orbit": product.orbit_number,
        "sat:relative_orbit": product.relative_orbit,
        "sat:orbit_state": product.orbit_direction.lower() if product.orbit_direction else None,
        "grid:code": f"MGRS-{product.tile_id}" if product.tile_id else None,
    }
    props.update((k, v) for k, v in optional.items() if v is not None)
    footprint = product.footprint
    item: Item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": product.name,
        "collection": product.collection,
        "geometry": footprint.geojson if footprint else None,
        "properties": props,
        "links": [],
        "assets": {},
    }
    if footprint:
        item["bbox"] = list(footprint.bounds)
    return item


def collection_doc(name: str, start: datetime, end: datetime) -> Item:
    """A minimal valid STAC collection (pgstac needs one before its items)."""
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": name,
        "description": f"{name} products",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[_iso(start), _iso(end)]]},
        },
        "links": [],
    }


class Rendering:
    """How items and collections are written: the hub's STAC code or the fallback."""

    def __init__(self, sample: Product) -> None:
        self.name = "bench/stac_items.py fallback"
        self.reason = ""
        self.item: Callable[[Product], Item] = fallback_item
        self.collection: Callable[[str, datetime, datetime], Item] = collection_doc
        try:
            from eohub.protocols.stac import collections, extents, items, landing

            urls = items.Urls(stac=HUB_URL + "/stac", hub=HUB_URL)

            def item(product: Product) -> Item:
                return items.render_item(product, urls)

            def collection(name: str, start: datetime, end: datetime) -> Item:
                extent = extents.Extent(start, end)
                return landing.collection_document(urls.stac, collections.get(name), extent)

            item(sample)
        except Exception as exc:  # the hub's STAC code missing or unfinished: say so, go on
            self.reason = f"{type(exc).__name__}: {exc}"
            return
        self.name, self.item, self.collection = "eohub.protocols.stac", item, collection


def write_ndjson(
    products: Iterable[Product], items: Path, collections: Path, start: datetime, end: datetime
) -> tuple[int, float, Rendering]:
    """Write every product's item to ``items`` and their collections to ``collections``.

    Returns (items written, seconds taken, the rendering used).
    """
    stream = iter(products)
    first = next(stream)
    rendering = Rendering(first)
    names: set[str] = set()
    count = 0
    started = time.perf_counter()
    with items.open("wb") as out:
        for product in chain((first,), stream):
            item = rendering.item(product)
            names.add(str(item["collection"]))
            out.write(orjson.dumps(item))
            out.write(b"\n")
            count += 1
    with collections.open("wb") as out:
        for name in sorted(names):
            out.write(orjson.dumps(rendering.collection(name, start, end)))
            out.write(b"\n")
    return count, time.perf_counter() - started, rendering
