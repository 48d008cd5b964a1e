"""The contract every catalogue backend keeps, checked on a real SQLite file and a real PostGIS.

Search results are compared with :func:`eohub.query.evaluate.search`, the reference semantics.
SQLite runs twice: with its in-memory search index (the default) and on SQL alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest

from catalogue_samples import (
    ANTIMERIDIAN_RING,
    T0,
    bare_product,
    edge_products,
    make_product,
    some_uuid,
)
from eohub.catalogue.service import Catalogue
from eohub.demo import generate_products
from eohub.errors import HubError, InvalidGeometry, InvalidQuery, NotFound
from eohub.model import Footprint, Product
from eohub.query import (
    FIELDS,
    And,
    Compare,
    CompareOp,
    CountMode,
    Cursor,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Page,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    Text,
    normalize_query,
)
from eohub.query.evaluate import search as reference
from eohub.query.normalize import MAX_DEPTH

SORTABLE = [f.name for f in FIELDS if f.sortable]


@pytest.fixture(params=["sqlite", "sqlite-sql", pytest.param("postgis", marks=pytest.mark.postgis)])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each catalogue backend in turn; "sqlite-sql" is SQLite without its in-memory index."""
    return str(request.param)


@pytest.fixture(scope="module")
def products() -> list[Product]:
    """Generated products of every mission plus the hand-made edge cases."""
    return list(generate_products(160, seed=11)) + edge_products()


@pytest.fixture
def loaded(catalogue_backend: Any, products: list[Product]) -> Iterator[Catalogue]:
    """A catalogue holding ``products``."""
    assert catalogue_backend.upsert(products) == len(products)
    yield Catalogue(catalogue_backend)


def box(x0: float, y0: float, x1: float, y1: float) -> Footprint:
    return Footprint.from_wkt(f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))")


def names(items: Sequence[Product]) -> list[str]:
    return [p.name for p in items]


def assert_same(catalogue: Catalogue, query: Query, products: list[Product]) -> Page[Product]:
    """The backend's page equals the reference page: items, order, total and next cursor."""
    expected = reference(normalize_query(query), products)
    got = catalogue.search(query)
    assert names(got.items) == names(expected.items), query
    assert got.total == expected.total, query
    assert got.next == expected.next, query
    if query.count is CountMode.EXACT:
        assert catalogue.count(query) == expected.total, query
    return got


def test_upsert_and_get_round_trip_whole_products(
    catalogue_backend: Any, products: list[Product]
) -> None:
    assert catalogue_backend.upsert(products) == len(products)
    for product in products:
        got = catalogue_backend.get(product.id)
        assert got == product, product.name
        # Equality of footprints compares the search shape; the display shape is kept too.
        if product.footprint is not None:
            assert got.footprint.original.equals_exact(product.footprint.original, 1e-9)
        assert {k: type(v) for k, v in got.attributes.items()} == {
            k: type(v) for k, v in product.attributes.items()
        }, product.name
        assert got.sensing.start.utcoffset() == timedelta(0)
    assert catalogue_backend.get(some_uuid(1)) is None
    assert catalogue_backend.upsert([]) == 0


def test_upsert_replaces_by_id(catalogue_backend: Any) -> None:
    first = make_product("REPLACED", attributes={"a": "1", "b": 2}, cloud_cover=10.0)
    catalogue_backend.upsert([first, make_product("OTHER")])
    second = first.evolve(
        name="REPLACED_V2",
        filename="REPLACED_V2.SAFE",
        cloud_cover=None,
        footprint=None,
        attributes={"c": True},
        online=False,
        checksums=(),
    )
    assert catalogue_backend.upsert([second]) == 1
    assert catalogue_backend.get(first.id) == second
    assert catalogue_backend.find_by_name("REPLACED") is None
    assert catalogue_backend.find_by_name("REPLACED_V2") == second
    catalogue = Catalogue(catalogue_backend)
    assert catalogue.count(Query()) == 2
    assert catalogue.count(Query(filter=Compare("attributes.a", CompareOp.EQ, "1"))) == 0
    # The same Id twice in one call: the last one wins.
    third = second.evolve(size=3)
    assert catalogue_backend.upsert([second.evolve(size=2), third]) >= 1
    assert catalogue_backend.get(first.id) == third
    assert catalogue.count(Query()) == 2


