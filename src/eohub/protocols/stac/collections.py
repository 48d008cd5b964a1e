"""The STAC collection table: one STAC collection per mission and product family.

Each STAC collection id stands for a catalogue collection (``SENTINEL-1``...) and a set of
product types, given exactly or by prefix. Every catalogue collection of the table also has an
``-other`` collection holding its products of types the table does not list, and ``other``
holds the products of catalogue collections the table does not know, so each product belongs
to exactly one STAC collection and a search over all of them misses nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eohub.errors import NotFound
from eohub.model.product import Product
from eohub.query.tree import (
    MATCH_NONE,
    Compare,
    CompareOp,
    In,
    Like,
    Node,
    Not,
    and_,
    or_,
)


@dataclass(frozen=True)
class StacCollection:
    """One STAC collection: which catalogue products it holds and how it describes itself."""

    id: str
    title: str
    catalogue_collection: str | None  # None: products of collections the table lacks
    product_types: tuple[str, ...] = ()
    type_prefixes: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    description: str = ""

    @property
    def catch_all(self) -> bool:
        """Whether this collection takes what its siblings of the table do not."""
        return not self.product_types and not self.type_prefixes

    def claims_type(self, product_type: str) -> bool:
        """Whether a product type is listed by this (not catch-all) collection."""
        return product_type in self.product_types or any(
            product_type.startswith(p) for p in self.type_prefixes
        )

    def type_tree(self) -> Node:
        """The product-type condition of a listed collection."""
        parts: list[Node] = []
        if self.product_types:
            parts.append(In("product_type", self.product_types))
        parts += [Like("product_type", _escape(p) + "*") for p in self.type_prefixes]
        return or_(*parts)


def _escape(text: str) -> str:
    """A literal for the query tree's wildcard patterns."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _s1(code: str, title: str) -> StacCollection:
    return StacCollection(
        f"sentinel-1-{code.lower()}", f"Sentinel-1 {title}", "SENTINEL-1", (code,),
        instruments=("sar-c sar",), platforms=("sentinel-1a", "sentinel-1b", "sentinel-1c"),
    )  # fmt: skip


def _s3(sid: str, code: str, title: str, instrument: str) -> StacCollection:
    return StacCollection(
        f"sentinel-3-{sid}", f"Sentinel-3 {title}", "SENTINEL-3", (code,),
        instruments=(instrument,), platforms=("sentinel-3a", "sentinel-3b"),
    )  # fmt: skip


_S2_PLATFORMS = ("sentinel-2a", "sentinel-2b", "sentinel-2c")

TABLE: tuple[StacCollection, ...] = (
    _s1("GRD", "Level-1 Ground Range Detected"),
    _s1("SLC", "Level-1 Single Look Complex"),
    _s1("RAW", "Level-0 raw data"),
    _s1("OCN", "Level-2 Ocean"),
    StacCollection("sentinel-1-other", "Sentinel-1 other products", "SENTINEL-1"),
    StacCollection("sentinel-2-l1c", "Sentinel-2 Level-1C top-of-atmosphere reflectance",
                   "SENTINEL-2", ("S2MSI1C",), instruments=("msi",), platforms=_S2_PLATFORMS),
    StacCollection("sentinel-2-l2a", "Sentinel-2 Level-2A bottom-of-atmosphere reflectance",
                   "SENTINEL-2", ("S2MSI2A",), instruments=("msi",), platforms=_S2_PLATFORMS),
    StacCollection("sentinel-2-other", "Sentinel-2 other products", "SENTINEL-2"),
    _s3("olci-1-efr", "OL_1_EFR___", "OLCI Level-1 full resolution", "olci"),
    _s3("olci-1-err", "OL_1_ERR___", "OLCI Level-1 reduced resolution", "olci"),
    _s3("olci-2-lfr", "OL_2_LFR___", "OLCI Level-2 land full resolution", "olci"),
    _s3("olci-2-lrr", "OL_2_LRR___", "OLCI Level-2 land reduced resolution", "olci"),
    _s3("olci-2-wfr", "OL_2_WFR___", "OLCI Level-2 water full resolution", "olci"),
    _s3("olci-2-wrr", "OL_2_WRR___", "OLCI Level-2 water reduced resolution", "olci"),
    _s3("slstr-1-rbt", "SL_1_RBT___", "SLSTR Level-1 radiances and brightness temperatures",
        "slstr"),
    _s3("slstr-2-lst", "SL_2_LST___", "SLSTR Level-2 land surface temperature", "slstr"),
    _s3("slstr-2-frp", "SL_2_FRP___", "SLSTR Level-2 fire radiative power", "slstr"),
    _s3("slstr-2-wst", "SL_2_WST___", "SLSTR Level-2 sea surface temperature", "slstr"),
    _s3("sral-1-sra", "SR_1_SRA___", "SRAL Level-1 altimetry", "sral"),
    _s3("sral-2-lan", "SR_2_LAN___", "SRAL Level-2 land altimetry", "sral"),
    _s3("sral-2-wat", "SR_2_WAT___", "SRAL Level-2 water altimetry", "sral"),
    _s3("synergy-2-syn", "SY_2_SYN___", "Synergy Level-2 surface reflectance", "synergy"),
    StacCollection("sentinel-3-other", "Sentinel-3 other products", "SENTINEL-3"),
    StacCollection("sentinel-5p-l1b", "Sentinel-5P Level-1B radiances", "SENTINEL-5P",
                   type_prefixes=("L1B_",), instruments=("tropomi",), platforms=("sentinel-5p",)),
    StacCollection("sentinel-5p-l2", "Sentinel-5P Level-2 atmospheric products", "SENTINEL-5P",
                   type_prefixes=("L2__",), instruments=("tropomi",), platforms=("sentinel-5p",)),
    StacCollection("sentinel-5p-other", "Sentinel-5P other products", "SENTINEL-5P"),
    StacCollection("other", "Products of other collections", None,
                   description="Products of catalogue collections without a STAC mapping."),
)  # fmt: skip

