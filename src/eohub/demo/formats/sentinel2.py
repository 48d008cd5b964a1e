"""Sentinel-2 SAFE products: manifest.safe, MTD_MSIL1C/2A.xml, MTD_TL.xml, JP2 bands, previews."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from eohub.demo.formats.common import (
    VARIANTS,
    XFDU,
    Coord,
    FactoryError,
    ProductFiles,
    attribute,
    compact,
    content_unit,
    data_object,
    find,
    image,
    iso_milli,
    latlon_list,
    num,
    platform_serial,
    render_xml,
    sub,
    xml_bytes,
)
from eohub.model import Product

NAME = re.compile(
    r"^(?P<mission>S2[A-D])_MSIL(?P<level>1C|2A)_(?P<start>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R(?P<rel>\d{3})_T(?P<tile>\d{2}[C-X][A-Z]{2})_(?P<gen>\d{8}T\d{6})$"
)
NS = {
    "xfdu": XFDU,
    "safe": "http://www.esa.int/safe/sentinel/1.1",
    "gml": "http://www.opengis.net/gml",
}
_GRANULE_ID = re.compile(r"_OPER_MSI_L..._TL_(?P<centre>\w{4})_")
_BANDS_L1C = [
    ("B02", "10m_1"),
    ("B03", "10m_2"),
    ("B04", "10m_3"),
    ("B08", "10m_4"),
    ("TCI", "TCI"),
]
_BANDS_L2A = [
    ("R10m", "B02", "10m"),
    ("R10m", "B03", "10m"),
    ("R10m", "B04", "10m"),
    ("R10m", "B08", "10m"),
    ("R10m", "TCI", "10m"),
    ("R20m", "SCL", "20m"),
]


def _stamp_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S")


def _values(record: Product, m: re.Match[str], rng: random.Random) -> dict[str, object]:
    level = m["level"]
    baseline = record.processing_baseline or f"{m['baseline'][:2]}.{m['baseline'][2:]}"
    generated = _stamp_time(m["gen"])
    tile = record.tile_id or m["tile"]
    orbit = record.orbit_number
    if orbit is None:
        raise FactoryError(f"{record.name}: a Sentinel-2 record needs an absolute orbit number")
    rel = record.relative_orbit if record.relative_orbit is not None else int(m["rel"])
    granule = str(attribute(record, "granuleIdentifier", ""))
    centre_match = _GRANULE_ID.search(granule)
    centre = centre_match["centre"] if centre_match else "2APS"
    mission = m["mission"]
    ds_start = record.sensing.start + timedelta(seconds=rng.randint(3, 900))
    gen = compact(generated)
    if not granule:
        granule = f"{mission}_OPER_MSI_L{level}_TL_{centre}_{gen}_A{orbit:06d}_T{tile}_N{baseline}"
    zone, band = int(tile[:2]), tile[2]
    south = band < "N"
    cloud = record.cloud_cover if record.cloud_cover is not None else 0.0
    high = round(cloud * rng.uniform(0.4, 0.8), 6)
    water = round(rng.uniform(0.0, 100.0 - cloud), 6)
    return {
        "level": level,
        "level_lower": level.lower(),
        "start": iso_milli(record.sensing.start),
        "stop": iso_milli(record.sensing.end),
        "product_uri": f"{record.name}.SAFE",
        "processing_level": record.processing_level or f"Level-{level}",
        "product_type": record.product_type,
        "baseline": baseline,
        "generation_time": generated.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "datatake_id": f"G{mission}_{compact(record.sensing.start)}_{orbit:06d}_N{baseline}",
        "platform": record.platform,
        "datatake_type": record.sensor_mode or "INS-NOBS",
        "relative_orbit": rel,
        "relative_orbit3": f"{rel:03d}",
        "orbit6": f"{orbit:06d}",
        "direction": record.orbit_direction or "DESCENDING",
        "direction_lower": (record.orbit_direction or "DESCENDING").lower(),
        "nssdc": "2015-028A" if mission == "S2A" else "2017-013A",
        "number": f"2{platform_serial(record)}",
        "granule_id": granule,
        "l1c_granule_id": granule.replace(f"_MSI_L{level}_", "_MSI_L1C_"),
        "datastrip_id": f"{mission}_OPER_MSI_L{level}_DS_{centre}_{gen}_S{compact(ds_start)}"
        f"_N{baseline}",
        "granule_dir": f"L{level}_T{tile}_A{orbit:06d}_{compact(ds_start)}",
        "tile": tile,
        "name_start": m["start"],
        "tile_sensing_time": ds_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "centre": centre,
        "archiving_time": (generated + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "cs_name": f"WGS84 / UTM zone {zone:02d}{'S' if south else 'N'}",
        "epsg": f"EPSG:{32700 if south else 32600}{zone:02d}",
        "ulx": 100000 * rng.randint(1, 7) - 20,
        "uly": 100000 * rng.randint(1, 99) + 20,
        "sun_zenith": num(round(rng.uniform(20.0, 70.0), 6)),
        "sun_azimuth": num(round(rng.uniform(100.0, 250.0), 6)),
        "cloud_cover": num(cloud),
        "nodata": num(float(attribute(record, "nodataPixelPercentage", 0.0))),
        "snow_ice": num(float(attribute(record, "snowIcePercentage", 0.0))),
        "high_clouds": num(high),
        "medium_clouds": num(round(cloud - high, 6)),
        "cloud_shadow": num(round(cloud * 0.05, 6)),
        "water": num(water),
        "vegetation": num(round((100.0 - cloud - water) * 0.7, 6)),
        "not_vegetated": num(round((100.0 - cloud - water) * 0.3, 6)),
    }


def _images(
    v: dict[str, object], files: ProductFiles, rng: random.Random, px: int
) -> list[tuple[str, str]]:
    """Write the band images and the PVI; return (manifest object id, path) of each."""
    granule = f"GRANULE/{v['granule_dir']}"
    prefix = f"T{v['tile']}_{v['name_start']}"
    variant = rng.randrange(VARIANTS)
    objects: list[tuple[str, str]] = []
    if v["level"] == "1C":
        bands = [
            (f"IMG_DATA/{prefix}_{b}.jp2", f"IMG_DATA_Band_{slot}_Tile1_Data", b)
            for b, slot in _BANDS_L1C
        ]
    else:
        bands = [
            (f"IMG_DATA/{res}/{prefix}_{b}_{r}.jp2", f"IMG_DATA_Band_{b}_{r}_Tile1_Data", b)
            for res, b, r in _BANDS_L2A
        ]
    for k, (rel, ident, band) in enumerate(bands):
        if band == "TCI":
            data = image("jp2-rgb", variant, px)
        elif band == "SCL":
            data = image("jp2-class", variant, px)
        else:
            data = image("jp2-band", variant, px, k)
        files.add(f"{granule}/{rel}", data)
        objects.append((ident, f"{granule}/{rel}"))
    pvi = f"{granule}/QI_DATA/{prefix}_PVI.jp2"
    files.add(pvi, image("jp2-rgb", variant, px))
    objects.append(("Preview_0_Tile1_Data", pvi))
    return objects


def build(record: Product, rings: list[list[Coord]], rng: random.Random, px: int) -> ProductFiles:
    """The files of a Sentinel-2 SAFE product for ``record``."""
    m = NAME.match(record.name)
    if m is None:
        raise FactoryError(f"{record.name}: not a Sentinel-2 product name")
    v = _values(record, m, rng)
    level = str(v["level"])
    files = ProductFiles()
    images = _images(v, files, rng, px)
    granule = f"GRANULE/{v['granule_dir']}"
    v["pvi_filename"] = images[-1][1]

    mtd = render_xml(f"s2_mtd_l{level.lower()}.xml", v)
    granule_el = find(mtd, ".//Granule", {})
    for _, path in images[:-1]:
        sub(granule_el, "IMAGE_FILE", path.removesuffix(".jp2"))
    footprint = find(mtd, ".//Product_Footprint/Product_Footprint", {})
    for ring in rings:
        sub(sub(footprint, "Global_Footprint"), "EXT_POS_LIST", latlon_list(ring) + " ")
    mtd_path = f"MTD_MSIL{level}.xml"
    files.add(mtd_path, xml_bytes(mtd, standalone=False))
    tile_path = f"{granule}/MTD_TL.xml"
    files.add(
        tile_path, xml_bytes(render_xml(f"s2_mtd_tl_l{level.lower()}.xml", v), standalone=False)
    )
    # The quicklook hubs serve for Sentinel-2, at the SAFE root (not listed in the manifest).
    files.add(f"{record.name}-ql.jpg", image("jpeg-rgb", rng.randrange(VARIANTS), px))

    manifest = render_xml("s2_manifest.xml", v)
    frames = find(manifest, ".//safe:frameSet", NS)
    for ring in rings:
        fp = sub(
            frames,
            f"{{{NS['safe']}}}footPrint",
            srsName="http://www.opengis.net/gml/srs/epsg.xml#4326",
        )
        sub(fp, f"{{{NS['gml']}}}coordinates", latlon_list(ring) + " ")
    package = find(manifest, "informationPackageMap/xfdu:contentUnit", NS)
    section = find(manifest, "dataObjectSection", NS)
    data = dict(files.files)
    entries = [
        (f"S2_Level-{level}_Product_Metadata", mtd_path, "Metadata Unit", "text/xml"),
        (f"S2_Level-{level}_Tile1_Metadata", tile_path, "Metadata Unit", "application/xml"),
        *[
            (ident, path, "Measurement Data Unit", "application/octet-stream")
            for ident, path in images
        ],
    ]
    for ident, path, unit_type, mime in entries:
        content_unit(package, unit_type, ident, ID=ident.removesuffix("_Data") + "_Unit")
        data_object(section, ident, f"./{path}", data[path], mime)
    files.add("manifest.safe", xml_bytes(manifest, standalone=False))
    return files
