"""A whole Product as one self-contained JSON document (bytes), for the deleted-products tables.

Every field round-trips exactly: datetimes as ISO text (microseconds, the offset or its absence
kept), footprints as WKB hex of both shapes, checksums, and attributes tagged with their type.
Fields without a special form are taken from the Product dataclass itself, so a new plain field
travels without a change here. Both catalogue backends store these bytes as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

import orjson
import shapely

from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Checksum, Product, TimeRange

_DATES = ("publication_date", "ingestion_date", "modification_date")
_SPECIAL = {"id", "sensing", "footprint", "checksums", "attributes", *_DATES}
_PLAIN = tuple(f.name for f in fields(Product) if f.name not in _SPECIAL)
FORMAT_VERSION = 1


def _attribute(value: AttributeValue) -> list[Any]:
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    return ["s", value]


def _attribute_value(kind: str, raw: Any) -> AttributeValue:
    if kind == "t":
        return datetime.fromisoformat(raw)
    if kind == "f":
        return float(raw)
    return raw  # type: ignore[no-any-return]


def encode_product(product: Product) -> bytes:
    """The document of a product."""
    doc: dict[str, Any] = {"v": FORMAT_VERSION, "id": str(product.id)}
    doc.update({name: getattr(product, name) for name in _PLAIN})
    doc.update({name: getattr(product, name).isoformat() for name in _DATES})
    doc["sensing"] = [product.sensing.start.isoformat(), product.sensing.end.isoformat()]
    footprint = product.footprint
    doc["footprint"] = (
        None
        if footprint is None
        else [
            shapely.to_wkb(footprint.original, hex=True),
            shapely.to_wkb(footprint.search, hex=True),
        ]
    )
    doc["checksums"] = [
        [c.algorithm, c.value, None if c.computed_at is None else c.computed_at.isoformat()]
        for c in product.checksums
    ]
    doc["attributes"] = [[k, *_attribute(v)] for k, v in product.attributes.items()]
    return orjson.dumps(doc)


def decode_product(data: bytes) -> Product:
    """The product of a document made by :func:`encode_product`."""
    doc: dict[str, Any] = orjson.loads(data)
    footprint = None
    if doc["footprint"] is not None:
        original, search = (shapely.from_wkb(part) for part in doc["footprint"])
        footprint = Footprint(original=original, search=search)
    start, end = (datetime.fromisoformat(t) for t in doc["sensing"])
    values: dict[str, Any] = {name: doc[name] for name in _PLAIN if name in doc}
    values.update({name: datetime.fromisoformat(doc[name]) for name in _DATES})
    return Product(
        id=uuid.UUID(doc["id"]),
        sensing=TimeRange(start, end),
        footprint=footprint,
        checksums=tuple(
            Checksum(a, v, None if t is None else datetime.fromisoformat(t))
            for a, v, t in doc["checksums"]
        ),
        attributes={k: _attribute_value(kind, v) for k, kind, v in doc["attributes"]},
        **values,
    )
