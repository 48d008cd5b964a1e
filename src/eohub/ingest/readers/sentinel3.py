"""Sentinel-3 SEN3 products (OLCI, SLSTR, SRAL, SYNERGY, ...; levels 0-2) from xfdumanifest.xml."""

from __future__ import annotations

import re

from eohub.ingest.readers.base import (
    ProductMetadata,
    footprint_from_lat_lon,
    set_if,
    time_range,
)
from eohub.ingest.readers.safe import read_orbit, read_platform, read_processing, time_attr
from eohub.ingest.readers.xml import (
    Element,
    attr,
    find,
    findall,
    leaf_values,
    localname,
    parse_member,
    suffix_key,
    text,
    texts,
)
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue

NAME = re.compile(
    r"(?P<platform>S3[A-D_])_(?P<type>\w{2}_[0-2]_\w{6})_(?P<start>\d{8}T\d{6})_"
    r"(?P<stop>\d{8}T\d{6})_(?P<created>\d{8}T\d{6})_(?P<instance>.{17})_(?P<centre>\w{3})_"
    r"(?P<pclass>[OFDR])_(?P<timeliness>NR|ST|NT|AL|__)_(?P<baseline>\w{3})"
)
MANIFEST = "xfdumanifest.xml"
_INSTRUMENTS = {"OL": "OLCI", "SL": "SLSTR", "SR": "SRAL", "SY": "SYNERGY", "MW": "MWR"}
_COVERS = {
    "cloudyPixels": "cloudCover",
    "salineWaterPixels": "salineWaterCover",
    "landPixels": "landCover",
    "coastalPixels": "coastalCover",
    "freshInlandWaterPixels": "freshInlandWaterCover",
    "tidalRegionPixels": "tidalRegionCover",
    "brightPixels": "brightCover",
    "snowOrIcePixels": "snowOrIceCover",
}
_INFO_SKIP = {
    "classificationSummary",
    "bandDescriptions",
    "temperatureSummary",
    "missingElements",
    "band",
}


