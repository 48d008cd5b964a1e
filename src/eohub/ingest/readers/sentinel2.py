"""Sentinel-2 SAFE products (L1C, L2A; processing baselines 02.0x to 05.xx).

Reads the user-product metadata (``MTD_MSIL1C.xml``/``MTD_MSIL2A.xml``, or the older
``S2A_OPER_MTD_SAFL1C_*.xml``), the tile metadata of a single-tile product and, when present,
manifest.safe (absolute orbit, platform identifiers). The product name is the metadata's
PRODUCT_URI, so a folder renamed on disk (``esa_S2B_...SAFE``) still gives the real name.
"""

from __future__ import annotations

import re

from eohub.ingest.readers.base import (
    ProductMetadata,
    footprint_from_lat_lon,
    set_if,
    time_range,
)
from eohub.ingest.readers.safe import int_value, read_orbit, read_platform, time_attr
from eohub.ingest.readers.xml import (
    Element,
    attr,
    camel,
    find,
    findall,
    leaf_values,
    parse_member,
    text,
    texts,
    typed,
)
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue

NAME = re.compile(
    r"(?P<platform>S2[A-D])_MSI(?P<level>L1C|L2A)_(?P<start>\d{8}T\d{6})"
    r"(?:_N(?P<baseline>\d{4}))?_R(?P<relative>\d{3})_T(?P<tile>\d{2}[A-Z]{3})_(?P<disc>\d{8}T\d{6})"
)
OLD_NAME = re.compile(r"S2[A-D_]_(?:OPER|USER)_PRD_MSI(?:L1C|L2A)_\w+?(?=\.SAFE|$)")
PRODUCT_MTD = re.compile(r"^(MTD_MSIL(?:1C|2A)|S2[A-D_]_(?:OPER|USER)_MTD_SAFL(?:1C|2A)_\w+)\.xml$")
TILE_MTD = re.compile(
    r"^GRANULE/[^/]+/(MTD_TL|S2[A-D_]_(?:OPER|USER)_MTD_L(?:1C|2A)_TL_[\w.]+)\.xml$"
)
MANIFEST = "manifest.safe"
_TILE = re.compile(r"_T(\d{2}[A-Z]{3})_")
_ABS_ORBIT = re.compile(r"_A(\d{6})_")
_BASELINE = re.compile(r"_N(\d{2}\.\d{2})$")
_CENTRE = re.compile(r"_(?:DS|TL)_(\w{4})_\d{8}T")
_IMAGE_SKIP = {
    "Special_Values",
    "Spectral_Information_List",
    "Solar_Irradiance_List",
    "PHYSICAL_GAINS",
    "Scene_Classification_List",
    "Image_Display_Order",
    "BOA_ADD_OFFSET_VALUES_LIST",
    "Radiometric_Offset_List",
}


def _product_mtd(source: ProductSource) -> str | None:
    found = sorted(n for n in source.names() if PRODUCT_MTD.match(n))
    return found[0] if found else None


