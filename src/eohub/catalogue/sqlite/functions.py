"""SQL functions registered on every catalogue connection.

``eohub_spatial(search_wkb, op, query_wkb)``: the exact shapely predicate between a product's
stored search footprint and the query geometry (0 when the product has no footprint). The query
geometry is parsed and prepared once per connection and statement shape, not once per row.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict

import shapely
from shapely.geometry.base import BaseGeometry

_CACHE_SIZE = 16


class _PreparedCache:
    """Small LRU of prepared query geometries; one per connection (GEOS prepared geometries
    build their index lazily and are not safe to share between threads)."""

    def __init__(self) -> None:
        self._items: OrderedDict[bytes, BaseGeometry] = OrderedDict()

    def get(self, wkb: bytes) -> BaseGeometry:
        geom = self._items.get(wkb)
        if geom is None:
            geom = shapely.from_wkb(wkb)
            shapely.prepare(geom)
            self._items[wkb] = geom
            if len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(wkb)
        return geom


def register(conn: sqlite3.Connection) -> None:
    """Register eohub's SQL functions on ``conn``."""
    cache = _PreparedCache()

    def spatial(search_wkb: bytes | None, op: str, query_wkb: bytes) -> int:
        if search_wkb is None:
            return 0
        query = cache.get(query_wkb)
        footprint = shapely.from_wkb(search_wkb)
        # The prepared query geometry goes first: footprint within query == query contains
        # footprint, and footprint contains query == query within footprint.
        if op == "intersects":
            return int(shapely.intersects(query, footprint))
        if op == "within":
            return int(shapely.contains(query, footprint))
        if op == "contains":
            return int(shapely.within(query, footprint))
        raise ValueError(f"unknown spatial operator {op!r}")

    conn.create_function("eohub_spatial", 3, spatial, deterministic=True)
