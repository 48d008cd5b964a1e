"""The reference evaluator: the semantics every catalogue backend must reproduce."""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalogue_samples import ANTIMERIDIAN_RING, POLAR_RING, T0, bare_product, make_product
from eohub.model import Footprint, Product
from eohub.query import (
    And,
    Compare,
    CompareOp,
    CountMode,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Query,
    Range,
    SortKey,
    Spatial,
    SpatialOp,
    Text,
    normalize_query,
)
from eohub.query.evaluate import fold, like_regex, matches, search

FULL = make_product("S2A_MSIL2A_20240501T100000_N0510_R022_T32TPR_20240501T120000")
BARE = bare_product("S5P_BARE")


def box(x0: float, y0: float, x1: float, y1: float) -> Footprint:
    return Footprint.from_wkt(f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))")


LEAVES: list[Node] = [
    Compare("cloud_cover", CompareOp.EQ, 12.5),
    Compare("cloud_cover", CompareOp.NE, 99.0),
    Compare("orbit_number", CompareOp.LT, 50000),
    Compare("tile_id", CompareOp.GE, "0"),
    In("orbit_direction", ("DESCENDING", "ASCENDING")),
    Range("relative_orbit", low=1, high=200),
    Like("tile_id", "*"),
    IsNull("cloud_cover"),
    Spatial(SpatialOp.INTERSECTS, box(-180, -90, 180, 90)),
    Compare("attributes.qualityStatus", CompareOp.EQ, "NOMINAL"),
    Compare("attributes.qualityStatus", CompareOp.NE, "DEGRADED"),
]


@pytest.mark.parametrize("leaf", LEAVES)
def test_missing_values_never_match_and_not_is_the_complement(leaf: Node) -> None:
    assert matches(leaf, FULL) is not isinstance(leaf, IsNull)
    assert matches(leaf, BARE) is isinstance(leaf, IsNull)
    for product in (FULL, BARE):
        assert matches(Not(leaf), product) is not matches(leaf, product)


def test_ne_on_a_missing_value_is_false_and_its_negation_true() -> None:
    ne = Compare("cloud_cover", CompareOp.NE, 1.0)
    assert not matches(ne, BARE)
    assert matches(Not(ne), BARE)
    assert not matches(Compare("cloud_cover", CompareOp.EQ, 1.0), BARE)


def test_empty_and_or() -> None:
    assert matches(And(()), BARE) and not matches(Or(()), BARE)
    assert not matches(Not(And(())), BARE)


def test_ignore_case_folds_ascii_letters_only() -> None:
    p = make_product("X", swath="Äbc-Z", polarisation="vv vh")
    assert matches(Compare("swath", CompareOp.EQ, "äBC-z", ignore_case=True), p) is False
    assert matches(Compare("swath", CompareOp.EQ, "ÄBC-z", ignore_case=True), p) is True
    assert matches(Compare("polarisation", CompareOp.EQ, "VV VH", ignore_case=True), p)
    assert not matches(Compare("polarisation", CompareOp.EQ, "VV VH"), p)
    assert matches(In("polarisation", ("HH", "VV vh"), ignore_case=True), p)
    assert not matches(In("swath", ("äbc-z",), ignore_case=True), p)
    assert matches(Like("swath", "Ä*z", ignore_case=True), p)
    assert not matches(Like("swath", "ä*", ignore_case=True), p)
    assert fold("ÀÉÎõü İ ABC") == "ÀÉÎõü İ abc"
    # Ordering comparisons fold too: "B" > "a" by code point, "b" > "a" once folded.
    assert matches(Compare("polarisation", CompareOp.GT, "VV A", ignore_case=True), p)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("S2*", "S2A_MSIL2A", True),
        ("S2?_*", "S2A_MSIL2A", True),
        ("S2?", "S2AB", False),
        ("*", "", True),
        ("?", "", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\?b", "a?b", True),
        ("a\\?b", "axb", False),
        ("a\\\\b", "a\\b", True),
        ("a\\", "a\\", True),  # a trailing backslash is itself
        ("a\\b", "ab", True),  # an escaped ordinary character is that character
        ("a.b", "axb", False),
        ("a+b(c)[d]", "a+b(c)[d]", True),
        ("a%b", "axb", False),
        ("a_b", "axb", False),
        ("a%b", "a%b", True),
        ("*\n*", "x\ny", True),
    ],
)
def test_like_wildcards_and_escapes(pattern: str, text: str, expected: bool) -> None:
    assert (like_regex(pattern, False).fullmatch(text) is not None) is expected
    assert matches(Like("swath", pattern), make_product("X", swath=text)) is expected


def test_text_matches_every_token_case_insensitively() -> None:
    p = make_product(
        "S2B_MSIL1C_20240501T100000_N0510_R022_T32TPR_20240501T120000",
        attributes={"origin": "Copernicus-Ground segment", "cycle": 7, "when": T0},
    )
    assert matches(Text("s2b msil1c"), p)
    assert matches(Text("MSIL1C 32tpr"), p)
    assert matches(Text("sentinel 2"), p)  # the mission is searchable text
    assert matches(Text("copernicus ground segment"), p)  # string attributes too
    assert not matches(Text("7"), p)  # numbers held by attributes are not text
    assert not matches(Text("msil1"), p)  # whole tokens only
    assert matches(Text("msil1*"), p)  # unless the last one is a prefix
    assert matches(Text("s2b msil*"), p)
    assert not matches(Text("msil* s2b"), p)  # only the last token can be a prefix
    assert not matches(Text("s2c*"), p)
    assert matches(Text(""), p) and matches(Text("  * "), p) and matches(Text("--"), p)


