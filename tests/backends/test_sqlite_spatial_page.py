"""SQLite pages of an area and a sensing window: counted from the R*Tree's boxes
(rtree_page.py) or with the exact geometry test in bulk (spatial_page.py). Multi-box
products, window edges, near ties, empty results and keyset pages, on real files, compared
with the reference evaluator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from catalogue_samples import T0, make_product
from eohub.catalogue.sqlite import SQLiteCatalogue, rtree_page, spatial_page
from eohub.catalogue.sqlite.sqltext import Sql
from eohub.demo.records import generate_products
from eohub.model import Footprint, Product
from eohub.model.documents import DocumentKind
from eohub.query import (
    And,
    Compare,
    CompareOp,
    CountMode,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    normalize_query,
)
from eohub.query.evaluate import search as reference_search
from eohub.query.tree import Node

US = timedelta(microseconds=1)
BOX = "POLYGON((9 44, 12 44, 12 47, 9 47, 9 44))"
NEWEST_SENSING = (SortKey("sensing_start", True), SortKey("id"))
NEWEST_INGESTION = (SortKey("ingestion_date", True), SortKey("id"))


@pytest.fixture
def backend(sqlite_path: Path) -> Iterator[SQLiteCatalogue]:
    """The SQL paths only: the in-memory index (tested on its own) would answer first."""
    cat = SQLiteCatalogue(sqlite_path, memory_index=False)
    cat.migrate()
    yield cat
    cat.close()


def _area(wkt: str) -> Spatial:
    return Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(wkt, strict=False))


def _assert_pages_match(backend: SQLiteCatalogue, query: Query, products: list[Product]) -> int:
    """Every keyset page of ``query`` and its total equal the reference; the pages walked."""
    query = normalize_query(query)
    counted = reference_search(replace(query, count=CountMode.EXACT), products).total
    assert backend.count(query) == counted
    walked = 0
    while True:
        expected = reference_search(query, products)
        page = backend.search(query)
        assert [p.id for p in page.items] == [p.id for p in expected.items]
        assert page.total == expected.total
        assert page.next == expected.next
        walked += 1
        if page.next is None:
            return walked
        assert walked < 100
        query = replace(query, after=page.next, offset=0)


TRIANGLE = "POLYGON((-30 -20, 60 -20, 15 70, -30 -20))"  # no rectangle: the bulk path


def _path(backend: SQLiteCatalogue, query: Query) -> str:
    query = normalize_query(query)
    if rtree_page.plan(query) is not None:
        return "boxes"
    with backend._db.read() as conn:
        return "bulk" if backend._spatial_plan(query, conn) is not None else "general"


def test_paths_are_chosen_by_filter_and_sort(backend: SQLiteCatalogue) -> None:
    backend.upsert(list(generate_products(300, seed=3)))
    window = Range("sensing_start", low=T0, high=T0 + timedelta(days=30))
    area = _area("POLYGON((-30 -20, 60 -20, 60 70, -30 70, -30 -20))")
    triangle = _area(TRIANGLE)
    within = Spatial(SpatialOp.WITHIN, area.geometry)
    platform = Compare("platform", CompareOp.EQ, "Sentinel-2A")
    cloud = (SortKey("cloud_cover"),)
    cases: list[tuple[Node, tuple[SortKey, ...], str]] = [
        (And((area, window)), NEWEST_SENSING, "boxes"),
        (And((area, window)), NEWEST_INGESTION, "boxes"),
        (And((area, window)), cloud, "boxes"),  # ranked by SQLite, NULLs and all
        (And((triangle, window)), NEWEST_INGESTION, "bulk"),
        (And((within, window)), NEWEST_SENSING, "bulk"),
        (And((triangle, window)), cloud, "general"),  # NULL ordering stays in SQL
        (And((area, window, platform)), NEWEST_SENSING, "general"),
        (area, NEWEST_SENSING, "general"),  # no window
    ]
    for node, sort, path in cases:
        assert _path(backend, Query(filter=node, sort=sort)) == path, (node, sort)


def _antimeridian_products() -> list[Product]:
    """Products split at 180 (two R*Tree boxes each), some meeting a box on both sides."""
    shapes = [
        "POLYGON((175 10, 185 10, 185 12, 175 12, 175 10))",
        "POLYGON((178 10, 182 10, 182 20, 178 20, 178 10))",
        "POLYGON((179.5 -5, 180.5 -5, 180.5 5, 179.5 5, 179.5 -5))",
        "POLYGON((170 10, 171 10, 171 11, 170 11, 170 10))",
        "POLYGON((-175 10, -174 10, -174 11, -175 11, -175 10))",
    ]
    return [
        make_product(
            f"AM{k}",
            footprint=Footprint.from_wkt(wkt, strict=False),
            start=T0 + timedelta(hours=k % 3),  # ties on sensing start: id breaks them
        )
        for k, wkt in enumerate(shapes * 4)
    ]


@pytest.mark.parametrize(
    "area",
    [
        "POLYGON((170 0, 190 0, 190 30, 170 30, 170 0))",  # across 180: two query boxes
        "POLYGON((-180 0, 180 0, 180 30, -180 30, -180 0))",  # a band around the world
        "POLYGON((176 9, 179 9, 179 11, 176 11, 176 9))",  # one side only
    ],
)
@pytest.mark.parametrize("sort", [NEWEST_SENSING, NEWEST_INGESTION])
def test_products_with_several_boxes_count_once(
    backend: SQLiteCatalogue, area: str, sort: tuple[SortKey, ...]
) -> None:
    products = _antimeridian_products()
    backend.upsert(products)
    window = Range("sensing_start", low=T0 - timedelta(days=1), high=T0 + timedelta(days=1))
    for spatial in (_area(area), Spatial(SpatialOp.WITHIN, _area(area).geometry)):
        query = Query(filter=And((spatial, window)), sort=sort, limit=3, count=CountMode.EXACT)
        assert _path(backend, query) != "general"
        walked = _assert_pages_match(backend, query, products)
        assert walked > 1 or spatial.op is SpatialOp.WITHIN


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "low",
    [
        T0,
        EPOCH + timedelta(days=2**14) - timedelta(days=30),  # window ends where float32 ulps double
        EPOCH + timedelta(days=2**14),  # ... and starts there
        EPOCH - timedelta(days=10),  # before 1970: negative days
        EPOCH - timedelta(days=15),  # a window across 0
    ],
)
def test_window_edges_to_the_microsecond(backend: SQLiteCatalogue, low: datetime) -> None:
    high = low + timedelta(days=30)
    starts = [low - US, low, low + US, high - US, high, high + US]
    products = [
        make_product(f"EDGE{k}", start=start) for k, start in enumerate(starts)
    ] + [  # an interval across the low edge: matches on sensing_end only
        make_product("ACROSS", start=low - timedelta(seconds=2))
    ]
    backend.upsert(products)
    area = _area("POLYGON((9 44, 12 44, 12 47, 9 47, 9 44))")
    filters: list[Node] = [
        And((area, Range("sensing_start", low=low, high=high))),
        And(
            (
                area,
                Range(
                    "sensing_start", low=low, high=high, low_inclusive=False, high_inclusive=False
                ),
            )
        ),  # fmt: skip
        And((area, Range("sensing_start", high=high), Range("sensing_end", low=low))),
        And((area, Compare("sensing_start", CompareOp.EQ, high))),
    ]
    for node in filters:
        for sort in (NEWEST_SENSING, (SortKey("sensing_start"),), NEWEST_INGESTION):
            query = Query(filter=node, sort=sort, limit=2, count=CountMode.EXACT)
            assert _path(backend, query) == "boxes"
            _assert_pages_match(backend, query, products)


@pytest.mark.parametrize("descending", [True, False])
def test_near_ties_in_sensing_start_are_ordered_exactly(
    backend: SQLiteCatalogue, descending: bool
) -> None:
    # Starts a few seconds or microseconds apart share a float32 time in the R*Tree.
    offsets = [timedelta(seconds=7 * (k % 9)) + US * (k % 4) for k in range(40)]
    products = [make_product(f"TIE{k:02d}", start=T0 + offset) for k, offset in enumerate(offsets)]
    backend.upsert(products)
    area = _area("POLYGON((9 44, 12 44, 12 47, 9 47, 9 44))")
    window = Range("sensing_start", low=T0, high=T0 + timedelta(days=1))
    sort = (SortKey("sensing_start", descending), SortKey("id"))
    query = Query(filter=And((area, window)), sort=sort, limit=3, count=CountMode.EXACT)
    assert _path(backend, query) == "boxes"
    assert _assert_pages_match(backend, query, products) == 14
    for offset in (1, 5, 38, 39, 40, 41):
        _assert_pages_match(backend, replace(query, offset=offset), products)


def test_empty_results(backend: SQLiteCatalogue) -> None:
    products = [make_product("ONLY")]
    backend.upsert(products)
    far_area = _area("POLYGON((100 0, 101 0, 101 1, 100 1, 100 0))")
    here = _area("POLYGON((9 44, 12 44, 12 47, 9 47, 9 44))")
    year = Range("sensing_start", low=T0 - timedelta(days=1), high=T0 + timedelta(days=1))
    later = Range("sensing_start", low=T0 + timedelta(days=10), high=T0 + timedelta(days=20))
    near_miss = _area("POLYGON((11 44, 12 44, 12 45.5, 11 44))")  # boxes meet, shapes not
    triangle = _area("POLYGON((11 44, 12 44, 12 45.5, 11 44))")
    for node in (And((far_area, year)), And((here, later)), And((near_miss, year)),
                 And((triangle, year))):  # fmt: skip
        query = normalize_query(Query(filter=node, count=CountMode.EXACT))
        assert _path(backend, query) != "general"
        page = backend.search(query)
        assert (list(page.items), page.total, page.next) == ([], 0, None)
        assert backend.count(query) == 0
    offset = normalize_query(Query(filter=And((here, year)), offset=5, count=CountMode.EXACT))
    page = backend.search(offset)
    assert (list(page.items), page.total) == ([], 1)


@pytest.mark.parametrize("sort", [NEWEST_SENSING, NEWEST_INGESTION, (SortKey("name"),)])
@pytest.mark.parametrize("op", list(SpatialOp))
def test_keyset_pages_and_offsets_match_the_reference(
    backend: SQLiteCatalogue, sort: tuple[SortKey, ...], op: SpatialOp
) -> None:
    products = list(generate_products(600, seed=21))
    backend.upsert(products)
    start = min(p.sensing.start for p in products)
    window = Range("sensing_start", low=start, high=start + timedelta(days=120))
    for wkt in ("POLYGON((-20 -10, 50 -10, 50 60, -20 60, -20 -10))", TRIANGLE):
        area = Spatial(op, Footprint.from_wkt(wkt))
        query = Query(filter=And((area, window)), sort=sort, limit=7, count=CountMode.EXACT)
        assert _path(backend, query) != "general"
        _assert_pages_match(backend, query, products)
        for offset in (3, 40):
            _assert_pages_match(backend, replace(query, offset=offset), products)
        _assert_pages_match(backend, replace(query, count=CountMode.NONE), products)


def test_too_many_candidates_take_another_path(
    backend: SQLiteCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    products = list(generate_products(300, seed=5))
    backend.upsert(products)
    start = min(p.sensing.start for p in products)
    window = Range("sensing_start", low=start, high=start + timedelta(days=365))
    area = _area("POLYGON((-170 -80, 170 -80, 170 80, -170 80, -170 -80))")
    query = Query(filter=And((area, window)), sort=NEWEST_SENSING, limit=9, count=CountMode.EXACT)
    monkeypatch.setattr(rtree_page, "CANDIDATE_LIMIT", 10)
    _assert_pages_match(backend, query, products)  # the bulk path
    monkeypatch.setattr(spatial_page, "CANDIDATE_LIMIT", 10)
    with backend._db.read() as conn:
        assert backend._spatial_plan(normalize_query(query), conn) is None
    _assert_pages_match(backend, query, products)  # the general path


def test_statements_have_bound_parameters_only(backend: SQLiteCatalogue) -> None:
    backend.upsert([make_product("P1")])
    when = T0 + timedelta(days=1)
    query = normalize_query(
        Query(filter=And((_area(TRIANGLE), Range("sensing_start", low=T0, high=when))))
    )
    with backend._db.read() as conn:
        found = backend._spatial_plan(query, conn)
    assert found is not None and isinstance(found.candidates, Sql)
    assert "2024" not in found.candidates.text and "-30" not in found.candidates.text
    boxes = rtree_page.plan(
        normalize_query(replace(query, filter=And((_area(BOX), Range("sensing_start", high=when)))))
    )
    assert boxes is not None
    text = rtree_page._candidates_sql(boxes).text
    assert "9" not in text.replace("?", "") and "2024" not in text


@pytest.mark.parametrize("wkt", [BOX, TRIANGLE])
def test_document_pages_follow_the_same_path(sqlite_path: Path, wkt: str) -> None:
    kind = DocumentKind("csc_product", 1, lambda product: orjson.dumps(product.name))
    catalogue = SQLiteCatalogue(sqlite_path, documents=(kind,), memory_index=False)
    catalogue.migrate()
    try:
        products = list(generate_products(300, seed=8))
        catalogue.upsert(products)
        start = min(p.sensing.start for p in products)
        window = Range("sensing_start", low=start, high=start + timedelta(days=200))
        area = _area("POLYGON((-30 -20, 60 -20, 60 70, -30 70, -30 -20))" if wkt == BOX else wkt)
        query = normalize_query(
            Query(filter=And((area, window)), sort=NEWEST_INGESTION, limit=4, count=CountMode.EXACT)
        )
        assert _path(catalogue, query) != "general"
        walked = 0
        while walked < 100:
            walked += 1
            page = catalogue.search(query)
            documents = catalogue.search_documents(query, kind.name)
            assert documents.items == [orjson.dumps(p.name) for p in page.items]
            assert (documents.total, documents.next) == (page.total, page.next)
            if page.next is None:
                break
            query = replace(query, after=page.next)
        assert walked >= 2
    finally:
        catalogue.close()
