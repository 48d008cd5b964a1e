"""The search columns of a run of products as numpy arrays (one ``Block``).

Per product: its pk, its Id as two unsigned 64-bit halves (their order is the UUID's text
order, the ``id`` tie-break of every sort), every time, number and flag as int64/float64 with
a NULL mask where the field is nullable, every short text field as an int32 code into a shared
``Vocabulary`` (-1: NULL), the envelope of the search footprint (NaN: no footprint) and the
footprint itself: two of its vertices (a rectangle holding one of them intersects it), and
the footprint as WKB, parsed only when a search cannot decide from the envelope or vertices, or
already parsed for footprints wider or taller than ``PARSED_SPAN_DEG`` (Sentinel-3 and
Sentinel-5P swaths), whose envelope straddles the edge of most search areas: parsing them
again for each search cost more than the exact test itself.

``name`` and ``filename`` (one value per product) and the attributes stay in SQLite: a query on
them is answered there.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely

from eohub.catalogue.sqlite.schema import PRODUCT_COLUMNS
from eohub.query.evaluate import fold

# Fields held as numbers (datetimes in microseconds, booleans 0/1), then as codes.
TIMES = ("sensing_start", "sensing_end", "publication_date", "ingestion_date", "modification_date")
NUMBERS = (*TIMES, "size", "online", "orbit_number", "relative_orbit", "cloud_cover")
FLOATS = frozenset({"cloud_cover"})
NULLABLE_NUMBERS = ("orbit_number", "relative_orbit", "cloud_cover")
CODED = (
    "collection", "mission", "platform", "platform_short_name", "platform_serial", "instrument",
    "product_type", "processing_level", "processing_baseline", "orbit_direction", "tile_id",
    "polarisation", "sensor_mode", "swath", "timeliness", "product_class",
)  # fmt: skip

# The columns a block is read from, after ``pk`` and ``id``.
SELECT = (
    "SELECT p.pk, p.id, "
    + ", ".join(f"p.{name}" for name in (*NUMBERS, *CODED))
    + ", coalesce(p.footprint_search, p.footprint_original) FROM products AS p"
)
_FIRST_NUMBER = 2
_FIRST_CODE = _FIRST_NUMBER + len(NUMBERS)
_FOOTPRINT = _FIRST_CODE + len(CODED)
assert set(NUMBERS) | set(CODED) <= set(PRODUCT_COLUMNS)
PARSED_SPAN_DEG = 10.0
SIDES = ("x0", "y0", "x1", "y1")  # the keys of Block.bounds


class Vocabulary:
    """The distinct values of one text field, each with a stable code (append-only).

    Codes are never reused or renumbered, so a block built earlier stays valid; readers of
    one index version only meet codes below the length they saw.
    """

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}
        self._folded: dict[str, list[int]] = {}  # ASCII-folded value -> codes
        self._lock = threading.Lock()

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        found = self._codes.get(value)
        if found is None:
            with self._lock:
                found = self._codes.get(value)
                if found is None:
                    found = len(self.values)
                    self._folded.setdefault(fold(value), []).append(found)
                    self.values.append(value)
                    self._codes[value] = found
        return found

    def codes_of(self, value: str, ignore_case: bool) -> list[int]:
        """The codes of ``value`` (of its ASCII-folded spellings when ``ignore_case``)."""
        if ignore_case:
            return list(self._folded.get(fold(value), ()))
        found = self._codes.get(value)
        return [] if found is None else [found]


@dataclass(frozen=True)
class Block:
    """Columns of ``len(pk)`` products, in one order (by sensing start for the main block)."""

    pk: np.ndarray  # int64
    id_hi: np.ndarray  # uint64, the Id's first 8 bytes
    id_lo: np.ndarray  # uint64, the last 8
    numbers: dict[str, np.ndarray]  # int64 or float64 (FLOATS)
    nulls: dict[str, np.ndarray]  # bool, NULLABLE_NUMBERS only
    codes: dict[str, np.ndarray]  # int32, -1 for NULL
    # The envelope, one contiguous float64 array per side (x0, y0, x1, y1: comparisons over a
    # slice run at memory speed); NaN without footprint.
    bounds: dict[str, np.ndarray]
    points: np.ndarray  # (n, 4) float64: two vertices of the footprint (x, y, x, y); or NaN
    wkb: np.ndarray  # object: WKB bytes, or None (no footprint, or kept parsed)
    shapes: np.ndarray  # object: the parsed footprint of large ones, else None

    def __len__(self) -> int:
        return int(self.pk.shape[0])

    def take(self, rows: np.ndarray) -> Block:
        """The block of ``rows`` (positions), in that order."""
        return _combine([self], lambda arrays: arrays[0][rows])


def _combine(blocks: Sequence[Block], join: Callable[[list[np.ndarray]], np.ndarray]) -> Block:
    """A block whose every array (each field's, each entry of the dict fields) is ``join`` of
    that array in each of ``blocks``."""
    out: dict[str, Any] = {}
    for spec in fields(Block):
        parts = [getattr(b, spec.name) for b in blocks]
        if isinstance(parts[0], dict):
            out[spec.name] = {k: join([p[k] for p in parts]) for k in parts[0]}
        else:
            out[spec.name] = join(parts)
    return Block(**out)


def id_halves(product_id: str) -> tuple[int, int]:
    """The two unsigned 64-bit halves of an Id (canonical text)."""
    value = uuid.UUID(product_id).int
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF


def concat(blocks: Sequence[Block]) -> Block:
    """One block holding every row of ``blocks``, in order."""
    return _combine(blocks, np.concatenate)


def from_rows(rows: Sequence[Sequence[Any]], vocabularies: dict[str, Vocabulary]) -> Block:
    """A block of rows read with SELECT, in their order."""
    n = len(rows)
    halves = [id_halves(row[1]) for row in rows]
    numbers: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    for offset, name in enumerate(NUMBERS, _FIRST_NUMBER):
        raw = [row[offset] for row in rows]
        if name in NULLABLE_NUMBERS:
            missing = np.fromiter((v is None for v in raw), dtype=bool, count=n)
            nulls[name] = missing
            raw = [0 if v is None else v for v in raw]
        numbers[name] = np.array(raw, dtype=np.float64 if name in FLOATS else np.int64)
    codes = {
        name: np.fromiter(
            (vocabularies[name].code(row[offset]) for row in rows), dtype=np.int32, count=n
        )
        for offset, name in enumerate(CODED, _FIRST_CODE)
    }
    wkb = np.empty(n, dtype=object)
    wkb[:] = [row[_FOOTPRINT] for row in rows]
    envelopes = np.full((n, 4), np.nan)
    points = np.full((n, 4), np.nan)
    shapes = np.full(n, None, dtype=object)
    present = np.flatnonzero(np.fromiter((w is not None for w in wkb), dtype=bool, count=n))
    if present.size:
        parsed = shapely.from_wkb(wkb[present])
        envelopes[present] = shapely.bounds(parsed)
        points[present] = _two_vertices(parsed)
        spans = envelopes[present, 2:] - envelopes[present, :2]
        large = (spans > PARSED_SPAN_DEG).any(axis=1)
        shapes[present[large]] = parsed[large]
        wkb[present[large]] = None
    return Block(
        pk=np.fromiter((row[0] for row in rows), dtype=np.int64, count=n),
        id_hi=np.fromiter((h for h, _ in halves), dtype=np.uint64, count=n),
        id_lo=np.fromiter((lo for _, lo in halves), dtype=np.uint64, count=n),
        numbers=numbers,
        nulls=nulls,
        codes=codes,
        bounds={side: np.ascontiguousarray(envelopes[:, i]) for i, side in enumerate(SIDES)},
        points=points,
        wkb=wkb,
        shapes=shapes,
    )


def _two_vertices(geometries: np.ndarray) -> np.ndarray:
    """(n, 4): the first vertex of each geometry and the one half-way along its vertices (the
    opposite corner of a four-cornered footprint). A search whose rectangle holds one of them
    needs no exact test: the footprint has a point in it."""
    coords, owner = shapely.get_coordinates(geometries, return_index=True)
    counts = np.bincount(owner, minlength=len(geometries))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full((len(geometries), 4), np.nan)
    has = counts > 0
    out[has, :2] = coords[starts[has]]
    out[has, 2:] = coords[starts[has] + counts[has] // 2]
    return out


def empty(vocabularies: dict[str, Vocabulary]) -> Block:
    return from_rows([], vocabularies)


__all__ = [
    "CODED",
    "NULLABLE_NUMBERS",
    "NUMBERS",
    "SELECT",
    "TIMES",
    "Block",
    "Vocabulary",
    "concat",
    "empty",
    "from_rows",
    "id_halves",
]