def test_spatial_near_the_antimeridian() -> None:
    p = make_product("AM", footprint=Footprint.from_rings([ANTIMERIDIAN_RING]))
    east, west = box(179.4, -17.0, 179.6, -16.5), box(-179.6, -17.0, -179.5, -16.5)
    assert matches(Spatial(SpatialOp.INTERSECTS, east), p)
    assert matches(Spatial(SpatialOp.INTERSECTS, west), p)
    assert not matches(Spatial(SpatialOp.INTERSECTS, box(178.0, -17.0, 179.0, -16.5)), p)
    assert not matches(Spatial(SpatialOp.INTERSECTS, box(-179.3, -17.0, -178.0, -16.5)), p)
    # An edge longer than 180 degrees goes the short way, across the antimeridian.
    assert matches(Spatial(SpatialOp.INTERSECTS, box(-179.0, -17.0, 179.0, -16.5)), p)
    assert matches(Spatial(SpatialOp.WITHIN, box(-180, -90, 180, 90)), p)
    assert not matches(Spatial(SpatialOp.INTERSECTS, box(0, -17, 1, -16)), p)
    # A query box that itself crosses 180 (given with longitudes beyond it).
    crossing = Footprint.from_wkt("POLYGON((178 -18, 182 -18, 182 -15, 178 -15, 178 -18))")
    assert matches(Spatial(SpatialOp.WITHIN, crossing), p)
    assert matches(Spatial(SpatialOp.CONTAINS, west), p)
    assert not matches(Spatial(SpatialOp.CONTAINS, crossing), p)


def test_spatial_round_a_pole_and_without_a_footprint() -> None:
    p = make_product("POLE", footprint=Footprint.from_rings([POLAR_RING]))
    assert matches(Spatial(SpatialOp.INTERSECTS, box(-10, 89, 10, 89.5)), p)
    assert matches(Spatial(SpatialOp.CONTAINS, box(100, 85, 120, 86)), p)
    assert not matches(Spatial(SpatialOp.INTERSECTS, box(0, 60, 10, 70)), p)
    assert not matches(Spatial(SpatialOp.INTERSECTS, box(-180, -90, 180, 90)), BARE)
    assert matches(Not(Spatial(SpatialOp.INTERSECTS, box(-180, -90, 180, 90))), BARE)


def test_attributes_of_another_type_never_match_and_never_crash() -> None:
    p = make_product("ATTR", attributes={"cycle": 77, "flag": True, "when": T0, "s": "77"})
    for name in ("cycle", "flag", "when"):
        field = f"attributes.{name}"
        for op in CompareOp:
            node = normalize_query(Query(filter=Compare(field, op, "77"))).filter
            assert matches(node, p) is (op is CompareOp.NE)
        assert not matches(Range(field, low="0", high="z"), p)
        assert not matches(In(field, ("77", "True"), ignore_case=True), p)
        assert not matches(Like(field, "*"), p)
        assert not matches(IsNull(field), p)
    assert matches(Compare("attributes.s", CompareOp.LT, "8"), p)
    assert matches(IsNull("attributes.absent"), p)
    assert not matches(Compare("attributes.absent", CompareOp.NE, "x"), p)


def _names(products: list[Product]) -> list[str]:
    return [p.name for p in products]


def test_sort_puts_nulls_last_ascending_and_first_descending() -> None:
    ps = [
        make_product("N1", cloud_cover=None),
        make_product("C5", cloud_cover=5.0),
        make_product("C1", cloud_cover=1.0),
        make_product("N2", cloud_cover=None),
    ]
    asc = normalize_query(Query(sort=(SortKey("cloud_cover"),), limit=10))
    desc = normalize_query(Query(sort=(SortKey("cloud_cover", True),), limit=10))
    nulls = sorted(["N1", "N2"], key=lambda n: str(make_product(n).id))
    assert _names(list(search(asc, ps).items)) == ["C1", "C5", *nulls]
    assert _names(list(search(desc, ps).items)) == [*nulls, "C5", "C1"]


def test_paging_offsets_cursors_and_counts() -> None:
    ps = [make_product(f"P{k:02d}", start=T0 + timedelta(hours=k % 4)) for k in range(23)]
    base = Query(sort=(SortKey("sensing_start", True),), limit=5, count=CountMode.EXACT)
    everything = search(normalize_query(Query(sort=base.sort, limit=100)), ps).items
    seen: list[Product] = []
    after = None
    pages = 0
    while True:
        page = search(normalize_query(Query(sort=base.sort, limit=5, after=after)), ps)
        seen += page.items
        pages += 1
        if page.next is None:
            break
        after = page.next
    assert seen == list(everything) and pages == 5
    offset_page = search(normalize_query(Query(sort=base.sort, limit=5, offset=20)), ps)
    assert list(offset_page.items) == list(everything[20:]) and offset_page.next is None
    counted = search(normalize_query(base), ps)
    assert counted.total == 23 and len(counted.items) == 5 and counted.next is not None
    assert search(normalize_query(Query(limit=0, count=CountMode.EXACT)), ps).total == 23
    assert search(normalize_query(Query(limit=0)), ps).next is None
    assert search(normalize_query(Query(limit=23)), ps).next is None
