"""Normalised query tree -> SQLite SQL text with bound parameters (never interpolated values).

Semantics follow :mod:`eohub.query.evaluate`:
- two-valued logic: the tree is in negation normal form, so a positive leaf may be NULL (treated
  as false by WHERE, AND and OR alike) and only a negated leaf needs care: ``Not`` over a
  nullable column is compiled as ``col IS NULL OR NOT (...)``;
- strings compare with BINARY (code points); ``ignore_case`` compares ``lower()`` (ASCII only)
  with a value folded the same way in Python;
- ``Like`` becomes ``GLOB`` with ``*``/``?`` kept and the literal ``*``, ``?``, ``[`` bracketed;
- ``Text`` is an FTS5 MATCH over the tokens of :mod:`eohub.query.text`;
- ``Spatial`` is an R*Tree prefilter on the box of each part of the query geometry, then the
  exact shapely predicate in the ``eohub_spatial`` SQL function (see functions.py), which an
  ``Intersects`` skips for boxes inside a rectangle the query geometry covers;
- sorting and cursors are in :mod:`ordering`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import shapely
from shapely.geometry import Polygon

from eohub.catalogue.sqlite.codec import (
    BOX_SHIFT,
    MAX_BOXES,
    Box,
    SqlValue,
    bind,
    boxes,
    fts_match,
    rtree_days,
    to_us,
)
from eohub.catalogue.sqlite.schema import PLATFORM_FIELDS, TERM_FIELDS
from eohub.catalogue.sqlite.sqltext import Filter, Sql, column, join, marks
from eohub.errors import InvalidQuery
from eohub.model.geometry import Footprint
from eohub.query.evaluate import fold
from eohub.query.fields import FIELDS, Field
from eohub.query.tree import (
    And,
    Compare,
    CompareOp,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Range,
    Spatial,
    SpatialOp,
    Text,
    Value,
)

_SQL_OPS = {
    CompareOp.EQ: "=",
    CompareOp.NE: "!=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
}
# How a positive spatial conjunct steers SQLite's planner (which has no statistics here).
# Measured on 1 million generated products (CPU time of one page of 10 to 100):
# - with a sensing window (the typical search: 200 km and a month) the R*Tree over space and
#   time yields a few hundred candidates; starting from it takes ~2 ms where the best B-tree
#   (platform + sensing_start) takes ~4 ms. Boxes up to SMALL_BOX_DEG2 are steered to the
#   R*Tree: other terms are written ``+p.col`` so no B-tree index competes, and ORDER BY
#   cannot pick an index walk in sort order.
# - without a window the same 200 km box has ~13,000 candidates over three years, each read
#   and tested with shapely (~240 ms); walking the ORDER BY or another B-tree index and
#   probing the candidate list instead takes ~30 ms. So the candidates are first counted up
#   to RTREE_DRIVE_LIMIT: at most that many and the R*Tree drives, more and the R*Tree term is
#   written ``+p.pk IN (...)`` (a probe list, never the driver).
SMALL_BOX_DEG2 = 400.0
RTREE_DRIVE_LIMIT = 2000

_TIME_FIELDS = ("sensing_start", "sensing_end")
_WORLD = shapely.box(-180.0, -90.0, 180.0, 90.0)


def _glob(pattern: str) -> str:
    """A ``*``/``?``/backslash pattern as a GLOB pattern (literal ``*?[`` bracketed)."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            literal = next(chars, "\\")
            out.append(f"[{literal}]" if literal in "*?[" else literal)
        elif ch in "*?":
            out.append(ch)
        elif ch == "[":
            out.append("[[]")
        else:
            out.append(ch)
    return "".join(out)


def glob_pattern(pattern: str) -> str:
    """A ``*``/``?``/backslash pattern as a GLOB pattern (for other modules' conditions)."""
    return _glob(pattern)


class _Compiler:
    """Compiles one filter (see :func:`compile_filter`)."""

    def __init__(
        self, *, unindexed: bool, rtree_probe_only: bool, candidates_only: Spatial | None = None
    ) -> None:
        self.unindexed = unindexed  # write ``+p.col``: no B-tree index for these terms
        self.rtree_probe_only = rtree_probe_only  # write ``+p.pk IN (R*Tree ...)``
        self.candidates_only = candidates_only  # its exact test is left out (SpatialSplit)
        self.time: tuple[Value | None, Value | None] = (None, None)

    # -- structure -------------------------------------------------------------------------------
    def node(self, node: Node) -> Sql:
        """SQL of ``node``; only an OR is parenthesised (an AND never needs it here).

        SQLite's parser stack (100 entries) overflows near 30 nested parentheses, and the
        normalised tree may be 32 levels deep. So AND inside OR is written without
        parentheses (AND binds tighter), and nested And/Or come first among their siblings,
        where the parser holds nothing else while reading them.
        """
        if isinstance(node, And):
            if not node.items:
                return Sql("1")
            outer, self.time = self.time, _time_window(node.items)
            try:
                parts = [self.node(item) for item in sorted(node.items, key=_cost)]
            finally:
                self.time = outer
            return join(parts, " AND ")
        if isinstance(node, Or):
            if not node.items:
                return Sql("0")
            outer, self.time = self.time, (None, None)
            try:
                items = sorted(node.items, key=lambda n: not isinstance(n, And))
                parts = [self.node(item) for item in items]
            finally:
                self.time = outer
            return join(parts, " OR ", wrap=True)
        if isinstance(node, Not):
            outer, self.time = self.time, (None, None)
            try:
                return self.negated(node.item)
            finally:
                self.time = outer
        return self.leaf(node)

    def negated(self, leaf: Node) -> Sql:
        if isinstance(leaf, (Text, Spatial)):
            inner = self.leaf(leaf)
            return Sql(f"NOT {inner.text}", inner.params)
        if isinstance(leaf, IsNull):
            col, _ = self._leaf_column(leaf.field)
            if col is None:  # attribute
                return self._attr_exists(leaf.field, "", [], negate=False)
            return Sql(f"{col} IS NOT NULL")
        if isinstance(leaf, (Compare, In, Range, Like)):
            col, spec = self._leaf_column(leaf.field)
            if col is None:
                return self._attribute(leaf, negate=True)
            inner = self.leaf(leaf)
            if spec.nullable and spec.name not in PLATFORM_FIELDS:
                return Sql(f"({col} IS NULL OR NOT {inner.text})", inner.params)
            return Sql(f"NOT {inner.text}", inner.params)
        raise InvalidQuery(f"unsupported negated node {type(leaf).__name__}")

    def _leaf_column(self, name: str) -> tuple[str | None, Field]:
        spec = FIELDS.get(name)
        if spec.is_attribute:
            return None, spec
        col, spec = column(name)
        return (f"+{col}" if self.unindexed else col), spec

    # -- leaves ----------------------------------------------------------------------------------
    def leaf(self, node: Node) -> Sql:
        if isinstance(node, Text):
            match = fts_match(node.text)
            if match is None:
                return Sql("1")
            sql = "(p.pk IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?))"
            return Sql(sql, [match])
        if isinstance(node, Spatial):
            return self._spatial(node)
        if isinstance(node, IsNull):
            col, _ = self._leaf_column(node.field)
            if col is None:
                return self._attr_exists(node.field, "", [], negate=True)
            return Sql(f"{col} IS NULL")
        if isinstance(node, (Compare, In, Range, Like)):
            col, spec = self._leaf_column(node.field)
            if col is None:
                return self._attribute(node, negate=False)
            if spec.name in PLATFORM_FIELDS:
                # Derived from the platform: match the few distinct platforms instead, so the
                # platform index serves the search.
                inner = _column_leaf(spec.name, spec, node)
                platform = "+p.platform" if self.unindexed else "p.platform"
                return Sql(
                    f"({platform} IN (SELECT platform FROM platforms WHERE {inner.text}))",
                    inner.params,
                )
            return _column_leaf(col, spec, node)
        raise InvalidQuery(f"unsupported query node {type(node).__name__}")

    def _spatial(self, node: Spatial) -> Sql:
        geometry = node.geometry
        if node.op is SpatialOp.INTERSECTS and geometry.search.covers(_WORLD):
            # Every footprint lies in the world: skip a million R*Tree hits and shapely calls.
            return Sql("p.footprint_original IS NOT NULL")
        candidates = _rtree_candidates(geometry, self.time)
        pk = "+p.pk" if self.rtree_probe_only else "p.pk"
        if node is self.candidates_only:
            return Sql(f"{pk} IN ({candidates.text})", candidates.params)
        test = Sql(
            "eohub_spatial(coalesce(p.footprint_search, p.footprint_original), ?, ?)",
            [node.op.value, shapely.to_wkb(geometry.search)],
        )
        inside = _rtree_inside(geometry, self.time) if node.op is SpatialOp.INTERSECTS else None
        if inside is not None:
            # A box inside the query geometry is a footprint part inside it: no shapely test.
            test = Sql(f"(+p.pk IN ({inside.text}) OR {test.text})", inside.params + test.params)
        return Sql(
            f"({pk} IN ({candidates.text}) AND {test.text})", candidates.params + test.params
        )

    # -- attributes ------------------------------------------------------------------------------
    def _attr_exists(self, name: str, cond: str, params: list[SqlValue], *, negate: bool) -> Sql:
        attr = FIELDS.get(name).attribute_name
        op = "NOT EXISTS" if negate else "EXISTS"
        where = "a.product = p.pk AND a.name = ?" + (f" AND {cond}" if cond else "")
        return Sql(f"{op} (SELECT 1 FROM product_attributes AS a WHERE {where})", [attr, *params])

    def _attribute(self, node: Compare | In | Range | Like, *, negate: bool) -> Sql:
        if isinstance(node, Compare):
            kinds = _attr_kinds(node.value)
            value = fold(node.value) if node.ignore_case else node.value  # type: ignore[arg-type]
            lhs = "lower(value)" if node.ignore_case else "value"
            type_test = f"type IN ({marks(len(kinds))})"
            if node.op is CompareOp.NE:
                # The reference compares with Python's !=: a value of another type differs.
                cond = f"NOT ({type_test} AND {lhs} = ?)"
            else:
                cond = f"{type_test} AND {lhs} {_SQL_OPS[node.op]} ?"
            return self._attr_exists(node.field, cond, [*kinds, bind(value)], negate=negate)
        if isinstance(node, In):
            values = [fold(v) if node.ignore_case else v for v in node.values]  # type: ignore[arg-type]
            lhs = "lower(value)" if node.ignore_case else "value"
            conds: list[str] = []
            params: list[SqlValue] = []
            for kind in sorted({k for v in values for k in _attr_kinds(v)}):
                same = [bind(v) for v in values if kind in _attr_kinds(v)]
                conds.append(f"(type = ? AND {lhs} IN ({marks(len(same))}))")
                params += [kind, *same]
            return self._attr_exists(node.field, f"({' OR '.join(conds)})", params, negate=negate)
        if isinstance(node, Range):
            bounds = [v for v in (node.low, node.high) if v is not None]
            if not bounds:
                return self._attr_exists(node.field, "", [], negate=negate)
            kinds = _attr_kinds(bounds[0])
            cond, params = f"type IN ({marks(len(kinds))})", list[SqlValue](kinds)
            if node.low is not None:
                cond += f" AND value {'>=' if node.low_inclusive else '>'} ?"
                params.append(bind(node.low))
            if node.high is not None:
                cond += f" AND value {'<=' if node.high_inclusive else '<'} ?"
                params.append(bind(node.high))
            return self._attr_exists(node.field, cond, params, negate=negate)
        pattern = fold(node.pattern) if node.ignore_case else node.pattern
        like = _like("lower(value)" if node.ignore_case else "value", pattern)
        return self._attr_exists(
            node.field, f"type = 's' AND {like.text}", like.params, negate=negate
        )


def _attr_kinds(value: Value) -> list[str]:
    """Stored attribute types a query value compares with, as Python compares them.

    Booleans, integers and floats are all numbers to Python (``True == 1 == 1.0``) and to
    SQLite; a naive datetime (type ``T``) never equals nor orders with an aware one; any
    other pair of types never matches.
    """
    if isinstance(value, (bool, int, float)):
        return ["b", "f", "i"]
    if isinstance(value, str):
        return ["s"]
    if isinstance(value, datetime):
        return ["t"] if value.tzinfo is not None else ["T"]
    return ["-"]  # UUID: attributes never hold one


def _prefix_range(lhs: str, pattern: str) -> Sql | None:
    """``lhs >= prefix AND lhs < next`` for the literal prefix of a wildcard pattern.

    Implied by the GLOB it accompanies; written out because an index (also one on
    ``lower(name)``) serves an explicit range, which SQLite's own LIKE optimisation does not
    guarantee for bound patterns.
    """
    prefix: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch in "*?":
            break
        prefix.append(next(chars, "\\") if ch == "\\" else ch)
    if not prefix:
        return None
    low = "".join(prefix)
    last = ord(low[-1])
    if last >= 0x10FFFF or 0xD7FF <= last < 0xE000:
        return Sql(f"{lhs} >= ?", [low])  # no simple successor: the lower bound alone
    return Sql(f"{lhs} >= ? AND {lhs} < ?", [low, low[:-1] + chr(last + 1)])


def _like(lhs: str, pattern: str) -> Sql:
    if "\x00" in pattern:  # no stored text holds NUL (codec refuses it)
        return Sql(f"({lhs} IS NOT NULL AND 0)")
    rng = _prefix_range(lhs, pattern)
    glob = Sql(f"{lhs} GLOB ?", [_glob(pattern)])
    if rng is None:
        return glob
    return Sql(f"({rng.text} AND {glob.text})", rng.params + glob.params)


def _terms(col: str, field_name: str, cond: Sql) -> Sql:
    """``col IN (values of the column matching cond)`` through the ``terms`` table."""
    return Sql(
        f"{col} IN (SELECT value FROM terms WHERE field = ? AND {cond.text})",
        [field_name, *cond.params],
    )


def _column_leaf(col: str, spec: Field, node: Compare | In | Range | Like) -> Sql:
    """A leaf over one column; ``col`` is a column reference (``p.x`` or a bare name)."""
    terms = spec.name in TERM_FIELDS
    if isinstance(node, Compare):
        op = _SQL_OPS[node.op]
        if node.ignore_case and isinstance(node.value, str):
            value = fold(node.value)
            if terms and node.op is CompareOp.EQ:
                return _terms(col, spec.name, Sql("folded = ?", [value]))
            return Sql(f"lower({col}) {op} ?", [value])
        return Sql(f"{col} {op} ?", [bind(node.value)])
    if isinstance(node, In):
        if node.ignore_case:
            folded: list[SqlValue] = [fold(str(v)) for v in node.values]
            slots = marks(len(folded))
            if terms:
                return _terms(col, spec.name, Sql(f"folded IN ({slots})", folded))
            return Sql(f"lower({col}) IN ({slots})", folded)
        values = [bind(v) for v in node.values]
        return Sql(f"{col} IN ({marks(len(values))})", values)
    if isinstance(node, Range):
        conds: list[str] = []
        params: list[SqlValue] = []
        if node.low is not None:
            conds.append(f"{col} {'>=' if node.low_inclusive else '>'} ?")
            params.append(bind(node.low))
        if node.high is not None:
            conds.append(f"{col} {'<=' if node.high_inclusive else '<'} ?")
            params.append(bind(node.high))
        if not conds:
            return Sql(f"{col} IS NOT NULL")
        return Sql(f"({' AND '.join(conds)})", params)
    pattern = fold(node.pattern) if node.ignore_case else node.pattern
    if terms:
        return _terms(col, spec.name, _like("folded" if node.ignore_case else "value", pattern))
    return _like(f"lower({col})" if node.ignore_case else col, pattern)


def _cost(node: Node) -> int:
    """Order inside an And: nested And/Or first (see ``node``), then column tests, then
    subqueries, then the geometry test."""
    if isinstance(node, (And, Or)):
        return 0
    leaf = node.item if isinstance(node, Not) else node
    if isinstance(leaf, Spatial):
        return 3
    if isinstance(leaf, Text):
        return 2
    if isinstance(leaf, (Compare, In, Range, Like, IsNull)) and leaf.field.startswith(
        "attributes."
    ):
        return 2
    return 1


def _time_window(items: Sequence[Node]) -> tuple[Value | None, Value | None]:
    """The sensing window implied by positive time leaves among the items of an And.

    Both sensing fields bound the stored [start, end] interval the same way (start <= high,
    end >= low), so either field's bounds narrow the R*Tree's time dimension.
    """
    low: Value | None = None
    high: Value | None = None
    for item in items:
        lo = hi = None
        if isinstance(item, Range) and item.field in _TIME_FIELDS:
            lo, hi = item.low, item.high
        elif isinstance(item, Compare) and item.field in _TIME_FIELDS:
            if item.op in (CompareOp.EQ, CompareOp.GE, CompareOp.GT):
                lo = item.value
            if item.op in (CompareOp.EQ, CompareOp.LE, CompareOp.LT):
                hi = item.value
        elif isinstance(item, In) and item.field in _TIME_FIELDS:
            lo, hi = min(item.values), max(item.values)  # type: ignore[type-var]
        if lo is not None and (low is None or lo > low):  # type: ignore[operator]
            low = lo
        if hi is not None and (high is None or hi < high):  # type: ignore[operator]
            high = hi
    return low, high


def _conjuncts(node: Node) -> tuple[Node, ...]:
    return node.items if isinstance(node, And) else (node,)


def rtree_time(window: tuple[Value | None, Value | None]) -> tuple[str, list[SqlValue]]:
    """R*Tree terms (and their parameters) of a sensing window: the boxes that overlap it."""
    low, high = window
    time_sql = ""
    time_params: list[SqlValue] = []
    if isinstance(high, datetime):
        time_sql += " AND mint <= ?"
        time_params.append(rtree_days(to_us(high)))
    if isinstance(low, datetime):
        time_sql += " AND maxt >= ?"
        time_params.append(rtree_days(to_us(low)))
    return time_sql, time_params


def _rtree_candidates(geometry: Footprint, window: tuple[Value | None, Value | None]) -> Sql:
    """SELECT of the pks whose R*Tree boxes meet the geometry's boxes and the time window."""
    time_sql, time_params = rtree_time(window)
    query_boxes = boxes(geometry)
    params: list[SqlValue] = []
    for minx, maxx, miny, maxy in query_boxes:
        params += [maxx, minx, maxy, miny, *time_params]
    selects = " UNION ALL ".join(
        f"SELECT id >> {BOX_SHIFT} FROM products_rtree"
        f" WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?{time_sql}"
        for _ in query_boxes
    )
    return Sql(selects, params)


def covered_boxes(geometry: Footprint) -> list[Box]:
    """Boxes (R*Tree column order) that the search geometry covers: the envelope of each part
    that is an axis-aligned rectangle (a drawn box, or each side of one split at 180)."""
    out: list[Box] = []
    for part in shapely.get_parts(geometry.search):
        if not isinstance(part, Polygon) or part.interiors:
            continue
        minx, miny, maxx, maxy = part.bounds
        if minx < maxx and miny < maxy and part.covers(shapely.box(minx, miny, maxx, maxy)):
            out.append((minx, maxx, miny, maxy))
    return out


def _rtree_inside(geometry: Footprint, window: tuple[Value | None, Value | None]) -> Sql | None:
    """SELECT of the pks with an R*Tree box inside a rectangle the query geometry covers.

    Such a product intersects the geometry for sure: its box holds a non-empty part of its
    search footprint (float32 boxes are rounded outwards, so the part lies inside the box), and
    the box lies inside the geometry. The exact test is then needed only for the candidates
    that straddle the geometry's edge. None when no part of the geometry is a rectangle, or
    when more than ``MAX_BOXES`` are (as many R*Tree searches as the candidates at most).
    """
    inner = covered_boxes(geometry)
    if not inner or len(inner) > MAX_BOXES:
        return None
    time_sql, time_params = rtree_time(window)
    params: list[SqlValue] = []
    for minx, maxx, miny, maxy in inner:
        params += [minx, maxx, miny, maxy, *time_params]
    selects = " UNION ALL ".join(
        f"SELECT id >> {BOX_SHIFT} FROM products_rtree"
        f" WHERE minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?{time_sql}"
        for _ in inner
    )
    return Sql(selects, params)


def driving_spatial(items: Sequence[Node]) -> Spatial | None:
    """The first positive spatial conjunct that the R*Tree could answer, if any."""
    for item in items:
        if isinstance(item, Spatial) and not (
            item.op is SpatialOp.INTERSECTS and item.geometry.search.covers(_WORLD)
        ):
            return item
    return None


def _not_null(items: Sequence[Node]) -> frozenset[str]:
    """Fields that a match cannot have NULL: a positive comparison on them is a conjunct."""
    return frozenset(
        item.field
        for item in items
        if isinstance(item, (Compare, In, Range, Like)) and not item.field.startswith("attr")
    )


CandidateCounter = Callable[[Sql], int]


def compile_filter(
    node: Node,
    count_candidates: CandidateCounter | None = None,
    *,
    sort_drives: bool = False,
    candidates_only: Spatial | None = None,
) -> Filter:
    """The WHERE fragment of a normalised filter, and how its plan is steered.

    ``count_candidates`` runs a count statement (on the connection that will run the query);
    without it a spatial filter with no sensing window is left to SQLite's planner.
    ``sort_drives`` (filters without a spatial term only): write every term unindexed so the
    index of the sort key drives a page query that matches many rows (see SORT_DRIVE_MIN).
    ``candidates_only``: a spatial conjunct compiled to its R*Tree candidates alone.
    """
    items = _conjuncts(node)
    spatial = driving_spatial(items)
    if sort_drives and spatial is None:
        compiler = _Compiler(unindexed=True, rtree_probe_only=False)
        return Filter(compiler.node(node), False, _not_null(items))
    rtree_drives = probe_only = False
    if spatial is not None:
        window = _time_window(items)
        if window != (None, None):
            area = sum((b[1] - b[0]) * (b[3] - b[2]) for b in boxes(spatial.geometry))
            rtree_drives = area <= SMALL_BOX_DEG2
        elif count_candidates is not None:
            candidates = _rtree_candidates(spatial.geometry, window)
            probe = Sql(
                f"SELECT count(*) FROM ({candidates.text} LIMIT ?)",
                [*candidates.params, RTREE_DRIVE_LIMIT + 1],
            )
            rtree_drives = count_candidates(probe) <= RTREE_DRIVE_LIMIT
            probe_only = not rtree_drives
    compiler = _Compiler(
        unindexed=rtree_drives, rtree_probe_only=probe_only, candidates_only=candidates_only
    )
    return Filter(compiler.node(node), rtree_drives, _not_null(items))


@dataclass(frozen=True)
class SpatialSplit:
    """A filter split for an exact spatial test outside SQLite (see spatial_page.py).

    ``where`` holds every other term and the R*Tree candidates of ``spatial`` (the plan
    steered as by :func:`compile_filter`); ``inside`` selects the candidates whose box lies
    inside the query geometry (certain matches of an Intersects), when there is such a set.
    """

    where: Filter
    spatial: Spatial
    inside: Sql | None


def split_spatial(
    node: Node, count_candidates: CandidateCounter, limit: int
) -> SpatialSplit | None:
    """The filter with its driving spatial term reduced to the R*Tree candidates, when that
    term has a sensing window and at most ``limit`` candidates; else None. The plan is
    steered as by :func:`compile_filter` (a selective B-tree index may drive)."""
    items = _conjuncts(node)
    spatial = driving_spatial(items)
    if spatial is None:
        return None
    window = _time_window(items)
    if window == (None, None):
        return None
    candidates = _rtree_candidates(spatial.geometry, window)
    probe = Sql(
        f"SELECT count(*) FROM ({candidates.text} LIMIT ?)", [*candidates.params, limit + 1]
    )
    if count_candidates(probe) > limit:
        return None
    where = compile_filter(node, count_candidates, candidates_only=spatial)
    inside = _rtree_inside(spatial.geometry, window) if spatial.op is SpatialOp.INTERSECTS else None
    return SpatialSplit(where, spatial, inside)


# A page query whose filter matches more rows than this walks the sort key's index instead
# of sorting every match (a filter index would feed half the catalogue into a temp B-tree).
# Sorting 20,000 keys read from the covering collection index takes a few milliseconds.
SORT_DRIVE_MIN = 20_000

__all__ = [
    "RTREE_DRIVE_LIMIT",
    "SMALL_BOX_DEG2",
    "SORT_DRIVE_MIN",
    "CandidateCounter",
    "SpatialSplit",
    "compile_filter",
    "covered_boxes",
    "driving_spatial",
    "rtree_time",
    "split_spatial",
]
