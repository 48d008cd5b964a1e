"""Shared pieces of the product factory: templates, footprints, times, imagery and manifests."""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from xml.sax.saxutils import quoteattr

import h5py
import numpy as np
import shapely
from lxml import etree
from PIL import Image
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from eohub.model import Product

Coord = tuple[float, float]
XFDU = "urn:ccsds:schema:xfdu:1"
GML = "http://www.opengis.net/gml"


class FactoryError(ValueError):
    """A record the factory cannot turn into a product (it names what is wrong)."""


@dataclass
class ProductFiles:
    """The files of one product in writing order, as paths relative to the product root."""

    files: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, path: str, data: bytes) -> None:
        """Add one file (paths use '/', no leading './')."""
        self.files.append((path, data))


# -- templates -----------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _template_text(name: str) -> str:
    return (resources.files("eohub.demo") / "templates" / name).read_text(encoding="utf-8")


def render_xml(template: str, values: Mapping[str, object]) -> etree._Element:
    """Fill a packaged XML template: ``${key}`` placeholders get XML-escaped values.

    Every placeholder must have a value (a missing one raises KeyError): a template never
    leaves a literal ``${...}`` in a product.
    """
    escaped = {k: quoteattr(str(v))[1:-1] for k, v in values.items()}
    text = string.Template(_template_text(template)).substitute(escaped)
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    return etree.fromstring(text.encode("utf-8"), parser)


def load_json_template(name: str) -> dict[str, Any]:
    """A packaged JSON template, parsed."""
    data: dict[str, Any] = json.loads(_template_text(name))
    return data


def xml_bytes(root: etree._Element, *, standalone: bool | None = None) -> bytes:
    """Serialise an element as an indented UTF-8 XML document, declared as real files are."""
    etree.indent(root, space="  ")
    extra = "" if standalone is None else f' standalone="{"yes" if standalone else "no"}"'
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return f'<?xml version="1.0" encoding="UTF-8"{extra}?>\n'.encode() + body + b"\n"


def sub(parent: etree._Element, tag: str, text: object = None, **attrib: str) -> etree._Element:
    """Append a child element (``tag`` in Clark notation when namespaced)."""
    child = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrib.items()})
    if text is not None:
        child.text = str(text)
    return child


def find(root: etree._Element, path: str, namespaces: Mapping[str, str]) -> etree._Element:
    """The one element at ``path`` in a template (a template without it is a programming error)."""
    found = root.find(path, namespaces=dict(namespaces))
    if found is None:
        raise LookupError(f"template has no element {path}")
    return found


# -- footprints ----------------------------------------------------------------------------------
def _wrap(lon: float) -> float:
    """A longitude in [-180, 180], keeping exactly 180 as real products write it."""
    if -180.0 <= lon <= 180.0:
        return lon
    return (lon + 180.0) % 360.0 - 180.0


def _merge_antimeridian(geom: MultiPolygon) -> BaseGeometry:
    """Rejoin the parts of a footprint that was split at 180 degrees into one polygon."""
    parts = list(geom.geoms)
    east = [p for p in parts if p.bounds[2] >= 180.0 - 1e-9]
    if not east or len(east) == len(parts):
        return geom
    west = [shapely.affinity.translate(p, xoff=360.0) for p in parts if p.bounds[2] < 180.0 - 1e-9]
    return shapely.union_all([*east, *west])


def footprint_rings(record: Product) -> list[list[Coord]]:
    """The record's footprint as closed lon/lat rings, longitudes wrapped the way files are.

    The display geometry of the record is written vertex by vertex (a ring crossing the
    antimeridian or going round a pole keeps its shape once a reader unwraps it again); a
    footprint split at 180 degrees is rejoined first.
    """
    if record.footprint is None:
        raise FactoryError(f"{record.name}: the record has no footprint")
    geom = record.footprint.original
    if isinstance(geom, MultiPolygon):
        geom = _merge_antimeridian(geom)
    polygons = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    rings: list[list[Coord]] = []
    for poly in polygons:
        if not isinstance(poly, Polygon) or poly.is_empty:
            raise FactoryError(f"{record.name}: footprint is not a polygon: {geom.geom_type}")
        coords = [(_wrap(float(x)), float(y)) for x, y in poly.exterior.coords]
        rings.append(coords)
    return rings


