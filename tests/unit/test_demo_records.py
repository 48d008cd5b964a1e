"""The synthetic record generator: deterministic, unique, realistic, streaming."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
import shapely

from eohub.demo import generate_products
from eohub.model import Footprint, Product

N = 6000
PRODUCTS = list(generate_products(N, seed=7))

NAME = {
    "SENTINEL-1": re.compile(
        r"^S1[ABC]_(IW|EW|WV|S[1-6])_(GRD[HM]|SLC_|OCN_|RAW_)_[012][SA](DV|DH|SV|SH)"
        r"_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}$"
    ),
    "SENTINEL-2": re.compile(
        r"^S2[AB]_MSIL(1C|2A)_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[C-X][A-Z]{2}_\d{8}T\d{6}$"
    ),
    "SENTINEL-3": re.compile(
        r"^S3[AB]_(OL|SL|SR|SY)_[12]_[A-Z_]{6}_\d{8}T\d{6}_\d{8}T\d{6}_\d{8}T\d{6}_0180_\d{3}"
        r"_\d{3}_(\d{4}|____)_[A-Z0-9]{3}_O_(NR|NT|ST)_\d{3}$"
    ),
    "SENTINEL-5P": re.compile(
        r"^S5P_(NRTI|OFFL|RPRO)_L[12][A-Z_]_[A-Z0-9_]{6}_\d{8}T\d{6}_\d{8}T\d{6}_\d{5}_03"
        r"_\d{6}_\d{8}T\d{6}$"
    ),
}
EXTENSION = {
    "SENTINEL-1": ".SAFE",
    "SENTINEL-2": ".SAFE",
    "SENTINEL-3": ".SEN3",
    "SENTINEL-5P": ".nc",
}
CYCLE = {"SENTINEL-1": 175, "SENTINEL-2": 143, "SENTINEL-3": 385}


def by(collection: str) -> list[Product]:
    return [p for p in PRODUCTS if p.collection == collection]


def test_deterministic_and_seeded() -> None:
    again = list(generate_products(N, seed=7))
    assert [p.name for p in again] == [p.name for p in PRODUCTS]
    assert again[:50] == PRODUCTS[:50]
    other = [p.name for p in generate_products(50, seed=8)]
    assert other != [p.name for p in PRODUCTS[:50]]


def test_names_and_ids_are_unique() -> None:
    big = list(generate_products(30_000, seed=1))
    assert len({p.name for p in big}) == len(big) == len({p.id for p in big})


def test_streaming() -> None:
    first = list(islice(generate_products(10**7, seed=3), 5))
    assert len(first) == 5
    assert list(generate_products(0)) == []
    with pytest.raises(ValueError):
        list(generate_products(100, days=0))
    with pytest.raises(ValueError):
        list(generate_products(-1))


def test_mission_mix() -> None:
    share = Counter(p.collection for p in PRODUCTS)
    for collection, expected in (("SENTINEL-1", 0.30), ("SENTINEL-2", 0.50),
                                 ("SENTINEL-3", 0.15), ("SENTINEL-5P", 0.05)):  # fmt: skip
        assert abs(share[collection] / N - expected) < 0.03, collection
    assert {p.platform for p in by("SENTINEL-1")} == {"Sentinel-1A", "Sentinel-1C"}
    assert {p.platform for p in by("SENTINEL-2")} == {"Sentinel-2A", "Sentinel-2B"}
    assert {p.platform for p in by("SENTINEL-3")} == {"Sentinel-3A", "Sentinel-3B"}
    old = list(generate_products(500, seed=2, start=datetime(2019, 1, 1, tzinfo=UTC), days=365))
    assert "Sentinel-1B" in {p.platform for p in old}


def test_names_follow_each_mission_convention() -> None:
    for p in PRODUCTS:
        assert NAME[p.collection].match(p.name), p.name
        assert p.filename == p.name + EXTENSION[p.collection]
        assert p.name[:3] == "S" + p.platform.split("-")[1].upper()
    s1 = by("SENTINEL-1")
    assert {p.product_type for p in s1} == {"GRD", "SLC", "OCN", "RAW"}
    assert {p.sensor_mode for p in s1} == {"IW", "EW", "SM", "WV"}
    assert {p.polarisation for p in s1} >= {"VV VH", "HH HV", "VV"}
    assert {p.product_type for p in by("SENTINEL-2")} == {"S2MSI1C", "S2MSI2A"}
    assert {"OL_1_EFR___", "OL_2_LFR___", "SL_1_RBT___", "SL_2_LST___", "SR_2_LAN___"} <= {
        p.product_type for p in by("SENTINEL-3")
    }
    assert {"L2__NO2___", "L2__CH4___", "L1B_RA_BD1"} <= {p.product_type for p in by("SENTINEL-5P")}
    for p in by("SENTINEL-2"):
        assert p.tile_id and f"_T{p.tile_id}_" in p.name
        assert f"_R{p.relative_orbit:03d}_" in p.name
        assert f"_N{p.processing_baseline.replace('.', '')}_" in p.name  # type: ignore[union-attr]
    for p in s1:
        assert f"_{p.orbit_number:06d}_" in p.name


def test_times_are_ordered_and_spread() -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    for p in PRODUCTS:
        assert start <= p.sensing.start <= p.sensing.end < start + timedelta(days=3 * 365 + 1)
        assert p.sensing.end < p.ingestion_date < p.sensing.end + timedelta(days=3)
        assert p.ingestion_date < p.publication_date == p.modification_date
        assert p.publication_date - p.ingestion_date < timedelta(hours=1)
    months = Counter((p.sensing.start.year, p.sensing.start.month) for p in PRODUCTS)
    assert len(months) == 36 and min(months.values()) > N / 36 / 2


def test_orbits_agree_with_dates() -> None:
    rates = {"SENTINEL-1": 175 / 12, "SENTINEL-2": 14.3, "SENTINEL-3": 385 / 27,
             "SENTINEL-5P": 227 / 16}  # fmt: skip
    for collection, rate in rates.items():
        for platform in {p.platform for p in by(collection)}:
            ps = sorted((p for p in by(collection) if p.platform == platform),
                        key=lambda p: p.sensing.start)  # fmt: skip
            a, b = ps[0], ps[-1]
            days = (b.sensing.start - a.sensing.start).total_seconds() / 86400
            assert abs((b.orbit_number - a.orbit_number) - days * rate) <= 1.0  # type: ignore[operator]
            for p in ps:
                if collection in CYCLE:
                    assert 1 <= p.relative_orbit <= CYCLE[collection]  # type: ignore[operator]
                else:
                    assert p.relative_orbit is None and p.orbit_direction is None


def test_values_in_realistic_ranges() -> None:
    for p in PRODUCTS:
        assert 1 << 20 <= p.size <= 9 << 30, p.name
        assert p.checksum("MD5") and re.fullmatch(r"[0-9a-f]{32}", p.checksum("MD5") or "")
        if p.collection in ("SENTINEL-2",):
            assert p.cloud_cover is not None and 0.0 <= p.cloud_cover <= 100.0
        if p.collection in ("SENTINEL-1", "SENTINEL-5P"):
            assert p.cloud_cover is None
        if p.collection == "SENTINEL-1":
            assert p.polarisation and p.swath and p.timeliness and p.product_class
    clouds = [p.cloud_cover for p in by("SENTINEL-2")]
    assert sum(c < 10 for c in clouds if c is not None) > len(clouds) * 0.2  # skewed
    kinds = {type(v) for p in PRODUCTS for v in p.attributes.values()}
    assert kinds == {str, int, float, bool, datetime}
    assert 0.9 < sum(p.online for p in PRODUCTS) / N < 1.0


def test_footprints_are_valid_and_shaped_per_mission() -> None:
    for p in PRODUCTS:
        fp = p.footprint
        assert fp is not None and fp.search.is_valid and fp.within_world(), p.name
        # The fast path gives exactly what Footprint.from_rings gives.
        rings = [list(g.exterior.coords) for g in getattr(fp.original, "geoms", [fp.original])]
        assert Footprint.from_rings(rings) == fp, p.name
    widths = {c: [] for c in EXTENSION}  # type: dict[str, list[float]]
    for p in PRODUCTS:
        minx, miny, maxx, maxy = p.footprint.original.bounds  # type: ignore[union-attr]
        widths[p.collection].append((maxy - miny) * 111.0)
    median = {c: sorted(w)[len(w) // 2] for c, w in widths.items()}
    assert 100 < median["SENTINEL-2"] < 120
    assert 150 < median["SENTINEL-1"] < 400
    assert 1000 < median["SENTINEL-3"] < 1800
    assert median["SENTINEL-5P"] > 2000
    s5p = by("SENTINEL-5P")
    assert any(isinstance(p.footprint.search, shapely.MultiPolygon) for p in s5p)  # type: ignore[union-attr]
    assert any(p.footprint.bounds[3] >= 89.9 or p.footprint.bounds[1] <= -89.9 for p in s5p)  # type: ignore[union-attr]
    crossing = [p for p in PRODUCTS if len(p.footprint.part_bounds()) > 1]  # type: ignore[union-attr]
    assert {p.collection for p in crossing} >= {"SENTINEL-5P", "SENTINEL-1"}


LAND = [(-10, 36, 30, 60), (-125, 25, -70, 50), (-165, 55, -140, 70), (-80, -40, -40, 5),
        (-15, -30, 40, 30), (60, 10, 120, 50), (115, -38, 150, -15), (177, -19, 180, -15),
        (-180, -19, -178, -15)]  # fmt: skip


def test_sentinel2_tiles_are_on_land_and_named_for_their_place() -> None:
    bands = "CDEFGHJKLMNPQRSTUVWX"
    on_land = 0
    full: dict[str, tuple[float, ...]] = {}
    for p in by("SENTINEL-2"):
        assert p.footprint is not None and p.tile_id is not None
        minx, miny, maxx, maxy = p.footprint.original.bounds
        lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
        lon = (lon + 180) % 360 - 180
        assert 0.95 < maxy - miny < 1.0
        # The zone of the tile's west edge (tiles overlap their neighbours by 5 km).
        west = (minx + 0.06 / math.cos(math.radians(lat)) + 180) % 360 - 180
        assert int(p.tile_id[:2]) == int((west + 180) // 6) % 60 + 1, p.name
        assert p.tile_id[2] == bands[int((lat + 80) // 8)], p.name
        if len(p.footprint.original.exterior.coords) == 5:  # a whole tile, not a cut one
            assert full.setdefault(p.tile_id, p.footprint.original.bounds) == pytest.approx(
                p.footprint.original.bounds
            )
        on_land += any(x0 <= lon <= x1 and y0 <= lat <= y1 for x0, y0, x1, y1 in LAND)
    assert on_land > 0.85 * len(by("SENTINEL-2"))