def test_delete(loaded: Catalogue, products: list[Product]) -> None:
    gone = products[3]
    assert loaded.delete(gone.id) is not None
    assert loaded.delete(gone.id) is None
    assert loaded.delete(some_uuid(2)) is None
    assert loaded.backend.get(gone.id) is None
    assert loaded.backend.find_by_name(gone.name) is None
    with pytest.raises(NotFound):
        loaded.get(gone.id)
    rest = [p for p in products if p.id != gone.id]
    assert_same(loaded, Query(limit=1000, count=CountMode.EXACT), rest)
    assert_same(loaded, Query(filter=Compare("id", CompareOp.EQ, gone.id)), rest)


def test_get_many_keeps_the_given_order(loaded: Catalogue, products: list[Product]) -> None:
    wanted = [products[7].id, some_uuid(3), products[0].id, products[-1].id, products[42].id]
    got = loaded.backend.get_many(wanted)
    assert [p.id for p in got] == [wanted[0], wanted[2], wanted[3], wanted[4]]
    assert got[0] == products[7]
    assert loaded.backend.get_many([]) == []


def test_find_by_name(loaded: Catalogue, products: list[Product]) -> None:
    for product in products[:5] + [p for p in products if p.name.startswith("EDGE_TEXT")]:
        assert loaded.backend.find_by_name(product.name) == product
    assert loaded.backend.find_by_name(products[0].name.lower()) is None
    assert loaded.backend.find_by_name("EDGE_TEXT_0_a*") is None
    assert loaded.backend.find_by_name("EDGE_TEXT_2_a_b") is None  # "_" is no wildcard
    assert loaded.backend.find_by_name("") is None


