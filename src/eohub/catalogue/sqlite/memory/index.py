"""A search index held in memory, kept current from the catalogue's change feed.

Why: at a million products an area-and-time search in SQLite costs 10-30 ms of CPU, most of
it SQLite's work per R*Tree candidate (3-4 us each, thousands per search) before a single row
is returned. The same test over numpy columns costs well under a microsecond per candidate.
No library keeps such columns in step with a SQLite file, hence this module.

Layout of one ``Version`` (immutable once published, so searches need no lock):
- ``main``: every product known at the last merge, sorted by sensing start, so a sensing
  window is a slice found by binary search; ``main_alive`` marks the rows still current;
- ``tail``: products written since, unsorted and scanned whole; merged into ``main`` once it
  holds more than ``MERGE_ROWS`` (or 2 % of main);
- ``seq``: the change-feed position the version reflects.

A search runs inside the caller's read transaction. It reads the feed's head in that
snapshot: a version at that head is used as is; an older one is brought forward from the
feed's events in the same snapshot (the products they name are read again), so the index and
the rows read afterwards always agree. A version newer than the snapshot, an index still
being built, a gap in the feed (pruned) or a query the columns cannot answer send the search
to SQLite, which stays the reference path.

The first search builds the index: at once when the catalogue is small, else in a thread
(searches use SQLite meanwhile). Memory: about 600 bytes per product (columns, footprint WKB
or geometry) in each server process; at 1M products a build takes 16-25 s.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from eohub.catalogue.sqlite import changes as change_feed
from eohub.catalogue.sqlite.codec import to_us
from eohub.catalogue.sqlite.memory import columns, filters
from eohub.catalogue.sqlite.memory.columns import CODED, NUMBERS, Block, Vocabulary
from eohub.catalogue.sqlite.sqltext import marks
from eohub.query.query import CountMode, Query, SortKey
from eohub.query.tree import And, Compare, CompareOp, Node, Range, Spatial

log = logging.getLogger(__name__)

BUILD_INLINE_MAX = 50_000  # products: a catalogue up to this size is indexed by the search
INLINE_CHANGES_MAX = 5_000  # feed events a search applies itself; more: the builder thread
MERGE_ROWS = 20_000
BROAD_ROWS = 200_000  # rows to scan without an area or a window: SQLite's indexes do better
_READ_CHUNK = 50_000
_ID_CHUNK = 500

Snapshot = Callable[[], AbstractContextManager[sqlite3.Connection]]


@dataclass(frozen=True)
class Version:
    """One immutable state of the index (see the module docstring)."""

    seq: int
    main: Block
    main_alive: np.ndarray
    by_id: np.ndarray  # positions of main sorted by (id_hi, id_lo)
    sorted_hi: np.ndarray  # main.id_hi[by_id]
    span: tuple[int, int]  # min and max of sensing_end - sensing_start over main (us)
    tail: Block
    sizes: dict[str, int]  # vocabulary sizes the blocks can refer to


class MemoryIndex:
    """Area, time and category searches over columns held in memory (one per process)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._vocabularies = {name: Vocabulary() for name in CODED}
        self._version: Version | None = None
        self._lock = threading.RLock()  # one writer of ``_version`` at a time
        self._builder: threading.Thread | None = None
        self._broken = False
        self._closed = False
        self._ranks: dict[str, tuple[int, np.ndarray]] = {}  # field -> (size, ranks)
        self.answered = 0  # searches and counts answered here (not by SQLite)

    # -- searches -----------------------------------------------------------------------------
    def page(self, query: Query, conn: sqlite3.Connection) -> tuple[list[int], int | None] | None:
        """The pks of a page (limit + 1 at most, in order) and the exact total when asked, on
        the caller's snapshot; None when SQLite should answer."""
        if query.after is not None or not _sortable(query.sort):
            return None
        try:
            filters.check(query.filter)
        except filters.Unsupported:
            return None
        version = self._current(conn)
        if version is None:
            return None
        main_rows = _window(version, query.filter)
        tail_rows = np.arange(len(version.tail))
        broad = not _has_spatial(query.filter)
        if broad and len(main_rows) + len(tail_rows) > BROAD_ROWS:
            return None
        try:
            hits = [
                rows[filters.mask(self._context(block, version), query.filter, rows)]
                for block, rows in ((version.main, main_rows), (version.tail, tail_rows))
            ]
        except filters.Unsupported:
            return None
        total = sum(len(h) for h in hits)
        wanted = query.offset + query.limit + 1
        pks = np.concatenate(
            [block.pk[h] for block, h in zip((version.main, version.tail), hits, strict=True)]
        )
        if len(pks) and query.limit > 0:
            keys = [
                np.concatenate(parts)
                for parts in zip(
                    *(
                        self._sort_keys(b, h, query.sort, version)
                        for b, h in zip((version.main, version.tail), hits, strict=True)
                    ),
                    strict=True,
                )
            ]
            order = _ranked(keys, query.offset, wanted)
            page = pks[order].tolist()
        else:
            page = []
        self.answered += 1
        return page, total if query.count is CountMode.EXACT else None

    def count(self, query: Query, conn: sqlite3.Connection) -> int | None:
        """The exact number of matches, or None when SQLite should count."""
        found = self.page(_count_only(query), conn)
        return None if found is None else found[1]

    def _context(self, block: Block, version: Version) -> filters.Context:
        return filters.Context(block, self._vocabularies, version.sizes)

    def _sort_keys(
        self, block: Block, rows: np.ndarray, sort: tuple[SortKey, ...], version: Version
    ) -> list[np.ndarray]:
        """``np.lexsort`` keys (least significant first) of the reference order: NULL largest."""
        keys: list[np.ndarray] = []
        for key in reversed(sort):
            desc = key.descending
            if key.field == "id":
                hi, lo = block.id_hi[rows], block.id_lo[rows]
                keys += [~lo, ~hi] if desc else [lo, hi]
                continue
            if key.field in NUMBERS:
                values = block.numbers[key.field][rows]
                missing = block.nulls[key.field][rows] if key.field in block.nulls else None
            else:
                codes = block.codes[key.field][rows]
                values = self._rank(key.field, version.sizes[key.field])[codes]
                missing = codes < 0
            keys.append(-values if desc else values)
            if missing is not None:
                keys.append(~missing if desc else missing)
        return keys

    def _rank(self, field: str, size: int) -> np.ndarray:
        """Each code's rank in code-point order of the values (index -1: NULL, rank 0)."""
        cached = self._ranks.get(field)
        if cached is not None and cached[0] == size:
            return cached[1]
        values = self._vocabularies[field].values[:size]
        ranks = np.zeros(size + 1, dtype=np.int64)
        ranks[sorted(range(size), key=values.__getitem__)] = np.arange(size)
        self._ranks[field] = (size, ranks)
        return ranks

    # -- keeping current ----------------------------------------------------------------------
    def _current(self, conn: sqlite3.Connection) -> Version | None:
        """The version matching the caller's snapshot, brought forward if needed; or None."""
        if self._broken:
            return None
        head = change_feed.head(conn)
        version = self._version
        if version is not None and version.seq == head:
            return version
        if version is not None and version.seq > head:
            return None
        if version is None and self._builder is None:
            top = conn.execute("SELECT coalesce(max(pk), 0) FROM products").fetchone()[0]
            if int(top) <= BUILD_INLINE_MAX:
                with self._lock:
                    if self._version is None:
                        self._publish(self._build(conn, head))
                return self._current(conn)
        if version is None or head - version.seq > INLINE_CHANGES_MAX:
            self._start_builder()
            return None
        with self._lock:
            version = self._version
            assert version is not None
            if version.seq >= head:
                return version if version.seq == head else None
            forward = self._forward(conn, version, head)
            if forward is None:
                self._start_builder()
                return None
            self._publish(forward)
            return forward

    def _publish(self, version: Version) -> None:
        current = self._version
        if current is None or version.seq >= current.seq:
            self._version = version

    def _start_builder(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(
                target=self._catch_up, name="eohub-memory-index", daemon=True
            )
            self._builder.start()

    def _catch_up(self) -> None:
        try:
            with self._snapshot() as conn:
                conn.execute("BEGIN")
                try:
                    head = change_feed.head(conn)
                    with self._lock:
                        version = self._version
                    forward = None
                    if version is not None and version.seq <= head:
                        forward = self._forward(conn, version, head)
                    if forward is None:
                        forward = self._build(conn, head)
                    with self._lock:
                        self._publish(forward)
                    _release_free_memory()
                    # The parsed footprints (250,000 at 1M products) live as long as this
                    # version: keep them out of the collector's full passes, which otherwise
                    # walked them all every few hundred requests. Refcounting still frees them.
                    gc.freeze()
                finally:
                    conn.execute("COMMIT")
        except Exception:
            if self._closed:
                return  # the catalogue closed under the build
            log.exception("the in-memory search index failed; searches use SQLite only")
            self._broken = True

    def prepare(self, wait_s: float = 0.0) -> str:
        """Start building the index in a thread unless it is built (searches keep it current),
        wait up to ``wait_s`` seconds for the build; its state: "ready", "building" or
        "failed"."""
        if not self._broken and self._version is None:
            self._start_builder()
        builder = self._builder
        if builder is not None and wait_s > 0:
            builder.join(wait_s)
        return self.state()

    def state(self) -> str:
        if self._broken:
            return "failed"
        builder = self._builder
        if self._version is None or (builder is not None and builder.is_alive()):
            return "building"
        return "ready"

    def close(self) -> None:
        """Stop a build in progress (the catalogue's connections are about to close)."""
        self._closed = True
        builder = self._builder
        if builder is not None:
            builder.join(30)

    def _build(self, conn: sqlite3.Connection, head: int) -> Version:
        """A version of every product in the caller's snapshot (which must be at ``head``)."""
        blocks: list[Block] = []
        cursor = conn.execute(f"{columns.SELECT} ORDER BY p.pk")
        while rows := cursor.fetchmany(_READ_CHUNK):
            if self._closed:
                raise RuntimeError("catalogue closed")
            blocks.append(columns.from_rows(rows, self._vocabularies))
        main = columns.concat(blocks) if blocks else columns.empty(self._vocabularies)
        return self._version_of(main, columns.empty(self._vocabularies), head)

    def _version_of(self, rows: Block, tail: Block, seq: int) -> Version:
        """A version whose main block is ``rows`` sorted by sensing start."""
        start = rows.numbers["sensing_start"]
        main = rows.take(np.argsort(start, kind="stable"))
        start = main.numbers["sensing_start"]
        length = main.numbers["sensing_end"] - start
        span = (int(length.min()), int(length.max())) if len(main) else (0, 0)
        by_id = np.lexsort((main.id_lo, main.id_hi))
        return Version(
            seq=seq,
            main=main,
            main_alive=np.ones(len(main), dtype=bool),
            by_id=by_id,
            sorted_hi=main.id_hi[by_id],
            span=span,
            tail=tail,
            sizes={name: len(v.values) for name, v in self._vocabularies.items()},
        )

    def _forward(self, conn: sqlite3.Connection, version: Version, head: int) -> Version | None:
        """``version`` brought to ``head`` from the feed in the caller's snapshot; None when the
        feed no longer holds every event since (pruned)."""
        events = change_feed.after(conn, version.seq, head - version.seq)
        if len(events) != head - version.seq or (events and events[0].seq != version.seq + 1):
            return None
        ids = list(dict.fromkeys(str(e.product_id) for e in events))
        rows: list[Any] = []
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            rows += conn.execute(f"{columns.SELECT} WHERE p.id IN ({marks(len(chunk))})", chunk)
        fresh = columns.from_rows(rows, self._vocabularies)
        halves = [columns.id_halves(i) for i in ids]
        alive = version.main_alive.copy()
        for position in _positions(version, halves):
            alive[position] = False
        tail = version.tail
        if len(tail):
            touched = set(halves)
            maybe = np.flatnonzero(np.isin(tail.id_hi, [h for h, _ in halves]))
            gone = [
                i for i in maybe.tolist() if (int(tail.id_hi[i]), int(tail.id_lo[i])) in touched
            ]
            keep = np.ones(len(tail), dtype=bool)
            keep[gone] = False
            tail = tail.take(np.flatnonzero(keep))
        tail = columns.concat([tail, fresh])
        sizes = {name: len(v.values) for name, v in self._vocabularies.items()}
        if len(tail) > max(MERGE_ROWS, len(version.main) // 50):
            merged = columns.concat([version.main.take(np.flatnonzero(alive)), tail])
            return self._version_of(merged, columns.empty(self._vocabularies), head)
        return Version(
            seq=head,
            main=version.main,
            main_alive=alive,
            by_id=version.by_id,
            sorted_hi=version.sorted_hi,
            span=version.span,
            tail=tail,
            sizes=sizes,
        )


def _release_free_memory() -> None:
    """Hand the build's freed temporaries back to the system: glibc keeps them otherwise
    (about 200 MB at 1M products). Nothing in the standard library or numpy exposes
    ``malloc_trim``, hence ctypes; elsewhere than glibc this does nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _positions(version: Version, halves: list[tuple[int, int]]) -> Iterator[int]:
    """Positions in ``version.main`` of the given Ids (those present)."""
    if not halves or not len(version.main):
        return
    his = np.array([h for h, _ in halves], dtype=np.uint64)
    starts = np.searchsorted(version.sorted_hi, his, side="left")
    n = len(version.sorted_hi)
    for (hi, lo), at in zip(halves, starts.tolist(), strict=True):
        while at < n and int(version.sorted_hi[at]) == hi:
            position = int(version.by_id[at])
            if int(version.main.id_lo[position]) == lo:
                yield position
            at += 1


def _sortable(sort: tuple[SortKey, ...]) -> bool:
    return all(k.field == "id" or k.field in NUMBERS or k.field in CODED for k in sort)


def _has_spatial(node: Node) -> bool:
    items = node.items if isinstance(node, And) else (node,)
    return any(isinstance(i, Spatial) for i in items)


def _window(version: Version, node: Node) -> np.ndarray:
    """The live rows of main whose sensing start can satisfy the filter's top-level bounds on
    sensing start and end, and whose envelope can satisfy its top-level spatial terms (both
    read from contiguous slices of the columns, before any other term gathers rows)."""
    low: int | None = None
    high: int | None = None
    shortest, longest = version.span
    items = node.items if isinstance(node, And) else (node,)
    for item in items:
        for field, lower, value in _time_bounds(item):
            us = to_us(value)
            if field == "sensing_end":  # start = end - length, length within the span
                us = us - longest if lower else us - shortest
            if lower:
                low = us if low is None else max(low, us)
            else:
                high = us if high is None else min(high, us)
    start = version.main.numbers["sensing_start"]
    first = 0 if low is None else int(np.searchsorted(start, low, side="left"))
    last = len(start) if high is None else int(np.searchsorted(start, high, side="right"))
    last = max(first, last)
    live = version.main_alive[first:last]
    bounds = {side: values[first:last] for side, values in version.main.bounds.items()}
    for item in items:
        if isinstance(item, Spatial):
            live = live & filters.envelope_test(bounds, item)
    rows: np.ndarray = first + np.flatnonzero(live)
    return rows


def _ranked(keys: list[np.ndarray], start: int, stop: int) -> np.ndarray:
    """Positions of the rows ranked ``start`` to ``stop`` - 1 in the order of ``keys``
    (``np.lexsort``'s: the last key first). With many more rows than that, only the rows
    whose first key reaches the ``stop``-th smallest value are sorted."""
    first = keys[-1]
    if stop < len(first) // 4 and first.dtype != np.bool_:
        kth = np.partition(first, stop - 1)[stop - 1]
        chosen = np.flatnonzero(first <= kth)
        ranked: np.ndarray = chosen[np.lexsort([k[chosen] for k in keys])][start:stop]
        return ranked
    ordered: np.ndarray = np.lexsort(keys)[start:stop]
    return ordered


def _time_bounds(node: Node) -> list[tuple[str, bool, datetime]]:
    """(field, is lower bound, value) of a leaf bounding sensing start or end (inclusive
    bounds: the window is a superset; the leaf itself is still tested)."""
    field = getattr(node, "field", None)
    if field not in ("sensing_start", "sensing_end"):
        return []
    out: list[tuple[str, bool, datetime]] = []
    if isinstance(node, Range):
        for value, lower in ((node.low, True), (node.high, False)):
            if isinstance(value, datetime) and value.tzinfo is not None:
                out.append((field, lower, value))
    elif isinstance(node, Compare) and isinstance(node.value, datetime):
        if node.value.tzinfo is None:
            return []
        if node.op in (CompareOp.GE, CompareOp.GT, CompareOp.EQ):
            out.append((field, True, node.value))
        if node.op in (CompareOp.LE, CompareOp.LT, CompareOp.EQ):
            out.append((field, False, node.value))
    return out


def _count_only(query: Query) -> Query:
    """The query counting its matches only (no page, so no sort to support)."""
    return Query(filter=query.filter, sort=(), limit=0, offset=0, count=CountMode.EXACT)


__all__ = ["MemoryIndex", "Version"]
