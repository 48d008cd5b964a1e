"""Every field of every sample in expected_facts.json, checked against what the readers read.

Each fact has a check below; a fact without one fails, so a new fact in the oracle cannot be
silently ignored.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import h5py
import pytest
import shapely
from lxml import etree
from reader_samples import SAMPLES, Sample, load_facts, sample
from shapely.geometry import MultiPolygon

from eohub.model import Checksum, Footprint

FACTS = load_facts()


def iso(value: str) -> datetime:
    """The oracle's UTC times ('...Z', or naive = UTC) to aware datetimes."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=UTC)


def basic(value: str) -> datetime:
    """Times written ``20211021T091357`` (names, S3 creationTime)."""
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w.capitalize() for w in rest)


def grid_suffix(grid: str) -> str:
    return "".join(w.capitalize() for w in re.sub(r"[^\w ]", "", grid).split())


def attr(s: Sample, name: str) -> Any:
    assert name in s.meta.attributes, f"attribute {name} missing"
    return s.meta.attributes[name]


def pairs(coordinates: str) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.split(r"[\s,]+", coordinates.strip())]
    return [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2)]


def member_xml(s: Sample, member: str) -> etree._Element:
    """A member parsed independently of the readers (folder or zip)."""
    if s.kind == "zip":
        with zipfile.ZipFile(s.path) as zf:
            name = next(n for n in zf.namelist() if n.endswith("/" + member))
            data = zf.read(name)
    else:
        matches = sorted(s.path.glob(member))
        assert matches, member
        data = matches[0].read_bytes()
    return etree.fromstring(data)


def xml_text(root: etree._Element, localname: str) -> str:
    found = root.xpath(f"//*[local-name()='{localname}']")
    assert isinstance(found, list) and found
    node = found[0]
    assert isinstance(node, etree._Element) and node.text is not None
    return node.text.strip()


# -- individual checks --------------------------------------------------------------------------
def check_directory(s: Sample, v: Any) -> None:
    if v is None:  # a zip as distributed
        assert s.kind == "zip"
    else:
        assert s.kind == "folder" and s.root_name == v


def check_zip_members(s: Sample, v: Any) -> None:
    for member, size in v:
        top, _, rel = member.partition("/")
        assert s.root_name == top
        if rel:
            assert s.sizes[rel] == size


def check_processing_level(s: Sample, v: str) -> None:
    level, _, rest = v.partition(" (xfdu version: ")
    assert s.meta.processing_level == level
    assert attr(s, "processingLevel") == level
    if rest:
        assert attr(s, "xfduVersion") == rest.rstrip(")")


def check_processing_baseline(s: Sample, v: str) -> None:
    assert s.meta.processing_baseline == v.removeprefix("IPF ")
    assert attr(s, "processingBaseline") == v.removeprefix("IPF ")
    if v.startswith("IPF "):
        assert "IPF" in attr(s, "processorName")


def check_times_as_in_file(s: Sample, v: list[str]) -> None:
    assert [iso(v[0]), iso(v[1])] == [s.meta.sensing.start, s.meta.sensing.end]
    assert all(t.tzinfo is UTC for t in (s.meta.sensing.start, s.meta.sensing.end))


def check_manifest_platform(s: Sample, v: dict[str, str]) -> None:
    assert v["familyName"].upper() == "SENTINEL"
    assert s.meta.platform == f"Sentinel-{v['number']}"
    assert attr(s, "nssdcIdentifier") == v["nssdcIdentifier"]


def check_manifest_orbit(s: Sample, v: dict[str, str]) -> None:
    assert v["type"] == "start"
    assert s.meta.orbit_direction == v["groundTrackDirection"].upper()


def check_processor(s: Sample, v: list[dict[str, str]]) -> None:
    software = str(attr(s, "processingSoftware")).split("; ")
    assert software[: len(v)] == [f"{p['name']} {p['version']}" for p in v]
    ipf = next(p for p in v if p["name"].startswith("IPF"))
    assert (attr(s, "processorName"), attr(s, "processorVersion")) == (ipf["name"], ipf["version"])


_COVER = {"cloudyPixels": "cloudCover", "brightPixels": "brightCover"}


