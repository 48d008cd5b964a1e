"""The values the search form offers in its lists: what the catalogue holds, plus known ones.

Collections, platforms and product types are read from the catalogue with a skip scan (one
indexed ``limit 1`` search per value, as OData's ``Collections`` does), so the lists show what
this hub has. Fields the catalogue cannot list cheaply get the values the Sentinel missions use.
The lists are kept for a minute per application.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from eohub.catalogue.service import Catalogue
from eohub.query.fields import FIELDS
from eohub.query.query import Query, SortKey
from eohub.query.tree import MATCH_ALL, Compare, CompareOp, Node, and_

MAX_VALUES = 60  # per list: a hub with more distinct values gets the first ones
TTL_S = 60.0

ORBIT_DIRECTIONS = ("ASCENDING", "DESCENDING")
POLARISATIONS = ("VV VH", "HH HV", "VV", "HH", "VH", "HV")
SENSOR_MODES = ("IW", "EW", "SM", "WV", "INS-NOBS", "INS-RAW", "EO")


@dataclass(frozen=True)
class Choices:
    """Values offered by the search form's lists."""

    collections: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    product_types: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per collection
    orbit_directions: tuple[str, ...] = ORBIT_DIRECTIONS
    polarisations: tuple[str, ...] = POLARISATIONS
    sensor_modes: tuple[str, ...] = SENSOR_MODES
    made: float = field(default=0.0, compare=False)


def distinct(catalogue: Catalogue, name: str, base: Node = MATCH_ALL) -> tuple[str, ...]:
    """Distinct values of a sortable field, smallest first (at most MAX_VALUES)."""
    getter = FIELDS.get(name).get
    values: list[str] = []
    while len(values) < MAX_VALUES:
        where = base if not values else and_(base, Compare(name, CompareOp.GT, values[-1]))
        page = catalogue.search(Query(filter=where, sort=(SortKey(name),), limit=1))
        if not page.items:
            break
        values.append(str(getter(page.items[0])))
    return tuple(values)


def read_choices(catalogue: Catalogue) -> Choices:
    """The lists of the search form for the products ``catalogue`` holds."""
    collections = distinct(catalogue, "collection")
    types = tuple(
        (c, distinct(catalogue, "product_type", Compare("collection", CompareOp.EQ, c)))
        for c in collections
    )
    return Choices(collections, distinct(catalogue, "platform"), types, made=time.monotonic())


class ChoiceCache:
    """The choices of one catalogue, read again after TTL_S seconds."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self._choices: Choices | None = None

    def get(self) -> Choices:
        """Fresh enough choices (reads the catalogue at most once a minute)."""
        with self._lock:
            current = self._choices
            if current is None or time.monotonic() - current.made > TTL_S:
                current = self._choices = read_choices(self._catalogue)
            return current
