"""The values the search form offers in its lists: what the catalogue holds, plus known ones.

Collections, platforms and product types are read from the catalogue with a skip scan
(:mod:`eohub.query.distinct`: a few index entries a value). A product type is listed under
the collection of its first product, found by the same scan. Fields the catalogue cannot list
cheaply get the values the Sentinel missions use.

The lists are read when a page first needs them, then again once they are a minute old, in
the background: meanwhile pages get the lists at hand, so no request waits for a refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from eohub.catalogue.service import Catalogue
from eohub.query.distinct import distinct, first_of_each

log = logging.getLogger("eohub.portal")

MAX_VALUES = 60  # per list: a hub with more distinct values gets the first ones
MAX_TYPES = 4 * MAX_VALUES  # product types of every collection together
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


def read_choices(catalogue: Catalogue) -> Choices:
    """The lists of the search form for the products ``catalogue`` holds."""
    collections = distinct(catalogue.search, "collection", most=MAX_VALUES)
    typed = first_of_each(catalogue.search, "product_type", most=MAX_TYPES)
    types = tuple(
        (c, tuple(str(p.product_type) for p in typed if p.collection == c)[:MAX_VALUES])
        for c in collections
    )
    platforms = distinct(catalogue.search, "platform", most=MAX_VALUES)
    return Choices(collections, platforms, types, made=time.monotonic())


class ChoiceCache:
    """The choices of one catalogue: read once, then refreshed in the background after
    ``ttl_s`` seconds (requests meanwhile get the lists at hand)."""

    def __init__(self, catalogue: Catalogue, ttl_s: float = TTL_S) -> None:
        self._catalogue = catalogue
        self._ttl_s = ttl_s
        self._lock = threading.Lock()  # guards the fields below
        self._first = threading.Lock()  # one first read, not one per waiting request
        self._choices: Choices | None = None
        self._refreshing = False

    def get(self) -> Choices:
        """The lists; only the first call of all reads the catalogue while waited for."""
        with self._lock:
            current = self._choices
            if (
                current is not None
                and not self._refreshing
                and time.monotonic() - current.made > self._ttl_s
            ):
                self._refreshing = True
                threading.Thread(target=self._refresh, name="eohub-portal-choices",
                                 daemon=True).start()  # fmt: skip
        if current is not None:
            return current
        with self._first:
            with self._lock:
                current = self._choices
            if current is None:
                current = read_choices(self._catalogue)
                with self._lock:
                    self._choices = current
            return current

    def _refresh(self) -> None:
        try:
            fresh: Choices | None = read_choices(self._catalogue)
        except Exception:  # the lists at hand stay; the next page view tries again
            log.warning("could not read the search form's lists", exc_info=True)
            fresh = None
        with self._lock:
            if fresh is not None:
                self._choices = fresh
            self._refreshing = False