def check_classification(s: Sample, v: list[dict[str, Any]] | None) -> None:
    if v is None:
        assert not any(k.endswith(("Cover", "Pixels")) for k in s.meta.attributes)
        return
    for i, summary in enumerate(v):
        grid = summary["grid"]
        for key, value in summary.items():
            if key == "grid":
                continue
            assert attr(s, key + (grid_suffix(grid) if grid else "")) == float(value)
            if i == 0:
                cdse = _COVER.get(key, key.replace("Pixels", "Cover"))
                assert attr(s, cdse) == float(value)


def check_footprint_source(s: Sample, v: str) -> None:
    """The raw coordinates the reader kept are the text of the element the oracle names."""
    raw = str(attr(s, "coordinates"))
    if "EXT_POS_LIST" in v:
        mtd = "MTD_MSIL1C.xml" if "MSIL1C" in s.meta.name else "MTD_MSIL2A.xml"
        assert raw == xml_text(member_xml(s, mtd), "EXT_POS_LIST")
        if "identical to manifest.safe" in v:
            manifest = xml_text(member_xml(s, "manifest.safe"), "coordinates")
            assert pairs(manifest) == pairs(raw)
    elif v.startswith("manifest.safe"):
        assert raw == xml_text(member_xml(s, "manifest.safe"), "coordinates")
    elif v.startswith("xfdumanifest.xml"):
        assert raw == xml_text(member_xml(s, "xfdumanifest.xml"), "posList")
    elif v.startswith("/METADATA/EOP_METADATA"):
        path, _, name = v.split(" ")[0].partition("@")
        with h5py.File(s.path, "r") as h5:
            assert raw == h5[path].attrs[name].decode()
    else:
        pytest.fail(f"unknown footprint source {v}")