BY_ID: dict[str, StacCollection] = {c.id: c for c in TABLE}
KNOWN_CATALOGUE_COLLECTIONS: tuple[str, ...] = tuple(
    sorted({c.catalogue_collection for c in TABLE if c.catalogue_collection})
)


def get(collection_id: str) -> StacCollection:
    """A collection of the table by id, or NotFound."""
    found = BY_ID.get(collection_id)
    if found is None:
        raise NotFound(f"Collection '{collection_id}' not found")
    return found


def _siblings(collection: StacCollection) -> list[StacCollection]:
    return [
        c
        for c in TABLE
        if c.catalogue_collection == collection.catalogue_collection and not c.catch_all
    ]


def tree(collection: StacCollection) -> Node:
    """The catalogue condition of one STAC collection."""
    if collection.catalogue_collection is None:
        return Not(In("collection", KNOWN_CATALOGUE_COLLECTIONS))
    same = Compare("collection", CompareOp.EQ, collection.catalogue_collection)
    if not collection.catch_all:
        return and_(same, collection.type_tree())
    claimed = [c.type_tree() for c in _siblings(collection)]
    return and_(same, Not(or_(*claimed))) if claimed else same


def trees(ids: Iterable[str]) -> Node:
    """The condition of any of the given collection ids (unknown ids: NotFound)."""
    return or_(*(tree(get(i)) for i in dict.fromkeys(ids)))


def collection_id_of(product: Product) -> str:
    """The STAC collection a product belongs to."""
    candidates = [c for c in TABLE if c.catalogue_collection == product.collection]
    if not candidates:
        return "other"
    for c in candidates:
        if not c.catch_all and c.claims_type(product.product_type):
            return c.id
    return next(c.id for c in candidates if c.catch_all)


_ORDER: dict[CompareOp, Callable[[str, str], bool]] = {
    CompareOp.EQ: lambda a, b: a == b,
    CompareOp.NE: lambda a, b: a != b,
    CompareOp.LT: lambda a, b: a < b,
    CompareOp.LE: lambda a, b: a <= b,
    CompareOp.GT: lambda a, b: a > b,
    CompareOp.GE: lambda a, b: a >= b,
}


def compare_tree(op: CompareOp, value: str) -> Node:
    """``collection <op> value`` over STAC ids: the union of the collections that satisfy it.

    Exact because every product has exactly one STAC collection id."""
    return _union(c.id for c in TABLE if _ORDER[op](c.id, value))


def in_tree(values: Iterable[str]) -> Node:
    """``collection IN (...)`` over STAC ids (unknown ids match nothing)."""
    wanted = set(values)
    return _union(c.id for c in TABLE if c.id in wanted)


def like_tree(pattern: str) -> Node:
    """``collection LIKE pattern`` (the tree's ``*``/``?`` wildcards) over STAC ids."""
    regex = _pattern_regex(pattern)
    return _union(c.id for c in TABLE if regex(c.id))


def _pattern_regex(pattern: str) -> Callable[[str], bool]:
    # fnmatch would treat [ ] as sets; escape them and map the tree's escapes to literals.
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(f"[{nxt}]" if nxt else "")
        elif ch in "[]":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    compiled = "".join(out)
    return lambda text: fnmatch.fnmatchcase(text, compiled)


def _union(ids: Iterable[str]) -> Node:
    nodes = [tree(BY_ID[i]) for i in ids]
    return or_(*nodes) if nodes else MATCH_NONE
