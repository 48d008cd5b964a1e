"""The product factory: well-formed products that the real readers read back to their records."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h5py
import pytest
from lxml import etree
from PIL import Image

from eohub.demo.factory import FactoryError, build_product, build_products, demo_products
from eohub.demo.records import generate_products
from eohub.ingest.readers import ProductMetadata, find_reader
from eohub.ingest.source import ProductSource
from eohub.model import Footprint, Product, TimeRange

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"  # beside the repo
MISSIONS = ("SENTINEL-1", "SENTINEL-2", "SENTINEL-3", "SENTINEL-5P")
SUFFIX = {"SENTINEL-1": ".SAFE", "SENTINEL-2": ".SAFE", "SENTINEL-3": ".SEN3", "SENTINEL-5P": ".nc"}
MANIFEST = {"SENTINEL-1": "manifest.safe", "SENTINEL-2": "manifest.safe",
            "SENTINEL-3": "xfdumanifest.xml"}  # fmt: skip
XML_SUFFIXES = (".xml", ".safe", ".kml")
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


# -- records -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def records() -> dict[tuple[str, str], Product]:
    """One generated record per (collection, product type), from a fixed seed."""
    out: dict[tuple[str, str], Product] = {}
    for record in generate_products(1500, seed=5):
        out.setdefault((record.collection, record.product_type), record)
    assert {c for c, _ in out} == set(MISSIONS)
    return out


def _by_mission(records: dict[tuple[str, str], Product], mission: str) -> list[Product]:
    return [r for (c, _), r in sorted(records.items()) if c == mission]


# -- reading a product back ----------------------------------------------------------------------
class Members:
    """The files of a built product, whatever its form: relative path -> bytes."""

    def __init__(self, path: Path, record: Product) -> None:
        self.root = f"{record.name}{SUFFIX[record.collection]}"
        self.files: dict[str, bytes] = {}
        if path.is_dir():
            assert path.name == self.root
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    self.files[f.relative_to(path).as_posix()] = f.read_bytes()
        elif path.suffix == ".zip":
            assert path.name == f"{record.name}.zip"
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                assert names == sorted(names), "zip members are not in a deterministic order"
                for info in zf.infolist():
                    assert info.filename.startswith(f"{self.root}/"), info.filename
                    assert ".." not in info.filename.split("/")
                    if not info.is_dir():
                        self.files[info.filename[len(self.root) + 1 :]] = zf.read(info)
        else:
            assert path.name == self.root
            self.files[path.name] = path.read_bytes()


def _read(path: Path) -> ProductMetadata:
    with ProductSource.open(path) as source:
        return find_reader(source).read(source)


def _check_manifest(members: Members, manifest: str) -> set[str]:
    """Every dataObject points at a file that exists, with its size and MD5; returns the hrefs."""
    root = etree.fromstring(members.files[manifest], SAFE_PARSER)
    listed: set[str] = set()
    streams = root.findall(".//dataObject/byteStream")
    assert streams, "the manifest lists no data object"
    for stream in streams:
        location = stream.find("fileLocation")
        checksum = stream.find("checksum")
        assert location is not None and checksum is not None
        href = location.get("href", "").removeprefix("./")
        assert href in members.files, f"manifest points at a missing file: {href}"
        data = members.files[href]
        assert int(stream.get("size", "-1")) == len(data), href
        assert checksum.get("checksumName") == "MD5"
        assert checksum.text == hashlib.md5(data).hexdigest(), href
        listed.add(href)
    pointers = {p.get("dataObjectID") for p in root.iter("dataObjectPointer")}
    objects = {o.get("ID") for o in root.iter("dataObject")}
    assert pointers <= objects, f"content units point at unknown objects: {pointers - objects}"
    return listed


def _check_files(members: Members, record: Product) -> None:
    for name, data in members.files.items():
        if name.endswith(XML_SUFFIXES):
            root = etree.fromstring(data, SAFE_PARSER)
            assert b"${" not in data, f"unfilled template value in {name}"
            assert root is not None
        elif name.endswith((".png", ".jpg", ".jp2", ".tiff")):
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        elif name.endswith(".nc"):
            with h5py.File(io.BytesIO(data), "r") as nc:
                assert len(nc.keys()) + len(nc.attrs) > 0
        assert len(data) > 0, name


def _expected_unlisted(record: Product) -> set[str]:
    """Files real products carry without listing them in their manifest."""
    if record.collection == "SENTINEL-1" and record.product_type != "RAW":
        return {"preview/thumbnail.png"}
    if record.collection == "SENTINEL-2":
        return {f"{record.name}-ql.jpg"}
    return set()


def check_well_formed(path: Path, record: Product) -> Members:
    """The whole structural check of one built product."""
    members = Members(path, record)
    _check_files(members, record)
    manifest = MANIFEST.get(record.collection)
    if manifest is not None:
        listed = _check_manifest(members, manifest)
        unlisted = set(members.files) - listed - {manifest}
        assert unlisted == _expected_unlisted(record)
    total = sum(len(d) for d in members.files.values())
    assert 5_000 < total < 400_000, f"{record.name}: {total} bytes"
    return members


# -- comparing the reader's values with the record's ---------------------------------------------
def _dotted(version: str) -> str:
    return f"{int(version[:2])}.{int(version[2:4])}.{int(version[4:])}"


def _expected(record: Product, field: str) -> Any:
    """The value the reader must give for a record field.

    The conventions that differ between the record generator and the readers are spelled
    out here (each one is reported; none is hidden by a looser comparison):
    - Sentinel-1 processing baseline: records say "IPF 003.52", readers "003.52";
    - Sentinel-1 stripmap swath: records say "SM", real manifests (and readers) the beam "S3";
    - Sentinel-3 sensor mode: records leave it empty, manifests say "EO" (Earth Observation);
    - Sentinel-5P processing baseline: records give the name's "020600", readers "2.6.0".
    """
    value = getattr(record, field)
    mission = record.collection
    if mission == "SENTINEL-1" and field == "processing_baseline" and value:
        return value.removeprefix("IPF ")
    if mission == "SENTINEL-1" and field == "swath" and value == "SM":
        beam = record.name.split("_")[1]
        return beam
    if mission == "SENTINEL-3" and field == "sensor_mode" and value is None:
        return "EO"
    if mission == "SENTINEL-5P" and field == "processing_baseline" and value:
        return _dotted(value)
    return value


FIELDS = (
    "name", "platform", "collection", "product_type", "instrument", "processing_level",
    "processing_baseline", "orbit_number", "relative_orbit", "orbit_direction", "cloud_cover",
    "tile_id", "polarisation", "sensor_mode", "swath", "timeliness", "product_class",
)  # fmt: skip


def _time_precision(record: Product) -> timedelta:
    """What the files keep of a time: S2 milliseconds, S5P seconds, the others microseconds."""
    return {"SENTINEL-2": timedelta(milliseconds=1), "SENTINEL-5P": timedelta(seconds=1)}.get(
        record.collection, timedelta(microseconds=1)
    )


def _truncate(value: datetime, precision: timedelta) -> datetime:
    step = int(precision.total_seconds() * 1_000_000)
    return value - timedelta(microseconds=(value.microsecond % step) if step > 1 else 0)


def assert_reads_back(meta: ProductMetadata, record: Product) -> None:
    """The reader gives the record's values (times to the files' precision, footprints 1e-6)."""
    for field in FIELDS:
        assert getattr(meta, field) == _expected(record, field), field
    precision = _time_precision(record)
    assert meta.sensing.start == _truncate(record.sensing.start, precision)
    assert meta.sensing.end == _truncate(record.sensing.end, precision)
    assert record.footprint is not None and meta.footprint is not None
    distance = record.footprint.search.hausdorff_distance(meta.footprint.search)
    assert distance < 1e-6, (record.footprint.wkt, meta.footprint.wkt)
    assert meta.footprint.search.symmetric_difference(record.footprint.search).area < 1e-9


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mission", MISSIONS)
@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_products_are_well_formed_and_read_back(
    records: dict[tuple[str, str], Product], mission: str, zipped: bool, tmp_path: Path
) -> None:
    for record in _by_mission(records, mission):
        path = build_product(record, tmp_path, zipped=zipped)
        if mission == "SENTINEL-5P":
            assert path == tmp_path / f"{record.name}.nc"
        elif zipped:
            assert path == tmp_path / f"{record.name}.zip"
        else:
            assert path == tmp_path / f"{record.name}{SUFFIX[mission]}"
        check_well_formed(path, record)
        assert_reads_back(_read(path), record)


def test_previews_where_real_products_have_them(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    for (mission, ptype), record in records.items():
        path = build_product(record, tmp_path)
        members = Members(path, record)
        images = {n for n in members.files if n.endswith((".png", ".jpg")) or "_PVI" in n}
        quicklook = _read(path).quicklook_member
        if mission == "SENTINEL-1" and ptype != "RAW":
            assert {"preview/quick-look.png", "preview/thumbnail.png"} <= images
            assert Image.open(io.BytesIO(members.files["preview/quick-look.png"])).size == (64, 64)
            assert quicklook == "preview/quick-look.png"
        elif mission == "SENTINEL-2":
            assert f"{record.name}-ql.jpg" in images
            assert any(n.endswith("_PVI.jp2") for n in images)
            assert quicklook == f"{record.name}-ql.jpg"
        else:
            assert not images, (record.name, images)
            assert quicklook is None


def test_sentinel1_layout_follows_the_real_products(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    slc = records[("SENTINEL-1", "SLC")]
    members = Members(build_product(slc, tmp_path), slc)
    pols = (slc.polarisation or "").split()
    swaths = (slc.swath or "").split()
    annotations = [n for n in members.files if re.fullmatch(r"annotation/s1[a-d]-[^/]+\.xml", n)]
    tiffs = [n for n in members.files if n.startswith("measurement/") and n.endswith(".tiff")]
    assert len(annotations) == len(tiffs) == len(pols) * len(swaths)
    for name in annotations:
        header = etree.fromstring(members.files[name]).find("adsHeader")
        assert header is not None
        assert header.findtext("swath", "").lower() in name
        assert header.findtext("polarisation", "").lower() in name
        assert header.findtext("absoluteOrbitNumber") == str(slc.orbit_number)
    manifest = members.files["manifest.safe"].decode()
    assert "<gml:coordinates>" in manifest and "," in manifest.split("<gml:coordinates>")[1]


def test_sentinel5p_mirrors_the_real_netcdf_attributes(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    real = h5py.File(next(SAMPLES.glob("S5P_*.nc")), "r")
    for record in _by_mission(records, "SENTINEL-5P"):
        path = build_product(record, tmp_path)
        with h5py.File(path, "r") as nc:
            assert set(nc.attrs) <= set(real.attrs), set(nc.attrs) - set(real.attrs)
            for group in ("METADATA/EOP_METADATA", "METADATA/GRANULE_DESCRIPTION",
                          "METADATA/ESA_METADATA/earth_explorer_header/fixed_header"):  # fmt: skip
                assert set(nc[group].attrs) <= set(real[group].attrs), group
            assert nc.attrs["id"].decode() == record.name
            assert int(nc.attrs["orbit"][0]) == record.orbit_number
            assert nc["METADATA/GRANULE_DESCRIPTION"].attrs["ProductShortName"].decode() == (
                record.product_type
            )
    real.close()


def _fact_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _record_from_facts(facts: dict[str, Any]) -> Product:
    """A record holding the values of a real product, as listed in expected_facts.json."""
    mission = facts["mission"].upper()
    name = facts["product_name"]
    when = _fact_time(facts["sensing_start"])
    attributes = {k: facts[f] for k, f in (("datatakeID", "mission_datatake_id"),
                  ("cycleNumber", "cycle_number"), ("sliceNumber", "slice_number"),
                  ("totalSlices", "total_slices"), ("productComposition", "product_composition"))
                  if facts.get(f) is not None}  # fmt: skip
    return Product(
        id=uuid.uuid5(uuid.NAMESPACE_URL, name),
        name=name,
        filename=name + SUFFIX[mission],
        collection=mission,
        platform=facts["platform"],
        sensing=TimeRange(when, _fact_time(facts["sensing_stop"])),
        publication_date=when + timedelta(hours=3),
        ingestion_date=when + timedelta(hours=2),
        modification_date=when + timedelta(hours=3),
        product_type=facts["product_type"],
        footprint=Footprint.from_wkt(facts["footprint_wkt"], strict=False),
        instrument=facts["instrument"],
        processing_baseline=facts.get("processing_baseline"),
        orbit_number=facts["absolute_orbit"],
        relative_orbit=facts.get("relative_orbit"),
        orbit_direction=facts.get("orbit_direction"),
        cloud_cover=facts.get("cloud_cover"),
        tile_id=facts.get("tile_id"),
        polarisation=" ".join(facts["polarisations"]) if "polarisations" in facts else None,
        sensor_mode=facts.get("sensor_mode"),
        swath=" ".join(facts["swaths"]) if "swaths" in facts else None,
        timeliness=facts.get("timeliness"),
        product_class=facts.get("product_class"),
        attributes=attributes,
    )


def _facts() -> list[dict[str, Any]]:
    # A missing samples folder fails here, at collection: never a silent skip.
    return list(json.loads((SAMPLES / "expected_facts.json").read_text()).values())


@pytest.mark.parametrize("facts", _facts(), ids=lambda f: f["product_name"][:26])
def test_real_products_values_survive_the_factory(facts: dict[str, Any], tmp_path: Path) -> None:
    """A record with a real product's values (antimeridian and pole footprints included)
    becomes a product the reader reads back to the values the real product gives."""
    record = _record_from_facts(facts)
    for zipped in (False, True):
        meta = _read(build_product(record, tmp_path / str(zipped), zipped=zipped))
        assert meta.name == facts["product_name"]
        assert meta.platform == facts["platform"]
        assert meta.product_type == facts["product_type"]
        assert meta.orbit_number == facts["absolute_orbit"]
        assert meta.relative_orbit == facts.get("relative_orbit")
        assert meta.orbit_direction == facts.get("orbit_direction")
        assert meta.cloud_cover == facts.get("cloud_cover")
        assert meta.sensing.start == _fact_time(facts["sensing_start"])
        assert meta.sensing.end == _fact_time(facts["sensing_stop"])
        for field, key in (("tile_id", "tile_id"), ("sensor_mode", "sensor_mode"),
                           ("timeliness", "timeliness")):  # fmt: skip
            if key in facts:
                assert getattr(meta, field) == facts[key], field
        if "polarisations" in facts:
            assert meta.polarisation == " ".join(facts["polarisations"])
            assert meta.swath == " ".join(facts["swaths"])
        if str(facts.get("processing_baseline", "")).startswith(("IPF", "0")):
            assert meta.processing_baseline == facts["processing_baseline"].removeprefix("IPF ")
        expected = Footprint.from_wkt(facts["footprint_wkt"], strict=False)
        assert meta.footprint is not None
        assert meta.footprint.search.hausdorff_distance(expected.search) < 1e-6


def test_output_is_deterministic(records: dict[tuple[str, str], Product], tmp_path: Path) -> None:
    for record in records.values():
        for zipped in (False, True):
            first = build_product(record, tmp_path / f"a{zipped}", zipped=zipped, seed=3)
            again = build_product(record, tmp_path / f"b{zipped}", zipped=zipped, seed=3)
            assert _digest(first) == _digest(again), record.name
    s2 = records[("SENTINEL-2", "S2MSI1C")]
    other = build_product(s2, tmp_path / "c", seed=4)
    assert _digest(other) != _digest(tmp_path / "aFalse" / other.name)


def _digest(path: Path) -> str:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.relative_to(path.parent).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def test_image_size_is_honoured(records: dict[tuple[str, str], Product], tmp_path: Path) -> None:
    record = records[("SENTINEL-1", "GRD")]
    members = Members(build_product(record, tmp_path, image_px=32), record)
    tiff = next(d for n, d in members.files.items() if n.endswith(".tiff"))
    assert Image.open(io.BytesIO(tiff)).size == (32, 32)
    with pytest.raises(FactoryError, match="image_px"):
        build_product(record, tmp_path / "x", image_px=2)


def test_bad_records_give_clear_errors_and_leave_nothing(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    s2 = records[("SENTINEL-2", "S2MSI2A")]
    cases = [
        (s2.evolve(collection="LANDSAT-8"), "no product format for 'LANDSAT-8'"),
        (s2.evolve(name="S2A_NOT_A_NAME"), "not a Sentinel-2 product name"),
        (s2.evolve(footprint=None), "has no footprint"),
        (s2.evolve(name="../escape"), "not a product name"),
        (records[("SENTINEL-1", "GRD")].evolve(name="S1A_XX_GRDH_1SDV"), "Sentinel-1"),
        (s2.evolve(orbit_number=None), "absolute orbit"),
        (s2.evolve(platform="Sentinel-2"), "no serial letter"),
    ]
    for bad, message in cases:
        with pytest.raises(FactoryError, match=re.escape(message)):
            build_product(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_product_is_never_overwritten(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    record = records[("SENTINEL-3", "OL_1_EFR___")]
    path = build_product(record, tmp_path, zipped=True)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        build_product(record, tmp_path, zipped=True, seed=9)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_build_products_mixes_forms_and_demo_products_are_readable(tmp_path: Path) -> None:
    paths = demo_products(24, tmp_path / "demo", seed=2)
    assert len(paths) == len(set(paths)) == 24
    kinds = {p.suffix for p in paths}
    assert ".zip" in kinds and (".SAFE" in kinds or ".SEN3" in kinds)
    names = {r.name for r in generate_products(24, seed=2)}
    for path in paths:
        meta = _read(path)
        assert meta.name in names
    none = list(build_products(generate_products(6, seed=2), tmp_path / "n", zipped_ratio=0.0))
    assert all(p.suffix != ".zip" for p in none)
    every = list(build_products(generate_products(6, seed=2), tmp_path / "z", zipped_ratio=1.0))
    assert all(p.suffix in (".zip", ".nc") for p in every)
    with pytest.raises(FactoryError, match="zipped_ratio"):
        list(build_products(iter([]), tmp_path, zipped_ratio=1.5))


def test_many_generated_products_read_back(tmp_path: Path) -> None:
    """A wider sweep: every mission's shapes (antimeridian, poles), both forms."""
    for k, record in enumerate(generate_products(120, seed=17)):
        path = build_product(record, tmp_path, zipped=k % 2 == 0, image_px=16)
        assert_reads_back(_read(path), record)


def test_the_structure_check_catches_a_tampered_product(
    records: dict[tuple[str, str], Product], tmp_path: Path
) -> None:
    """The manifest check above is not vacuous: one changed byte or one missing file fails it."""
    record = records[("SENTINEL-2", "S2MSI1C")]
    path = build_product(record, tmp_path)
    band = next(path.rglob("*_B02.jp2"))
    data = bytearray(band.read_bytes())
    data[-3] ^= 0xFF
    band.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="B02"):
        check_well_formed(path, record)
    band.unlink()
    with pytest.raises(AssertionError, match="missing file"):
        check_well_formed(path, record)
