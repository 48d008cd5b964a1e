"""One product as a DHuS OpenSearch entry: title, links, summary and typed metadata groups.

The layout follows DHuS 2.x's ``opensearch_atom.xsl``: three links (the ``$value`` download
without ``rel``, ``alternative`` and ``icon``), the uuid as ``id``, a summary line, ``ondemand``,
then the ``date``, ``int``, ``double`` and ``str`` groups of ``{name, value}`` pairs. Values are
already strings in DHuS's forms (Solr dates, Java doubles, "110.44 MB").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from eohub.model.geometry import Footprint
from eohub.model.product import Product
from eohub.protocols.dhus.keywords import KEYWORDS, Group
from eohub.protocols.dhus.values import (
    format_of,
    format_size,
    java_double,
    solr_date,
    tile_to_hv,
)

GROUPS: tuple[Group, ...] = ("date", "int", "double", "str")
_GML_NS = (
    'srsName="http://www.opengis.net/gml/srs/epsg.xml#4326" xmlns:gml="http://www.opengis.net/gml"'
)


@dataclass(frozen=True)
class Entry:
    """A rendered product, independent of Atom or JSON."""

    title: str
    id: str
    links: tuple[tuple[str | None, str], ...]  # (rel, href)
    summary: str
    ondemand: str
    groups: tuple[tuple[Group, tuple[tuple[str, str], ...]], ...]  # (group, ((name, value), ...))


def _display_geometry(footprint: Footprint) -> BaseGeometry:
    """The product's own shape, or the antimeridian-split one when it leaves [-180, 180]."""
    minx, _, maxx, _ = footprint.original.bounds
    return footprint.original if -180.0 <= minx and maxx <= 180.0 else footprint.search


def footprint_wkt_of(geometry: BaseGeometry) -> str:
    """WKT of a geometry with every digit kept."""
    return str(shapely.to_wkt(geometry, rounding_precision=-1, trim=True))


def footprint_wkt(footprint: Footprint) -> str:
    """WKT of the footprint, longitude first (``POLYGON ((lon lat, ...))``)."""
    return footprint_wkt_of(_display_geometry(footprint))


_RING = re.compile(r"\(([^()]*)\)")
_PAIR = re.compile(r"(\S+) (\S+?)(,|$)")


def _gml_coordinates(ring: str) -> str:
    """``x y, x y`` (WKT) -> ``y,x y,x`` (GML 2, latitude first), by string operations: several
    times faster than formatting each coordinate in Python.

    Plain 2D rings are swapped by splitting; anything else (a third coordinate, other spacing)
    goes through the regular expressions, which define the result.
    """
    text = ring.replace(", ", " ")
    if "," not in text and "  " not in text and text.isprintable():
        flat = text.split(" ")
        if len(flat) == 2 * (ring.count(",") + 1) and flat[0] and flat[-1]:
            return " ".join(map(",".join, zip(flat[1::2], flat[::2], strict=True)))
    return _PAIR.sub(r"\2,\1", ring).replace(", ", " ").replace(",,", ",")


def _gml_polygon(rings: list[str], indent: str) -> str:
    step = "   "
    lines: list[str] = []
    for index, ring in enumerate(rings):
        boundary = "gml:outerBoundaryIs" if index == 0 else "gml:innerBoundaryIs"
        lines += [f"{indent}<{boundary}>", f"{indent}{step}<gml:LinearRing>"]
        lines.append(f"{indent}{step * 2}<gml:coordinates>{_gml_coordinates(ring)}"
                     "</gml:coordinates>")  # fmt: skip
        lines += [f"{indent}{step}</gml:LinearRing>", f"{indent}</{boundary}>"]
    return "\n".join(lines)


def footprint_gml(footprint: Footprint, wkt: str | None = None) -> str | None:
    """DHuS ``gmlfootprint``: a GML 2 polygon with ``lat,lon`` coordinates.

    ``wkt`` is :func:`footprint_wkt` of the same footprint when the caller has it already.
    """
    text = wkt if wkt is not None else footprint_wkt(footprint)
    if text.startswith("POLYGON"):
        rings = _RING.findall(text)
        return f"<gml:Polygon {_GML_NS}>\n{_gml_polygon(rings, '   ')}\n</gml:Polygon>"
    if text.startswith("MULTIPOLYGON"):
        parts = shapely.get_parts(_display_geometry(footprint))
        members = "\n".join(
            f"   <gml:polygonMember>\n      <gml:Polygon>\n"
            f"{_gml_polygon(_RING.findall(footprint_wkt_of(part)), '         ')}\n"
            "      </gml:Polygon>\n   </gml:polygonMember>"
            for part in parts
        )
        return f"<gml:MultiPolygon {_GML_NS}>\n{members}\n</gml:MultiPolygon>"
    return None


def _text(value: object, group: Group) -> str | None:
    """A stored value in a group's form, or None when it does not belong to that group."""
    if value is None or isinstance(value, bool):
        return None
    if group == "date":
        return solr_date(value) if isinstance(value, datetime) else None
    if group == "int":
        return str(value) if isinstance(value, int) else None
    if group == "double":
        return java_double(value) if isinstance(value, (int, float)) else None
    if isinstance(value, datetime):
        return solr_date(value)
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def _none(_: object) -> None:
    return None