def num(value: float) -> str:
    """The shortest text that reads back as the same float (no trailing '.0' noise)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def latlon_list(ring: Iterable[Coord], *, pair_sep: str = " ", coord_sep: str = " ") -> str:
    """A ring in the lat/lon order the files use, e.g. ``"46.0 1.5 46.4 4.8"``."""
    return pair_sep.join(f"{num(lat)}{coord_sep}{num(lon)}" for lon, lat in ring)


# -- times ---------------------------------------------------------------------------------------
def iso_micro(value: datetime, *, zulu: bool = True) -> str:
    """``2021-08-09T17:39:53.153776`` (+ ``Z``)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + ("Z" if zulu else "")


def iso_milli(value: datetime) -> str:
    """``2021-09-08T04:27:01.024Z`` (Sentinel-2 product times)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_seconds(value: datetime, *, zulu: bool = True) -> str:
    """``2020-03-03T01:57:22Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if zulu else "")


def compact(value: datetime) -> str:
    """``20210809T173953`` as in product names."""
    return value.strftime("%Y%m%dT%H%M%S")


# -- randomness and imagery ----------------------------------------------------------------------
VARIANTS = 32
"""Distinct scenes the tiny images are drawn from (encoded once each, then reused: fast)."""


def rng_for(record: Product, seed: int) -> random.Random:
    """A generator that depends only on the product name and the seed."""
    return random.Random(f"{seed}:{record.name}")