class Sentinel2Reader:
    """Reads Sentinel-2 Level-1C and Level-2A SAFE products (compact and older naming)."""

    name = "sentinel-2"

    def accepts(self, source: ProductSource) -> bool:
        """A product with Sentinel-2 user-product metadata at its root."""
        return _product_mtd(source) is not None

    def read(self, source: ProductSource) -> ProductMetadata:
        """Metadata of one Sentinel-2 product."""
        mtd_name = _product_mtd(source)
        if mtd_name is None:
            raise source.reject("no Sentinel-2 product metadata (MTD_MSIL1C.xml/MTD_MSIL2A.xml)")
        mtd = parse_member(source, mtd_name)
        manifest = parse_member(source, MANIFEST) if source.has(MANIFEST) else None
        tiles = sorted(n for n in source.names() if TILE_MTD.match(n))
        tile = parse_member(source, tiles[0]) if len(tiles) == 1 else None
        attrs: dict[str, AttributeValue] = {}

        name = _product_name(source, mtd)
        match = NAME.search(name)
        granules = [g.get("granuleIdentifier", "") for g in findall(mtd, "Granule_List/*")]
        granule = granules[0] if len(granules) == 1 else None
        datastrips = {g.get("datastripIdentifier") for g in findall(mtd, "Granule_List/*")}

        platform = text(mtd, "Datatake/SPACECRAFT_NAME")
        orbit = relative = None
        if manifest is not None:
            plat = read_platform(manifest, attrs)
            platform = platform or plat.platform
            orbit, _rel, _dir = read_orbit(source, manifest, attrs)
        if platform is None and match:
            platform = f"Sentinel-2{match['platform'][-1]}"
        if platform is None:
            raise source.reject(f"{mtd_name} names no spacecraft")
        abs_orbit = _ABS_ORBIT.search(granule or "")
        if orbit is None and abs_orbit:
            orbit = int(abs_orbit.group(1))
        relative = int_value(source, text(mtd, "Datatake/SENSING_ORBIT_NUMBER"), "orbit")
        if relative is None and match:
            relative = int(match["relative"])
        direction = text(mtd, "Datatake/SENSING_ORBIT_DIRECTION")
        product_type = text(mtd, "Product_Info/PRODUCT_TYPE")
        if not product_type:
            raise source.reject(f"{mtd_name} gives no PRODUCT_TYPE")
        level = text(mtd, "Product_Info/PROCESSING_LEVEL")
        baseline = text(mtd, "Product_Info/PROCESSING_BASELINE") or _name_baseline(match, granule)
        cloud = _float(source, text(mtd, "Cloud_Coverage_Assessment"), "cloud cover")
        tile_id = _tile_id(granule, match)
        start = time_attr(source, text(mtd, "Product_Info/PRODUCT_START_TIME"), "sensing start")
        stop = time_attr(source, text(mtd, "Product_Info/PRODUCT_STOP_TIME"), "sensing stop")
        generated = time_attr(source, text(mtd, "Product_Info/GENERATION_TIME"), "generation")
        positions = texts(mtd, "Product_Footprint/Global_Footprint/EXT_POS_LIST")
        footprint_member = mtd_name
        if not positions and manifest is not None:
            positions, footprint_member = texts(manifest, "footPrint/coordinates"), MANIFEST
        mode = text(mtd, "Datatake/DATATAKE_TYPE")

        attrs.update(
            {
                "platformShortName": "SENTINEL-2",
                "platformSerialIdentifier": platform[-1],
                "instrumentShortName": "MSI",
                "productType": product_type,
            }
        )
        set_if(attrs, "instrumentName", "Multi-Spectral Instrument")
        set_if(attrs, "processingLevel", level)
        set_if(attrs, "processingBaseline", baseline)
        set_if(attrs, "orbitNumber", orbit)
        set_if(attrs, "relativeOrbitNumber", relative)
        set_if(attrs, "orbitDirection", direction)
        set_if(attrs, "cloudCover", cloud)
        set_if(attrs, "tileId", tile_id)
        set_if(attrs, "operationalMode", mode)
        set_if(attrs, "granuleIdentifier", granule)
        set_if(attrs, "datastripId", datastrips.pop() if len(datastrips) == 1 else None)
        set_if(attrs, "productGroupId", attr(mtd, "Datatake", "datatakeIdentifier"))
        set_if(attrs, "processingDate", generated)
        centre = _CENTRE.search(str(attrs.get("datastripId", "")))
        set_if(attrs, "processingCenter", centre.group(1) if centre else None)
        set_if(attrs, "coordinates", positions[0] if len(positions) == 1 else None)
        if len(granules) > 1:
            attrs["numberOfGranules"] = len(granules)
        _product_info(mtd, attrs)
        _quality(mtd, attrs)
        if tile is not None:
            _tile_info(tile, attrs)

        return ProductMetadata(
            name=name,
            filename=name + ".SAFE",
            collection="SENTINEL-2",
            platform=platform,
            product_type=product_type,
            sensing=time_range(source, start, stop),
            footprint=footprint_from_lat_lon(source, footprint_member, positions),
            instrument="MSI",
            processing_level=level,
            processing_baseline=baseline,
            orbit_number=orbit,
            relative_orbit=relative,
            orbit_direction=direction,
            cloud_cover=cloud,
            tile_id=tile_id,
            sensor_mode=mode,
            generation_date=generated,
            quicklook_member=_quicklook(source, tile, tiles),
            attributes=attrs,
        )