def _dedup(coords: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    return [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]


def check_footprint_wkt(s: Sample, v: str) -> None:
    assert s.meta.footprint is not None
    expected = shapely.from_wkt(v)
    original = s.meta.footprint.original
    assert shapely.equals(original, expected)
    assert _dedup(list(original.exterior.coords)) == _dedup(list(expected.exterior.coords))
    assert s.meta.footprint == Footprint.from_wkt(v, strict=False)


def check_ring_closed(s: Sample, v: bool) -> None:
    points = pairs(str(attr(s, "coordinates")))
    assert (points[0] == points[-1]) is v


def check_n_vertices(s: Sample, v: int) -> None:
    points = pairs(str(attr(s, "coordinates")))
    assert len(points) + (0 if points[0] == points[-1] else 1) == v
    assert s.meta.footprint is not None
    closed = _dedup(list(s.meta.footprint.original.exterior.coords))
    assert len(closed) == len(
        _dedup([(p[1], p[0]) for p in points] + [(points[0][1], points[0][0])])
    )


def check_extent(s: Sample, v: dict[str, Any]) -> None:
    assert s.meta.footprint is not None
    bounds = s.meta.footprint.original.bounds
    assert bounds == (v["lon_min"], v["lat_min"], v["lon_max"], v["lat_max"])
    search = s.meta.footprint.search
    crosses = (
        isinstance(search, MultiPolygon) and search.bounds[0] == -180 and search.bounds[2] == 180
    )
    assert crosses is v["crosses_antimeridian"]
    assert s.meta.footprint.within_world()


def check_split(s: Sample, v: str) -> None:
    assert s.meta.footprint is not None
    assert shapely.from_wkt(v).equals(s.meta.footprint.search)


def check_geospatial(s: Sample, v: dict[str, str]) -> None:
    for key, value in v.items():
        assert attr(s, camel(key)) == float(value)


def both(typed: str, cdse: str, convert: Callable[[Any], Any] = lambda x: x) -> Callable[..., None]:
    def check(s: Sample, v: Any) -> None:
        assert getattr(s.meta, typed) == convert(v)
        if v is not None:
            assert attr(s, cdse) == convert(v)
        else:
            assert cdse not in s.meta.attributes

    return check


def field(name: str, convert: Callable[[Any], Any] = lambda x: x) -> Callable[..., None]:
    def check(s: Sample, v: Any) -> None:
        assert getattr(s.meta, name) == convert(v)

    return check


def attribute(name: str, convert: Callable[[Any], Any] = lambda x: x) -> Callable[..., None]:
    def check(s: Sample, v: Any) -> None:
        assert attr(s, name) == convert(v)

    return check


def product_of(s: Sample) -> Any:
    return s.meta.to_product(
        product_id=uuid.uuid4(),
        publication_date=datetime(2025, 1, 1, tzinfo=UTC),
        ingestion_date=datetime(2025, 1, 1, tzinfo=UTC),
        size=1,
        checksums=[Checksum("MD5", "00")],
    )


CHECKS: dict[str, Callable[[Sample, Any], None]] = {
    "mission": lambda s, v: (
        assert_equal(product_of(s).mission, v),
        assert_equal(attr(s, "platformShortName"), v.upper()),
    ),
    "directory": check_directory,
    "file": lambda s, v: (assert_equal(s.root_name, v), assert_equal(s.meta.filename, v)),
    "zip_file": lambda s, v: (assert_equal(s.path.name, v), assert_equal(s.kind, "zip")),
    "zip_members": check_zip_members,
    "product_name": field("name"),
    "platform": lambda s, v: (
        assert_equal(s.meta.platform, v),
        assert_equal(
            s.meta.attributes.get("platformSerialIdentifier"), v[-1] if v[-1] != "P" else None
        ),
    ),
    "instrument": both("instrument", "instrumentShortName"),
    "instrument_long": attribute("instrumentName"),
    "product_type": field("product_type"),
    "product_type_from_name": lambda s, v: (
        assert_equal(attr(s, "productType"), v),
        assert_equal(v, s.meta.name[4:14] if s.meta.name.startswith("S1") else v),
    ),
    "processing_level": check_processing_level,
    "processing_baseline": check_processing_baseline,
    "sensing_start": lambda s, v: assert_equal(s.meta.sensing.start, iso(v)),
    "sensing_stop": lambda s, v: assert_equal(s.meta.sensing.end, iso(v)),
    "sensing_times_as_in_file": check_times_as_in_file,
    "datatake_sensing_start": attribute("datatakeSensingStart", iso),
    "tile_sensing_time_MTD_TL": attribute("tileSensingTime", iso),
    "generation_time": lambda s, v: (
        assert_equal(s.meta.generation_date, iso(v)),
        assert_equal(attr(s, "processingDate"), iso(v)),
    ),
    "creation_time": lambda s, v: (
        assert_equal(s.meta.generation_date, basic(v)),
        assert_equal(attr(s, "creationDate"), basic(v)),
    ),
    "absolute_orbit": both("orbit_number", "orbitNumber"),
    "absolute_orbit_as_in_manifest": lambda s, v: assert_equal(s.meta.orbit_number, int(v)),
    "absolute_orbit_stop": attribute("lastOrbitNumber"),
    "relative_orbit": both("relative_orbit", "relativeOrbitNumber"),
    "relative_orbit_stop": attribute("lastRelativeOrbitNumber"),
    "manifest_relative_orbit_as_in_file": lambda s, v: assert_equal(s.meta.relative_orbit, int(v)),
    "orbit_direction": both("orbit_direction", "orbitDirection"),
    "manifest_orbit_attrs": check_manifest_orbit,
    "cloud_cover": both("cloud_cover", "cloudCover"),
    "cloud_cover_as_in_file": both("cloud_cover", "cloudCover", float),
    "tile_id": both("tile_id", "tileId"),
    "granule_identifier": attribute("granuleIdentifier"),
    "datastrip_identifier": attribute("datastripId"),
    "datatake_identifier": attribute("productGroupId"),
    "epsg": attribute("horizontalCsCode"),
    "image_format": attribute("imageFormat"),
    "nodata_pixel_percentage": attribute("nodataPixelPercentage", float),
    "snow_ice_percentage": attribute("snowIcePercentage", float),
    "product_doi": attribute("doi"),
    "manifest_platform": check_manifest_platform,
    "nssdc_id": attribute("nssdcIdentifier"),
    "product_uri_in_MTD": lambda s, v: (
        assert_equal(s.meta.filename, v),
        assert_equal(attr(s, "productUri"), v),
    ),
    "directory_name_matches_product_uri": lambda s, v: assert_equal(
        s.root_name == s.meta.filename, v
    ),
    "directory_has_SAFE_suffix": lambda s, v: (
        assert_equal(s.root_name.endswith(".SAFE"), v),
        assert_equal(s.meta.filename.endswith(".SAFE"), True),
    ),
    "sensor_mode": both("sensor_mode", "operationalMode"),
    "swaths": lambda s, v: (
        assert_equal(s.meta.swath, " ".join(v)),
        assert_equal(attr(s, "swathIdentifier"), " ".join(v)),
    ),
    "polarisations": lambda s, v: (
        assert_equal(s.meta.polarisation, " ".join(v)),
        assert_equal(attr(s, "polarisationChannels"), "&".join(v)),
    ),
    "cycle_number": attribute("cycleNumber"),
    "mission_datatake_id": attribute("datatakeID"),
    "product_class": both("product_class", "productClass"),
    "product_composition": attribute("productComposition"),
    "timeliness": both("timeliness", "timeliness"),
    "slice_number": attribute("sliceNumber"),
    "total_slices": attribute("totalSlices"),
    "processor": check_processor,
    "classification_summary": check_classification,
    "footprint_source": check_footprint_source,
    "footprint_wkt": check_footprint_wkt,
    "footprint_ring_closed_in_file": check_ring_closed,
    "footprint_n_vertices": check_n_vertices,
    "footprint_extent": check_extent,
    "footprint_split_at_antimeridian_DERIVED": check_split,
    "geospatial_bounds_attrs": check_geospatial,
    "processing_mode": lambda s, v: (
        assert_equal(attr(s, "processingMode"), v),
        assert_equal(s.meta.timeliness, v),
    ),
    "collection": attribute("baselineCollection"),
    "processor_version_from_name": attribute("processorVersionFromName"),
    "processor_version": lambda s, v: (
        assert_equal(attr(s, "processorVersion"), v),
        assert_equal(s.meta.processing_baseline, v),
    ),
    "product_version": attribute("productVersion"),
    "production_time_from_name": attribute("productionTime", basic),
    "name_start": attribute("nameStartTime", basic),
    "name_stop": attribute("nameStopTime", basic),
    "orbit_attribute": lambda s, v: (
        assert_equal(s.meta.orbit_number, v),
        assert_equal(attr(s, "orbit"), v),
    ),
    "eop_product_type": attribute("eopProductType"),
    "eop_processing_level": attribute("processingLevel"),
    "eop_platform_shortName": attribute("eopPlatformShortName"),
}


def assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected, f"{actual!r} != {expected!r}"
    assert type(actual) is type(expected) or expected is None, (type(actual), type(expected))


CASES = [(key, name) for key, fields in FACTS.items() for name in fields]


@pytest.mark.parametrize(("key", "fact"), CASES, ids=[f"{k[:24]}:{f}" for k, f in CASES])
def test_expected_fact(key: str, fact: str) -> None:
    check = CHECKS.get(fact)
    assert check is not None, f"no check for fact {fact!r}: add one"
    check(sample(key), FACTS[key][fact])


def test_every_sample_is_in_the_oracle() -> None:
    on_disk = {p.name for p in SAMPLES.iterdir() if not p.name.endswith((".json", ".md"))}
    assert on_disk == set(FACTS)


@pytest.mark.parametrize("key", sorted(FACTS))
def test_attributes_are_typed_values(key: str) -> None:
    meta = sample(key).meta
    assert meta.attributes, "a reader keeps the values it finds"
    for name, value in meta.attributes.items():
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", name), name
        assert isinstance(value, str | int | float | bool | datetime), (name, value)
        if isinstance(value, datetime):
            assert value.tzinfo is UTC, name
        if isinstance(value, str):
            assert value == value.strip() and value, name


TYPED_FIELDS = (
    "name",
    "filename",
    "collection",
    "platform",
    "product_type",
    "sensing",
    "footprint",
    "instrument",
    "processing_level",
    "processing_baseline",
    "orbit_number",
    "relative_orbit",
    "orbit_direction",
    "cloud_cover",
    "tile_id",
    "polarisation",
    "sensor_mode",
    "swath",
    "timeliness",
    "product_class",
)


@pytest.mark.parametrize("key", sorted(FACTS))
def test_to_product_carries_every_field(key: str) -> None:
    s = sample(key)
    product = product_of(s)
    meta = s.meta
    for name in TYPED_FIELDS:
        assert getattr(product, name) == getattr(meta, name), name
    assert product.attributes.get("generationDate") == meta.generation_date
    assert {k: v for k, v in product.attributes.items() if k != "generationDate"} == dict(
        meta.attributes
    )
    assert product.collection == f"SENTINEL-{product.mission.split('-')[1].upper()}"
