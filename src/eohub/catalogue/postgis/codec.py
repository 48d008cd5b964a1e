"""Product <-> table rows: what ``upsert`` copies in and what ``get``/``search`` read back.

Every field round-trips exactly: datetimes as timestamptz (microseconds, read back as aware
UTC), both footprints (search geometry in a PostGIS column, the original as WKB), checksums as
JSON, and attributes as typed rows of ``product_attributes`` (int/float/bool/str/datetime kept
apart). Values PostgreSQL cannot hold (NUL characters, lone surrogates, integers beyond 64 bits,
NaN cloud cover) are refused with a ValueError naming the product and the field.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import shapely
from psycopg import sql
from psycopg.types.json import Jsonb

from eohub.catalogue.postgis import spacetime
from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Checksum, Product, TimeRange
from eohub.query.text import product_tokens

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Columns written by upsert, in COPY order.
WRITE_COLUMNS: tuple[str, ...] = (
    "id", "name", "filename", "collection", "platform", "mission", "platform_short_name",
    "platform_serial", "product_type", "sensing_start", "sensing_end", "publication_date",
    "ingestion_date", "modification_date", "size", "online", "instrument", "processing_level",
    "processing_baseline", "orbit_number", "relative_orbit", "orbit_direction", "cloud_cover",
    "tile_id", "polarisation", "sensor_mode", "swath", "timeliness", "product_class",
    "footprint", "footprint_original", "space_time", "checksums", "text_tokens",
    "archive_key", "quicklook_key", "thumbnail_key",
)  # fmt: skip

ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "product_id", "name", "type", "text_value", "num_value", "bool_value", "ts_value",
)  # fmt: skip

# Plain product columns read back, in the order of READ_SELECT.
_READ_PLAIN: tuple[str, ...] = (
    "id", "name", "filename", "collection", "platform", "product_type", "sensing_start",
    "sensing_end", "publication_date", "ingestion_date", "modification_date", "size", "online",
    "instrument", "processing_level", "processing_baseline", "orbit_number", "relative_orbit",
    "orbit_direction", "cloud_cover", "tile_id", "polarisation", "sensor_mode", "swath",
    "timeliness", "product_class", "archive_key", "quicklook_key", "thumbnail_key",
)  # fmt: skip
_OPTIONAL_STR = (
    "instrument", "processing_level", "processing_baseline", "orbit_direction", "tile_id",
    "polarisation", "sensor_mode", "swath", "timeliness", "product_class", "archive_key",
    "quicklook_key", "thumbnail_key",
)  # fmt: skip
_REQUIRED_STR = ("name", "filename", "collection", "platform", "product_type")


def read_select(alias: str) -> sql.Composed:
    """The select list of a full product row from table alias ``alias`` (see decode_row).

    The attributes come from a LATERAL subquery aliased ``a`` that the caller joins.
    """
    table = sql.Identifier(alias)
    plain = [sql.SQL("{}.{}").format(table, sql.Identifier(c)) for c in _READ_PLAIN]
    extra = [
        sql.SQL("ST_AsBinary({}.footprint)").format(table),
        sql.SQL("{}.footprint_original").format(table),
        sql.SQL("{}.checksums").format(table),
        sql.SQL("a.names, a.types, a.texts, a.nums, a.bools, a.times"),
    ]
    return sql.SQL(", ").join(plain + extra)


def attributes_lateral(alias: str) -> sql.Composed:
    """``LEFT JOIN LATERAL`` of the attribute arrays of the row ``alias`` (aliased ``a``)."""
    return sql.SQL(
        "LEFT JOIN LATERAL (SELECT array_agg(x.name) AS names, array_agg(x.type) AS types,"
        " array_agg(x.text_value) AS texts, array_agg(x.num_value) AS nums,"
        " array_agg(x.bool_value) AS bools, array_agg(x.ts_value) AS times"
        " FROM product_attributes x WHERE x.product_id = {}.id) a ON true"
    ).format(sql.Identifier(alias))


# -- writing -------------------------------------------------------------------------------------


def _check_text(product: Product, field: str, value: str) -> str:
    if "\x00" in value:
        raise ValueError(
            f"product {product.name!r} ({product.id}): {field} contains a NUL character, "
            "which the catalogue cannot store"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"product {product.name!r} ({product.id}): {field} is not valid Unicode "
            "(lone surrogate)"
        ) from None
    return value


def _check_int(product: Product, field: str, value: int | None) -> int | None:
    if value is not None and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(
            f"product {product.name!r} ({product.id}): {field} {value} is beyond 64-bit integers"
        )
    return value


def _checksums(product: Product) -> Jsonb:
    out = []
    for c in product.checksums:
        _check_text(product, "checksum algorithm", c.algorithm)
        _check_text(product, "checksum value", c.value)
        stamp = None if c.computed_at is None else c.computed_at.isoformat()
        out.append({"a": c.algorithm, "v": c.value, "t": stamp})
    return Jsonb(out)


_Geo = tuple[str | None, bytes | None, str | None]


def _footprints(products: Sequence[Product]) -> list[_Geo]:
    """(search EWKB hex, original WKB, space-time box WKB hex) of each product."""
    with_fp = [p for p in products if p.footprint is not None]
    searches = shapely.set_srid(
        shapely.force_2d([p.footprint.search for p in with_fp if p.footprint is not None]), 4326
    )
    for product, geom in zip(with_fp, searches, strict=True):
        if geom.is_empty:
            raise ValueError(f"product {product.name!r} ({product.id}): footprint is empty")
    # Vectorised: one shapely call per chunk instead of one per product.
    hexes = shapely.to_wkb(searches, hex=True, include_srid=True)
    originals = shapely.to_wkb([p.footprint.original for p in with_fp if p.footprint is not None])
    boxes = shapely.bounds(searches).tolist()
    encoded = {
        p.id: (str(h), bytes(o), spacetime.product_key(p, b))
        for p, h, o, b in zip(with_fp, hexes, originals, boxes, strict=True)
    }
    return [encoded.get(p.id, (None, None, None)) for p in products]


def _token_array(tokens: frozenset[str]) -> str:
    """A product's tokens as a PostgreSQL array literal.

    Written by hand because psycopg's generic list dumper dominated the cost of a bulk load;
    tokens hold letters and digits only, so quoting each is enough.
    """
    return "{" + ",".join(f'"{t}"' for t in sorted(tokens)) + "}"


def product_rows(products: Sequence[Product]) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The values of WRITE_COLUMNS for each product (ValueError when one cannot be stored),
    and the sorted set of their text tokens (for ``text_vocabulary``)."""
    rows: list[tuple[Any, ...]] = []
    vocabulary: set[str] = set()
    for p, (search, original, box) in zip(products, _footprints(products), strict=True):
        tokens = product_tokens(p)
        vocabulary |= tokens
        rows.append(_product_row(p, search, original, box, tokens))
    return rows, sorted(vocabulary)


