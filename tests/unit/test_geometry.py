"""Footprints: validation, antimeridian splitting, rings round a pole, storage round trip."""

from __future__ import annotations

import math

import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from catalogue_samples import ANTIMERIDIAN_RING, POLAR_RING
from eohub.errors import InvalidGeometry
from eohub.model import Footprint


def test_a_ring_across_the_antimeridian_is_split_in_two() -> None:
    fp = Footprint.from_rings([ANTIMERIDIAN_RING])
    assert isinstance(fp.search, MultiPolygon) and len(fp.search.geoms) == 2
    assert fp.within_world() and fp.search.is_valid
    west, east = sorted(fp.part_bounds())
    assert west[0] == -180.0 and math.isclose(west[2], -179.38, abs_tol=0.01)
    assert math.isclose(east[0], 179.2, abs_tol=1e-9) and east[2] == 180.0
    # Same area as the ring drawn with continuous longitudes; the original is kept for display.
    assert math.isclose(fp.search.area, Polygon(ANTIMERIDIAN_RING).area, rel_tol=1e-9)
    assert fp.original.equals(Polygon(ANTIMERIDIAN_RING))
    assert fp.geojson["type"] == "MultiPolygon"


def test_the_same_footprint_written_three_ways_is_equal() -> None:
    wrapped = Footprint.from_rings([ANTIMERIDIAN_RING])
    signed = Footprint.from_rings([[(x - 360 if x > 180 else x, y) for x, y in ANTIMERIDIAN_RING]])
    assert wrapped.search.equals(signed.search)
    assert shapely.equals(wrapped.search, Footprint.from_wkt(signed.wkt).search)


def test_sample_tile_01KAB_splits_like_the_reference() -> None:
    # S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB: the ring as read from its metadata.
    ring = [
        (-179.72957, -16.259071119106963),
        (-179.7307, -17.25048161178992),
        (179.2392098262128, -17.238191708196563),
        (179.2586253225676, -16.24776292495267),
    ]
    fp = Footprint.from_rings([ring])
    parts = sorted(fp.part_bounds())
    assert parts[0][0] == -180.0 and parts[0][2] == pytest.approx(-179.72957)
    assert parts[1][0] == pytest.approx(179.2392098262128) and parts[1][2] == 180.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_ring_round_a_pole_is_closed_over_it(sign: float) -> None:
    ring = [(x, sign * y) for x, y in POLAR_RING]
    fp = Footprint.from_rings([ring])
    assert fp.search.is_valid and fp.within_world()
    assert fp.search.covers(Point(0.0, sign * 89.99))
    assert fp.search.covers(Point(179.9, sign * 85.0)) and fp.search.covers(
        Point(-179.9, sign * 85)
    )
    assert not fp.search.intersects(Point(0.0, sign * 70.0))
    assert not fp.search.intersects(Point(0.0, -sign * 89.99))


def test_a_world_box_is_the_world() -> None:
    fp = Footprint.from_wkt("POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))")
    assert fp.search.equals(box(-180, -90, 180, 90))
    band = Footprint.from_wkt("POLYGON((-180 -10, 180 -10, 180 10, -180 10, -180 -10))")
    assert band.search.area == pytest.approx(7200.0)


def test_a_plain_footprint_is_kept_as_it_is() -> None:
    fp = Footprint.from_wkt("POLYGON((10 40, 11 40, 11 41, 10 41, 10 40))")
    assert fp.search.equals(fp.original) and isinstance(fp.search, Polygon)
    assert fp.bounds == (10.0, 40.0, 11.0, 41.0)
    point = Footprint.from_wkt("POINT(179.5 -16.5)")
    assert point.search.equals(Point(179.5, -16.5))


def test_storage_round_trip_and_equality() -> None:
    fp = Footprint.from_rings([ANTIMERIDIAN_RING])
    original, search = fp.to_wkb()
    back = Footprint.from_wkb(original, search)
    assert back == fp and hash(back) == hash(fp)
    assert Footprint.from_wkb(original) == fp
    assert fp != Footprint.from_rings([POLAR_RING]) and fp != "POLYGON"
    assert fp.polygon_rings()[0][0] == pytest.approx(ANTIMERIDIAN_RING[0])


def test_geojson_input() -> None:
    obj = {"type": "Polygon", "coordinates": [[[179, -17], [181, -17], [181, -16], [179, -17]]]}
    fp = Footprint.from_geojson(obj)  # type: ignore[arg-type]
    assert isinstance(fp.search, MultiPolygon)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(
    ("wkt", "words"),
    [
        ("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))", "Self-intersection"),
        ("POLYGON((0 0, 1 0, 1 1, 0 1))", "invalid WKT"),
        ("POLYGON((0 0, 1 0, 1 1", "invalid WKT"),
        ("POLYGON((0 0, 1 0, 1 91, 0 0))", "latitude out of range"),
        ("POLYGON((0 -95, 1 0, 1 1, 0 -95))", "latitude out of range"),
        ("POLYGON((45 10, 46 10, 46 11, 45 10))", None),
        ("POLYGON((10 45, 10 46, 11 46, 10 45))", None),
        ("POLYGON((600 0, 601 0, 601 1, 600 0))", "longitude out of range"),
        ("POLYGON((0 0, nan 0, 1 1, 0 0))", "nan"),
        ("POLYGON((0 0, inf 0, 1 1, 0 0))", "non-finite"),
        ("POLYGON EMPTY", "empty"),
        ("CIRCLE(0 0, 1)", "invalid WKT"),
        ("", "invalid WKT"),
        ("POLYGON((0 0, 1 1, 2 2, 0 0))", "invalid geometry"),
    ],
)
def test_bad_geometries_are_refused_by_name(wkt: str, words: str | None) -> None:
    if words is None:  # valid in both orders: only the range check can tell lon from lat
        Footprint.from_wkt(wkt)
        return
    with pytest.raises(InvalidGeometry) as info:
        Footprint.from_wkt(wkt)
    assert words in info.value.user_message


def test_lat_lon_order_mistakes_are_caught_when_out_of_range() -> None:
    with pytest.raises(InvalidGeometry) as info:
        Footprint.from_wkt("POLYGON((45 100, 46 100, 46 101, 45 100))")
    assert "lon lat order" in info.value.user_message


def test_non_strict_repairs_a_self_intersecting_ring() -> None:
    fp = Footprint.from_wkt("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))", strict=False)
    assert fp.search.is_valid and fp.search.area == pytest.approx(2.0)


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "Polygon"},
        {"type": "Polygon", "coordinates": "x"},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},
        {"type": "Blob", "coordinates": []},
        {"coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 95], [0, 0]]]},
    ],
)
def test_bad_geojson_is_refused(obj: dict[str, object]) -> None:
    with pytest.raises(InvalidGeometry):
        Footprint.from_geojson(obj)


@pytest.mark.parametrize("rings", [[], [[(0, 0), (1, 1)]], [[(0, 0), (1, 1), (0, 0)]]])
def test_from_rings_needs_real_rings(rings: list[list[tuple[float, float]]]) -> None:
    with pytest.raises(InvalidGeometry):
        Footprint.from_rings(rings)


def test_several_rings_make_a_multipolygon() -> None:
    a = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    b = [(5.0, 5.0), (6.0, 5.0), (6.0, 6.0), (5.0, 6.0)]
    fp = Footprint.from_rings([a, b, ANTIMERIDIAN_RING])
    assert isinstance(fp.search, MultiPolygon) and len(fp.search.geoms) == 4
