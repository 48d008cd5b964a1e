"""The SQLite catalogue's in-memory search index: it answers area, time and category searches,
follows writes made by other catalogue objects (other server processes) through the change
feed, and hands to SQL what it cannot answer or cannot vouch for. Real files; every answer is
compared with SQL alone on the same file and with the reference evaluator."""

from __future__ import annotations

import gc
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eohub.catalogue.sqlite import SQLiteCatalogue
from eohub.catalogue.sqlite.memory import index as memory
from eohub.demo import generate_products
from eohub.model import Footprint, Product
from eohub.query import (
    And,
    Compare,
    CompareOp,
    CountMode,
    Like,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    Text,
    normalize_query,
)
from eohub.query.evaluate import search as reference

START = datetime(2024, 1, 1, tzinfo=UTC)
EUROPE = "POLYGON((-10 36, 30 36, 30 60, -10 60, -10 36))"


def _area(wkt: str = EUROPE) -> Spatial:
    return Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(wkt))


def _month(first: datetime = START + timedelta(days=20)) -> Range:
    return Range("sensing_start", first, first + timedelta(days=30))


QUERIES = [
    Query(And((_month(), _area())), limit=100, count=CountMode.EXACT),
    Query(
        And((_month(), _area(), Compare("platform", CompareOp.EQ, "sentinel-2a", True))),
        sort=(SortKey("sensing_start", True),),
        limit=10,
        offset=3,
        count=CountMode.EXACT,
    ),
    Query(
        And((_month(), Range("cloud_cover", 0.0, 60.0), Like("product_type", "S2MSI*"))),
        sort=(SortKey("cloud_cover"), SortKey("tile_id", True)),
        limit=50,
    ),
    Query(
        And((Range("sensing_end", START + timedelta(days=40), START + timedelta(days=41)),)),
        sort=(SortKey("orbit_number", True),),
        limit=20,
        count=CountMode.EXACT,
    ),
    Query(_area("POLYGON((0 40, 5 40, 2 44, 0 40))"), limit=30, count=CountMode.EXACT),
]


@pytest.fixture
def products() -> list[Product]:
    return list(generate_products(3000, seed=11, start=START, days=120))


@pytest.fixture
def catalogues(sqlite_path: Path, products: list[Product]) -> Iterator[tuple[SQLiteCatalogue, ...]]:
    """One file read with the index and without it, and a second writer (another process)."""
    indexed = SQLiteCatalogue(sqlite_path)
    indexed.migrate()
    indexed.upsert(products)
    sql_only = SQLiteCatalogue(sqlite_path, memory_index=False)
    writer = SQLiteCatalogue(sqlite_path, memory_index=False)
    yield indexed, sql_only, writer
    for catalogue in (indexed, sql_only, writer):
        catalogue.close()


def _answered(catalogue: SQLiteCatalogue) -> int:
    assert catalogue._memory is not None
    return catalogue._memory.answered


def _same(indexed: SQLiteCatalogue, sql_only: SQLiteCatalogue, query: Query) -> list[str]:
    """The page's names, checked equal with and without the index; asserts the index answered."""
    normal = normalize_query(query)
    before = _answered(indexed)
    page = indexed.search(normal)
    assert _answered(indexed) == before + 1, "the index did not answer"
    other = sql_only.search(normal)
    assert [p.name for p in page.items] == [p.name for p in other.items]
    assert (page.total, page.next) == (other.total, other.next)
    if normal.count is CountMode.EXACT:
        assert indexed.count(normal) == page.total
    return [p.name for p in page.items]


def test_area_time_and_category_searches_come_from_the_index(
    catalogues: tuple[SQLiteCatalogue, ...], products: list[Product]
) -> None:
    indexed, sql_only, _ = catalogues
    for query in QUERIES:
        names = _same(indexed, sql_only, query)
        assert names == [p.name for p in reference(normalize_query(query), products).items]
    assert len(_same(indexed, sql_only, QUERIES[0])) == 100  # a busy month over Europe


def test_writes_of_another_process_are_seen_by_the_next_search(
    catalogues: tuple[SQLiteCatalogue, ...], products: list[Product]
) -> None:
    indexed, sql_only, writer = catalogues
    query = Query(And((_month(), _area())), limit=100, count=CountMode.EXACT)
    first = _same(indexed, sql_only, query)
    inside = next(p for p in products if p.name == first[0])
    # Moved out of the area, a new product in it, and one deleted: each seen at once.
    writer.upsert(
        [replace(inside, footprint=Footprint.from_wkt("POLYGON((100 0,101 0,101 1,100 0))"))]
    )
    assert inside.name not in _same(indexed, sql_only, query)
    new = replace(
        products[0],
        id=uuid.uuid4(),
        name="S2B_MSIL1C_NEW",
        sensing=replace(
            products[0].sensing,
            start=START + timedelta(days=30),
            end=START + timedelta(days=30, seconds=5),
        ),
        ingestion_date=datetime(2030, 1, 1, tzinfo=UTC),
        footprint=Footprint.from_wkt("POLYGON((10 45,11 45,11 46,10 45))"),
    )
    writer.upsert([new])
    assert _same(indexed, sql_only, query)[0] == "S2B_MSIL1C_NEW"  # newest ingestion first
    writer.delete(new.id)
    assert "S2B_MSIL1C_NEW" not in _same(indexed, sql_only, query)