def _product_row(
    product: Product,
    search: str | None,
    original: bytes | None,
    box: str | None,
    tokens: frozenset[str],
) -> tuple[Any, ...]:
    for name in _REQUIRED_STR:
        _check_text(product, name, getattr(product, name))
    for name in _OPTIONAL_STR:
        value = getattr(product, name)
        if value is not None:
            _check_text(product, name, value)
    if product.cloud_cover is not None and math.isnan(product.cloud_cover):
        raise ValueError(f"product {product.name!r} ({product.id}): cloud_cover is NaN")
    return (
        product.id, product.name, product.filename, product.collection, product.platform,
        product.mission, product.platform_short_name, product.platform_serial,
        product.product_type, product.sensing.start, product.sensing.end,
        product.publication_date, product.ingestion_date, product.modification_date,
        _check_int(product, "size", product.size), product.online, product.instrument,
        product.processing_level, product.processing_baseline,
        _check_int(product, "orbit_number", product.orbit_number),
        _check_int(product, "relative_orbit", product.relative_orbit),
        product.orbit_direction, product.cloud_cover, product.tile_id, product.polarisation,
        product.sensor_mode, product.swath, product.timeliness, product.product_class,
        search, original, box, _checksums(product), _token_array(tokens),
        product.archive_key, product.quicklook_key, product.thumbnail_key,
    )  # fmt: skip