# _text for values of exactly these types (a dict lookup instead of isinstance tests); values
# of any other type go through _text itself.
_Format = Callable[[Any], str | None]
_BY_TYPE: dict[Group, dict[type, _Format]] = {
    "date": {datetime: solr_date, int: _none, float: _none, str: _none},
    "int": {datetime: _none, int: str, float: _none, str: _none},
    "double": {datetime: _none, int: java_double, float: java_double, str: _none},
    "str": {datetime: solr_date, int: str, float: java_double, str: str},
}
for _formats in _BY_TYPE.values():
    _formats[bool] = _formats[type(None)] = _none


def _specials(product: Product, wkt: str | None) -> list[tuple[str, str | None]]:
    fp = product.footprint
    level = product.processing_level or ""
    return [
        ("format", format_of(product.filename)),
        ("size", format_size(product.size)),
        ("footprint", wkt),
        ("gmlfootprint", footprint_gml(fp, wkt) if fp and wkt else None),
        ("hv_order_tileid", tile_to_hv(product.tile_id) if product.tile_id else None),
        (
            "productlevel",
            "L" + level[6:]
            if product.collection == "SENTINEL-3" and level.startswith("Level-")
            else None,
        ),
    ]


_Getter = Callable[[Product], object]
_GROUP_INDEX: dict[Group, int] = {g: k for k, g in enumerate(GROUPS)}
# Keywords an entry shows, split by where the value lives: the product's own fields (read
# through the field registry) or its attributes (looked up by name, only those it has). Each
# with its group's position in GROUPS and its formats by value type.
_FIELD_KEYWORDS: list[tuple[int, Group, str, _Getter, dict[type, _Format]]] = [
    (_GROUP_INDEX[kw.group], kw.group, kw.name, kw.spec.get, _BY_TYPE[kw.group])
    for kw in KEYWORDS.values()
    if kw.group is not None and not kw.spec.is_attribute
]
_ATTRIBUTE_KEYWORDS: dict[str, list[tuple[int, Group, str, dict[type, _Format]]]] = {}
for _kw in KEYWORDS.values():
    if _kw.group is not None and _kw.spec.is_attribute:
        _ATTRIBUTE_KEYWORDS.setdefault(_kw.spec.attribute_name, []).append(
            (_GROUP_INDEX[_kw.group], _kw.group, _kw.name, _BY_TYPE[_kw.group])
        )


def product_links(base: str, product_id: str) -> tuple[tuple[str | None, str], ...]:
    """The three entry links, on this hub's OData URLs under ``base`` (ends with ``/``)."""
    odata = f"{base}odata/v1/Products('{product_id}')/"
    return (
        (None, odata + "$value"),
        ("alternative", odata),
        ("icon", odata + "Products('Quicklook')/$value"),
    )


def build_entry(product: Product, base: str) -> Entry:
    """The DHuS entry of ``product``; links point under ``base``."""
    return build_entries([product], base)[0]


def build_entries(products: Sequence[Product], base: str) -> list[Entry]:
    """The DHuS entries of ``products`` (as :func:`build_entry` gives them); the footprints'
    WKT is written by one vectorised shapely call for all of them."""
    shown = [_display_geometry(p.footprint) if p.footprint else None for p in products]
    texts = shapely.to_wkt(shown, rounding_precision=-1, trim=True)
    return [
        _entry(product, base, None if wkt is None else str(wkt))
        for product, wkt in zip(products, texts, strict=True)
    ]


def _entry(product: Product, base: str, wkt: str | None) -> Entry:
    """One entry; ``wkt`` is :func:`footprint_wkt` of the product's footprint."""
    groups: tuple[list[tuple[str, str]], ...] = ([], [], [], [])
    for index, group, name, get, formats in _FIELD_KEYWORDS:
        value = get(product)
        if value is None:
            continue
        write = formats.get(type(value))
        text = write(value) if write is not None else _text(value, group)
        if text is not None:
            groups[index].append((name, text))
    for attribute, value in product.attributes.items():
        for index, group, name, formats in _ATTRIBUTE_KEYWORDS.get(attribute, ()):
            write = formats.get(type(value))
            text = write(value) if write is not None else _text(value, group)
            if text is not None:
                groups[index].append((name, text))
    strs_list = groups[_GROUP_INDEX["str"]]
    for name, special in _specials(product, wkt):
        if special is not None:
            strs_list.append((name, special))
    strs = dict(strs_list)
    pid = str(product.id)
    mode = f", Mode: {strs['polarisationmode']}" if "polarisationmode" in strs else ""
    instrument, satellite = strs.get("instrumentshortname", ""), strs.get("platformname", "")
    summary = (
        f"Date: {solr_date(product.sensing.start)}, Instrument: {instrument}{mode}, "
        f"Satellite: {satellite}, Size: {strs['size']}"
    )
    return Entry(
        title=product.name,
        id=pid,
        links=product_links(base, pid),
        summary=summary,
        ondemand="false",
        groups=tuple((g, tuple(items)) for g, items in zip(GROUPS, groups, strict=True)),
    )