@lru_cache(maxsize=256)
def scene(variant: int, px: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A smooth, plausible-looking scene in [0, 1] (compresses well, unlike noise)."""
    gen = np.random.default_rng(variant)
    y, x = np.mgrid[0:px, 0:px] / max(px, 1)
    img = np.zeros((px, px))
    for _ in range(4):
        fx, fy = gen.uniform(0.5, 3.0, size=2)
        px_, py_ = gen.uniform(0.0, 2 * math.pi, size=2)
        img += np.sin(2 * math.pi * fx * x + px_) * np.cos(2 * math.pi * fy * y + py_)
    img += 0.15 * gen.standard_normal((px, px))
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo or 1.0)
    img.setflags(write=False)
    return img


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gray16(values: np.ndarray[Any, np.dtype[np.float64]], scale: float) -> Image.Image:
    return Image.fromarray((values * scale).astype(np.uint16))


def _rgb8(values: np.ndarray[Any, np.dtype[np.float64]]) -> Image.Image:
    r = values * 200 + 30
    g = np.sqrt(values) * 180 + 40
    b = (1.0 - values) * 150 + 60
    return Image.fromarray(np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8))


@lru_cache(maxsize=2048)
def image(kind: str, variant: int, px: int, band: int = 0) -> bytes:
    """An encoded tiny image (cached: encoding dominates the cost of a product).

    Kinds: ``jp2-band`` (16-bit reflectance, a different look per ``band``), ``jp2-class``
    (8-bit classes), ``jp2-rgb``, ``png-rgb``, ``png-thumb`` (half size), ``jpeg-rgb`` and
    ``tiff-band`` (16-bit, deflate, standing in for a GeoTIFF).
    """
    values = scene(variant, px)
    if kind == "jp2-band":
        return _save(_gray16(values ** (1.0 + 0.2 * band), 10000.0), "JPEG2000")
    if kind == "jp2-class":
        return _save(_gray16(values, 11.0).convert("L"), "JPEG2000")
    if kind == "jp2-rgb":
        return _save(_rgb8(values), "JPEG2000")
    if kind == "png-rgb":
        return _save(_rgb8(values), "PNG")
    if kind == "png-thumb":
        return _save(_rgb8(values[::2, ::2]), "PNG")
    if kind == "jpeg-rgb":
        return _save(_rgb8(values), "JPEG", quality=80)
    if kind == "tiff-band":
        img = _gray16(values ** (1.0 + 0.3 * band), 800.0)
        return _save(img, "TIFF", compression="tiff_adobe_deflate")
    raise ValueError(f"unknown image kind {kind!r}")


# -- netCDF-4 (HDF5) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NcVar:
    """One netCDF variable: ``path`` inside the file, data, dimension names and attributes."""

    path: str
    data: np.ndarray[Any, Any]
    dims: tuple[str, ...]
    attrs: Mapping[str, object] = field(default_factory=dict)


def _nc_attr(value: object) -> object:
    if isinstance(value, bool):
        return np.array([int(value)], dtype=np.int8)
    if isinstance(value, int):
        return np.array([value], dtype=np.int32)
    if isinstance(value, float):
        return np.array([value], dtype=np.float32)
    return np.bytes_(str(value).encode("utf-8"))  # fixed-length strings, as netCDF-C writes


def netcdf(groups: Mapping[str, Mapping[str, object]], variables: Iterable[NcVar]) -> bytes:
    """A netCDF-4 file (HDF5 with dimension scales) written with h5py, in memory.

    ``groups`` maps group paths ("/" for the root) to their attributes. Times are not tracked
    in the HDF5 objects, so the bytes depend only on the content.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver="earliest") as nc:
        for path, attrs in groups.items():
            group = nc.require_group(path) if path not in ("", "/") else nc
            for key, value in attrs.items():
                group.attrs[key] = _nc_attr(value)
        for var in variables:
            parent_path, _, name = var.path.rpartition("/")
            parent = nc.require_group(parent_path) if parent_path else nc
            scales = []
            for dim, size in zip(var.dims, var.data.shape, strict=True):
                if dim not in parent:
                    scale = parent.create_dataset(
                        dim, data=np.arange(size, dtype=np.float32), track_times=False
                    )
                    scale.make_scale(dim)
                scales.append(parent[dim])
            dset = parent.create_dataset(
                name, data=var.data, compression="gzip", compression_opts=4, track_times=False
            )
            for axis, scale in enumerate(scales):
                dset.dims[axis].attach_scale(scale)
            for key, value in var.attrs.items():
                dset.attrs[key] = _nc_attr(value)
    return buffer.getvalue()


# -- manifests -----------------------------------------------------------------------------------
def md5(data: bytes) -> str:
    """Lower-case hex MD5 (the checksum SAFE manifests carry)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def data_object(
    section: etree._Element,
    ident: str,
    href: str,
    data: bytes,
    mime: str,
    *,
    rep_id: str | None = None,
    text_info: str | None = None,
) -> etree._Element:
    """Append one XFDU dataObject (size and MD5 of ``data``) to a dataObjectSection."""
    obj = sub(section, "dataObject", ID=ident)
    if rep_id:
        obj.set("repID", rep_id)
    stream = sub(obj, "byteStream", mimeType=mime, size=str(len(data)))
    loc = sub(stream, "fileLocation", locatorType="URL", href=href)
    if text_info:
        loc.set("textInfo", text_info)
    sub(stream, "checksum", md5(data), checksumName="MD5")
    return obj


def content_unit(
    parent: etree._Element, unit_type: str, object_id: str, **attrib: str
) -> etree._Element:
    """Append an xfdu:contentUnit pointing at one dataObject."""
    unit = sub(parent, f"{{{XFDU}}}contentUnit", unitType=unit_type, **attrib)
    sub(unit, "dataObjectPointer", dataObjectID=object_id)
    return unit


def platform_serial(record: Product) -> str:
    """'A' for Sentinel-1A (FactoryError when the platform has no serial letter)."""
    serial = record.platform_serial
    if serial is None:
        raise FactoryError(f"{record.name}: platform {record.platform!r} has no serial letter")
    return serial


def attribute(record: Product, key: str, default: object) -> Any:
    """An attribute of the record, or ``default``."""
    return record.attributes.get(key, default)
