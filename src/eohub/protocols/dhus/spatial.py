"""DHuS ``footprint:"<Predicate>(<shape>)"`` values -> a Spatial node.

Accepted, as the Solr spatial field of DHuS accepts them:
- predicates ``Intersects``, ``IsWithin``, ``Contains``, ``IsDisjointTo`` (any case), optionally
  followed by Solr modifiers such as ``distErrPct=0`` (ignored: eohub matches exactly);
- shapes in WKT, longitude first: ``POINT``, ``POLYGON``, ``MULTIPOLYGON``, ``LINESTRING``,
  ``GEOMETRYCOLLECTION``... and Spatial4j's ``ENVELOPE(minX, maxX, maxY, minY)``;
- Spatial4j's short forms: ``lat,lon`` (a point, **latitude first**), ``x y`` (a point) and
  ``minX minY maxX maxY`` (a box).
"""

from __future__ import annotations

import re

from eohub.errors import InvalidGeometry
from eohub.model.geometry import Footprint
from eohub.query.tree import IsNull, Node, Not, Spatial, SpatialOp, and_

_PREDICATE = re.compile(r"^\s*(?P<op>[A-Za-z]+)\s*\((?P<shape>.*)\)(?P<rest>[^()]*)$", re.DOTALL)
_OPS = {
    "intersects": SpatialOp.INTERSECTS,
    "iswithin": SpatialOp.WITHIN,
    "contains": SpatialOp.CONTAINS,
    "isdisjointto": None,  # the complement of intersects, among products with a footprint
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LAT_LON = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s*$")
_NUMBERS = re.compile(rf"^\s*{_NUMBER}(?:\s+{_NUMBER})*\s*$")
_ENVELOPE = re.compile(r"^\s*ENVELOPE\s*\((?P<args>[^()]*)\)\s*$", re.IGNORECASE)
_MODIFIER = re.compile(r"^(\s+[A-Za-z]+\s*=\s*[^\s=]+)*\s*$")


def _fail(shape: str, reason: str) -> InvalidGeometry:
    shown = shape if len(shape) <= 200 else shape[:200] + "..."
    return InvalidGeometry(f"Couldn't parse shape '{shown}' because: {reason}")


def _box(min_x: float, min_y: float, max_x: float, max_y: float, shape: str) -> Footprint:
    if min_y > max_y:
        raise _fail(shape, f"minY {min_y:g} is greater than maxY {max_y:g}")
    if min_x > max_x:  # a box across the antimeridian, as Spatial4j reads it
        max_x += 360.0
    wkt = (
        f"POLYGON(({min_x!r} {min_y!r},{max_x!r} {min_y!r},{max_x!r} {max_y!r},"
        f"{min_x!r} {max_y!r},{min_x!r} {min_y!r}))"
    )
    return Footprint.from_wkt(wkt)


def parse_shape(text: str) -> Footprint:
    """A query geometry from WKT, ENVELOPE or a Spatial4j short form; InvalidGeometry if bad."""
    try:
        point = _LAT_LON.match(text)
        if point:
            lat, lon = float(point[1]), float(point[2])
            return Footprint.from_wkt(f"POINT({lon!r} {lat!r})")
        if _NUMBERS.match(text):
            numbers = [float(v) for v in text.split()]
            if len(numbers) == 2:
                return Footprint.from_wkt(f"POINT({numbers[0]!r} {numbers[1]!r})")
            if len(numbers) == 4:
                return _box(numbers[0], numbers[1], numbers[2], numbers[3], text)
            raise _fail(text, "expected 'x y', 'lat,lon' or 'minX minY maxX maxY'")
        envelope = _ENVELOPE.match(text)
        if envelope:
            parts = [p.strip() for p in envelope["args"].split(",")]
            try:
                min_x, max_x, max_y, min_y = (float(p) for p in parts)
            except ValueError:
                raise _fail(text, "ENVELOPE takes four numbers: minX, maxX, maxY, minY") from None
            return _box(min_x, min_y, max_x, max_y, text)
        return Footprint.from_wkt(text)
    except InvalidGeometry as exc:
        if exc.user_message.startswith("Couldn't parse shape"):
            raise
        raise _fail(text, exc.user_message) from None


def parse_footprint(value: str) -> Node:
    """The query node of a ``footprint:"..."`` value."""
    match = _PREDICATE.match(value)
    if match is None:
        raise _fail(value, "expected Predicate(shape), e.g. Intersects(POLYGON((...)))")
    name = match["op"].lower()
    if name not in _OPS:
        raise InvalidGeometry(
            f"Unknown spatial operation '{match['op']}'",
            field="footprint",
            choices=["Intersects", "IsWithin", "Contains", "IsDisjointTo"],
        )
    if not _MODIFIER.match(match["rest"]):
        raise _fail(value, f"unexpected text after the shape: '{match['rest'].strip()}'")
    geometry = parse_shape(match["shape"])
    op = _OPS[name]
    if op is None:
        return and_(Not(Spatial(SpatialOp.INTERSECTS, geometry)), Not(IsNull("footprint")))
    return Spatial(op, geometry)