def _filters(products: list[Product]) -> list[Node]:
    """One or more filters of every node type, with values taken from the products."""
    s1 = next(p for p in products if p.collection == "SENTINEL-1")
    s2 = next(p for p in products if p.collection == "SENTINEL-2" and p.cloud_cover is not None)
    when = s2.sensing.start
    return [
        Compare("collection", CompareOp.EQ, "SENTINEL-2"),
        Compare("platform", CompareOp.NE, "Sentinel-2A"),
        Compare("cloud_cover", CompareOp.LT, 30.0),
        Compare("cloud_cover", CompareOp.GE, s2.cloud_cover),  # type: ignore[arg-type]
        Compare("orbit_number", CompareOp.GT, s1.orbit_number),  # type: ignore[arg-type]
        Compare("relative_orbit", CompareOp.LE, 29),
        Compare("sensing_start", CompareOp.LE, when),
        Compare("sensing_end", CompareOp.GT, when),
        Compare("ingestion_date", CompareOp.EQ, s2.ingestion_date),
        Compare("size", CompareOp.LT, 100_000_000),
        Compare("size", CompareOp.GT, 10**30),
        Compare("orbit_number", CompareOp.LT, 10**25),
        Compare("online", CompareOp.EQ, False),
        Compare("online", CompareOp.NE, True),
        Compare("id", CompareOp.EQ, s1.id),
        Compare("id", CompareOp.LT, uuid.UUID(int=2**127)),
        Compare("name", CompareOp.GE, "S2"),
        Compare("filename", CompareOp.EQ, s1.filename),
        Compare("name", CompareOp.EQ, "x'; DROP TABLE products; --"),
        Like("name", "%' OR '1'='1"),
        Compare("mission", CompareOp.EQ, "sentinel-1", ignore_case=True),
        Compare("platform_short_name", CompareOp.EQ, "SENTINEL-3"),
        Compare("platform_serial", CompareOp.EQ, "B"),
        Compare("polarisation", CompareOp.EQ, "äbc_äbc", ignore_case=True),
        Compare("polarisation", CompareOp.EQ, "äBC_ÄBC", ignore_case=True),
        Compare("swath", CompareOp.GT, "a", ignore_case=True),
        Compare("tile_id", CompareOp.NE, "01KAB"),
        In("product_type", ("GRD", "S2MSI1C", "L2__NO2___")),
        In("orbit_direction", ("descending", "nope"), ignore_case=True),
        In("relative_orbit", (1, 29, 22, 175)),
        In("id", (s1.id, s2.id, some_uuid(4))),
        Range("cloud_cover", low=10.0, high=40.0),
        Range("cloud_cover", low=12.5, high=40.0, low_inclusive=False, high_inclusive=False),
        Range("sensing_start", low=when - timedelta(days=90), high=when),
        Range("size", high=5),
        Range("name", low="EDGE", high="EDGE_T"),
        Like("name", "S1?_IW_GRDH_*"),
        Like("name", "*_T3?T??_*"),
        Like("polarisation", "a\\*b"),
        Like("polarisation", "a\\?b"),
        Like("polarisation", "a%b"),
        Like("polarisation", "a_b"),
        Like("polarisation", "a[b]c"),
        Like("polarisation", "a\\\\b"),
        Like("polarisation", "A.B+*"),
        Like("swath", "a?b", ignore_case=True),
        Like("swath", "*ÄBC", ignore_case=True),
        Like("tile_id", "01K*"),
        Text("msil2a"),
        Text("SENTINEL 1 grdh"),
        Text("s3a ol*"),
        Text("nominal"),
        Text("esa"),
        Text("abc def"),
        Text("ünïcode"),
        IsNull("cloud_cover"),
        IsNull("orbit_direction"),
        IsNull("footprint"),
        IsNull("platform_serial"),
        IsNull("attributes.origin"),
        Spatial(SpatialOp.INTERSECTS, box(0.0, 40.0, 20.0, 55.0)),
        Spatial(SpatialOp.WITHIN, box(-30.0, 20.0, 60.0, 70.0)),
        Spatial(SpatialOp.CONTAINS, box(10.5, 45.5, 10.6, 45.6)),
        Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt("POINT(10.5 45.5)")),
        Spatial(SpatialOp.INTERSECTS, box(-10.0, 85.0, 10.0, 89.0)),
        Spatial(SpatialOp.INTERSECTS, box(-180.0, -90.0, 180.0, 90.0)),
        Compare("attributes.origin", CompareOp.EQ, "ESA"),
        Compare("attributes.origin", CompareOp.EQ, "esa", ignore_case=True),
        Compare("attributes.origin", CompareOp.NE, "ESA"),
        Compare("attributes.qualityIndex", CompareOp.EQ, "77"),
        Compare("attributes.qualityIndex", CompareOp.NE, "77"),
        Compare("attributes.qualityIndex", CompareOp.LT, "8"),
        Compare("attributes.qualityStatus", CompareOp.EQ, "NOMINAL"),
        In("attributes.origin", ("ESA", "ÉSA")),
        Range("attributes.origin", low="E", high="F"),
        Like("attributes.origin", "E\\*S\\?A*"),
        Like("attributes.granuleIdentifier", "S2?_OPER_*"),
        And(
            (
                Compare("collection", CompareOp.EQ, "SENTINEL-1"),
                Compare("online", CompareOp.EQ, True),
            )
        ),
        Or((IsNull("cloud_cover"), Compare("cloud_cover", CompareOp.GT, 90.0))),
        Not(Or((IsNull("tile_id"), Like("tile_id", "3*")))),
        Not(And((Text("s2a"), Compare("cloud_cover", CompareOp.LT, 50.0)))),
        And(()),
        Or(()),
    ]


def test_every_node_type_matches_the_reference(loaded: Catalogue, products: list[Product]) -> None:
    sort = (SortKey("sensing_start", descending=True),)
    for node in _filters(products):
        for item in (node, Not(node)):
            query = Query(filter=item, sort=sort, limit=1000, count=CountMode.EXACT)
            assert_same(loaded, query, products)


def test_deep_queries_run_or_are_refused(loaded: Catalogue, products: list[Product]) -> None:
    node: Node = Compare("cloud_cover", CompareOp.LT, 30.0)
    for k in range(MAX_DEPTH):
        node = (
            And((node, Compare("size", CompareOp.GE, k)))
            if k % 2
            else Or((node, IsNull("tile_id")))
        )
    assert_same(loaded, Query(filter=node, limit=1000, count=CountMode.EXACT), products)
    with pytest.raises(InvalidQuery):
        loaded.search(Query(filter=Or((node, Text("x")))))
    wide = Or(tuple(Compare("orbit_number", CompareOp.EQ, k) for k in range(500)))
    assert_same(loaded, Query(filter=wide, limit=1000), products)
    assert_same(
        loaded, Query(filter=In("relative_orbit", tuple(range(5000))), limit=1000), products
    )


