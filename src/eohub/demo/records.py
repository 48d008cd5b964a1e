"""Realistic synthetic Sentinel-1/2/3/5P product records, generated fast and deterministically.

:func:`generate_products` streams ``n`` products (constant memory) whose names follow each
mission's naming convention, whose orbit numbers agree with their sensing dates, and whose
footprints have each mission's shape: Sentinel-2 MGRS-like tiles biased to land, Sentinel-1
frames along inclined orbit tracks, wide Sentinel-3 frames and Sentinel-5P strips that cross the
antimeridian or go round a pole. Used by the tests, the benchmark and the demo catalogue.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar

import numpy as np
import shapely

from eohub.model import AttributeValue, Checksum, Footprint, Product, TimeRange, product_id_for

T = TypeVar("T")
Coord = tuple[float, float]
Shape = list[Coord] | Footprint  # a convex ring still to build, or a footprint already built
_Pending = tuple[dict[str, Any], Shape]  # a product's fields but its footprint, and its shape
_BATCH = 1000  # products generated per batch (memory stays constant)

DEFAULT_START = datetime(2023, 1, 1, tzinfo=UTC)
KM_PER_DEG = 111.32
_COS_INCLINATION = math.cos(math.radians(98.2))  # sun-synchronous orbits of every Sentinel
_MIB = 1 << 20
_H = 3600.0
_FIVE_MINUTES = timedelta(minutes=5)


class _Pick(Generic[T]):
    """Weighted choice driven by one ``random()`` call (faster than ``Random.choices``)."""

    def __init__(self, weighted: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in weighted]
        self.cum = list(accumulate(w for _, w in weighted))

    def __call__(self, rng: random.Random) -> T:
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]


@dataclass(frozen=True)
class _Platform:
    """Orbit clock of one satellite: a reference orbit, orbits per day and service life."""

    name: str
    code: str
    ref_time: datetime
    ref_orbit: int
    per_day: float
    cycle: int  # relative orbits per repeat cycle (0: none reported)
    rel_offset: int  # relative orbit = (absolute - rel_offset) % cycle + 1
    launch: datetime
    end: datetime | None = None

    def active(self, when: datetime) -> bool:
        return self.launch <= when and (self.end is None or when < self.end)

    def orbit(self, when: datetime) -> int:
        days = (when - self.ref_time).total_seconds() / 86400.0
        return max(1, self.ref_orbit + math.floor(days * self.per_day))

    def relative(self, orbit: int) -> int | None:
        return (orbit - self.rel_offset) % self.cycle + 1 if self.cycle else None


def _d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Reference orbits are those of the sample products in the shared test data.
_PLATFORMS: dict[str, tuple[_Platform, ...]] = {
    "S1": (
        _Platform("Sentinel-1A", "S1A", _d("2021-08-09T17:39:53"), 39156, 175 / 12, 175, 73,
                  _d("2014-04-03")),
        _Platform("Sentinel-1B", "S1B", _d("2021-04-01T05:26:22"), 26269, 175 / 12, 175, 27,
                  _d("2016-04-25"), _d("2021-12-23")),
        _Platform("Sentinel-1C", "S1C", _d("2025-01-18T17:14:04"), 638, 175 / 12, 175, 99,
                  _d("2025-01-10")),
    ),
    "S2": (
        _Platform("Sentinel-2A", "S2A", _d("2021-09-08T04:27:01"), 32448, 14.3, 143, -2,
                  _d("2015-06-23")),
        _Platform("Sentinel-2B", "S2B", _d("2021-01-22T13:32:29"), 20270, 14.3, 143, -116,
                  _d("2017-03-07")),
    ),
    "S3": (
        _Platform("Sentinel-3A", "S3A", _d("2021-10-21T07:38:27"), 29567, 385 / 27, 385, -26,
                  _d("2016-02-16")),
        _Platform("Sentinel-3B", "S3B", _d("2021-10-21T00:00:00"), 18180, 385 / 27, 385, 0,
                  _d("2018-04-25")),
    ),
    "S5P": (
        _Platform("Sentinel-5P", "S5P", _d("2020-03-03T01:57:22"), 12367, 227 / 16, 0, 0,
                  _d("2017-10-13")),
    ),
}  # fmt: skip

# Rough land boxes (lon_min, lat_min, lon_max, lat_max) and weights; the last one crosses 180.
_LAND = _Pick(
    [
        ((-10.0, 36.0, 30.0, 60.0), 3.0),  # Europe
        ((-125.0, 25.0, -70.0, 50.0), 3.0),  # North America
        ((-165.0, 55.0, -140.0, 70.0), 0.5),  # Alaska
        ((-80.0, -40.0, -40.0, 5.0), 2.5),  # South America
        ((-15.0, -30.0, 40.0, 30.0), 3.5),  # Africa
        ((60.0, 10.0, 120.0, 50.0), 4.0),  # Asia
        ((115.0, -38.0, 150.0, -15.0), 1.5),  # Australia
        ((177.0, -19.0, 182.0, -15.0), 0.2),  # Fiji, across the antimeridian
    ]
)
_BANDS = "CDEFGHJKLMNPQRSTUVWX"  # MGRS latitude bands, 8 degrees each from -80
_COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_TILE_DEG = 0.9  # 100 km of latitude; tiles are 110 km with a 10 km overlap


def _later(rng: random.Random, when: datetime, low_s: float, high_s: float) -> datetime:
    """A random time between ``low_s`` and ``high_s`` seconds after ``when``."""
    return when + timedelta(seconds=low_s + (high_s - low_s) * rng.random())


def _cloud(rng: random.Random, clear: float) -> float:
    """Cloud cover in percent: skewed to clear skies with share ``clear``, else to overcast."""
    u = rng.random()
    return round(100.0 * (u**3 if rng.random() < clear else 1.0 - u**2), 6)


def _int(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high] (three times faster than ``Random.randint``)."""
    return low + int(rng.random() * (high - low + 1))


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _land(rng: random.Random) -> Coord:
    x0, y0, x1, y1 = _LAND(rng)
    return x0 + (x1 - x0) * rng.random(), y0 + (y1 - y0) * rng.random()


