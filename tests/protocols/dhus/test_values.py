"""Dates, date math, shapes and DHuS value forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from shapely.geometry import Point, box

from eohub.errors import InvalidGeometry, InvalidQuery
from eohub.protocols.dhus.datemath import parse_date
from eohub.protocols.dhus.spatial import parse_footprint, parse_shape
from eohub.protocols.dhus.values import (
    format_of,
    format_size,
    hv_to_tile,
    java_double,
    size_bounds,
    solr_date,
    tile_to_hv,
    xpath_number,
)
from eohub.query import IsNull, Not, Spatial, SpatialOp

NOW = datetime(2024, 3, 31, 17, 45, 30, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NOW", NOW),
        ("now", NOW),
        ("NOW-1DAY", datetime(2024, 3, 30, 17, 45, 30, 250000, tzinfo=UTC)),
        ("NOW-6HOURS", datetime(2024, 3, 31, 11, 45, 30, 250000, tzinfo=UTC)),
        ("NOW/DAY", datetime(2024, 3, 31, tzinfo=UTC)),
        ("NOW/DAY+1DAY-1MILLI", datetime(2024, 3, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("NOW-1MONTH", datetime(2024, 2, 29, 17, 45, 30, 250000, tzinfo=UTC)),  # clamped
        ("NOW+1YEAR/MONTH", datetime(2025, 3, 1, tzinfo=UTC)),
        ("NOW/SECOND", datetime(2024, 3, 31, 17, 45, 30, tzinfo=UTC)),
        ("2019-01-01T00:00:00.000Z", datetime(2019, 1, 1, tzinfo=UTC)),
        ("2019-01-01T00:00:00Z", datetime(2019, 1, 1, tzinfo=UTC)),
        ("2015-05-26T21:10:28.984Z", datetime(2015, 5, 26, 21, 10, 28, 984000, tzinfo=UTC)),
        ("2016-12-01T00:00:00Z-1DAY", datetime(2016, 11, 30, tzinfo=UTC)),
        ("2016-12-01T00:00:00Z+1DAY-1HOUR", datetime(2016, 12, 1, 23, tzinfo=UTC)),
        ("2020-01-01", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01T10:00:00.123456789Z", datetime(2020, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_dates_and_date_math(text: str, expected: datetime) -> None:
    assert parse_date(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "NOW-", "NOW-1", "NOW-1DECADE", "NOW*2DAYS", "2019-13-01T00:00:00Z",
             "2019-01-01T00:00:00Z garbage", "NOW+999999999YEARS"],
)  # fmt: skip
def test_bad_dates(text: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_date(text, NOW)
    assert info.value.field == "date" and text.strip() in info.value.user_message


def test_point_short_form_is_latitude_first() -> None:
    assert parse_shape("41.9000, 12.5000").original.equals(Point(12.5, 41.9))
    assert parse_shape("12.5 41.9").original.equals(Point(12.5, 41.9))


def test_envelope_and_box_forms() -> None:
    assert parse_shape("ENVELOPE(10, 11, 51, 50)").search.equals(box(10, 50, 11, 51))
    assert parse_shape("10 50 11 51").search.equals(box(10, 50, 11, 51))
    across = parse_shape("ENVELOPE(170, -170, 10, -10)")  # minX > maxX: across 180 degrees
    assert across.search.area == pytest.approx(20 * 20)


def test_wkt_forms() -> None:
    multi = "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))"
    assert parse_shape(multi).search.area == pytest.approx(1.0)
    gc = "GEOMETRYCOLLECTION(POLYGON((-66.2695 -8.0592,-66.2695 0.7031,-57.3047 0.7031,"
    gc += "-57.3047 -8.0592,-66.2695 -8.0592)))"
    assert parse_shape(gc).search.bounds == pytest.approx((-66.2695, -8.0592, -57.3047, 0.7031))


def test_predicates() -> None:
    shape = "POLYGON((10 50,11 50,11 51,10 51,10 50))"
    geom = parse_shape(shape)
    assert parse_footprint(f"Intersects({shape})") == Spatial(SpatialOp.INTERSECTS, geom)
    assert parse_footprint(f"IsWithin({shape})") == Spatial(SpatialOp.WITHIN, geom)
    assert parse_footprint(f"contains({shape})") == Spatial(SpatialOp.CONTAINS, geom)
    assert parse_footprint(f"Intersects({shape}) distErrPct=0") == Spatial(
        SpatialOp.INTERSECTS, geom
    )
    disjoint = parse_footprint(f"IsDisjointTo({shape})")
    assert Not(Spatial(SpatialOp.INTERSECTS, geom)) in disjoint.items  # type: ignore[union-attr]
    assert Not(IsNull("footprint")) in disjoint.items  # type: ignore[union-attr]


def test_bad_shape_message_names_the_shape() -> None:
    with pytest.raises(InvalidGeometry) as info:
        parse_footprint("Intersects(POLYGON((0 0,1 1)))")
    assert info.value.user_message.startswith("Couldn't parse shape 'POLYGON((0 0,1 1))'")


def test_sizes() -> None:
    assert format_size(599540) == "585.49 KB"
    assert format_size(115_806_000) == "110.44 MB"
    assert format_size(1_869_000_000) == "1.74 GB"
    assert format_size(512) == "512.00 B"
    low, high = size_bounds("585.49 KB")
    assert low <= 599540 <= high
    assert format_size(low) == format_size(high) == "585.49 KB"
    assert format_size(low - 1) != "585.49 KB" and format_size(high + 1) != "585.49 KB"
    assert size_bounds("1234") == (1234, 1234)
    for bad in ("", "1.5", "12 XB", "-3 KB", "KB"):
        with pytest.raises(InvalidQuery):
            size_bounds(bad)


def test_solr_forms() -> None:
    assert (
        solr_date(datetime(2016, 12, 1, 13, 12, 45, 510000, tzinfo=UTC))
        == "2016-12-01T13:12:45.51Z"
    )
    assert solr_date(datetime(2018, 1, 24, 7, 35, 28, 999, tzinfo=UTC)) == "2018-01-24T07:35:28Z"
    assert [java_double(v) for v in (3.6476, 0.0, 100, 1e-5, 12345678.9, -2.5e-4)] == [
        "3.6476", "0.0", "100.0", "1.0E-5", "1.23456789E7", "-2.5E-4"
    ]  # fmt: skip
    assert [xpath_number(v) for v in (4, -1.0, 0.012, float("nan"), float("inf"))] == [
        "4", "-1", "0.012", "NaN", "Infinity"
    ]  # fmt: skip


@pytest.mark.parametrize("micros", [0, 1000, 10_000, 100_000, 120_000, 123_000, 999_999, 5])
@pytest.mark.parametrize("offset", [0, 2, -11])
def test_solr_dates_every_millisecond_form_and_zone(micros: int, offset: int) -> None:
    local = datetime(2023, 12, 31, 23, 59, 59, micros, tzinfo=timezone(timedelta(hours=offset)))
    utc = local.astimezone(UTC)
    millis = f"{micros // 1000:03d}".rstrip("0")
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis}" if millis else "") + "Z"
    assert solr_date(local) == expected
    assert solr_date(datetime(987, 6, 5, 4, 3, 2, micros, tzinfo=UTC)).startswith("0987-06-05T")


def test_formats_and_tiles() -> None:
    assert format_of("X.SAFE") == format_of("X.SEN3") == "SAFE"
    assert format_of("S5P_X.nc") == "NETCDF" and format_of("X.zip") == "ZIP"
    assert tile_to_hv("20MPS") == "MS20P" and hv_to_tile("MS20P") == "20MPS"
    assert tile_to_hv("1KAB") is None and hv_to_tile("x") is None
