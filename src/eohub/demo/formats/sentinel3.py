"""Sentinel-3 SEN3 products: xfdumanifest.xml and a few small netCDF measurement files."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from eohub.demo.formats.common import (
    VARIANTS,
    XFDU,
    Coord,
    FactoryError,
    NcVar,
    ProductFiles,
    attribute,
    content_unit,
    data_object,
    find,
    iso_micro,
    latlon_list,
    netcdf,
    platform_serial,
    render_xml,
    scene,
    sub,
    xml_bytes,
)
from eohub.model import Product

NAME = re.compile(
    r"^(?P<mission>S3[A-D])_(?P<type>(?P<instr>[A-Z]{2})_(?P<level>[0-2])_[A-Z0-9_]{6})"
    r"_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<created>\d{8}T\d{6})"
    r"_(?P<duration>[\d_]{4})_(?P<cycle>[\d_]{3})_(?P<rel>[\d_]{3})_(?P<frame>[\d_]{4})"
    r"_(?P<centre>\w{3})_(?P<platform>[OFDR])_(?P<timeliness>NR|NT|ST|__)_(?P<baseline>\w{3})$"
)
S3 = "http://www.esa.int/safe/sentinel/sentinel-3/1.0"
NS = {
    "xfdu": XFDU,
    "sentinel-safe": "http://www.esa.int/safe/sentinel/1.1",
    "sentinel3": S3,
    "gml": "http://www.opengis.net/gml",
}


@dataclass(frozen=True)
class _Instrument:
    name: str
    prefix: str  # namespace prefix, also in the manifest version string
    long_name: str
    processor: str


_INSTRUMENTS = {
    "OL": _Instrument("OLCI", "olci", "Ocean Land Colour Instrument", "IPF-OL-{level}"),
    "SL": _Instrument(
        "SLSTR", "slstr", "Sea and Land Surface Temperature Radiometer", "IPF-SL-{level}"
    ),
    "SR": _Instrument("SRAL", "sral", "Sar Radar ALtimeter", "IPF-SR-{level}"),
    "SY": _Instrument("SYNERGY", "synergy", "Synergy", "IPF-SY-{level}"),
}
# A few of the measurement files of each product type: (file stem, variable, description).
_FILES: dict[str, list[tuple[str, str, str]]] = {
    "OL_1": [
        ("Oa03_radiance", "Oa03_radiance", "TOA radiance for OLCI acquisition band Oa03"),
        ("Oa06_radiance", "Oa06_radiance", "TOA radiance for OLCI acquisition band Oa06"),
        ("Oa08_radiance", "Oa08_radiance", "TOA radiance for OLCI acquisition band Oa08"),
        ("geo_coordinates", "altitude", "Geo coordinates annotations"),
    ],
    "OL_2_LFR": [
        ("ogvi", "OGVI", "OLCI Global Vegetation Index"),
        ("otci", "OTCI", "OLCI Terrestrial Chlorophyll Index"),
        ("geo_coordinates", "altitude", "Geo coordinates annotations"),
    ],
    "OL_2_WFR": [
        ("chl_nn", "CHL_NN", "Algal pigment concentration (neural net)"),
        ("Oa08_reflectance", "Oa08_reflectance", "Water leaving reflectance, band Oa08"),
        ("geo_coordinates", "altitude", "Geo coordinates annotations"),
    ],
    "SL_1": [
        ("S1_radiance_an", "S1_radiance_an", "TOA radiance for channel S1 (A stripe grid)"),
        ("S3_radiance_an", "S3_radiance_an", "TOA radiance for channel S3 (A stripe grid)"),
        ("geodetic_an", "elevation_an", "Geodetic coordinates for the A stripe grid"),
    ],
    "SL_2": [
        ("LST_in", "LST", "Land surface temperature"),
        ("geodetic_in", "elevation_in", "Geodetic coordinates for the 1km TIR grid"),
    ],
    "SR_1": [("measurement", "range_ku", "Measurement Data Object File")],
    "SR_2": [
        ("enhanced_measurement", "range_ku", "Enhanced Measurement Data Object File"),
        ("reduced_measurement", "range_ku", "Reduced Measurement Data Object File"),
    ],
    "SY_2": [
        ("Syn_Oa08_reflectance", "SDR_Oa08", "Surface directional reflectance, band Oa08"),
        ("geolocation", "altitude", "Geolocation annotations"),
    ],
}
_NSSDC = {"A": "2016-011A", "B": "2018-039A"}
_SLSTR_L1_GRIDS = ("1 km", "0.5 km stripe A", "0.5 km stripe B", "F1")


def _file_set(ptype: str) -> list[tuple[str, str, str]]:
    for key in (ptype[:8], ptype[:4]):
        if key in _FILES:
            return _FILES[key]
    raise FactoryError(f"no Sentinel-3 layout for product type {ptype!r}")


def _stamp_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S")


def _pct(value: float) -> str:
    return f"{value:.6f}"


def _product_info(
    record: Product,
    instr: _Instrument,
    level: str,
    parent: etree._Element,
    rng: random.Random,
    px: int,
) -> None:
    """The instrument block: classification summary (cloud cover lives here) and sizes."""
    ns = f"http://www.esa.int/safe/sentinel/sentinel-3/{instr.prefix}/1.0"
    land = float(attribute(record, "landCover", round(rng.uniform(0.0, 100.0), 6)))
    saline = float(attribute(record, "salineWaterCover", round(100.0 - land, 6)))
    if instr.name == "SRAL":
        sub(parent, f"{{{ns}}}landPercentage", round(land))
        sub(parent, f"{{{ns}}}closedSeaPercentage", 0)
        sub(parent, f"{{{ns}}}continentalIcePercentage", 0)
        sub(parent, f"{{{ns}}}openOceanPercentage", round(saline))
        return
    grids = _SLSTR_L1_GRIDS if instr.name == "SLSTR" and level == "1" else ("1 km",)
    for grid in grids:
        summary = sub(parent, f"{{{ns}}}classificationSummary")
        if instr.name == "SLSTR":
            summary.set("grid", grid)
        cover = [
            ("salineWaterPixels", saline),
            ("landPixels", land),
            ("coastalPixels", 0.0),
            ("freshInlandWaterPixels", 0.0),
            ("tidalRegionPixels", 0.0),
        ]
        if record.cloud_cover is not None:
            cover.append(("cloudyPixels", record.cloud_cover))
        for tag, value in cover:
            sub(summary, f"{{{S3}}}{tag}", percentage=_pct(value))
    size = sub(parent, f"{{{ns}}}imageSize")
    sub(size, f"{{{S3}}}rows", px)
    sub(size, f"{{{S3}}}columns", px)


def _measurements(
    record: Product, ptype: str, files: ProductFiles, rng: random.Random, px: int
) -> list[tuple[str, str, str]]:
    objects: list[tuple[str, str, str]] = []
    attrs: dict[str, object] = {
        "Conventions": "CF-1.6",
        "institution": "EUMETSAT" if "MAR" in record.name else "ESA",
        "product_name": f"{record.name}.SEN3",
        "start_time": iso_micro(record.sensing.start),
        "stop_time": iso_micro(record.sensing.end),
        "absolute_orbit_number": record.orbit_number or 0,
    }
    for stem, var, text in _file_set(ptype):
        values = scene(rng.randrange(VARIANTS), px)
        data = netcdf(
            {"/": {**attrs, "title": text}},
            [
                NcVar(
                    var,
                    (values * 4000).astype("u2"),
                    ("rows", "columns"),
                    {"long_name": text, "scale_factor": 0.01},
                )
            ],
        )
        files.add(f"{stem}.nc", data)
        objects.append((stem, f"{stem}.nc", text))
    return objects


def build(record: Product, rings: list[list[Coord]], rng: random.Random, px: int) -> ProductFiles:
    """The files of a Sentinel-3 SEN3 product for ``record``."""
    m = NAME.match(record.name)
    if m is None:
        raise FactoryError(f"{record.name}: not a Sentinel-3 product name")
    instr = _INSTRUMENTS.get(m["instr"])
    if instr is None:
        raise FactoryError(f"{record.name}: no Sentinel-3 instrument {m['instr']!r}")
    ptype, level = record.product_type or m["type"], m["level"]
    files = ProductFiles()
    objects = _measurements(record, ptype, files, rng, px)

    orbit = record.orbit_number or 0
    rel = record.relative_orbit or (int(m["rel"]) if m["rel"].isdigit() else 0)
    direction = (record.orbit_direction or "DESCENDING").lower()
    created = _stamp_time(m["created"])
    version = record.processing_baseline or m["baseline"]
    values: dict[str, object] = {
        "ns_prefix": instr.prefix,
        "level": level,
        "instrument": instr.name,
        "instrument_long": instr.long_name,
        "instrument_title": instr.prefix.capitalize(),
        "start": iso_micro(record.sensing.start),
        "stop": iso_micro(record.sensing.end),
        "nssdc": _NSSDC.get(platform_serial(record), "2016-011A"),
        "serial": platform_serial(record),
        "filename": f"{record.name}.SEN3",
        "product_type": ptype,
        "timeliness": record.timeliness or m["timeliness"],
        "baseline": version,
        "creation_time": m["created"],
        "product_size": sum(len(data) for _, data in files.files),
        "unit_type": "FRAME",
        "duration": int((record.sensing.end - record.sensing.start).total_seconds()),
        "alongtrack": int(m["frame"]) if m["frame"].isdigit() else 0,
        "direction_lower": direction,
        "orbit": orbit,
        "relative_orbit": rel,
        "pass_number": 2 * orbit - (direction == "ascending"),
        "relative_pass": 2 * rel - (direction == "ascending"),
        "cycle": attribute(record, "cycleNumber", int(m["cycle"]) if m["cycle"].isdigit() else 0),
        "quality_check": "PASSED",
        "processing_start": iso_micro(created - timedelta(minutes=3)),
        "processing_stop": iso_micro(created),
        "centre_name": f"Processing and Archiving Centre [{m['centre']}]",
        "processor": instr.processor.format(level=level),
        "processor_version": "06.20",
    }
    root = render_xml("s3_manifest.xml", values)
    if instr.name == "SRAL":  # altimetry products have no frame unit
        unit = find(root, ".//sentinel3:productUnit", NS)
        unit.getparent().remove(unit)  # type: ignore[union-attr]
    ns = f"http://www.esa.int/safe/sentinel/sentinel-3/{instr.prefix}/1.0"
    info = find(root, f".//{{{ns}}}{instr.prefix}ProductInformation", NS)
    _product_info(record, instr, level, info, rng, px)
    frames = find(root, ".//sentinel-safe:frameSet", NS)
    for ring in rings:
        fp = sub(
            frames,
            f"{{{NS['sentinel-safe']}}}footPrint",
            srsName="http://www.opengis.net/def/crs/EPSG/0/4326",
        )
        sub(fp, f"{{{NS['gml']}}}posList", latlon_list(ring))
    package = find(root, "informationPackageMap/xfdu:contentUnit", NS)
    section = find(root, "dataObjectSection", NS)
    data = dict(files.files)
    for stem, path, text in objects:
        unit_type = "Annotation Data Unit" if "geo" in stem else "Measurement Data Unit"
        content_unit(package, unit_type, f"{stem}Data", ID=f"{stem}Unit", textInfo=text)
        data_object(
            section, f"{stem}Data", f"./{path}", data[path], "application/x-netcdf", text_info=text
        )
    files.add("xfdumanifest.xml", xml_bytes(root))
    return files