def _product_name(source: ProductSource, mtd: Element) -> str:
    """PRODUCT_URI without .SAFE; else the Sentinel-2 name found in the folder name."""
    for tag in ("PRODUCT_URI", "PRODUCT_URI_2A", "PRODUCT_URI_1C"):
        uri = text(mtd, f"Product_Info/{tag}")
        if uri:
            return uri.removesuffix(".SAFE")
    for pattern in (NAME, OLD_NAME):
        found = pattern.search(source.root_name)
        if found:
            return found.group(0)
    return source.root_name.removesuffix(".SAFE")


def _name_baseline(match: re.Match[str] | None, granule: str | None) -> str | None:
    if match and match["baseline"]:
        b = match["baseline"]
        return f"{b[:2]}.{b[2:]}"
    found = _BASELINE.search(granule or "")
    return found.group(1) if found else None


def _tile_id(granule: str | None, match: re.Match[str] | None) -> str | None:
    found = _TILE.search((granule or "") + "_")
    if found:
        return found.group(1)
    return match["tile"] if match else None


def _float(source: ProductSource, value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise source.reject(f"malformed {what} {value!r}") from None


def _product_info(mtd: Element, attrs: dict[str, AttributeValue]) -> None:
    """Other Product_Info and image-characteristics values, typed, under camelCase names."""
    info = find(mtd, "Product_Info")
    names = {"PRODUCT_DOI": "doi", "PRODUCT_URI": "productUri"}
    for key, value in leaf_values(info, skip={"Granule_List", "Granules"}).items():
        attrs.setdefault(names.get(_upper(key), key), value)
    characteristics = find(mtd, "Product_Image_Characteristics")
    for key, value in leaf_values(characteristics, skip=_IMAGE_SKIP).items():
        attrs.setdefault(key, value)
    image_format = {g.get("imageFormat") for g in findall(mtd, "Granule_List/*")}
    if len(image_format) == 1 and None not in image_format:
        attrs.setdefault("imageFormat", str(image_format.pop()))


def _upper(camel_key: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", camel_key).upper()


def _quality(mtd: Element, attrs: dict[str, AttributeValue]) -> None:
    """Quality indicators: checks by type, technical and image-content figures."""
    for check in findall(mtd, "Quality_Inspections/quality_check"):
        kind = check.get("checkType")
        if kind and check.text and check.text.strip():
            attrs.setdefault(camel(kind), check.text.strip())
    for section in ("Technical_Quality_Assessment", "Image_Content_QI"):
        for key, value in leaf_values(find(mtd, section)).items():
            attrs.setdefault(key, value)


def _tile_info(tile: Element, attrs: dict[str, AttributeValue]) -> None:
    """Values of a single tile's MTD_TL.xml (sensing time, CRS, mean sun angles, QI)."""
    general = leaf_values(find(tile, "General_Info"))
    renames = {"tileId": "tileIdentifier", "sensingTime": "tileSensingTime"}
    for key, value in general.items():
        if key == "datastripId":
            continue
        attrs.setdefault(renames.get(key, key), value)
    set_if(attrs, "horizontalCsName", text(tile, "Tile_Geocoding/HORIZONTAL_CS_NAME"))
    set_if(attrs, "horizontalCsCode", text(tile, "Tile_Geocoding/HORIZONTAL_CS_CODE"))
    for angle in ("ZENITH", "AZIMUTH"):
        key = f"illumination{angle.title()}Angle"
        raw = text(tile, f"Mean_Sun_Angle/{angle}_ANGLE")
        parsed = typed(raw) if raw else None
        if isinstance(parsed, int | float) and not isinstance(parsed, bool):
            set_if(attrs, key, float(parsed))
    for key, value in leaf_values(find(tile, "Image_Content_QI")).items():
        attrs.setdefault(key, value)


def _quicklook(source: ProductSource, tile: Element | None, tiles: list[str]) -> str | None:
    """The product's own preview: a root ``*-ql.jpg``, else the tile PVI (JPEG 2000)."""
    for name in source.names():
        if "/" not in name and re.search(r"[-_.]ql\.jpe?g$", name, re.IGNORECASE):
            return name
    pvi = text(tile, "PVI_FILENAME") if tile is not None else None
    if pvi:
        for candidate in (pvi, pvi + ".jp2"):
            if source.has(candidate):
                return candidate
    pvis = [n for n in source.names() if re.match(r"^GRANULE/[^/]+/QI_DATA/[^/]*PVI[^/]*\.jp2$", n)]
    return sorted(pvis)[0] if pvis else None