def test_every_sortable_field_both_ways_with_nulls(
    loaded: Catalogue, products: list[Product]
) -> None:
    assert {"cloud_cover", "orbit_number", "tile_id", "relative_orbit"} <= set(SORTABLE)
    for name in SORTABLE:
        for descending in (False, True):
            query = Query(sort=(SortKey(name, descending),), limit=1000)
            page = assert_same(loaded, query, products)
            assert len(page.items) == len(products)
    two_keys = (SortKey("tile_id"), SortKey("cloud_cover", True), SortKey("size"))
    assert_same(loaded, Query(sort=two_keys, limit=1000), products)


PAGING_SORTS = [
    (SortKey("sensing_start", True),),
    (SortKey("cloud_cover"),),
    (SortKey("cloud_cover", True), SortKey("orbit_number")),
    (SortKey("tile_id", True), SortKey("size")),
    (SortKey("id", True),),
]


def test_keyset_paging_equals_one_big_page(loaded: Catalogue, products: list[Product]) -> None:
    # Products share sort values (twelve identical but for the Id, NULLs in several columns).
    for sort in PAGING_SORTS:
        big = loaded.search(Query(sort=sort, limit=1000))
        assert len(big.items) == len(products) and big.next is None
        seen: list[Product] = []
        after: Cursor | None = None
        for _ in range(len(products)):  # bounded: one page at least per product
            page = assert_same(loaded, Query(sort=sort, limit=7, after=after), products)
            seen += page.items
            if page.next is None:
                break
            # The cursor survives its text form, as it does between two HTTP requests.
            after = Cursor.decode(page.next.encode())
        assert names(seen) == names(big.items), sort
        assert len({p.id for p in seen}) == len(products), sort


def test_offsets(loaded: Catalogue, products: list[Product]) -> None:
    sort = (SortKey("cloud_cover", True),)
    big = loaded.search(Query(sort=sort, limit=1000))
    for offset in (0, 1, 12, 150, len(products) - 1, len(products), len(products) + 5, 10**9):
        page = assert_same(loaded, Query(sort=sort, limit=9, offset=offset), products)
        assert names(page.items) == names(big.items[offset : offset + 9])
    assert loaded.search(Query(limit=0, count=CountMode.EXACT)).items == []


def test_exact_counts(loaded: Catalogue, products: list[Product]) -> None:
    for node in (
        And(()),
        Compare("collection", CompareOp.EQ, "SENTINEL-2"),
        IsNull("cloud_cover"),
        Spatial(SpatialOp.INTERSECTS, box(-20.0, -40.0, 60.0, 70.0)),
    ):
        expected = sum(1 for p in products if reference(
            normalize_query(Query(filter=node, limit=1)), [p]).items)  # fmt: skip
        assert loaded.count(Query(filter=node)) == expected
        page = loaded.search(Query(filter=node, limit=3, count=CountMode.EXACT))
        assert page.total == expected
        assert loaded.search(Query(filter=node, limit=3)).total is None


def test_antimeridian_footprint_found_from_both_sides(catalogue_backend: Any) -> None:
    crossing = make_product("CROSSING", footprint=Footprint.from_rings([ANTIMERIDIAN_RING]))
    elsewhere = make_product("ELSEWHERE")  # near 10E 45N
    catalogue = Catalogue(catalogue_backend)
    catalogue.upsert([crossing, elsewhere, bare_product("NO_FOOTPRINT")])
    for x0, x1 in ((179.4, 179.6), (-179.6, -179.5), (179.9, 180.0), (-180.0, -179.9)):
        for op in (SpatialOp.INTERSECTS, SpatialOp.CONTAINS):
            query = Query(filter=Spatial(op, box(x0, -17.0, x1, -16.5)))
            assert names(catalogue.search(query).items) == ["CROSSING"], (x0, x1, op)
    wide = Footprint.from_wkt("POLYGON((178 -18, 182 -18, 182 -15, 178 -15, 178 -18))")
    assert names(catalogue.search(Query(filter=Spatial(SpatialOp.WITHIN, wide))).items) == [
        "CROSSING"
    ]
    assert (
        catalogue.search(Query(filter=Spatial(SpatialOp.INTERSECTS, box(0, -17, 1, -16)))).items
        == []
    )


