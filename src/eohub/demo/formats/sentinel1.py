"""Sentinel-1 SAFE products: manifest.safe, annotations, measurement TIFFs and previews."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from lxml.builder import E

from eohub.demo.formats.common import (
    VARIANTS,
    XFDU,
    FactoryError,
    NcVar,
    ProductFiles,
    attribute,
    compact,
    content_unit,
    data_object,
    find,
    image,
    iso_micro,
    latlon_list,
    netcdf,
    num,
    platform_serial,
    render_xml,
    scene,
    sub,
    xml_bytes,
)
from eohub.model import Product

NAME = re.compile(
    r"^(?P<mission>S1[A-D])_(?P<code>IW|EW|WV|S[1-6]|EN|N[1-6]|Z[1-6I])_(?P<type>RAW|SLC|GRD|OCN)"
    r"(?P<res>[FHM_])_(?P<level>[012])(?P<cls>[SAN])(?P<pol>SH|SV|DH|DV|HH|HV|VV|VH)"
    r"_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_(?P<dtid>[0-9A-F]{6})"
    r"_(?P<crc>[0-9A-F]{4})$"
)
NS = {
    "xfdu": XFDU,
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sar": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "s1sarl2": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-2",
    "gml": "http://www.opengis.net/gml",
}
_POLS = {"SH": ["HH"], "SV": ["VV"], "DH": ["HH", "HV"], "DV": ["VV", "VH"]}
_NSSDC = {"A": "2014-016A", "B": "2016-025A", "C": "2024-235A", "D": "2025-000A"}
_SUBSWATHS = {"IW": ["IW1", "IW2", "IW3"], "EW": ["EW1", "EW2", "EW3", "EW4", "EW5"]}
_LEVEL_NS = {"0": "s1sar", "1": "s1sarl1", "2": "s1sarl2"}
_CLASS_TEXT = {"S": "SAR Standard L{level} Product", "A": "SAR Annotation L{level} Product"}
_TYPE_TEXT = {"GRD": "GRD", "SLC": "SLC", "OCN": "OCN", "RAW": "RAW"}


@dataclass(frozen=True)
class _Layout:
    """What a Sentinel-1 product is made of, decided from the record and its name."""

    mission: str  # S1A
    code: str  # IW, EW, WV, S1..S6 as in the name
    ptype: str  # GRD, SLC, OCN, RAW
    level: str
    mode: str  # IW, EW, SM, WV
    swaths: list[str]
    pols: list[str]
    start: datetime
    stop: datetime
    orbit: int
    datatake: int

    def stem(self, swath: str, pol: str, number: int) -> str:
        """File stem shared by annotation, calibration and measurement files."""
        t0, t1 = compact(self.start).lower(), compact(self.stop).lower()
        return (
            f"{self.mission.lower()}-{swath.lower()}-{self.ptype.lower()}-{pol.lower()}-{t0}-{t1}"
            f"-{self.orbit:06d}-{self.datatake:06x}-{number:03d}"
        )

    def images(self) -> list[tuple[str, str, int]]:
        """(swath, polarisation, image number) of each image, numbered as real products do."""
        if self.ptype == "SLC":  # SLC numbers the second polarisation first
            order = list(reversed(self.pols))
            return [
                (sw, pol, k * len(self.swaths) + i + 1)
                for k, pol in enumerate(order)
                for i, sw in enumerate(self.swaths)
            ]
        swath = self.code if self.ptype in ("GRD", "RAW") else self.swaths[0]
        if self.ptype == "OCN":
            return [(sw, self.pols[0], i + 1) for i, sw in enumerate(self.swaths)]
        return [(swath, pol, i + 1) for i, pol in enumerate(self.pols)]


def _layout(record: Product) -> _Layout:
    m = NAME.match(record.name)
    if m is None:
        raise FactoryError(f"{record.name}: not a Sentinel-1 product name")
    code, ptype = m["code"], m["type"]
    mode = record.sensor_mode or ("SM" if code.startswith("S") else code)
    pols = record.polarisation.split() if record.polarisation else _POLS.get(m["pol"], [m["pol"]])
    swaths = record.swath.split() if record.swath else []
    if not swaths or (swaths == [mode] and mode == "SM"):
        # Stripmap products name their beam (S1..S6), never "SM", in their manifest.
        swaths = _SUBSWATHS.get(code, [code]) if ptype in ("SLC", "OCN") else [code]
    return _Layout(
        mission=m["mission"],
        code=code,
        ptype=ptype,
        level=m["level"],
        mode=mode,
        swaths=swaths,
        pols=pols,
        start=record.sensing.start,
        stop=record.sensing.end,
        orbit=record.orbit_number if record.orbit_number is not None else int(m["orbit"]),
        datatake=int(attribute(record, "datatakeID", int(m["dtid"], 16))),
    )


def _values(record: Product, lay: _Layout, rng: random.Random) -> dict[str, object]:
    rel = record.relative_orbit if record.relative_orbit is not None else 1
    anx = lay.start - timedelta(seconds=rng.uniform(60.0, 5900.0))
    processed = record.ingestion_date - timedelta(minutes=20)
    baseline = (record.processing_baseline or "IPF 003.52").replace("IPF", "").strip()
    dp = "dp" if len(lay.pols) == 2 else "sp"
    return {
        "version": f"esa/safe/sentinel-1.0/sentinel-1/sar/level-{lay.level}/"
        f"{lay.ptype.lower()}/standard/{lay.mode.lower()}{dp}",
        "text_info": f"Sentinel-1 {lay.mode} Level-{lay.level} {_TYPE_TEXT[lay.ptype]} Product",
        "processing_name": f"{lay.ptype} Post Processing" if lay.level == "1" else "Processing",
        "processing_start": iso_micro(processed, zulu=False),
        "processing_stop": iso_micro(processed + timedelta(minutes=9), zulu=False),
        "facility_country": "Germany",
        "facility_name": "Copernicus S1 Core Ground Segment - DPA",
        "facility_site": "DLR-Oberpfaffenhofen",
        "ipf_version": baseline,
        "nssdc": _NSSDC.get(platform_serial(record), "2014-016A"),
        "serial": platform_serial(record),
        "orbit": lay.orbit,
        "relative_orbit": rel,
        "cycle": attribute(record, "cycleNumber", (lay.orbit - 73) // 175 + 1),
        "orbit_direction": record.orbit_direction or "ASCENDING",
        "anx_time": iso_micro(anx, zulu=False),
        "start": iso_micro(lay.start, zulu=False),
        "stop": iso_micro(lay.stop, zulu=False),
        "start_anx": f"{(lay.start - anx).total_seconds() * 1000:.6e}",
        "stop_anx": f"{(lay.stop - anx).total_seconds() * 1000:.6e}",
    }


def _general_info(record: Product, lay: _Layout, parent: etree._Element) -> None:
    ns = NS[_LEVEL_NS[lay.level]]
    info = sub(parent, f"{{{ns}}}standAloneProductInformation")
    total = int(attribute(record, "totalSlices", 1))
    sub(
        info,
        f"{{{ns}}}instrumentConfigurationID",
        attribute(record, "instrumentConfigurationID", 1),
    )
    sub(info, f"{{{ns}}}missionDataTakeID", lay.datatake)
    for pol in lay.pols:
        sub(info, f"{{{ns}}}transmitterReceiverPolarisation", pol)
    pclass = record.product_class or "S"
    sub(info, f"{{{ns}}}productClass", pclass)
    text = _CLASS_TEXT.get(pclass, _CLASS_TEXT["S"]).format(level=lay.level)
    sub(info, f"{{{ns}}}productClassDescription", text)
    composition = attribute(record, "productComposition", "Slice" if total > 1 else "Individual")
    sub(info, f"{{{ns}}}productComposition", composition)
    sub(info, f"{{{ns}}}productType", lay.ptype)
    sub(info, f"{{{ns}}}productTimelinessCategory", record.timeliness or "Fast-24h")
    flag = bool(attribute(record, "sliceProductFlag", total > 1))
    sub(info, f"{{{ns}}}sliceProductFlag", "true" if flag else "false")
    sub(info, f"{{{ns}}}segmentStartTime", iso_micro(lay.start, zulu=False))
    sub(info, f"{{{ns}}}sliceNumber", attribute(record, "sliceNumber", 1))
    sub(info, f"{{{ns}}}totalSlices", total)


def _annotations(
    record: Product,
    lay: _Layout,
    values: dict[str, object],
    files: ProductFiles,
    px: int,
    ring: list[tuple[float, float]],
) -> list[tuple[str, str, str]]:
    """Annotation, calibration and noise XMLs per image: (object id, path, rep id)."""
    objects: list[tuple[str, str, str]] = []
    if lay.ptype not in ("GRD", "SLC"):
        return objects
    for swath, pol, number in lay.images():
        stem = lay.stem(swath, pol, number)
        common = {
            "mission_id": lay.mission,
            "product_type": lay.ptype,
            "polarisation": pol,
            "mode": lay.code if lay.mode == "SM" else lay.mode,
            "swath": swath,
            "start": values["start"],
            "stop": values["stop"],
            "orbit": lay.orbit,
            "datatake": lay.datatake,
            "image_number": f"{number:03d}",
            "last_pixel": px - 1,
        }
        product = render_xml(
            "s1_annotation.xml",
            {
                **common,
                "pass": str(values["orbit_direction"]).capitalize(),
                "timeliness": record.timeliness or "Fast-24h",
                "heading": "-1.416386873562462e+01",
                "projection": "Ground Range" if lay.ptype == "GRD" else "Slant Range",
                "anx_time": values["anx_time"],
                "composition": attribute(record, "productComposition", "Slice"),
                "slice_number": attribute(record, "sliceNumber", 1),
                "pixel_value": "Detected" if lay.ptype == "GRD" else "Complex",
                "output_pixels": "16 bit Unsigned Integer"
                if lay.ptype == "GRD"
                else "16 bit Signed Integer",
                "samples": px,
                "lines": px,
            },
        )
        grid = find(product, "geolocationGrid/geolocationGridPointList", {})
        corners = [(0, 0), (0, px - 1), (px - 1, px - 1), (px - 1, 0)]
        for (lon, lat), (line, pixel) in zip(ring[:4], corners, strict=False):
            point = sub(grid, "geolocationGridPoint")
            sub(point, "azimuthTime", values["start"])
            sub(point, "line", line)
            sub(point, "pixel", pixel)
            sub(point, "latitude", num(lat))
            sub(point, "longitude", num(lon))
            sub(point, "height", "0.0")
        grid.set("count", str(len(grid)))
        ident = stem.replace("-", "")
        for prefix, data, rep in (
            ("", xml_bytes(product), "s1Level1ProductSchema"),
            (
                "calibration-",
                xml_bytes(render_xml("s1_calibration.xml", common)),
                "s1Level1CalibrationSchema",
            ),
            ("noise-", xml_bytes(render_xml("s1_noise.xml", common)), "s1Level1NoiseSchema"),
        ):
            folder = "annotation/calibration/" if prefix else "annotation/"
            path = f"{folder}{prefix}{stem}.xml"
            files.add(path, data)
            objects.append(((prefix.rstrip("-") or "product") + ident, path, rep))
    return objects


def _measurements(lay: _Layout, files: ProductFiles, rng: random.Random, px: int) -> list[str]:
    paths: list[str] = []
    variant = rng.randrange(VARIANTS)
    for swath, pol, number in lay.images():
        stem = lay.stem(swath, pol, number)
        if lay.ptype == "RAW":
            base = stem.replace(f"-raw-{pol.lower()}-", f"-raw-s-{pol.lower()}-").rsplit("-", 1)[0]
            for suffix in ("", "-annot", "-index"):
                path = f"{base}{suffix}.dat"
                raw = (scene(variant, px) * 4095.0).astype("<u2").tobytes()
                files.add(path, raw[: 512 if suffix else None])
                paths.append(path)
        elif lay.ptype == "OCN":
            path = f"measurement/{stem}.nc"
            wind = NcVar(
                "owiWindSpeed",
                (scene(variant, px) * 25.0).astype("f4"),
                ("owiAzSize", "owiRaSize"),
                {"units": "m/s", "long_name": "SAR Wind speed"},
            )
            files.add(
                path, netcdf({"/": {"missionName": lay.mission, "polarisation": pol}}, [wind])
            )
            paths.append(path)
        else:
            path = f"measurement/{stem}.tiff"
            files.add(path, image("tiff-band", variant, px, number))
            paths.append(path)
    return paths


def _previews(
    record: Product,
    files: ProductFiles,
    rng: random.Random,
    px: int,
    ring: list[tuple[float, float]],
) -> list[tuple[str, str, str]]:
    variant = rng.randrange(VARIANTS)
    quad = " ".join(f"{num(lon)},{num(lat)}" for lon, lat in ring[:4])
    files.add(
        "preview/map-overlay.kml",
        xml_bytes(render_xml("s1_map_overlay.xml", {"coordinates": quad})),
    )
    listing = E.ul(*[E.li(E.a(path, href=f"../{path}")) for path, _ in files.files])
    html = E.html(E.head(E.title(record.name)), E.body(E.h1(record.name), listing))
    files.add("preview/product-preview.html", etree.tostring(html, method="html"))
    files.add("preview/quick-look.png", image("png-rgb", variant, px))
    # Real products also carry a thumbnail that their manifest does not list.
    files.add("preview/thumbnail.png", image("png-thumb", variant, px))
    return [
        ("mapoverlay", "preview/map-overlay.kml", "s1Level1MapOverlaySchema"),
        ("productpreview", "preview/product-preview.html", "s1Level1ProductPreviewSchema"),
        ("quicklook", "preview/quick-look.png", "s1Level1QuickLookSchema"),
    ]


def build(
    record: Product, rings: list[list[tuple[float, float]]], rng: random.Random, px: int
) -> ProductFiles:
    """The files of a Sentinel-1 SAFE product for ``record``."""
    lay = _layout(record)
    values = _values(record, lay, rng)
    files = ProductFiles()
    metadata = _annotations(record, lay, values, files, px, rings[0])
    measurements = _measurements(lay, files, rng, px)
    previews = [] if lay.ptype == "RAW" else _previews(record, files, rng, px, rings[0])

    root = render_xml("s1_manifest.xml", values)
    package = find(root, "informationPackageMap/xfdu:contentUnit", NS)
    ext = find(root, ".//safe:instrument/safe:extension", NS)
    ns = NS[_LEVEL_NS[lay.level]]
    imode = sub(ext, f"{{{ns}}}instrumentMode")
    sub(imode, f"{{{ns}}}mode", lay.mode)
    for swath in lay.swaths:
        sub(imode, f"{{{ns}}}swath", swath)
    _general_info(
        record,
        lay,
        find(root, ".//metadataObject[@ID='generalProductInformation']/metadataWrap/xmlData", NS),
    )
    frames = find(root, ".//safe:frameSet", NS)
    for ring in rings:
        footprint = sub(
            sub(frames, f"{{{NS['safe']}}}frame"),
            f"{{{NS['safe']}}}footPrint",
            srsName="http://www.opengis.net/gml/srs/epsg.xml#4326",
        )
        # Real manifests list the corners as "lat,lon" pairs without closing the ring.
        sub(footprint, f"{{{NS['gml']}}}coordinates", latlon_list(ring[:-1], coord_sep=","))

    section = find(root, "dataObjectSection", NS)
    data = dict(files.files)
    for ident, path, rep in [*metadata, *previews]:
        unit_type = "Measurement Data Unit" if ident == "quicklook" else "Metadata Unit"
        content_unit(package, unit_type, ident, repID=rep)
        data_object(
            section,
            ident,
            f"./{path}",
            data[path],
            "text/xml" if path.endswith(".xml") else "application/octet-stream",
            rep_id=rep,
        )
    for path in measurements:
        ident = path.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("-", "")
        content_unit(package, "Measurement Data Unit", ident, repID="s1Level1MeasurementSchema")
        data_object(
            section,
            ident,
            f"./{path}",
            data[path],
            "application/octet-stream",
            rep_id="s1Level1MeasurementSchema",
        )
    files.add("manifest.safe", xml_bytes(root))
    return files
