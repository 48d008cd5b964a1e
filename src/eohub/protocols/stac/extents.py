"""Collection extents from the catalogue: first and last sensing time by two one-row searches.

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
from eohub.query.query import Page, Query, SortKey

TTL_S = 60.0
WORLD = (-180.0, -90.0, 180.0, 90.0)

Search = Callable[[Query], Page[Product]]


@dataclass(frozen=True)
class Extent:
    """What a collection document shows of its products."""

    start: datetime | None
    end: datetime | None

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
        return Extent(first.items[0].sensing.start, end)
