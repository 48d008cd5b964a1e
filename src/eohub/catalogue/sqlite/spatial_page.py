"""Pages of a search by area and sensing window, with the exact geometry test done in bulk.

Measured on 1 million generated products (a STAC box over the US, one month, ~2,700 R*Tree
candidates, ~1,000 of them straddling the box's edge): the page took ~13 ms of CPU, ~9 ms of
it in the exact test, one ``eohub_spatial`` call per straddling candidate (~7 us: the call from
SQLite into Python, a WKB parse and a prepared predicate on one geometry). Here one statement
returns every candidate that passes the other terms, with its sort keys and the footprint of
those the R*Tree cannot settle; shapely tests the footprints as one array (~1 us each); the
matches are sorted and counted here (every match is sorted anyway for an exact total), and
only the page's rows are read afterwards.

Used when the filter's other terms are sensing-time bounds (with other terms, such as a
platform or a cloud cover, few candidates reach the exact test and handing every match to
Python cost more than it saved: ~1 ms a page), when the sort keys cannot be NULL (a stable
sort per key, in C, then serves; NULL would need the reference's "largest value" rule), and
when the R*Tree has at most CANDIDATE_LIMIT candidates (each one row handed to Python,
~0.5 us). rtree_page.py serves most such pages first; this path takes the others (a search
geometry without a rectangle part, Within and Contains, a page sorted on another column).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import shapely

from eohub.catalogue.sqlite.codec import bind
from eohub.catalogue.sqlite.compiler import CandidateCounter, split_spatial
from eohub.catalogue.sqlite.sqltext import Filter, Sql, column
from eohub.query.query import CountMode, Cursor, Query
from eohub.query.tree import And, Compare, Range, Spatial, SpatialOp

CANDIDATE_LIMIT = 20_000

# Shapely predicates with the (prepared) query geometry first, as in functions.py:
# footprint within query == query contains footprint, and the reverse.
_PREDICATES = {
    SpatialOp.INTERSECTS: shapely.intersects,
    SpatialOp.WITHIN: shapely.contains,
    SpatialOp.CONTAINS: shapely.within,
}
_TIMES = ("sensing_start", "sensing_end")
_SURE = b""  # footprint column of a candidate certainly matching (no test needed)


@dataclass(frozen=True)
class Plan:
    """The candidates statement of one page and what to do with its rows."""

    candidates: Sql  # pk, sort keys..., footprint (NULL: none, _SURE: certain match)
    where: Filter  # for the ORDER BY of the page's rows
    op: SpatialOp
    query_wkb: bytes


def plan(query: Query, count_candidates: CandidateCounter) -> Plan | None:
    """The plan of a page on this path, or None when the query does not fit it."""
    if query.after is not None and query.after.sort != query.sort:
        return None  # the rows hold the query's sort keys, the cursor's are compared
    items = query.filter.items if isinstance(query.filter, And) else (query.filter,)
    spatial = [i for i in items if isinstance(i, Spatial)]
    times = [i for i in items if isinstance(i, (Range, Compare)) and i.field in _TIMES]
    if len(spatial) != 1 or len(spatial) + len(times) != len(items):
        return None
    split = split_spatial(query.filter, count_candidates, CANDIDATE_LIMIT)
    if split is None:
        return None
    where = split.where
    keys: list[str] = []
    for key in query.sort:
        col, spec = column(key.field)
        if spec.nullable and spec.name not in where.not_null:
            return None
        keys.append(col)
    footprint = "coalesce(p.footprint_search, p.footprint_original)"
    params = list(where.sql.params)
    if split.inside is not None:
        footprint = f"CASE WHEN +p.pk IN ({split.inside.text}) THEN ? ELSE {footprint} END"
        params = [*split.inside.params, _SURE, *params]
    sql = Sql(
        f"SELECT p.pk, {', '.join(keys)}, {footprint} FROM products AS p WHERE {where.sql.text}",
        params,
    )
    return Plan(sql, where, split.spatial.op, shapely.to_wkb(split.spatial.geometry.search))


def _matches(plan: Plan, rows: list[Any]) -> list[Any]:
    """The rows whose footprint passes the exact test."""
    unsure = [i for i, row in enumerate(rows) if row[-1]]
    failed: set[int] = set()
    if unsure:
        # A private copy of the query geometry: prepared geometries are not thread-safe.
        query_geometry = shapely.from_wkb(plan.query_wkb)
        shapely.prepare(query_geometry)
        found = _PREDICATES[plan.op](
            query_geometry, shapely.from_wkb([rows[i][-1] for i in unsure])
        )
        failed = {i for i, hit in zip(unsure, found.tolist(), strict=True) if not hit}
    return [row for i, row in enumerate(rows) if row[-1] is not None and i not in failed]


def _after(cursor: Cursor) -> Callable[[Sequence[Any]], bool]:
    """Whether a row (pk, sort keys...) comes strictly after the cursor's row."""
    values = [bind(v) for v in cursor.values]
    directions = [key.descending for key in cursor.sort]

    def after(row: Sequence[Any]) -> bool:
        for value, mark, desc in zip(row[1:], values, directions, strict=False):
            if value != mark:
                return bool(value < mark) if desc else bool(value > mark)
        return False

    return after


def page(plan: Plan, query: Query, run: Callable[[Sql], list[Any]]) -> tuple[list[int], int | None]:
    """The pks of one page (limit + 1 at most, in order) and the exact total when asked."""
    matches = _matches(plan, run(plan.candidates))
    # Stable sorts from the last key to the first give the lexicographic order, each key in
    # its own direction; every key is non-NULL and of one type per column.
    for position in range(len(query.sort), 0, -1):
        matches.sort(key=itemgetter(position), reverse=query.sort[position - 1].descending)
    start = 0
    if query.after is not None:
        after = _after(query.after)
        low, high = 0, len(matches)
        while low < high:  # the first row after the cursor (rows after it are sorted last)
            middle = (low + high) // 2
            if after(matches[middle]):
                high = middle
            else:
                low = middle + 1
        start = low
    start += query.offset
    pks = [int(row[0]) for row in matches[start : start + query.limit + 1]]
    total = len(matches) if query.count is CountMode.EXACT else None
    return pks, total


def keys_sql(pks: Sequence[int], total: int | None) -> Sql:
    """A keys SELECT over a known list of pks in page order: ``pk``, its position ``at``, and
    ``total`` when given (the rows SELECTs order by ``at``: see paging.rows_sql)."""
    names = ("pk", "at") if total is None else ("pk", "at", "total")
    row = "(" + ", ".join("?" * len(names)) + ")"
    params: list[Any] = []
    for at, pk in enumerate(pks):
        params += (pk, at, total)[: len(names)]
    columns = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, 1))
    return Sql(f"SELECT {columns} FROM (VALUES {', '.join([row] * len(pks))})", params)


__all__ = ["CANDIDATE_LIMIT", "Plan", "keys_sql", "page", "plan"]