def attribute_rows(product: Product) -> Iterator[tuple[Any, ...]]:
    """Rows of ATTRIBUTE_COLUMNS for every attribute of ``product``."""
    for name, value in product.attributes.items():
        if not isinstance(name, str):
            raise ValueError(f"product {product.name!r}: attribute name {name!r} is not a string")
        _check_text(product, "attribute name", name)
        yield (product.id, name, *encode_attribute(product, name, value))


def encode_attribute(product: Product, name: str, value: object) -> tuple[Any, ...]:
    """(type, text_value, num_value, bool_value, ts_value) of one attribute value."""
    if isinstance(value, bool):  # num_value too: Python compares bools as 0 and 1
        return ("bool", None, Decimal(int(value)), value, None)
    if isinstance(value, int):
        return ("int", None, Decimal(value), None, None)
    if isinstance(value, float):
        # repr() is the shortest string that reads back as the same float: exact round trip.
        return ("float", None, Decimal(repr(value)), None, None)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return ("naive", None, None, None, value.replace(tzinfo=UTC))
        return ("datetime", None, None, None, value)
    if isinstance(value, str):
        return ("str", _check_text(product, f"attribute {name!r}", value), None, None, None)
    raise ValueError(
        f"product {product.name!r} ({product.id}): attribute {name!r} has unsupported type "
        f"{type(value).__name__} (expected str, int, float, bool or datetime)"
    )


# -- reading -------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _decode_attribute(kind: str, text: Any, num: Any, flag: Any, stamp: Any) -> AttributeValue:
    if kind == "str":
        return str(text)
    if kind == "int":
        return int(num)
    if kind == "float":
        return float(num)
    if kind == "bool":
        return bool(flag)
    if kind == "naive":
        return _aware(stamp).replace(tzinfo=None)
    return _aware(stamp)


def _attributes(arrays: Sequence[Any]) -> dict[str, AttributeValue]:
    names, kinds, texts, nums, flags, stamps = arrays
    if not names:
        return {}
    pairs = zip(names, kinds, texts, nums, flags, stamps, strict=True)
    decoded = {n: _decode_attribute(k, t, v, f, s) for n, k, t, v, f, s in pairs}
    return dict(sorted(decoded.items()))


def _checksum_list(raw: Any) -> tuple[Checksum, ...]:
    items: list[Mapping[str, Any]] = list(raw or [])
    return tuple(
        Checksum(
            str(c["a"]),
            str(c["v"]),
            None if c.get("t") is None else datetime.fromisoformat(str(c["t"])),
        )
        for c in items
    )


def decode_row(row: Sequence[Any]) -> Product:
    """A Product from a row selected with :func:`read_select`."""
    v = dict(zip(_READ_PLAIN, row, strict=False))
    n = len(_READ_PLAIN)
    search_wkb, original_wkb, checksums = row[n], row[n + 1], row[n + 2]
    footprint = None
    if original_wkb is not None:
        footprint = Footprint.from_wkb(bytes(original_wkb), bytes(search_wkb))
    return Product(
        id=uuid.UUID(str(v["id"])) if not isinstance(v["id"], uuid.UUID) else v["id"],
        name=v["name"],
        filename=v["filename"],
        collection=v["collection"],
        platform=v["platform"],
        sensing=TimeRange(_aware(v["sensing_start"]), _aware(v["sensing_end"])),
        publication_date=_aware(v["publication_date"]),
        ingestion_date=_aware(v["ingestion_date"]),
        modification_date=_aware(v["modification_date"]),
        product_type=v["product_type"],
        footprint=footprint,
        size=int(v["size"]),
        checksums=_checksum_list(checksums),
        online=bool(v["online"]),
        instrument=v["instrument"],
        processing_level=v["processing_level"],
        processing_baseline=v["processing_baseline"],
        orbit_number=v["orbit_number"],
        relative_orbit=v["relative_orbit"],
        orbit_direction=v["orbit_direction"],
        cloud_cover=v["cloud_cover"],
        tile_id=v["tile_id"],
        polarisation=v["polarisation"],
        sensor_mode=v["sensor_mode"],
        swath=v["swath"],
        timeliness=v["timeliness"],
        product_class=v["product_class"],
        archive_key=v["archive_key"],
        quicklook_key=v["quicklook_key"],
        thumbnail_key=v["thumbnail_key"],
        attributes=_attributes(row[n + 3 : n + 9]),
    )
