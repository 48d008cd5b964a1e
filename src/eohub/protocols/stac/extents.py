"""What the collection documents show of their products, from the catalogue: the first and last
sensing time (two one-row searches), the platforms and product types present (a skip scan, a
few index entries a value, see :mod:`eohub.query.distinct`) and the range of cloud cover (two
one-row searches on its index, for collections whose products have one).

The spatial extent is the whole world: Sentinel missions cover it, and a tighter box would
need a scan of every footprint. Results are kept for :data:`TTL_S` seconds per collection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from eohub.model.product import Product
from eohub.protocols.stac import collections
from eohub.query.distinct import distinct
from eohub.query.query import Page, Query, SortKey
from eohub.query.tree import IsNull, Node, Not, and_

TTL_S = 60.0
MAX_VALUES = 50  # platforms or product types listed in a collection's summaries
WORLD = (-180.0, -90.0, 180.0, 90.0)

Search = Callable[[Query], Page[Product]]


@dataclass(frozen=True)
class Extent:
    """What a collection document shows of its products."""

    start: datetime | None
    end: datetime | None
    platforms: tuple[str, ...] = ()  # present in the catalogue, smallest first
    product_types: tuple[str, ...] = ()
    cloud_cover: tuple[float, float] | None = None  # lowest and highest; None: none has one

    @property
    def empty(self) -> bool:
        """True when the collection has no product."""
        return self.start is None


class Extents:
    """Cached temporal extents of the STAC collections."""

    def __init__(self, search: Search, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._search = search
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Extent]] = {}

    def get(self, collection_id: str) -> Extent:
        """The extent of one collection of the table."""
        now = self._clock()
        with self._lock:
            hit = self._cache.get(collection_id)
        if hit is not None and now - hit[0] < TTL_S:
            return hit[1]
        extent = self._compute(collection_id)
        with self._lock:
            self._cache[collection_id] = (now, extent)
        return extent

    def _compute(self, collection_id: str) -> Extent:
        where = collections.tree(collections.get(collection_id))
        first = self._search(Query(filter=where, sort=(SortKey("sensing_start"),), limit=1))
        if not first.items:
            return Extent(None, None)
        last = self._search(
            Query(filter=where, sort=(SortKey("sensing_end", descending=True),), limit=1)
        )
        end = last.items[0].sensing.end if last.items else None
        platforms = distinct(self._search, "platform", where, most=MAX_VALUES)
        types = distinct(self._search, "product_type", where, most=MAX_VALUES)
        cloud = None
        if first.items[0].cloud_cover is not None:  # (S1 has none: no index walk for nothing)
            cloud = self._range(and_(where, Not(IsNull("cloud_cover"))), "cloud_cover")
        return Extent(first.items[0].sensing.start, end, platforms, types, cloud)

    def _range(self, where: Node, name: str) -> tuple[float, float] | None:
        """The lowest and highest cloud cover of the products matching ``where``."""
        ends = []
        for descending in (False, True):
            sort = (SortKey(name, descending=descending), SortKey("sensing_start"))
            page = self._search(Query(filter=where, sort=sort, limit=1))
            value = page.items[0].cloud_cover if page.items else None
            if value is None:
                return None
            ends.append(float(value))
        return ends[0], ends[1]
