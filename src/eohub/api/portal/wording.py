"""A search in words: "Sentinel-2 products sensed between 2024-01-01 and 2024-01-31, ...".

The portal shows this sentence under the search form so a person sees what was searched for.
It is built from the query tree of the plain API parameters (``eohub.protocols.plain``), so it
describes exactly what the API runs, whatever wrote the parameters (the form, a saved search,
a hand-edited URL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time

from eohub.model.geometry import Footprint
from eohub.query.query import Query, SortKey
from eohub.query.tree import (
    And,
    Compare,
    CompareOp,
    In,
    Node,
    Range,
    Spatial,
    SpatialOp,
    Text,
    Value,
)

_SUBJECT = ("platform", "collection", "mission", "product_type")
_END_OF_DAY = time(23, 59, 59)
_OPS = {CompareOp.NE: "other than", CompareOp.LT: "below", CompareOp.LE: "at most",
        CompareOp.GT: "above", CompareOp.GE: "at least"}  # fmt: skip
_SPATIAL = {SpatialOp.INTERSECTS: "intersecting", SpatialOp.WITHIN: "lying within",
            SpatialOp.CONTAINS: "containing"}  # fmt: skip
_SORTS = {
    ("sensing_start", True): "most recently sensed first",
    ("sensing_start", False): "earliest sensed first",
    ("ingestion_date", True): "most recently ingested first",
    ("ingestion_date", False): "earliest ingested first",
    ("cloud_cover", False): "least cloudy first",
    ("cloud_cover", True): "cloudiest first",
    ("name", False): "by name from A to Z",
    ("name", True): "by name from Z to A",
}
_COUNTED = ("orbit_number", "relative_orbit")  # ranges said "orbits 10 to 20"
# Field -> (phrase before one value, phrase before several values, unit after a number).
_PHRASES: dict[str, tuple[str, str, str]] = {
    "cloud_cover": ("with cloud cover", "with cloud cover", "%"),
    "orbit_number": ("from absolute orbit", "from absolute orbits", ""),
    "relative_orbit": ("on relative orbit", "on relative orbits", ""),
    "polarisation": ("with polarisation", "with polarisation", ""),
    "sensor_mode": ("in sensor mode", "in sensor modes", ""),
    "tile_id": ("in tile", "in tiles", ""),
    "ingestion_date": ("ingested", "ingested", ""),
}


def describe(query: Query) -> str:
    """The query's filter and order as one or two sentences of plain English."""
    nodes = list(_items(query.filter))
    subject = _subject(nodes)
    clauses = _sensing(nodes)
    clauses += [_clause(node) for node in nodes if not _consumed(node)]
    sentence = subject if not clauses else f"{subject} {', '.join(clauses)}"
    order = _order(query.sort)
    return f"{sentence}. {order[0].upper()}{order[1:]}." if order else f"{sentence}."


def _items(node: Node) -> Sequence[Node]:
    return node.items if isinstance(node, And) else (node,)


def _consumed(node: Node) -> bool:
    """Nodes said by the subject or the sensing clause."""
    if isinstance(node, (Compare, In)) and node.field in _SUBJECT:
        return isinstance(node, In) or node.op is CompareOp.EQ
    return _sensing_bound(node) is not None


def _values(node: Node) -> tuple[Value, ...]:
    if isinstance(node, Compare):
        return (node.value,)
    if isinstance(node, In):
        return node.values
    return ()


def _subject(nodes: Sequence[Node]) -> str:
    """``Sentinel-2 S2MSI2A products`` (platform before collection and mission)."""
    found: dict[str, tuple[Value, ...]] = {}
    for node in nodes:
        if isinstance(node, (Compare, In)) and _consumed(node):
            found.setdefault(node.field, _values(node))
    words: list[str] = []
    for name in ("platform", "collection", "mission"):
        if name in found:
            words.append(_either([mission_name(str(v)) for v in found[name]]))
            break
    if "product_type" in found:
        words.append(_either([str(v) for v in found["product_type"]]))
    return " ".join([*words, "products"]) if words else "All products"


def mission_name(collection: str) -> str:
    """``SENTINEL-2`` -> ``Sentinel-2``; other names unchanged."""
    match = re.fullmatch(r"SENTINEL-(\w+)", collection)
    return f"Sentinel-{match.group(1)}" if match else collection