def _anywhere(rng: random.Random, lat0: float, lat1: float) -> Coord:
    return rng.uniform(-180.0, 180.0), rng.uniform(lat0, lat1)


def _footprints(shapes: Sequence[Shape]) -> list[Footprint]:
    """Footprints of a batch of simple rings (or ready footprints), in order.

    ``Footprint.from_rings`` gives the same value for a valid ring inside [-180, 180]; such
    rings become polygons in one vectorised call (ten times faster than one by one). Every
    other ring (crossing the antimeridian) goes through ``Footprint.from_rings``.
    """
    out: list[Footprint | None] = [s if isinstance(s, Footprint) else None for s in shapes]
    by_size: dict[int, list[int]] = {}
    for k, shape in enumerate(shapes):
        if not isinstance(shape, Footprint):
            by_size.setdefault(len(shape), []).append(k)
    for members in by_size.values():
        coords = np.array([shapes[k] for k in members], dtype=float)
        lons = coords[:, :, 0]
        inside = (lons.min(axis=1) >= -180.0) & (lons.max(axis=1) <= 180.0)
        polygons = shapely.polygons(coords)
        for k, poly, ok in zip(members, polygons, inside, strict=True):
            ring = shapes[k]
            if ok:
                out[k] = Footprint(original=poly, search=poly)
            elif not isinstance(ring, Footprint):
                out[k] = Footprint.from_rings([ring])
    return [f for f in out if f is not None]


def _frame(lon: float, lat: float, along_km: float, across_km: float, asc: bool) -> list[Coord]:
    """A rectangle along a sun-synchronous ground track (half lengths in km), as lon/lat."""
    lat = max(-88.0, min(88.0, lat))
    heading = math.asin(max(-0.95, min(0.95, _COS_INCLINATION / math.cos(math.radians(lat)))))
    if not asc:
        heading = math.pi - heading
    sin_h, cos_h = math.sin(heading), math.cos(heading)
    kx = KM_PER_DEG * max(0.05, math.cos(math.radians(lat)))
    ring: list[Coord] = []
    for da, db in ((along_km, across_km), (along_km, -across_km), (-along_km, -across_km),
                   (-along_km, across_km)):  # fmt: skip
        north = da * cos_h - db * sin_h
        east = da * sin_h + db * cos_h
        ring.append((lon + east / kx, max(-89.9, min(89.9, lat + north / KM_PER_DEG))))
    return ring


