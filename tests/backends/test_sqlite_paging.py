"""SQLite page statements: keys before rows, totals from the page's own pass, and the R*Tree
shortcut of intersections with boxes. Real files, compared with the reference evaluator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from catalogue_samples import make_product
from eohub.catalogue.sqlite import SQLiteCatalogue
from eohub.catalogue.sqlite.compiler import compile_filter
from eohub.catalogue.sqlite.paging import SortPlans
from eohub.catalogue.sqlite.sqltext import Sql
from eohub.demo.records import generate_products
from eohub.errors import InvalidQuery
from eohub.model import Footprint, Product
from eohub.query import (
    And,
    Compare,
    CompareOp,
    CountMode,
    Cursor,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    normalize_query,
)
from eohub.query.evaluate import search as reference_search
from eohub.query.tree import and_

T0 = datetime(2023, 6, 1, tzinfo=UTC)
BOX = "POLYGON((10 40, 20 40, 20 50, 10 50, 10 40))"


@pytest.fixture
def backend(sqlite_path: Path) -> Iterator[SQLiteCatalogue]:
    """The SQL paths only: the in-memory index (tested on its own) would answer first."""
    cat = SQLiteCatalogue(sqlite_path, memory_index=False)
    cat.migrate()
    yield cat
    cat.close()


def _ring(wkt: str) -> Footprint:
    return Footprint.from_wkt(wkt, strict=False)


def _edge_products() -> list[Product]:
    """Footprints inside, on, across and just beside the edges of BOX."""
    shapes = {
        "inside": "POLYGON((12 42, 13 42, 13 43, 12 43, 12 42))",
        "fills-it": BOX,
        "touches-edge": "POLYGON((20 44, 21 44, 21 45, 20 45, 20 44))",
        "touches-corner": "POLYGON((20 50, 21 50, 21 51, 20 51, 20 50))",
        "just-beside": "POLYGON((20.000001 44, 21 44, 21 45, 20.000001 45, 20.000001 44))",
        "straddles": "POLYGON((19 44, 22 44, 22 45, 19 45, 19 44))",
        "box-overlaps-only": "POLYGON((19 51, 21 49.5, 21 51, 19 51))",  # bbox meets, shape not
        "covers-it": "POLYGON((0 30, 30 30, 30 60, 0 60, 0 30))",
        "far": "POLYGON((100 0, 101 0, 101 1, 100 1, 100 0))",
        "ring-around": "POLYGON((5 35, 25 35, 25 55, 5 55, 5 35),(9 39, 21 39, 21 51, 9 51, 9 39))",
        "antimeridian": "POLYGON((175 44, 185 44, 185 45, 175 45, 175 44))",
    }
    return [
        make_product(name, footprint=_ring(wkt), start=T0 + timedelta(hours=k))
        for k, (name, wkt) in enumerate(shapes.items())
    ]


QUERY_SHAPES = {
    "box": BOX,
    "box-across-180": "POLYGON((170 40, 190 40, 190 50, 170 50, 170 40))",
    "triangle": "POLYGON((10 40, 20 40, 15 50, 10 40))",
    "box-with-hole": "POLYGON((10 40, 20 40, 20 50, 10 50, 10 40),"
                     "(12 42, 13 42, 13 43, 12 43, 12 42))",
    "two-boxes": "MULTIPOLYGON(((10 40, 20 40, 20 50, 10 50, 10 40)),"
                 "((174 43, 176 43, 176 46, 174 46, 174 43)))",
}  # fmt: skip


@pytest.mark.parametrize("op", list(SpatialOp))
@pytest.mark.parametrize("shape", list(QUERY_SHAPES))
@pytest.mark.parametrize("window", [False, True])
def test_edges_of_query_boxes_match_the_reference(
    backend: SQLiteCatalogue, op: SpatialOp, shape: str, window: bool
) -> None:
    products = _edge_products()
    backend.upsert(products)
    spatial = Spatial(op, Footprint.from_wkt(QUERY_SHAPES[shape], strict=False))
    month = Range("sensing_start", low=T0 - timedelta(days=1), high=T0 + timedelta(days=30))
    node = And((spatial, month)) if window else spatial
    query = normalize_query(Query(filter=node, limit=50, count=CountMode.EXACT))
    expected = reference_search(query, products)
    page = backend.search(query)
    assert sorted(p.name for p in page.items) == sorted(p.name for p in expected.items)
    assert page.total == expected.total


def test_only_covered_rectangles_skip_the_exact_test() -> None:
    for shape, shortcut in (("box", True), ("box-across-180", True), ("two-boxes", True),
                            ("triangle", False), ("box-with-hole", False)):  # fmt: skip
        fp = Footprint.from_wkt(QUERY_SHAPES[shape], strict=False)
        intersects = compile_filter(
            normalize_query(Query(filter=Spatial(SpatialOp.INTERSECTS, fp))).filter
        )
        within = compile_filter(normalize_query(Query(filter=Spatial(SpatialOp.WITHIN, fp))).filter)
        assert ("minx >= ?" in intersects.sql.text) is shortcut, shape
        assert "minx >= ?" not in within.sql.text, shape


def _typical(area: str) -> Query:
    when = datetime(2023, 3, 1, tzinfo=UTC)
    return Query(
        filter=And(
            (
                Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(area)),
                Range("sensing_start", low=when, high=when + timedelta(days=90)),
            )
        ),
        limit=7,
        count=CountMode.EXACT,
    )


@pytest.mark.parametrize("offset", [0, 5, 10_000])
def test_totals_from_the_page_pass_match_the_reference(
    backend: SQLiteCatalogue, offset: int
) -> None:
    products = list(generate_products(800, seed=4))
    backend.upsert(products)
    query = normalize_query(replace(_typical("POLYGON((-30 -20, 60 -20, 60 70, -30 70, -30 -20))"),
                                    offset=offset))  # fmt: skip
    expected = reference_search(query, products)
    assert expected.total is not None and expected.total > 20
    page = backend.search(query)
    assert [p.id for p in page.items] == [p.id for p in expected.items]
    assert page.total == expected.total and page.next == expected.next
    if page.next is not None:  # a keyset page: the total still counts every match
        cursor = Cursor.decode(page.next.encode())
        nxt = normalize_query(replace(query, offset=0, after=cursor))
        second = backend.search(nxt)
        assert second.total == expected.total
        assert [p.id for p in second.items] == [p.id for p in reference_search(nxt, products).items]


def test_sort_plans_count_in_the_pass_only_when_it_sorts_rows_read_from_the_table(
    backend: SQLiteCatalogue, sqlite_path: Path
) -> None:
    backend.upsert(list(generate_products(200, seed=6)))
    plans = SortPlans()
    spatial = normalize_query(_typical("POLYGON((-30 -20, 60 -20, 60 70, -30 70, -30 -20))"))
    walk = normalize_query(
        Query(
            filter=Compare("collection", CompareOp.EQ, "SENTINEL-2"),
            sort=(SortKey("ingestion_date", True),),
            limit=5,
        )  # fmt: skip
    )
    month = and_(
        Compare("collection", CompareOp.EQ, "SENTINEL-2"),
        Range("sensing_start", datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC)),
    )
    covered = normalize_query(  # sorted from the covering collection index: count apart
        Query(filter=month, sort=(SortKey("publication_date"),), limit=5)
    )
    explained: list[str] = []
    with backend._db.read() as conn:

        def run(sql: Sql) -> list[Any]:
            explained.append(sql.text)
            return conn.execute(sql.text, sql.params).fetchall()

        for query, drives, in_pass in ((spatial, False, True), (walk, True, False),
                                        (covered, False, False)):  # fmt: skip
            keys = backend._page_sql(query, compile_filter(query.filter, sort_drives=drives))
            assert plans.counts_in_pass(run, keys) is in_pass
            assert plans.counts_in_pass(run, keys) is in_pass  # remembered
    assert len(explained) == 3  # one EXPLAIN per statement


def test_hostile_text_with_a_total_is_an_invalid_query(backend: SQLiteCatalogue) -> None:
    backend.upsert([make_product("P1")])
    query = Query(  # sorted on a key without an index of its own: the plan is asked first
        filter=Compare("name", CompareOp.EQ, "\udc80"),
        sort=(SortKey("name"),),
        count=CountMode.EXACT,
    )
    with pytest.raises(InvalidQuery, match="not valid Unicode"):
        backend.search(normalize_query(query))
