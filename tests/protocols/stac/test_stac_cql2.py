"""CQL2 text and JSON -> the query tree, and the same search through the DHuS front-end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eohub.errors import InvalidQuery
from eohub.model.geometry import Footprint
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.stac import collections
from eohub.protocols.stac.cql2 import parse_json, parse_text
from eohub.query.normalize import normalize_filter
from eohub.query.tree import (
    MATCH_NONE,
    Compare,
    CompareOp,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Range,
    Spatial,
    SpatialOp,
    and_,
    or_,
)

T = datetime(2021, 4, 8, 4, 39, 23, tzinfo=UTC)
BOX = Footprint.from_wkt("POLYGON((10 50,11 50,11 51,10 51,10 50))")
BOX_JSON = {"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 51], [10, 50]]]}

CASES: list[tuple[str, dict[str, Any], Node]] = [
    ("eo:cloud_cover < 10", {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
     Compare("cloud_cover", CompareOp.LT, 10)),
    ("10 > eo:cloud_cover", {"op": ">", "args": [10, {"property": "eo:cloud_cover"}]},
     Compare("cloud_cover", CompareOp.LT, 10)),
    ("platform = 'sentinel-2a'", {"op": "=", "args": [{"property": "platform"}, "sentinel-2a"]},
     Compare("platform", CompareOp.EQ, "sentinel-2a", ignore_case=True)),
    ("properties.sat:relative_orbit <> 22",
     {"op": "<>", "args": [{"property": "properties.sat:relative_orbit"}, 22]},
     Compare("relative_orbit", CompareOp.NE, 22)),
    ("datetime >= TIMESTAMP('2021-04-08T04:39:23Z')",
     {"op": ">=", "args": [{"property": "datetime"}, {"timestamp": "2021-04-08T04:39:23Z"}]},
     Compare("sensing_start", CompareOp.GE, T)),
    ("eo:cloud_cover BETWEEN 0 AND 50",
     {"op": "between", "args": [{"property": "eo:cloud_cover"}, 0, 50]},
     Range("cloud_cover", 0, 50)),
    ("eo:cloud_cover NOT BETWEEN 0 AND 50",
     {"op": "not", "args": [{"op": "between", "args": [{"property": "eo:cloud_cover"}, 0, 50]}]},
     Not(Range("cloud_cover", 0, 50))),
    ("id LIKE 'S2A%MSI_1C'", {"op": "like", "args": [{"property": "id"}, "S2A%MSI_1C"]},
     Like("name", "S2A*MSI?1C")),
    ("mission LIKE 'sentinel%'", {"op": "like", "args": [{"property": "mission"}, "sentinel%"]},
     Like("mission", "sentinel*", ignore_case=True)),
    ("product:type IN ('GRD', 'SLC')",
     {"op": "in", "args": [{"property": "product:type"}, ["GRD", "SLC"]]},
     In("product_type", ("GRD", "SLC"))),
    ("grid:code = 'MGRS-32TPR'", {"op": "=", "args": [{"property": "grid:code"}, "MGRS-32TPR"]},
     Compare("tile_id", CompareOp.EQ, "32TPR")),
    ("eo:cloud_cover IS NULL", {"op": "isNull", "args": [{"property": "eo:cloud_cover"}]},
     IsNull("cloud_cover")),
    ("S_INTERSECTS(geometry, POLYGON((10 50,11 50,11 51,10 51,10 50)))",
     {"op": "s_intersects", "args": [{"property": "geometry"}, BOX_JSON]},
     Spatial(SpatialOp.INTERSECTS, BOX)),
    ("S_WITHIN(geometry, POLYGON((10 50,11 50,11 51,10 51,10 50)))",
     {"op": "s_within", "args": [{"property": "geometry"}, BOX_JSON]},
     Spatial(SpatialOp.WITHIN, BOX)),
    ("eo:cloud_cover < 10 AND (platform = 'sentinel-2a' OR NOT sat:relative_orbit = 3)",
     {"op": "and", "args": [
         {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
         {"op": "or", "args": [
             {"op": "=", "args": [{"property": "platform"}, "sentinel-2a"]},
             {"op": "not", "args": [{"op": "=", "args": [{"property": "sat:relative_orbit"}, 3]}]},
         ]},
     ]},
     and_(Compare("cloud_cover", CompareOp.LT, 10),
          or_(Compare("platform", CompareOp.EQ, "sentinel-2a", ignore_case=True),
              Not(Compare("relative_orbit", CompareOp.EQ, 3))))),
    ("collection = 'sentinel-2-l1c'",
     {"op": "=", "args": [{"property": "collection"}, "sentinel-2-l1c"]},
     collections.tree(collections.get("sentinel-2-l1c"))),
    ("collection = 'no-such-collection'",
     {"op": "=", "args": [{"property": "collection"}, "no-such-collection"]}, MATCH_NONE),
    # CASEI: the tree compares without regard to case (ignore_case), the value as written
    ("CASEI(\"product:type\") = CASEI('grd')",
     {"op": "=", "args": [{"op": "casei", "args": [{"property": "product:type"}]},
                          {"op": "casei", "args": ["grd"]}]},
     Compare("product_type", CompareOp.EQ, "grd", ignore_case=True)),
    ("CASEI(id) <> 'S2A_X'",
     {"op": "<>", "args": [{"op": "casei", "args": [{"property": "id"}]}, "S2A_X"]},
     Compare("name", CompareOp.NE, "S2A_X", ignore_case=True)),
    ("CASEI(id) LIKE CASEI('s2a%')",
     {"op": "like", "args": [{"op": "casei", "args": [{"property": "id"}]},
                             {"op": "casei", "args": ["s2a%"]}]},
     Like("name", "s2a*", ignore_case=True)),
    ("CASEI(\"product:type\") IN (CASEI('grd'), CASEI('slc'))",
     {"op": "in", "args": [{"op": "casei", "args": [{"property": "product:type"}]},
                           [{"op": "casei", "args": ["grd"]}, {"op": "casei", "args": ["slc"]}]]},
     In("product_type", ("grd", "slc"), ignore_case=True)),
    ("CASEI(collection) = 'SENTINEL-2-L1C'",
     {"op": "=", "args": [{"op": "casei", "args": [{"property": "collection"}]},
                          "SENTINEL-2-L1C"]},
     collections.tree(collections.get("sentinel-2-l1c"))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "json_filter", "expected"), CASES, ids=[c[0] for c in CASES])
def test_text_and_json_give_the_expected_tree(
    text: str, json_filter: dict[str, Any], expected: Node
) -> None:
    assert normalize_filter(parse_text(text)) == normalize_filter(expected)
    assert normalize_filter(parse_json(json_filter)) == normalize_filter(expected)


def test_temporal_operators_in_json() -> None:
    interval = {"interval": ["2020-11-11T00:00:00Z", "2020-11-12T00:00:00Z"]}
    start, end = datetime(2020, 11, 11, tzinfo=UTC), datetime(2020, 11, 12, tzinfo=UTC)
    got = parse_json({"op": "t_intersects", "args": [{"property": "datetime"}, interval]})
    assert got == Range("sensing_start", start, end)
    got = parse_json({"op": "t_after", "args": [{"property": "end_datetime"}, interval]})
    assert got == Range("sensing_end", low=end, low_inclusive=False)
    got = parse_json({"op": "t_before", "args": [{"property": "datetime"}, interval]})
    assert got == Range("sensing_start", high=start, high_inclusive=False)
    open_end = {"interval": ["2020-11-11T00:00:00Z", ".."]}
    got = parse_json({"op": "t_intersects", "args": [{"property": "datetime"}, open_end]})
    assert got == Range("sensing_start", start, None)


def test_the_same_search_in_dhus_opensearch_gives_the_same_tree() -> None:
    now = datetime.now(UTC)
    dhus = parse_q(
        "cloudcoverpercentage:[0 TO 10] AND platformname:Sentinel-2 AND "
        'footprint:"Intersects(POLYGON((10 50,11 50,11 51,10 51,10 50)))"',
        now,
    )
    text = parse_text(
        "eo:cloud_cover BETWEEN 0 AND 10 AND constellation = 'Sentinel-2' AND "
        "S_INTERSECTS(geometry, POLYGON((10 50,11 50,11 51,10 51,10 50)))"
    )
    assert normalize_filter(text) == normalize_filter(dhus)


BAD_TEXT = [
    "eo:cloud_cover <",  # syntax
    "nosuchproperty = 1",  # unknown property
    "geometry = 'x'",  # geometry outside a spatial predicate
    "S_INTERSECTS(platform, POINT(1 2))",  # spatial predicate on another property
    "S_INTERSECTS(geometry, POLYGON((0 0,1 1,0 1,1 0,0 0)))",  # self-intersecting
    "S_TOUCHES(geometry, POINT(1 2))",  # unsupported operator
    "eo:cloud_cover = platform",  # property-property comparison
    "eo:cloud_cover = 'many'",  # wrong type (reported when normalised)
    "datetime T_BEGINS INTERVAL('2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z')",
    "x" * 30_000,
    "CASEI(eo:cloud_cover) = 3",  # CASEI on a number
    "CASEI(id) < 'a'",  # CASEI with an ordering
    "UPPER(id) = 'A'",  # another function
]
BAD_JSON: list[Any] = [
    [1, 2],
    {"op": "between", "args": [{"property": "eo:cloud_cover"}, "a", "b"]},
    {"op": "=", "args": [{"property": "nope"}, 1]},
    {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon"}]},
    {"op": "nope", "args": []},
    {"op": "a_contains", "args": [{"property": "instruments"}, ["msi"]]},
]


@pytest.mark.parametrize("text", BAD_TEXT, ids=[t[:40] for t in BAD_TEXT])
def test_bad_cql2_text_is_an_invalid_query(text: str) -> None:
    with pytest.raises(InvalidQuery):
        normalize_filter(parse_text(text))


@pytest.mark.parametrize("obj", BAD_JSON, ids=[str(o)[:40] for o in BAD_JSON])
def test_bad_cql2_json_is_an_invalid_query(obj: Any) -> None:
    with pytest.raises(InvalidQuery):
        normalize_filter(parse_json(obj))