def test_attribute_fields(loaded: Catalogue, products: list[Product]) -> None:
    by_name = {p.name: p for p in products}
    page = loaded.search(Query(filter=Compare("attributes.batch", CompareOp.EQ, "same"), limit=100))
    assert len(page.items) == 12 and all(p.name.startswith("EDGE_SAME") for p in page.items)
    page = loaded.search(Query(filter=Compare("attributes.qualityIndex", CompareOp.EQ, "77")))
    assert names(page.items) == ["EDGE_ATTR_1"]
    assert by_name["EDGE_ATTR_0"].attributes["qualityIndex"] == 77
    # Attributes of other types are kept exactly and never equal a string.
    got = loaded.backend.get(by_name["EDGE_ATTR_2"].id)
    assert got.attributes["qualityIndex"] == 78.5 and got.attributes["processingDate"] == T0


def _snapshot(backend: Any, products: list[Product]) -> list[Product | None]:
    return [backend.get(p.id) for p in products]


BAD_QUERIES = [
    Query(filter=Compare("cloudiness", CompareOp.LT, 5.0)),
    Query(filter=Compare("cloud_cover", CompareOp.LT, "five")),
    Query(filter=Compare("sensing_start", CompareOp.GT, "2024-01-01")),
    Query(filter=Like("size", "1*")),
    Query(filter=Compare("online", CompareOp.GT, True)),
    Query(filter=In("platform", ())),
    Query(filter=Compare("name", CompareOp.EQ, "x'; DROP TABLE products; --"), limit=-1),
    Query(sort=(SortKey("footprint"),)),
    Query(sort=(SortKey("name; DROP TABLE products"),)),
    Query(limit=10**6),
    Query(offset=-3),
    Query(
        offset=5,
        after=Cursor((SortKey("ingestion_date", True), SortKey("id")), (T0, some_uuid(5))),
    ),
    Query(after=Cursor((SortKey("size"), SortKey("id")), (1, some_uuid(6)))),
    Query(after=Cursor((SortKey("ingestion_date", True), SortKey("id")), ("x", "y"))),
    Query(filter=Text("x" * 5000)),
]

BAD_WKT = [
    "POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))",
    "POLYGON((0 0, 1 0, 1 1, 0 1))",
    "POLYGON((0 0, 1 0, 1 100, 0 0))",
    "POLYGON((1000 0, 1001 0, 1001 1, 1000 0))",
    "POLYGON EMPTY",
    "POLYGON((0 0, 1 0",
]


def test_bad_queries_are_refused_and_change_nothing(
    loaded: Catalogue, products: list[Product]
) -> None:
    before = _snapshot(loaded.backend, products)
    for query in BAD_QUERIES:
        with pytest.raises(InvalidQuery) as info:
            loaded.search(query)
        assert info.value.user_message
        with pytest.raises(InvalidQuery):
            loaded.count(query)
    for wkt in BAD_WKT:
        with pytest.raises(InvalidGeometry):
            loaded.search(Query(filter=Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(wkt))))
    assert _snapshot(loaded.backend, products) == before
    assert loaded.count(Query()) == len(products)


def test_a_bad_product_writes_nothing_of_its_batch(catalogue_backend: Any) -> None:
    kept = make_product("KEPT", cloud_cover=1.0)
    catalogue_backend.upsert([kept])
    changed = kept.evolve(cloud_cover=2.0)
    fresh = make_product("FRESH")
    bad = make_product("BAD\x00NAME")
    with pytest.raises((HubError, ValueError)) as info:
        catalogue_backend.upsert([changed, fresh, bad])
    assert "BAD" in str(info.value)
    assert catalogue_backend.get(kept.id) == kept
    assert catalogue_backend.get(fresh.id) is None
    assert Catalogue(catalogue_backend).count(Query()) == 1