def test_many_writes_are_merged_into_the_sorted_block(
    catalogues: tuple[SQLiteCatalogue, ...],
    products: list[Product],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    indexed, sql_only, writer = catalogues
    monkeypatch.setattr(memory, "MERGE_ROWS", 50)
    _same(indexed, sql_only, QUERIES[0])
    for start in range(0, 600, 60):  # shifted by a week: products move between windows
        writer.upsert(
            replace(p, sensing=replace(p.sensing, start=p.sensing.start + timedelta(days=7),
                                       end=p.sensing.end + timedelta(days=7)))
            for p in products[start : start + 60]
        )  # fmt: skip
        for query in QUERIES:
            _same(indexed, sql_only, query)
    version = indexed._memory._version
    assert version is not None and len(version.tail) < 100 and len(version.main) == len(products)


def test_what_the_columns_cannot_answer_goes_to_sql(
    catalogues: tuple[SQLiteCatalogue, ...],
    products: list[Product],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    indexed, sql_only, _ = catalogues
    monkeypatch.setattr(memory, "BROAD_ROWS", 1000)
    name = products[5].name
    for query in (
        Query(Compare("name", CompareOp.EQ, name)),
        Query(And((_month(), Text("sentinel")))),
        Query(And((_month(), Compare("attributes.origin", CompareOp.EQ, "x")))),
        Query(_month(), sort=(SortKey("name"),)),
        Query(Compare("platform", CompareOp.NE, "x")),  # no area, no window: > BROAD_ROWS
    ):
        normal = normalize_query(query)
        before = _answered(indexed)
        assert [p.name for p in indexed.search(normal).items] == [
            p.name for p in sql_only.search(normal).items
        ]
        assert _answered(indexed) == before


def test_a_snapshot_older_than_the_index_is_answered_by_sql(
    catalogues: tuple[SQLiteCatalogue, ...], products: list[Product], sqlite_path: Path
) -> None:
    indexed, sql_only, writer = catalogues
    _same(indexed, sql_only, QUERIES[0])
    old = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        old.execute("BEGIN")
        old.execute("SELECT count(*) FROM changes").fetchone()  # the snapshot starts here
        writer.delete(products[0].id)
        _same(indexed, sql_only, QUERIES[0])  # the index moves past the old snapshot
        assert indexed._memory is not None
        assert indexed._memory.page(normalize_query(QUERIES[0]), old) is None
        old.execute("COMMIT")
    finally:
        old.close()


def test_a_pruned_feed_rebuilds_the_index(
    catalogues: tuple[SQLiteCatalogue, ...], products: list[Product]
) -> None:
    indexed, sql_only, writer = catalogues
    _same(indexed, sql_only, QUERIES[0])
    writer.delete(products[1].id)
    writer.delete(products[2].id)
    assert writer.prune_changes(datetime.now(UTC) + timedelta(days=1)) >= 1  # a gap
    normal = normalize_query(QUERIES[0])
    assert [p.name for p in indexed.search(normal).items] == [
        p.name for p in sql_only.search(normal).items
    ]
    assert indexed.prepare_search_index(wait_s=60) == "ready"
    _same(indexed, sql_only, QUERIES[0])


def test_a_large_catalogue_is_indexed_in_the_background(
    sqlite_path: Path, products: list[Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "BUILD_INLINE_MAX", 100)
    indexed = SQLiteCatalogue(sqlite_path)
    sql_only = SQLiteCatalogue(sqlite_path, memory_index=False)
    try:
        indexed.migrate()
        indexed.upsert(products)
        normal = normalize_query(QUERIES[0])
        assert indexed.search(normal).total == sql_only.search(normal).total  # by SQL, at first
        assert indexed.prepare_search_index(wait_s=60) == "ready"
        _same(indexed, sql_only, QUERIES[0])
        # Its parsed footprints are out of the collector's full passes (each walked them all).
        assert indexed._memory is not None and indexed._memory._version is not None
        shapes = [s for s in indexed._memory._version.main.shapes if s is not None]
        collected = {id(o) for o in gc.get_objects()}
        assert shapes and not any(id(s) in collected for s in shapes)
    finally:
        indexed.close()
        sql_only.close()


def test_the_index_can_be_turned_off(sqlite_path: Path, products: list[Product]) -> None:
    catalogue = SQLiteCatalogue(sqlite_path, memory_index=False)
    try:
        catalogue.migrate()
        catalogue.upsert(products[:10])
        assert catalogue.search(normalize_query(QUERIES[0])).total is not None
        assert catalogue.prepare_search_index(wait_s=1) == "off"
    finally:
        catalogue.close()