def _sensing_bound(node: Node) -> str | None:
    """``start`` / ``end`` of the plain API: the sensing period overlaps [start, end]."""
    if isinstance(node, Range) and node.low_inclusive and node.high_inclusive:
        if node.field == "sensing_end" and node.low is not None and node.high is None:
            return "start"
        if node.field == "sensing_start" and node.high is not None and node.low is None:
            return "end"
    return None


def _sensing(nodes: Sequence[Node]) -> list[str]:
    bounds: dict[str, Value] = {}
    for node in nodes:
        kind = _sensing_bound(node)
        if kind is not None and isinstance(node, Range):
            value = node.low if kind == "start" else node.high
            assert value is not None
            bounds[kind] = value
    start, end = bounds.get("start"), bounds.get("end")
    if start is not None and end is not None:
        return [f"sensed between {_value(start)} and {_value(end)}"]
    if start is not None:
        return [f"sensed since {_value(start)}"]
    if end is not None:
        return [f"sensed until {_value(end)}"]
    return []


def _clause(node: Node) -> str:
    if isinstance(node, Text):
        return f"matching the text \u201c{node.text}\u201d"
    if isinstance(node, Spatial):
        return f"{_SPATIAL[node.op]} {area_words(node.geometry)}"
    if isinstance(node, Range):
        return _range_clause(node)
    if isinstance(node, (Compare, In)):
        one, many, unit = _phrase(node.field)
        values = [_value(v) + unit for v in _values(node)]
        if isinstance(node, Compare) and node.op is not CompareOp.EQ:
            return f"{one} {_OPS[node.op]} {values[0]}"
        if node.field == "orbit_direction":
            return f"on {_either([v.lower() for v in values])} orbits"
        return f"{one if len(values) == 1 else many} {_either(values)}"
    return "matching further conditions"


def _phrase(field: str) -> tuple[str, str, str]:
    if field in _PHRASES:
        return _PHRASES[field]
    label = field.removeprefix("attributes.").replace("_", " ")
    return (f"with {label}", f"with {label}", "")


def _range_clause(node: Range) -> str:
    one, many, unit = _phrase(node.field)
    low = None if node.low is None else _value(node.low) + unit
    high = None if node.high is None else _value(node.high) + unit
    dated = isinstance(node.low, datetime) or isinstance(node.high, datetime)
    if low is not None and high is not None:
        if node.field in _COUNTED:
            return f"{many} {low} to {high}"
        return f"{one} between {low} and {high}"
    if low is not None:
        return f"{one} {'since' if dated else 'at least'} {low}"
    if high is not None:
        return f"{one} {'until' if dated else 'at most'} {high}"
    return f"{one} of any value"


def _value(value: Value) -> str:
    if isinstance(value, datetime):
        moment = value.time().replace(microsecond=0)
        if moment in (time(0), _END_OF_DAY):
            return value.date().isoformat()
        shown = value.strftime("%H:%M" if moment.second == 0 else "%H:%M:%S")
        return f"{value.date().isoformat()} {shown} UTC"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _either(values: Sequence[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return f"{', '.join(values[:-1])} or {values[-1]}"


def _degrees(value: float, positive: str, negative: str) -> str:
    text = f"{abs(value):.4f}".rstrip("0").rstrip(".")
    if text == "0":
        return "0°"
    return f"{text}°{positive if value > 0 else negative}"


def _longitude(value: float) -> str:
    wrapped = (value + 180.0) % 360.0 - 180.0
    if wrapped == -180.0 and value > 0:
        wrapped = 180.0
    return _degrees(wrapped, "E", "W")


def area_words(footprint: Footprint) -> str:
    """``the area from 10°E to 20°E and 40°N to 50°N`` (bounds of the geometry as given)."""
    minx, miny, maxx, maxy = footprint.original.bounds
    if minx == maxx and miny == maxy:
        return f"the point {_degrees(miny, 'N', 'S')} {_longitude(minx)}"
    return (
        f"the area from {_longitude(minx)} to {_longitude(maxx)} "
        f"and {_degrees(miny, 'N', 'S')} to {_degrees(maxy, 'N', 'S')}"
    )


def _order(sort: Sequence[SortKey]) -> str:
    if not sort:
        return ""
    key = sort[0]
    known = _SORTS.get((key.field, key.descending))
    if known:
        return known
    direction = "descending" if key.descending else "ascending"
    return f"sorted by {key.field.replace('_', ' ')}, {direction}"
