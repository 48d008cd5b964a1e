"""Sentinel-5P netCDF-4 products (L1B, L2; NRTI, OFFL, RPRO), read with h5py.

A netCDF-4 file is HDF5: the reader reads the global attributes, ``METADATA/GRANULE_DESCRIPTION``,
``METADATA/QA_STATISTICS`` and ``METADATA/EOP_METADATA`` (whose ``gml:exterior`` posList is the
footprint, written lat/lon), never the data variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import h5py
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from eohub.errors import InvalidGeometry
from eohub.ingest.readers.base import ProductMetadata, footprint_from_lat_lon, set_if, time_range
from eohub.ingest.readers.xml import camel, parse_time, typed
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue, Footprint

NAME = re.compile(
    r"S5P_(?P<mode>NRTI|OFFL|RPRO|TEST|OGCA|GSOV|OPER)_(?P<type>\w{10})_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{5})_(?P<collection>\d{2})_"
    r"(?P<processor>\d{6})_(?P<production>\d{8}T\d{6})"
)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_EOP = "METADATA/EOP_METADATA"
_EXTERIOR = f"{_EOP}/om:featureOfInterest/eop:multiExtentOf/gml:surfaceMembers/gml:exterior"
_EOP_GROUPS = (
    "om:phenomenonTime",
    "om:procedure/eop:platform",
    "om:procedure/eop:instrument",
    "om:procedure/eop:sensor",
    "om:procedure/eop:acquisitionParameters",
    "eop:metaDataProperty",
    "eop:metaDataProperty/eop:processing",
)
_EOP_NAMES = {
    "eop:productType": "eopProductType",
    "eop:productQualityStatus": "qualityStatus",
    "eop:processingDate": "eopProcessingDate",
}
_EOP_SKIP = ("gml:id", "objectType", "gml:beginPosition", "gml:endPosition", ":eop:shortName")


def _member(source: ProductSource) -> str | None:
    found = [n for n in source.names() if n.lower().endswith(".nc")]
    return found[0] if len(found) == 1 else None


class Sentinel5PReader:
    """Reads Sentinel-5P netCDF products."""

    name = "sentinel-5p"

    def accepts(self, source: ProductSource) -> bool:
        """One netCDF-4 file with a Sentinel-5P name, or HDF5 whose name starts with S5P."""
        member = _member(source)
        if member is None:
            return False
        if NAME.search(source.root_name):
            return True
        with source.open_member(member) as stream:
            head = stream.read(8)
        return head == _HDF5_SIGNATURE and source.root_name.upper().startswith("S5P")

    def read(self, source: ProductSource) -> ProductMetadata:
        """Metadata of one Sentinel-5P product."""
        member = _member(source)
        if member is None:
            raise source.reject("no single netCDF file in the product")
        with source.open_member(member) as stream:
            try:
                h5 = h5py.File(stream, "r")
            except (OSError, ValueError) as exc:
                raise source.reject(
                    f"{member} is not a readable netCDF-4/HDF5 file ({exc})"
                ) from None
            with h5:
                try:
                    return _read(source, member, h5)
                except (KeyError, OSError, TypeError) as exc:
                    raise source.reject(f"{member}: unreadable metadata ({exc})") from None


def _read(source: ProductSource, member: str, h5: Any) -> ProductMetadata:
    glob = _attrs(h5.attrs)
    granule = _group_attrs(h5, "METADATA/GRANULE_DESCRIPTION")
    eop = _eop(h5)
    name_value = glob.get("id") or glob.get("product_name") or member.rsplit(".", 1)[0]
    name = str(name_value).removesuffix(".nc")
    match = NAME.search(name)
    attrs: dict[str, AttributeValue] = {}

    product_type = str(granule.get("ProductShortName") or (match["type"] if match else ""))
    if not product_type:
        raise source.reject(f"{member} gives no product type")
    mode = str(eop.get("eop:processingMode") or (match["mode"] if match else "")) or None
    level = str(eop.get("eop:processingLevel") or _level(product_type)) or None
    start = _time(source, glob.get("time_coverage_start") or granule.get("GranuleStart"))
    stop = _time(source, glob.get("time_coverage_end") or granule.get("GranuleEnd"))
    if start is None and match:
        start, stop = parse_time(match["start"]), parse_time(match["stop"])
    orbit = _int(glob.get("orbit")) or _int(eop.get("eop:orbitNumber"))
    if orbit is None and match:
        orbit = int(match["orbit"])
    version = glob.get("processor_version") or granule.get("ProcessorVersion")
    version = str(version) if version is not None else None
    footprint, coordinates = _footprint(source, member, h5, glob)

    attrs.update(
        {
            "platformShortName": "SENTINEL-5P",
            "instrumentShortName": str(glob.get("sensor") or "TROPOMI"),
            "productType": product_type,
        }
    )
    set_if(attrs, "processingMode", mode)
    set_if(attrs, "processingLevel", level)
    set_if(attrs, "processingBaseline", version)
    set_if(attrs, "processorVersion", version)
    set_if(attrs, "orbitNumber", orbit)
    set_if(attrs, "coordinates", coordinates)
    set_if(attrs, "processingDate", _as_time(glob.get("date_created")))
    set_if(attrs, "eopPlatformShortName", _str(eop.get("platform:eop:shortName")))
    set_if(attrs, "instrumentName", _str(granule.get("InstrumentName")))
    if match:
        attrs["baselineCollection"] = match["collection"]
        attrs["processorVersionFromName"] = match["processor"]
        attrs["productionTime"] = parse_time(match["production"])
        attrs["nameStartTime"] = parse_time(match["start"])
        attrs["nameStopTime"] = parse_time(match["stop"])
    for key, value in eop.items():
        if not key.endswith(_EOP_SKIP):
            set_if(attrs, _EOP_NAMES.get(key) or camel(key), value)
    for source_attrs in (granule, glob):
        for key, value in source_attrs.items():
            set_if(attrs, camel(key), value)
    for key, value in _group_attrs(h5, "METADATA/QA_STATISTICS").items():
        set_if(attrs, camel(key), value)

    return ProductMetadata(
        name=name,
        filename=source.root_name if source.root_name.endswith(".nc") else name + ".nc",
        collection="SENTINEL-5P",
        platform="Sentinel-5P",
        product_type=product_type,
        sensing=time_range(source, start, stop),
        footprint=footprint,
        instrument=str(attrs["instrumentShortName"]),
        processing_level=level,
        processing_baseline=version,
        orbit_number=orbit,
        timeliness=mode,
        generation_date=_as_time(glob.get("date_created")),
        attributes=attrs,
    )


def _eop(h5: Any) -> dict[str, AttributeValue]:
    """EOP_METADATA values; platform/instrument short names get a group prefix."""
    out: dict[str, AttributeValue] = {}
    for group in _EOP_GROUPS:
        path = f"{_EOP}/{group}"
        if path not in h5:
            continue
        last = group.rsplit("/", 1)[-1]
        prefix = (
            last.removeprefix("eop:") + ":" if last in ("eop:platform", "eop:instrument") else ""
        )
        for key, value in _attrs(h5[path].attrs).items():
            out.setdefault(prefix + key, value)
    return out


def _footprint(
    source: ProductSource, member: str, h5: Any, glob: Mapping[str, AttributeValue]
) -> tuple[Footprint | None, str | None]:
    """The EOP posList ring (lat/lon), else the ``geospatial_bounds`` WKT (lon/lat)."""
    if _EXTERIOR in h5:
        pos = _str(_attrs(h5[_EXTERIOR].attrs).get("gml:posList"))
        if pos:
            return footprint_from_lat_lon(source, member, [pos]), pos
    wkt = _str(glob.get("geospatial_bounds"))
    if not wkt:
        return None, None
    try:
        geom = shapely.from_wkt(wkt)
        polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        rings = [list(p.exterior.coords) for p in polys if isinstance(p, Polygon)]
        return Footprint.from_rings(rings), wkt
    except (shapely.errors.GEOSException, InvalidGeometry, ValueError) as exc:
        raise source.reject(f"invalid geospatial_bounds in {member}: {exc}") from None


def _group_attrs(h5: Any, path: str) -> dict[str, AttributeValue]:
    return _attrs(h5[path].attrs) if path in h5 else {}


def _attrs(attrs: Any) -> dict[str, AttributeValue]:
    """HDF5 attributes as typed values (numeric arrays of more than one value are left out)."""
    out: dict[str, AttributeValue] = {}
    for key in attrs:
        if key.startswith(("_", "DIMENSION_", "REFERENCE_", "CLASS", "NAME")):
            continue
        try:
            value = _value(attrs[key])
        except (OSError, TypeError, ValueError):
            continue
        if value is not None:
            out[str(key)] = value
    return out


def _value(raw: Any) -> AttributeValue | None:
    if isinstance(raw, bytes | np.bytes_):
        return _text(bytes(raw).decode("utf-8", "replace"))
    if isinstance(raw, str):
        return _text(raw)
    if isinstance(raw, np.ndarray):
        if raw.size == 1:
            return _value(raw.reshape(-1)[0])
        if raw.dtype.kind in "SUO":
            parts = [_value(v) for v in raw.reshape(-1)]
            return " ".join(str(p) for p in parts if p is not None) or None
        return None
    if isinstance(raw, np.bool_ | bool):
        return bool(raw)
    if isinstance(raw, np.integer | int):
        return int(raw)
    if isinstance(raw, np.floating | float):
        # str() of a float32 is its shortest round-trip decimal: the value as written.
        return float(str(raw))
    return None


def _text(value: str) -> AttributeValue | None:
    value = value.strip()
    return typed(value) if value else None


def _str(value: AttributeValue | None) -> str | None:
    return None if value is None else str(value)


def _int(value: AttributeValue | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_time(value: AttributeValue | None) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _time(source: ProductSource, value: AttributeValue | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_time(str(value))
    except ValueError:
        raise source.reject(f"malformed time {value!r}") from None


def _level(product_type: str) -> str | None:
    if product_type.startswith("L1B"):
        return "L1B"
    found = re.match(r"L(\d)", product_type)
    return f"L{found.group(1)}" if found else None