def _mgrs_tile(lon: float, lat: float, rng: random.Random) -> tuple[str, list[Coord]]:
    """The MGRS-like tile (id, ring) containing a point: a ~110 km cell of a lon/lat grid."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    row = math.floor(lat / _TILE_DEG)
    south = row * _TILE_DEG - 0.05
    north = south + 0.99
    coslat = math.cos(math.radians(south + 0.495))
    width = _TILE_DEG / coslat
    zone_west = -180.0 + (zone - 1) * 6.0
    col = int((lon - zone_west) // width)
    west = zone_west + col * width - 0.05 / coslat
    east = west + 0.99 / coslat
    band = _BANDS[min(max(int((south + 0.495 + 80.0) // 8.0), 0), 19)]
    tile = f"{zone:02d}{band}{_COLUMNS[(zone - 1) % 3][min(col, 7)]}{_ROWS[(row + 5 * (zone % 2 == 0)) % 20]}"  # noqa: E501
    ring = [(west, south), (east, south), (east, north), (west, north)]
    if rng.random() < 0.2:  # a tile at the edge of the data strip: one corner cut off
        k = _int(rng, 0, 3)
        (px, py), (cx, cy), (nx, ny) = ring[k - 1], ring[k], ring[(k + 1) % 4]
        f, g = rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9)
        cut = [(cx + (px - cx) * f, cy + (py - cy) * f), (cx + (nx - cx) * g, cy + (ny - cy) * g)]
        ring = ring[:k] + cut + ring[k + 1 :]
    return tile, ring


def _strip(rng: random.Random, lat0: float, lat1: float, half_km: float) -> list[Coord]:
    """A wide strip between two latitudes drifting west, longitudes left unwrapped."""
    lon0 = rng.uniform(-180.0, 180.0)
    steps = max(2, int((lat1 - lat0) / 8.0) + 1)
    lats = [lat0 + (lat1 - lat0) * k / steps for k in range(steps + 1)]
    centre = [lon0 - 0.25 * (lat - lat0) for lat in lats]
    half = [min(70.0, half_km / (KM_PER_DEG * math.cos(math.radians(lat)))) for lat in lats]
    left = [(c - h, lat) for c, h, lat in zip(centre, half, lats, strict=True)]
    right = [(c + h, lat) for c, h, lat in zip(centre, half, lats, strict=True)]
    return left + right[::-1]


def _polar_cap(rng: random.Random) -> list[Coord]:
    """A ring round a pole (the high-latitude part of a full orbit)."""
    sign = 1.0 if rng.random() < 0.6 else -1.0
    base = rng.uniform(70.0, 80.0)
    start = rng.uniform(-180.0, -150.0)
    return [(start + 30.0 * k, sign * (base + rng.uniform(-1.5, 1.5))) for k in range(12)]


_DAYS: dict[int, str] = {}  # "YYYYMMDDT" by day ordinal (one per day of the period)
_HOURS_MINUTES = [f"{h:02d}{m:02d}" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}" for s in range(60)]


def _stamp(v: datetime) -> str:
    """``YYYYMMDDTHHMMSS``; built from cached pieces, five times faster than strftime."""
    day = _DAYS.get(ordinal := v.toordinal())
    if day is None:
        day = _DAYS[ordinal] = f"{v.year:04d}{v.month:02d}{v.day:02d}T"
    return day + _HOURS_MINUTES[v.hour * 60 + v.minute] + _SECONDS[v.second]


def _md5(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _by_date(when: datetime, steps: Sequence[tuple[datetime, str]]) -> str:
    """The value in force at ``when`` from (first day, value) steps in date order."""
    value = steps[0][1]
    for day, candidate in steps:
        if when >= day:
            value = candidate
    return value


@dataclass
class _Draft:
    """Fields shared by every mission, filled by the mission builders."""

    name: str
    filename: str
    collection: str
    platform: str
    start: datetime
    end: datetime
    ingested: datetime
    product_type: str
    shape: Shape
    size: int
    instrument: str
    processing_level: str
    processing_baseline: str
    attributes: dict[str, AttributeValue]


_QUALITY = _Pick([("NOMINAL", 0.98), ("DEGRADED", 0.02)])
_S1_MODE = _Pick([("IW", 0.75), ("EW", 0.12), ("SM", 0.05), ("WV", 0.08)])
_S1_TYPE = _Pick([("GRD", 0.62), ("SLC", 0.2), ("OCN", 0.1), ("RAW", 0.08)])
_S1_WV_TYPE = _Pick([("SLC", 0.4), ("OCN", 0.6)])
_S1_POL = {
    "IW": _Pick([("DV", 0.85), ("DH", 0.1), ("SV", 0.05)]),
    "SM": _Pick([("DV", 0.6), ("DH", 0.3), ("SH", 0.1)]),
    "EW": _Pick([("DH", 0.8), ("SH", 0.2)]),
    "WV": _Pick([("SV", 0.9), ("SH", 0.1)]),
}
_POLARISATIONS = {"DV": "VV VH", "DH": "HH HV", "SV": "VV", "SH": "HH"}
_S1_TIMELINESS = _Pick([("NRT-3h", 0.6), ("Fast-24h", 0.3), ("NRT-10m", 0.05),
                        ("Reprocessing", 0.05)])  # fmt: skip
_S1_DELAY_S = {"NRT-10m": (600.0, 2400.0), "NRT-3h": (_H, 3 * _H), "Fast-24h": (4 * _H, 20 * _H),
               "Reprocessing": (6 * _H, 48 * _H)}  # fmt: skip
# (half along-track km, half across-track km) of a frame per sensor mode.
_S1_FRAME = {"IW": (85.0, 125.0), "EW": (100.0, 200.0), "SM": (85.0, 40.0), "WV": (600.0, 10.0)}
_S1_SUBSWATHS = {"IW": "IW1 IW2 IW3", "EW": "EW1 EW2 EW3 EW4 EW5", "WV": "WV1 WV2"}
_S1_IPF = [(_d("2000-01-01"), "003.52"), (_d("2023-11-07"), "003.71"), (_d("2025-01-01"), "003.91")]
_S1_SIZE_MB = {"GRD": (900, 1800), "SLC": (3500, 8000), "OCN": (5, 12), "RAW": (1400, 1800)}


def _s1(rng: random.Random, plat: _Platform, t: datetime, orbit: int) -> _Pending:
    mode = _S1_MODE(rng)
    ptype = _S1_WV_TYPE(rng) if mode == "WV" else _S1_TYPE(rng)
    pol = _S1_POL[mode](rng)
    res = ("M" if mode == "EW" else "H") if ptype == "GRD" else "_"
    level = {"RAW": "0", "GRD": "1", "SLC": "1", "OCN": "2"}[ptype]
    pclass = "S" if rng.random() < 0.97 else "A"
    code = f"S{_int(rng, 1, 6)}" if mode == "SM" else mode
    asc = rng.random() < 0.5
    if mode == "EW":
        lon, lat = _anywhere(rng, 60.0, 78.0)
        lat = lat if rng.random() < 0.6 else -lat
    elif mode == "WV":
        lon, lat = _anywhere(rng, -55.0, 55.0)
    else:
        lon, lat = _land(rng) if rng.random() < 0.85 else _anywhere(rng, -70.0, 80.0)
    footprint = _frame(lon, lat, *_S1_FRAME[mode], asc)
    end = t + timedelta(seconds=rng.uniform(300.0, 900.0) if mode == "WV" else 25.0 + rng.random())
    timeliness = _S1_TIMELINESS(rng)
    ingested = _later(rng, end, *_S1_DELAY_S[timeliness])
    dtid = rng.getrandbits(24)
    name = (
        f"{plat.code}_{code}_{ptype}{res}_{level}{pclass}{pol}_{_stamp(t)}_{_stamp(end)}"
        f"_{orbit:06d}_{dtid:06X}_{rng.getrandbits(16):04X}"
    )
    low, high = _S1_SIZE_MB[ptype]
    if mode != "IW":
        low, high = low // 4 + 1, high // 3 + 2
    swath = mode if ptype in ("GRD", "RAW") else _S1_SUBSWATHS.get(mode, code)
    total = _int(rng, 1, 20)
    draft = _Draft(
        name, name + ".SAFE", "SENTINEL-1", plat.name, t, end, ingested, ptype, footprint,
        _int(rng, low * _MIB, high * _MIB), "SAR", f"LEVEL{level}",
        "IPF " + _by_date(t, _S1_IPF),
        {
            "sliceNumber": _int(rng, 1, total), "totalSlices": total, "datatakeID": dtid,
            "cycleNumber": (orbit - plat.rel_offset) // 175 + 1,
            "productComposition": "Slice" if total > 1 else "Individual",
            "sliceProductFlag": total > 1, "instrumentConfigurationID": _int(rng, 1, 9),
        },
    )  # fmt: skip
    return _finish(
        rng, draft, plat, orbit, "ASCENDING" if asc else "DESCENDING",
        polarisation=_POLARISATIONS[pol], sensor_mode=mode, swath=swath,
        timeliness=timeliness, product_class=pclass,
    )  # fmt: skip


_S2_BASELINE = [
    (_d("2000-01-01"), "05.09"),
    (_d("2024-02-06"), "05.10"),
    (_d("2024-07-23"), "05.11"),
]


def _s2(rng: random.Random, plat: _Platform, t: datetime, orbit: int) -> _Pending:
    lon, lat = _land(rng) if rng.random() < 0.92 else _anywhere(rng, -56.0, 76.0)
    tile, ring = _mgrs_tile(_wrap(lon), lat, rng)
    l2a = rng.random() < 0.55
    t = t.replace(microsecond=24000)  # datatake start times are whole seconds + 24 ms
    generated = _later(rng, t, 1.5 * _H, 5.0 * _H)
    ingested = _later(rng, generated, 600.0, 3600.0)
    baseline = _by_date(t, _S2_BASELINE)
    rel = plat.relative(orbit)
    level = "2A" if l2a else "1C"
    name = (
        f"{plat.code}_MSIL{level}_{_stamp(t)}_N{baseline.replace('.', '')}_R{rel:03d}_T{tile}"
        f"_{_stamp(generated)}"
    )
    nodata = 0.0 if len(ring) == 4 else round(rng.uniform(5.0, 80.0), 6)
    draft = _Draft(
        name, name + ".SAFE", "SENTINEL-2", plat.name, t, t, ingested,
        f"S2MSI{level}", ring,
        _int(rng, (800 if l2a else 450) * _MIB, (1300 if l2a else 850) * _MIB), "MSI",
        f"Level-{level}", baseline,
        {
            "granuleIdentifier": f"{plat.code}_OPER_MSI_L{level}_TL_2APS_{_stamp(generated)}"
                                 f"_A{orbit:06d}_T{tile}_N{baseline}",
            "nodataPixelPercentage": nodata, "isRefined": rng.random() < 0.8,
            "snowIcePercentage": round(rng.random() ** 4 * 100.0, 6),
        },
    )  # fmt: skip
    cloud = _cloud(rng, 0.55)
    return _finish(rng, draft, plat, orbit, "DESCENDING", cloud_cover=cloud,
                          tile_id=tile, sensor_mode="INS-NOBS")  # fmt: skip


@dataclass(frozen=True)
class _S3Type:
    ptype: str
    instrument: str
    level: str
    size_mb: tuple[int, int]
    half_km: tuple[float, float]  # half along-track, half across-track
    centre: str
    baseline: str
    cloudy: bool


_S3_TYPE = _Pick([
    (_S3Type("OL_1_EFR___", "OLCI", "1", (600, 800), (635, 635), "LN1", "003", False), 0.25),
    (_S3Type("OL_1_ERR___", "OLCI", "1", (150, 250), (1200, 635), "LN1", "003", False), 0.05),
    (_S3Type("OL_2_LFR___", "OLCI", "2", (150, 250), (635, 635), "LN1", "003", True), 0.15),
    (_S3Type("OL_2_WFR___", "OLCI", "2", (500, 800), (635, 635), "MAR", "003", True), 0.10),
    (_S3Type("SL_1_RBT___", "SLSTR", "1", (350, 450), (635, 700), "LN2", "004", True), 0.15),
    (_S3Type("SL_2_LST___", "SLSTR", "2", (50, 90), (635, 700), "LN2", "004", True), 0.10),
    (_S3Type("SR_1_SRA___", "SRAL", "1", (20, 40), (635, 10), "PS1", "004", False), 0.04),
    (_S3Type("SR_2_LAN___", "SRAL", "2", (2, 6), (635, 10), "LN3", "005", False), 0.10),
    (_S3Type("SY_2_SYN___", "SYNERGY", "2", (400, 700), (635, 635), "LN2", "002", True), 0.06),
])  # fmt: skip
_S3_TIMELINESS = _Pick([("NR", 0.55), ("NT", 0.35), ("ST", 0.10)])


def _s3(rng: random.Random, plat: _Platform, t: datetime, orbit: int) -> _Pending:
    kind = _S3_TYPE(rng)
    asc = kind.instrument in ("SLSTR", "SRAL") and rng.random() < 0.5
    lon, lat = _land(rng) if rng.random() < 0.5 else _anywhere(rng, -75.0, 78.0)
    footprint = _frame(lon, lat, *kind.half_km, asc)
    end = t + timedelta(seconds=180.0)
    timeliness = _S3_TIMELINESS(rng)
    created = _later(rng, end, *((1.0 * _H, 3.0 * _H) if timeliness == "NR" else (6 * _H, 40 * _H)))
    rel = plat.relative(orbit) or 0
    cycle = (orbit - plat.rel_offset) // plat.cycle + 1
    frame = "____" if kind.instrument == "SRAL" else f"{_int(rng, 0, 5999):04d}"
    name = (
        f"{plat.code}_{kind.ptype}_{_stamp(t)}_{_stamp(end)}_{_stamp(created)}_0180_{cycle:03d}"
        f"_{rel:03d}_{frame}_{kind.centre}_O_{timeliness}_{kind.baseline}"
    )
    land = round(rng.random() * 100.0, 6)
    draft = _Draft(
        name, name + ".SEN3", "SENTINEL-3", plat.name, t, end,
        _later(rng, created, 300.0, 2400.0), kind.ptype, footprint,
        _int(rng, kind.size_mb[0] * _MIB, kind.size_mb[1] * _MIB), kind.instrument,
        f"Level-{kind.level}", kind.baseline,
        {"cycleNumber": cycle, "landCover": land,
         "salineWaterCover": round((100.0 - land) * rng.random(), 6)},
    )  # fmt: skip
    cloud = _cloud(rng, 0.45) if kind.cloudy else None
    return _finish(rng, draft, plat, orbit, "ASCENDING" if asc else "DESCENDING",
                          cloud_cover=cloud, timeliness=timeliness)  # fmt: skip


_S5P_TYPE = _Pick(
    [(t, 0.1) for t in ("L2__O3____", "L2__CO____", "L2__CH4___", "L2__CLOUD_", "L2__AER_AI")]
    + [("L2__NO2___", 0.14), ("L2__SO2___", 0.08), ("L2__HCHO__", 0.08), ("L1B_IR_UVN", 0.02)]
    + [(f"L1B_RA_BD{k}", 0.0125) for k in range(1, 9)]
)
_S5P_PROCESSOR = [(_d("2000-01-01"), "020400"), (_d("2023-07-01"), "020500"),
                  (_d("2024-06-01"), "020600")]  # fmt: skip
_S5P_MODE = _Pick([("NRTI", 0.45), ("OFFL", 0.5), ("RPRO", 0.05)])
_S5P_MODE_NAME = {"NRTI": "Near real time", "OFFL": "Offline", "RPRO": "Reprocessing"}


def _s5p(rng: random.Random, plat: _Platform, t: datetime, orbit: int) -> _Pending:
    ptype = _S5P_TYPE(rng)
    mode = _S5P_MODE(rng)
    shape: Shape
    if rng.random() < 0.04:
        shape = Footprint.from_rings([_polar_cap(rng)])
    elif mode == "NRTI":
        lat0 = rng.uniform(-75.0, 55.0)
        shape = _strip(rng, lat0, lat0 + 20.0, 1300.0)
    else:
        shape = _strip(rng, rng.uniform(-85.0, -60.0), rng.uniform(70.0, 89.0), 1300.0)
    end = t + timedelta(seconds=300.0 if mode == "NRTI" else 6060.0)
    produced = _later(rng, end, *((1.0 * _H, 3.0 * _H) if mode == "NRTI" else (8 * _H, 30 * _H)))
    version = _by_date(t, _S5P_PROCESSOR)
    name = (
        f"S5P_{mode}_{ptype}_{_stamp(t)}_{_stamp(end)}_{orbit:05d}_03_{version}_{_stamp(produced)}"
    )
    l1b = ptype.startswith("L1B")
    size_mb = (1500, 3000) if l1b else ((20, 60) if mode == "NRTI" else (60, 550))
    draft = _Draft(
        name, name + ".nc", "SENTINEL-5P", plat.name, t, end,
        _later(rng, produced, 300.0, 1800.0), ptype, shape,
        _int(rng, size_mb[0] * _MIB, size_mb[1] * _MIB), "TROPOMI", "L1B" if l1b else "L2",
        version,
        {"processingMode": _S5P_MODE_NAME[mode], "collectionNumber": 3,
         "processorVersion": f"{int(version[:2])}.{int(version[2:4])}.{int(version[4:])}"},
    )  # fmt: skip
    return _finish(rng, draft, plat, orbit, None, timeliness=mode)


def _finish(
    rng: random.Random,
    draft: _Draft,
    plat: _Platform,
    orbit: int,
    direction: str | None,
    **extra: str | float | None,
) -> _Pending:
    """Every field of the product but its footprint, and the shape to build it from."""
    published = _later(rng, draft.ingested, 30.0, 1200.0)
    attributes = draft.attributes
    attributes["qualityStatus"] = _QUALITY(rng)
    attributes["processingDate"] = draft.ingested - _FIVE_MINUTES
    fields = dict(
        id=product_id_for(draft.name),
        name=draft.name,
        filename=draft.filename,
        collection=draft.collection,
        platform=draft.platform,
        sensing=TimeRange(draft.start, draft.end),
        publication_date=published,
        ingestion_date=draft.ingested,
        modification_date=published,
        product_type=draft.product_type,
        size=draft.size,
        checksums=(Checksum("MD5", _md5(rng), published),),
        online=rng.random() < 0.95,
        instrument=draft.instrument,
        processing_level=draft.processing_level,
        processing_baseline=draft.processing_baseline,
        orbit_number=orbit,
        relative_orbit=plat.relative(orbit),
        orbit_direction=direction,
        attributes=attributes,
        **extra,
    )
    return fields, draft.shape


_Builder = Callable[[random.Random, _Platform, datetime, int], _Pending]
_MISSION = _Pick([("S1", 0.30), ("S2", 0.50), ("S3", 0.15), ("S5P", 0.05)])
_BUILDERS: dict[str, _Builder] = {"S1": _s1, "S2": _s2, "S3": _s3, "S5P": _s5p}


def _multiplier(n: int, rng: random.Random) -> int:
    """A multiplier coprime with ``n``: ``i -> (a * i + b) % n`` then visits every slot once."""
    a = max(1, int(n * 0.6180339887) + rng.randrange(max(1, n // 10 or 1)))
    while math.gcd(a, n) != 1:
        a += 1
    return a


def generate_products(
    n: int,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    days: int = 3 * 365,
) -> Iterator[Product]:
    """Yield ``n`` realistic products sensed between ``start`` and ``start + days``.

    Deterministic for a given (n, seed, start, days), streaming (constant memory) and fast.
    Mission mix: Sentinel-1 30 %, Sentinel-2 50 %, Sentinel-3 15 %, Sentinel-5P 5 %. Every
    product senses in its own time slot, so names (which embed the sensing second) are unique.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
    seconds = days * 86400
    if n and seconds < n:
        raise ValueError(f"cannot give {n} products distinct sensing seconds in {days} days")
    rng = random.Random(seed)
    width = seconds // n if n else 1
    a, b = _multiplier(n, rng) if n else 1, rng.randrange(n) if n else 0
    for first in range(0, n, _BATCH):
        pending: list[_Pending] = []
        for i in range(first, min(n, first + _BATCH)):
            slot = (a * i + b) % n
            offset = slot * width + int(rng.random() * width) + rng.random()
            t = start + timedelta(seconds=offset)
            mission = _MISSION(rng)
            platforms = [p for p in _PLATFORMS[mission] if p.active(t)] or _PLATFORMS[mission][:1]
            plat = platforms[int(rng.random() * len(platforms))]
            pending.append(_BUILDERS[mission](rng, plat, t, plat.orbit(t)))
        footprints = _footprints([shape for _, shape in pending])
        for (fields, _), footprint in zip(pending, footprints, strict=True):
            yield Product(footprint=footprint, **fields)
