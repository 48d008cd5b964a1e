"""Sentinel-1 SAFE products (SM S1-S6, IW, EW, WV; RAW, SLC, GRD, OCN) from manifest.safe."""

from __future__ import annotations

import re

from eohub.ingest.readers.base import (
    ProductMetadata,
    footprint_from_lat_lon,
    set_if,
    time_range,
)
from eohub.ingest.readers.safe import (
    int_value,
    read_orbit,
    read_platform,
    read_processing,
    time_attr,
)
from eohub.ingest.readers.xml import (
    Element,
    camel,
    find,
    leaf_values,
    parse_member,
    text,
    texts,
    typed,
)
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue

NAME = re.compile(
    r"(?P<platform>S1[A-F])_(?P<mode>[A-Z0-9]{2})_(?P<type>[A-Z]{3})(?P<resolution>[FHM_])_"
    r"(?P<level>[0-2])(?P<pclass>[SACN])(?P<pol>SH|SV|DH|DV|HH|HV|VV|VH)_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_"
    r"(?P<datatake>[0-9A-F]{6})_(?P<uid>[0-9A-F]{4})"
)
MANIFEST = "manifest.safe"
QUICKLOOK = "preview/quick-look.png"
_S1_NAMESPACE = b"www.esa.int/safe/sentinel-1.0"


class Sentinel1Reader:
    """Reads Sentinel-1 SAFE products: everything comes from manifest.safe."""

    name = "sentinel-1"

    def accepts(self, source: ProductSource) -> bool:
        """A SAFE with a Sentinel-1 name or a manifest in the Sentinel-1 SAFE namespaces."""
        if not source.has(MANIFEST):
            return False
        if NAME.match(source.root_name):
            return True
        return _S1_NAMESPACE in source.read(MANIFEST)[:65536]

    def read(self, source: ProductSource) -> ProductMetadata:
        """Metadata of one Sentinel-1 product."""
        root = parse_member(source, MANIFEST)
        match = NAME.search(source.root_name)
        name = match.group(0) if match else source.root_name.removesuffix(".SAFE")
        attrs: dict[str, AttributeValue] = {}

        plat = read_platform(root, attrs)
        platform = plat.platform or (f"Sentinel-1{match['platform'][-1]}" if match else None)
        if platform is None:
            raise source.reject("manifest.safe names no platform")
        info = find(root, "standAloneProductInformation")
        product_type = text(root, "standAloneProductInformation/productType") or (
            match["type"] if match else None
        )
        if not product_type:
            raise source.reject("manifest.safe gives no product type")

        mode = text(root, "instrumentMode/mode") or (match["mode"] if match else None)
        swaths = texts(root, "instrumentMode/swath")
        pols = texts(root, "standAloneProductInformation/transmitterReceiverPolarisation")
        orbit, relative, direction = read_orbit(source, root, attrs)
        start = time_attr(source, text(root, "acquisitionPeriod/startTime"), "sensing start")
        stop = time_attr(source, text(root, "acquisitionPeriod/stopTime"), "sensing stop")
        footprints = texts(root, "frameSet/frame/footPrint/coordinates")
        level = _level(root.get("version"), match)
        timeliness = text(root, "standAloneProductInformation/productTimelinessCategory")
        product_class = text(root, "standAloneProductInformation/productClass") or (
            match["pclass"] if match else None
        )
        processing = read_processing(source, root)
        ipf = next((s for s in processing.software if "IPF" in s[0]), None) if processing else None

        attrs.update(
            {
                "platformShortName": "SENTINEL-1",
                "platformSerialIdentifier": platform[-1],
                "instrumentShortName": plat.instrument or "SAR",
            }
        )
        set_if(attrs, "productType", name[4:14] if match else product_type)
        set_if(attrs, "operationalMode", mode)
        set_if(attrs, "swathIdentifier", " ".join(swaths) or None)
        set_if(attrs, "polarisationChannels", "&".join(pols) or None)
        set_if(attrs, "orbitNumber", orbit)
        set_if(attrs, "relativeOrbitNumber", relative)
        set_if(attrs, "orbitDirection", direction)
        set_if(attrs, "timeliness", timeliness)
        set_if(attrs, "productClass", product_class)
        set_if(attrs, "processingLevel", level)
        set_if(
            attrs, "datatakeID", int_value(source, _child(info, "missionDataTakeID"), "datatake")
        )
        _product_information(info, attrs)
        set_if(attrs, "processingBaseline", ipf[1] if ipf else None)
        if processing is not None:
            set_if(attrs, "processorName", ipf[0] if ipf else None)
            set_if(attrs, "processorVersion", ipf[1] if ipf else None)
            set_if(attrs, "processingCenter", processing.facility)
            set_if(attrs, "processingDate", processing.start)
            set_if(attrs, "processingStopDate", processing.stop)
        set_if(attrs, "ascendingNodeTime", _time(text(root, "orbitProperties/ascendingNodeTime")))
        set_if(attrs, "startTimeFromAscendingNode", _float(text(root, "timeANX/startTimeANX")))
        set_if(attrs, "completionTimeFromAscendingNode", _float(text(root, "timeANX/stopTimeANX")))
        set_if(attrs, "xfduVersion", root.get("version"))
        set_if(attrs, "coordinates", footprints[0] if len(footprints) == 1 else None)
        if match:
            set_if(attrs, "resolution", match["resolution"].strip("_") or None)
            set_if(attrs, "productUniqueIdentifier", match["uid"])

        return ProductMetadata(
            name=name,
            filename=name + ".SAFE",
            collection="SENTINEL-1",
            platform=platform,
            product_type=product_type,
            sensing=time_range(source, start, stop),
            footprint=footprint_from_lat_lon(source, MANIFEST, footprints),
            instrument=plat.instrument or "SAR",
            processing_level=level,
            processing_baseline=ipf[1] if ipf else None,
            orbit_number=orbit,
            relative_orbit=relative,
            orbit_direction=direction,
            polarisation=" ".join(pols) or None,
            sensor_mode=mode,
            swath=" ".join(swaths) or None,
            timeliness=timeliness,
            product_class=product_class,
            generation_date=(processing.stop or processing.start) if processing else None,
            quicklook_member=QUICKLOOK if source.has(QUICKLOOK) else None,
            attributes=attrs,
        )


def _level(version: str | None, match: re.Match[str] | None) -> str | None:
    """LEVEL0/1/2 from the XFDU version (``.../sar/level-1/grd/...``) or the name."""
    found = re.search(r"level-(\d)", version or "")
    if found:
        return f"LEVEL{found.group(1)}"
    return f"LEVEL{match['level']}" if match else None


def _product_information(info: Element | None, attrs: dict[str, AttributeValue]) -> None:
    """Every other value of standAloneProductInformation, typed, under its own name."""
    skip = {"transmitterReceiverPolarisation", "missionDataTakeID"}
    for key, value in leaf_values(info, skip=skip).items():
        if key == "productTimelinessCategory":
            continue
        attrs.setdefault(camel(key), value)


def _child(el: Element | None, name: str) -> str | None:
    return text(el, name) if el is not None else None


def _float(value: str | None) -> float | None:
    result = typed(value) if value else None
    return (
        float(result) if isinstance(result, int | float) and not isinstance(result, bool) else None
    )


def _time(value: str | None) -> AttributeValue | None:
    return typed(value) if value else None