class Sentinel3Reader:
    """Reads Sentinel-3 products: everything comes from xfdumanifest.xml."""

    name = "sentinel-3"

    def accepts(self, source: ProductSource) -> bool:
        """A product with an XFDU manifest and a Sentinel-3 name or Sentinel-3 namespaces."""
        if not source.has(MANIFEST):
            return False
        return bool(NAME.match(source.root_name)) or b"sentinel-3" in source.read(MANIFEST)[:4096]

    def read(self, source: ProductSource) -> ProductMetadata:
        """Metadata of one Sentinel-3 product."""
        root = parse_member(source, MANIFEST)
        general = find(root, "generalProductInformation")
        product_name = text(root, "generalProductInformation/productName")
        name = (product_name or source.root_name).removesuffix(".SEN3")
        match = NAME.search(name)
        attrs: dict[str, AttributeValue] = {}

        plat = read_platform(root, attrs)
        platform = plat.platform or (f"Sentinel-3{match['platform'][-1]}" if match else None)
        if platform is None or platform.endswith("_"):
            raise source.reject("xfdumanifest.xml names no platform")
        product_type = text(root, "generalProductInformation/productType") or (
            match["type"] if match else None
        )
        if not product_type:
            raise source.reject("xfdumanifest.xml gives no product type")
        instrument = _instrument(product_type, plat.instrument)
        timeliness = text(root, "generalProductInformation/timeliness") or (
            match["timeliness"] if match else None
        )
        baseline = text(root, "generalProductInformation/baselineCollection") or (
            match["baseline"] if match else None
        )
        level_digit = product_type[3:4]
        level = f"Level-{level_digit}" if level_digit.isdigit() else None
        orbit, relative, direction = read_orbit(source, root, attrs)
        start = time_attr(source, text(root, "acquisitionPeriod/startTime"), "sensing start")
        stop = time_attr(source, text(root, "acquisitionPeriod/stopTime"), "sensing stop")
        created = time_attr(
            source, text(root, "generalProductInformation/creationTime"), "creation"
        ) or (time_attr(source, match["created"], "creation") if match else None)
        footprints = texts(root, "footPrint/posList")
        mode = attr(root, "platform/instrument/mode", "identifier")
        processing = read_processing(source, root)
        covers = _classification(root, attrs)

        attrs.update(
            {
                "platformShortName": "SENTINEL-3",
                "platformSerialIdentifier": platform[-1],
                "instrumentShortName": instrument,
                "productType": product_type,
            }
        )
        set_if(attrs, "timeliness", timeliness)
        set_if(attrs, "baselineCollection", baseline)
        set_if(attrs, "processingBaseline", baseline)
        set_if(attrs, "processingLevel", level)
        set_if(attrs, "orbitNumber", orbit)
        set_if(attrs, "relativeOrbitNumber", relative)
        set_if(attrs, "orbitDirection", direction)
        set_if(attrs, "operationalMode", mode)
        set_if(attrs, "creationDate", created)
        if processing is not None:
            ipf = next((s for s in processing.software if s[0].startswith("IPF")), None)
            main = ipf or (processing.software[0] if processing.software else None)
            set_if(attrs, "processorName", main[0] if main else None)
            set_if(attrs, "processorVersion", main[1] if main else None)
            sw = "; ".join(f"{n} {v}".strip() for n, v in processing.software)
            set_if(attrs, "processingSoftware", sw or None)
            set_if(attrs, "processingFacility", processing.facility)
            set_if(attrs, "processingDate", processing.start)
        set_if(attrs, "processingCenter", match["centre"] if match else None)
        set_if(attrs, "coordinates", footprints[0] if len(footprints) == 1 else None)
        set_if(attrs, "xfduVersion", root.get("version"))
        _general(general, attrs)
        for key, value in leaf_values(find(root, "productQuality")).items():
            attrs.setdefault(key, value)
        for info in findall(root, "metadataObject/metadataWrap/xmlData/*"):
            if localname(info).endswith("ProductInformation") and localname(info) != (
                "generalProductInformation"
            ):
                for key, value in leaf_values(info, skip=_INFO_SKIP, suffix_attr="grid").items():
                    attrs.setdefault(key, value)

        return ProductMetadata(
            name=name,
            filename=name + ".SEN3",
            collection="SENTINEL-3",
            platform=platform,
            product_type=product_type,
            sensing=time_range(source, start, stop),
            footprint=footprint_from_lat_lon(source, MANIFEST, footprints),
            instrument=instrument,
            processing_level=level,
            processing_baseline=baseline,
            orbit_number=orbit,
            relative_orbit=relative,
            orbit_direction=direction,
            cloud_cover=covers.get("cloudCover"),
            sensor_mode=mode,
            timeliness=timeliness,
            generation_date=created,
            quicklook_member=_quicklook(source),
            attributes=attrs,
        )


def _instrument(product_type: str, declared: str | None) -> str:
    """SYNERGY for SY products (two instruments); else the manifest's, else from the type."""
    if product_type.startswith("SY"):
        return "SYNERGY"
    return declared or _INSTRUMENTS.get(product_type[:2], product_type[:2])


def _classification(root: Element, attrs: dict[str, AttributeValue]) -> dict[str, float]:
    """Surface-cover percentages: the first summary under CDSE names, every grid by name."""
    covers: dict[str, float] = {}
    for summary in findall(root, "classificationSummary"):
        grid = summary.get("grid")
        for item in summary:
            if not isinstance(item.tag, str) or item.get("percentage") is None:
                continue
            key = localname(item)
            try:
                value = float(str(item.get("percentage")))
            except ValueError:
                continue
            if key in _COVERS:
                covers.setdefault(_COVERS[key], value)
            set_if(attrs, key + (suffix_key(grid) if grid else ""), value)
    for key, value in covers.items():
        set_if(attrs, key, value)
    return covers


def _general(general: Element | None, attrs: dict[str, AttributeValue]) -> None:
    """Other generalProductInformation values; productUnit ones get a productUnit prefix."""
    for key, value in leaf_values(general, skip={"productUnit"}).items():
        attrs.setdefault(key, value)
    unit = find(general, "productUnit") if general is not None else None
    for key, value in leaf_values(unit).items():
        attrs.setdefault("productUnit" + key[:1].upper() + key[1:], value)


def _quicklook(source: ProductSource) -> str | None:
    """A preview image shipped in the product, if any (most SEN3 products have none)."""
    images = [n for n in source.names() if re.search(r"\.(jpe?g|png)$", n, re.IGNORECASE)]
    named = [n for n in images if re.search(r"(quick-?look|[-_.]ql\.)", n, re.IGNORECASE)]
    return sorted(named or images)[0] if (named or images) else None
