"""Product <-> SQLite rows: exact round trip of every field, and the values queries bind.

Datetimes are integer microseconds since the epoch (UTC), UUIDs canonical lower-case text
(their text order is the UUID order), booleans 0/1. Values SQLite cannot hold faithfully are
refused with a message naming the product and the field (NaN, integers beyond 64 bits, NUL
characters, which PostgreSQL refuses too).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import shapely

from eohub.errors import HubError
from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Checksum, Product, TimeRange
from eohub.query.evaluate import fold
from eohub.query.fields import Field, FieldType
from eohub.query.text import product_tokens, query_tokens

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
BOX_SHIFT = 3  # R*Tree box id = product pk << BOX_SHIFT | part number
MAX_BOXES = 1 << BOX_SHIFT  # R*Tree entries per product; more parts are merged into fewer

SqlValue = str | int | float | bytes | None
Box = tuple[float, float, float, float]  # minx, maxx, miny, maxy (R*Tree column order)
TimedBox = tuple[float, float, float, float, float, float]  # ... mint, maxt (days)
US_PER_DAY = 86_400_000_000


class InvalidProduct(HubError):
    """A product value the catalogue cannot store faithfully."""

    code = "invalid_product"


# -- scalar conversions --------------------------------------------------------------------------
def to_us(value: datetime) -> int:
    """Microseconds since the epoch (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    """The aware UTC datetime of :func:`to_us`."""
    return EPOCH + timedelta(0, 0, value)  # positional: a third faster than microseconds=


def rtree_days(us: int) -> float:
    """R*Tree time coordinate: days since the epoch.

    Days keep time extents comparable with degrees, so the R*Tree splits its nodes on space
    and time alike; with microseconds it split on time only and a box without a time window
    visited most of the tree (measured on 1 million products: 15 ms instead of 41 ms, and a
    box with a month 0.5 ms instead of 2 ms). Division is monotonic, so the prefilter stays
    safe.
    """
    return us / US_PER_DAY


def bind(value: object) -> SqlValue:
    """A query value as SQLite stores it (datetime -> microseconds, UUID -> text, bool -> int).

    Integers beyond 64 bits become floats: every stored integer is strictly inside the float's
    side of the comparison, so the result is the same as Python's exact comparison.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    if isinstance(value, datetime):
        return to_us(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (str, float)):
        return value
    raise TypeError(f"cannot bind {type(value).__name__}")  # normalised queries never get here


# -- encoding ------------------------------------------------------------------------------------
def _text(product: Product, field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidProduct(f"product {product.name!r}: {field} must be text, got {value!r}")
    if "\x00" in value:
        raise InvalidProduct(f"product {product.name!r}: {field} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidProduct(
                f"product {product.name!r}: {field} is not valid Unicode (lone surrogate)"
            ) from None


def _int(product: Product, field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidProduct(f"product {product.name!r}: {field} must be an integer: {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidProduct(f"product {product.name!r}: {field} does not fit in 64 bits")


_REQUIRED_TEXT = ("name", "filename", "collection", "platform", "product_type")
_OPTIONAL_TEXT = (
    "instrument", "processing_level", "processing_baseline", "orbit_direction", "tile_id",
    "polarisation", "sensor_mode", "swath", "timeliness", "product_class", "archive_key",
    "quicklook_key", "thumbnail_key",
)  # fmt: skip


def _check(product: Product) -> None:
    """Raise InvalidProduct when a field holds a value SQLite cannot keep exactly."""
    if not isinstance(product.id, uuid.UUID):
        raise InvalidProduct(f"product {product.name!r}: id must be a UUID")
    for name in _REQUIRED_TEXT:
        _text(product, name, getattr(product, name))
    for name in _OPTIONAL_TEXT:
        _text(product, name, getattr(product, name), optional=True)
    _int(product, "size", product.size)
    _int(product, "orbit_number", product.orbit_number, optional=True)
    _int(product, "relative_orbit", product.relative_orbit, optional=True)
    if not isinstance(product.online, bool):
        raise InvalidProduct(f"product {product.name!r}: online must be a bool")
    cloud = product.cloud_cover
    if cloud is not None and (
        isinstance(cloud, bool) or not isinstance(cloud, (int, float)) or not math.isfinite(cloud)
    ):
        raise InvalidProduct(f"product {product.name!r}: cloud_cover must be a finite number")
    if product.footprint is not None and not isinstance(product.footprint, Footprint):
        raise InvalidProduct(f"product {product.name!r}: footprint must be a Footprint")
    if not isinstance(product.sensing, TimeRange):
        raise InvalidProduct(f"product {product.name!r}: sensing must be a TimeRange")


def _attribute(product: Product, key: str, value: object) -> tuple[str, SqlValue, Any]:
    """(type code, stored value, JSON value) of one attribute."""
    if isinstance(value, bool):
        return "b", int(value), value
    if isinstance(value, int):
        _int(product, f"attribute {key}", value)
        return "i", value, value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidProduct(f"product {product.name!r}: attribute {key} is not finite")
        return "f", value, value
    if isinstance(value, datetime):
        # ISO text keeps the offset (or its absence) exactly; a naive value is its own type.
        return ("t" if value.tzinfo is not None else "T"), to_us(value), value.isoformat()
    if isinstance(value, str):
        _text(product, f"attribute {key}", value)
        return "s", value, value
    raise InvalidProduct(
        f"product {product.name!r}: attribute {key} has unsupported type {type(value).__name__}"
    )


def boxes(footprint: Footprint) -> list[Box]:
    """R*Tree boxes covering each part of the search geometry (at most ``MAX_BOXES``)."""
    parts = footprint.part_bounds()
    if len(parts) > MAX_BOXES:
        # Many islands: one box per hemisphere still keeps antimeridian parts apart.
        west = [b for b in parts if b[0] + b[2] < 0]
        east = [b for b in parts if b[0] + b[2] >= 0]
        parts = [
            (min(b[0] for b in g), min(b[1] for b in g), max(b[2] for b in g), max(b[3] for b in g))
            for g in (west, east)
            if g
        ]
    return [(minx, maxx, miny, maxy) for minx, miny, maxx, maxy in parts]


class Encoded:
    """One product as rows, checked and built outside the writer thread (it only adds keys).

    ``row`` is the ``products`` row without ``pk``; ``attributes`` rows are (name, type,
    value); ``terms`` are (field, folded, value) of TERM_FIELDS; ``platform`` is the
    ``platforms`` row.
    """

    __slots__ = ("attributes", "boxes", "documents", "fts", "id", "name", "platform", "row",
                 "terms")  # fmt: skip

    def __init__(self, product: Product) -> None:
        _check(product)
        self.documents: tuple[bytes, ...] = ()  # rendered by the backend's document kinds
        self.id = str(product.id)
        self.name = product.name
        attrs: list[tuple[SqlValue, ...]] = []
        json_attrs: list[tuple[str, str, Any]] = []
        for key, value in product.attributes.items():
            _text(product, "attribute name", key)
            kind, stored, shown = _attribute(product, key, value)
            attrs.append((key, kind, stored))
            json_attrs.append((key, kind, shown))
        self.attributes = attrs
        checksums = [
            (c.algorithm, c.value, None if c.computed_at is None else c.computed_at.isoformat())
            for c in product.checksums
        ]
        keys = (product.archive_key, product.quicklook_key, product.thumbnail_key)
        extra = orjson.dumps({"c": checksums, "a": json_attrs, "k": keys})
        fp = product.footprint
        original: bytes | None = None
        search: bytes | None = None
        self.boxes: list[TimedBox] = []
        start, end = to_us(product.sensing.start), to_us(product.sensing.end)
        if fp is not None:
            original = shapely.to_wkb(fp.original)
            if fp.search is not fp.original:
                search = shapely.to_wkb(fp.search)
                if search == original:
                    search = None
            days = (rtree_days(start), rtree_days(end))
            self.boxes = [(*box, *days) for box in boxes(fp)]
        self.platform = (
            product.platform,
            product.mission,
            product.platform_short_name,
            product.platform_serial,
        )
        self.terms = [
            (field, fold(value), value)
            for field, value in (
                ("collection", product.collection),
                ("platform", product.platform),
                ("product_type", product.product_type),
                ("tile_id", product.tile_id),
            )
            if value is not None
        ]
        self.fts = fts_document(product)
        self.row = (
            self.id,
            product.name,
            product.filename,
            product.collection,
            self.platform[1],
            product.platform,
            self.platform[2],
            self.platform[3],
            product.instrument,
            product.product_type,
            product.processing_level,
            product.processing_baseline,
            start,
            end,
            to_us(product.publication_date),
            to_us(product.ingestion_date),
            to_us(product.modification_date),
            product.size,
            int(product.online),
            product.orbit_number,
            product.relative_orbit,
            product.orbit_direction,
            None if product.cloud_cover is None else float(product.cloud_cover),
            product.tile_id,
            product.polarisation,
            product.sensor_mode,
            product.swath,
            product.timeliness,
            product.product_class,
            original,
            search,
            len(self.boxes),
            extra,
        )


def _dt_load(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _attr_load(kind: str, value: Any) -> AttributeValue:
    if kind in ("t", "T"):
        return datetime.fromisoformat(value)
    if kind == "f":
        return float(value)
    return value  # type: ignore[no-any-return]


def field_value(spec: Field, value: Any) -> Any:
    """A field's value as the Product holds it, from its column (NULL: None)."""
    if value is None:
        return None
    if spec.type is FieldType.DATETIME:
        return from_us(value)
    if spec.type is FieldType.UUID:
        return uuid.UUID(value)
    if spec.type is FieldType.BOOL:
        return bool(value)
    return value


def decode(row: Sequence[Any]) -> Product:
    """The Product of a ``products`` row read in PRODUCT_COLUMNS order."""
    footprint = None
    if row[30] is not None:
        original = shapely.from_wkb(row[30])
        search = original if row[31] is None else shapely.from_wkb(row[31])
        footprint = Footprint(original=original, search=search)
    return _product(row, footprint)


def decode_many(rows: Sequence[Sequence[Any]]) -> list[Product]:
    """The Products of several rows, as :func:`decode` gives them.

    The footprints are parsed by one vectorised shapely call (five times faster for a page
    than one call per product).
    """
    if not rows:
        return []
    originals = shapely.from_wkb([row[30] for row in rows])
    searches = shapely.from_wkb([row[31] for row in rows])
    products: list[Product] = []
    for row, original, search in zip(rows, originals, searches, strict=True):
        footprint = None
        if original is not None:
            footprint = Footprint(original=original, search=original if search is None else search)
        products.append(_product(row, footprint))
    return products


def _product(row: Sequence[Any], footprint: Footprint | None) -> Product:
    extra: Mapping[str, Any] = orjson.loads(row[33])
    keys = extra.get("k") or (None, None, None)  # archive, quicklook, thumbnail
    return Product(
        id=uuid.UUID(row[1]),
        name=row[2],
        filename=row[3],
        collection=row[4],
        platform=row[6],
        sensing=TimeRange(from_us(row[13]), from_us(row[14])),
        publication_date=from_us(row[15]),
        ingestion_date=from_us(row[16]),
        modification_date=from_us(row[17]),
        product_type=row[10],
        footprint=footprint,
        size=row[18],
        checksums=tuple(Checksum(a, v, _dt_load(t)) for a, v, t in extra["c"]),
        online=bool(row[19]),
        instrument=row[9],
        processing_level=row[11],
        processing_baseline=row[12],
        orbit_number=row[20],
        relative_orbit=row[21],
        orbit_direction=row[22],
        cloud_cover=row[23],
        tile_id=row[24],
        polarisation=row[25],
        sensor_mode=row[26],
        swath=row[27],
        timeliness=row[28],
        product_class=row[29],
        attributes={k: _attr_load(kind, v) for k, kind, v in extra["a"]},
        archive_key=keys[0],
        quicklook_key=keys[1],
        thumbnail_key=keys[2],
    )


# -- full text -----------------------------------------------------------------------------------
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _fts_token(token: str) -> str:
    """Spell a token in [a-z0-9] only, so FTS5's tokenizer neither splits nor folds it.

    Hand-written because no tokenizer setting reproduces Python's ``str.lower`` and ``\\w``
    exactly. The code is prefix-free ('a'-'y' and digits stand for themselves, 'z' is "zz",
    any other character "z" + four base-36 digits whose first is at most 'n'), so a token
    starts with a prefix exactly when its spelling starts with the prefix's spelling.
    """
    out: list[str] = []
    for ch in token:
        if ("a" <= ch <= "y") or ("0" <= ch <= "9"):
            out.append(ch)
        elif ch == "z":
            out.append("zz")
        else:
            n = ord(ch)
            digits = "".join(_B36[(n // 36**k) % 36] for k in (3, 2, 1, 0))
            out.append("z" + digits)
    return "".join(out)


_PLAIN = re.compile(r"[a-y0-9 ]*")


def fts_document(product: Product) -> str:
    """The indexed text of a product: its tokens (eohub.query.text), spelled for FTS5."""
    document = " ".join(sorted(product_tokens(product)))
    if _PLAIN.fullmatch(document):  # the usual case: every token already spells itself
        return document
    return " ".join(_fts_token(t) for t in document.split(" "))


def fts_match(text: str) -> str | None:
    """The FTS5 MATCH expression of a Text query, or None when it has no token (match all)."""
    tokens, prefix = query_tokens(text)
    if not tokens:
        return None
    phrases = [f'"{_fts_token(t)}"' for t in tokens]
    if prefix:
        phrases[-1] += "*"
    return " ".join(phrases)
