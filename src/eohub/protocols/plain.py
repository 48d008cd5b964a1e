"""eohub's own plain JSON search: simple parameters in, JSON documents out.

Parameters (all optional):
- ``<field>=value`` for any registered field (canonical names, see ``eohub.query.fields``);
  ``a,b,c`` means one of them; ``low..high`` is an inclusive range with open ends allowed;
- ``bbox=minlon,minlat,maxlon,maxlat`` or ``geometry=<WKT>`` with ``relation`` =
  ``intersects`` (default) | ``within`` | ``contains``;
- ``start``/``end``: products whose sensing period overlaps [start, end];
- ``text``: full text over metadata values; ``sort=-sensing_start,name``; ``limit`` (default
  10, max 1000); ``offset``; ``cursor`` (the ``next`` token of the previous page);
  ``count=true`` for the exact number of matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eohub.errors import InvalidQuery
from eohub.model.geometry import Footprint
from eohub.model.product import Product, utc
from eohub.query.fields import FIELDS, FieldType
from eohub.query.query import CountMode, Cursor, Page, Query, SortKey
from eohub.query.tree import (
    Compare,
    CompareOp,
    In,
    Node,
    Range,
    Spatial,
    SpatialOp,
    Text,
    and_,
)

MAX_LIMIT = 1000
_RESERVED = {"bbox", "geometry", "relation", "start", "end", "text", "sort", "limit", "offset",
             "cursor", "count"}  # fmt: skip


def parse_datetime(text: str, *, name: str) -> datetime:
    """An ISO-8601 date or datetime (UTC when no zone is given)."""
    try:
        return utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise InvalidQuery(f"'{name}' is not an ISO-8601 date/time: {text!r}", field=name) from None


def _scalar(field_name: str, text: str) -> object:
    field = FIELDS.get(field_name)
    t = field.type
    try:
        if t is FieldType.INT:
            return int(text)
        if t is FieldType.FLOAT:
            return float(text)
        if t is FieldType.BOOL:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
    except ValueError:
        raise InvalidQuery(
            f"field '{field_name}' expects a {t.value} value, got {text!r}", field=field_name
        ) from None
    if t is FieldType.DATETIME:
        return parse_datetime(text, name=field_name)
    return text


def _field_filter(name: str, raw: str) -> Node:
    field = FIELDS.get(name)
    if field.type is FieldType.GEOMETRY:
        raise InvalidQuery("use 'bbox' or 'geometry' for spatial filters", field=name)
    if ".." in raw and field.type is not FieldType.STRING:
        low, high = raw.split("..", 1)
        return Range(
            name,
            low=_scalar(name, low) if low else None,  # type: ignore[arg-type]
            high=_scalar(name, high) if high else None,  # type: ignore[arg-type]
        )
    values = [v for v in raw.split(",") if v != ""]
    if len(values) == 1:
        return Compare(name, CompareOp.EQ, _scalar(name, values[0]))  # type: ignore[arg-type]
    return In(name, tuple(_scalar(name, v) for v in values))  # type: ignore[misc]


def _spatial(params: Mapping[str, str]) -> Node | None:
    relation = params.get("relation", "intersects").lower()
    try:
        op = SpatialOp(relation)
    except ValueError:
        raise InvalidQuery(
            f"unknown relation '{relation}'", field="relation", choices=[o.value for o in SpatialOp]
        ) from None
    if "bbox" in params:
        parts = params["bbox"].split(",")
        try:
            minx, miny, maxx, maxy = (float(p) for p in parts)
        except ValueError:
            raise InvalidQuery("bbox must be minlon,minlat,maxlon,maxlat", field="bbox") from None
        if minx > maxx:  # a box across the antimeridian
            maxx += 360.0
        wkt = f"POLYGON(({minx} {miny},{maxx} {miny},{maxx} {maxy},{minx} {maxy},{minx} {miny}))"
        return Spatial(op, Footprint.from_wkt(wkt))
    if "geometry" in params:
        return Spatial(op, Footprint.from_wkt(params["geometry"]))
    return None


def _limit(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        limit = int(params.get("limit", "10"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise InvalidQuery("limit and offset must be integers", field="limit") from None
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
    return limit, offset


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """``-sensing_start,name`` -> sort keys (``-`` for descending)."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            keys.append(SortKey(part.lstrip("-+"), descending=part.startswith("-")))
    return tuple(keys)


def parse(params: Mapping[str, str]) -> Query:
    """Build a Query from plain search parameters (see the module docstring)."""
    nodes: list[Node] = []
    for name, raw in params.items():
        if name not in _RESERVED:
            nodes.append(_field_filter(name, raw))
    spatial = _spatial(params)
    if spatial is not None:
        nodes.append(spatial)
    if "start" in params:
        nodes.append(Range("sensing_end", low=parse_datetime(params["start"], name="start")))
    if "end" in params:
        nodes.append(Range("sensing_start", high=parse_datetime(params["end"], name="end")))
    if params.get("text"):
        nodes.append(Text(params["text"]))
    limit, offset = _limit(params)
    sort = parse_sort(params.get("sort", "-ingestion_date"))
    after = Cursor.decode(params["cursor"]) if params.get("cursor") else None
    count = params.get("count", "false").lower() in ("true", "1", "yes")
    return Query(
        filter=and_(*nodes) if nodes else and_(),
        sort=sort,
        limit=limit,
        offset=offset,
        after=after,
        count=CountMode.EXACT if count else CountMode.NONE,
    )


def product_to_dict(product: Product) -> dict[str, Any]:
    """A product as plain JSON data."""
    fp = product.footprint
    return {
        "id": str(product.id),
        "name": product.name,
        "filename": product.filename,
        "collection": product.collection,
        "mission": product.mission,
        "platform": product.platform,
        "instrument": product.instrument,
        "product_type": product.product_type,
        "processing_level": product.processing_level,
        "processing_baseline": product.processing_baseline,
        "sensing_start": product.sensing.start.isoformat(),
        "sensing_end": product.sensing.end.isoformat(),
        "publication_date": product.publication_date.isoformat(),
        "ingestion_date": product.ingestion_date.isoformat(),
        "modification_date": product.modification_date.isoformat(),
        "size": product.size,
        "online": product.online,
        "orbit_number": product.orbit_number,
        "relative_orbit": product.relative_orbit,
        "orbit_direction": product.orbit_direction,
        "cloud_cover": product.cloud_cover,
        "tile_id": product.tile_id,
        "polarisation": product.polarisation,
        "sensor_mode": product.sensor_mode,
        "swath": product.swath,
        "timeliness": product.timeliness,
        "product_class": product.product_class,
        "checksums": {c.algorithm: c.value for c in product.checksums},
        "footprint": fp.geojson if fp else None,
        "attributes": {
            k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in product.attributes.items()
        },
    }


def render(page: Page[Product]) -> dict[str, Any]:
    """A result page as plain JSON data."""
    return {
        "total": page.total,
        "count": len(page.items),
        "next": page.next.encode() if page.next else None,
        "items": [product_to_dict(p) for p in page.items],
    }
