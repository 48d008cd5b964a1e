"""The space-time key: one 4-D box per product for the n-D GiST index ``products_space_time_gist``.

Wide footprints (Sentinel-3 frames, Sentinel-5P strips) overlap almost any search area, so a
2-D index returns tens of thousands of them for a 200 km box over a three-year archive. The key
adds two axes, the sensing start (days since 1970) and a platform code, so a search bounded in
place, time and mission/platform reads only the few rows in that 4-D window.

The key is a ``LINESTRING ZM`` from (xmin, ymin, t, code) to (xmax, ymax, t, code) over the
search footprint's bounding box. The test ``space_time &&& window`` is redundant: every spatial
predicate implies that bounding boxes meet, and the time and platform bounds come from the same
conjunction, so adding it never drops a match.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace

from eohub.model.product import Product
from eohub.query.tree import And, Compare, CompareOp, In, Node, Range, Spatial

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = 1e7  # beyond any day number and any code: an open bound
_SERIALS = "ABCDEFGH"  # Product.platform_serial letters
_SLOTS = 100  # codes per mission: mission hash * 100 + serial index
_LINESTRING_ZM = 3002  # ISO WKB type code
_WKB = struct.Struct("<BII8d")

Window = tuple[float, float, float, float, float, float, float, float]


def days_since_epoch(value: datetime) -> float:
    """The time axis: days since 1970-01-01 UTC."""
    return (value - EPOCH).total_seconds() / 86400.0


def _mission_base(mission: str) -> int:
    # Below 2**24 so that every code is exact in the index's 32-bit floats.
    return (zlib.crc32(mission.encode("utf-8", "surrogatepass")) % 100_000) * _SLOTS


def product_code(mission: str, serial: str | None) -> float:
    """The platform axis of a product: its mission's block plus the serial letter."""
    return float(_mission_base(mission) + (_SERIALS.find(serial) + 1 if serial else 0))


def _platform_code(platform: str) -> float:
    # Mission and serial derived by Product's own rules (its property getters take any object
    # with the attributes they read), so a query's platform gets the same code as a product's.
    stub = SimpleNamespace(platform=platform)
    stub.platform_serial = Product.platform_serial.fget(stub)  # type: ignore[attr-defined]
    mission = Product.mission.fget(stub)  # type: ignore[attr-defined]
    return product_code(str(mission), stub.platform_serial)


def segment_wkb(window: Window) -> bytes:
    """ISO WKB of the LINESTRING ZM from (x0, y0, t0, c0) to (x1, y1, t1, c1).

    Packed by hand: shapely builds at most 3-D coordinates.
    """
    x0, y0, x1, y1, t0, t1, c0, c1 = window
    return _WKB.pack(1, _LINESTRING_ZM, 2, x0, y0, t0, c0, x1, y1, t1, c1)


def product_key(product: Product, bounds: Sequence[float]) -> str:
    """The space-time key of a product whose search footprint has ``bounds``, as hex WKB."""
    t = days_since_epoch(product.sensing.start)
    code = product_code(product.mission, product.platform_serial)
    minx, miny, maxx, maxy = bounds
    return segment_wkb((minx, miny, maxx, maxy, t, t, code, code)).hex()


def _intersect(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return max(a[0], b[0]), min(a[1], b[1])


def _time_bounds(node: Node) -> tuple[float, float] | None:
    if isinstance(node, Range) and node.field == "sensing_start":
        low = days_since_epoch(node.low) if isinstance(node.low, datetime) else -FAR
        high = days_since_epoch(node.high) if isinstance(node.high, datetime) else FAR
        return low, high
    if isinstance(node, Compare) and node.field == "sensing_start":
        if not isinstance(node.value, datetime) or node.op is CompareOp.NE:
            return None
        day = days_since_epoch(node.value)
        low = day if node.op in (CompareOp.EQ, CompareOp.GE, CompareOp.GT) else -FAR
        high = day if node.op in (CompareOp.EQ, CompareOp.LE, CompareOp.LT) else FAR
        return low, high
    return None


def _code_bounds(node: Node) -> tuple[float, float] | None:
    values: tuple[object, ...]
    if isinstance(node, Compare) and node.op is CompareOp.EQ and not node.ignore_case:
        field, values = node.field, (node.value,)
    elif isinstance(node, In) and not node.ignore_case:
        field, values = node.field, node.values
    else:
        return None
    if field == "platform":
        codes = [_platform_code(v) for v in values if isinstance(v, str)]
        return (min(codes), max(codes)) if codes else None
    if field == "mission":
        bases = [_mission_base(v) for v in values if isinstance(v, str)]
        return (float(min(bases)), float(max(bases) + _SLOTS - 1)) if bases else None
    return None


def query_windows(node: Node) -> list[bytes] | None:
    """WKB windows to test with ``&&&``, one per top-level spatial predicate.

    None when the filter does not bound time or platform next to a spatial predicate (the 2-D
    index serves it); an empty list when the bounds exclude every product.
    """
    items = node.items if isinstance(node, And) else (node,)
    spatial = [item for item in items if isinstance(item, Spatial)]
    if not spatial:
        return None
    time, code, narrowed = (-FAR, FAR), (-FAR, FAR), False
    for item in items:
        if (bounds := _time_bounds(item)) is not None:
            time, narrowed = _intersect(time, bounds), True
        if (bounds := _code_bounds(item)) is not None:
            code, narrowed = _intersect(code, bounds), True
    if not narrowed:
        return None
    if time[0] > time[1] or code[0] > code[1]:
        return []
    windows = []
    for item in spatial:
        minx, miny, maxx, maxy = item.geometry.bounds
        windows.append(segment_wkb((minx, miny, maxx, maxy, *time, *code)))
    return windows
