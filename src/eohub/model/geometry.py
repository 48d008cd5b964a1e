"""Footprints: WGS84 lon/lat geometries, validated, with antimeridian and pole handling.

A footprint keeps two shapes: ``original`` (as the product or the user gave it, for display) and
``search`` (valid, inside [-180, 180], split at the antimeridian into a MultiPolygon, closed over
a pole when the ring goes round it). Every backend and the reference evaluator match on
``search``, so a query near 180 degrees finds a product that crosses it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import shapely
from shapely import wkb as shapely_wkb
from shapely.geometry import (
    GeometryCollection,
    LinearRing,
    MultiPolygon,
    Point,
    Polygon,
    box,
    mapping,
    shape,
)
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from eohub.errors import InvalidGeometry

Coord = tuple[float, float]

_WORLD = box(-180.0, -90.0, 180.0, 90.0)


def _check_range(geom: BaseGeometry, *, allow_wrapped: bool) -> None:
    minx, miny, maxx, maxy = geom.bounds
    lon_limit = 540.0 if allow_wrapped else 180.0
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidGeometry("geometry has non-finite coordinates")
    if miny < -90.0 or maxy > 90.0:
        raise InvalidGeometry(
            f"latitude out of range [-90, 90]: {miny:g}..{maxy:g} "
            "(coordinates must be in lon lat order)"
        )
    if minx < -lon_limit or maxx > lon_limit:
        raise InvalidGeometry(f"longitude out of range [-180, 180]: {minx:g}..{maxx:g}")


def _unwrap(coords: Sequence[Coord]) -> list[Coord]:
    """Make longitudes continuous: no jump of more than 180 degrees between two vertices."""
    out: list[Coord] = [(float(coords[0][0]), float(coords[0][1]))]
    for lon, lat in coords[1:]:
        prev = out[-1][0]
        lon = float(lon)
        if prev in (-180.0, 180.0) and lon == -prev:
            # From one side of the antimeridian to the other: the world's full width, as in a
            # -180..180 box (shifting would collapse the box into a line along -180).
            out.append((lon, float(lat)))
            continue
        while lon - prev > 180.0:
            lon -= 360.0
        while lon - prev < -180.0:
            lon += 360.0
        out.append((lon, float(lat)))
    return out


def _fold(geom: BaseGeometry) -> BaseGeometry:
    """Cut an unwrapped geometry (longitudes possibly beyond +-180) into the [-180, 180] world."""
    minx, _, maxx, _ = geom.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geom
    parts: list[BaseGeometry] = []
    for k in range(-2, 3):
        window = box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        piece = geom.intersection(window)
        if not piece.is_empty:
            parts.append(shapely.affinity.translate(piece, xoff=-360.0 * k))
    return shapely.union_all(parts)


def _polygons_only(geom: BaseGeometry) -> BaseGeometry:
    """Keep the areal part of a geometry (intersections may leave lines or points)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    polys: list[Polygon] = []
    for g in getattr(geom, "geoms", []):
        if isinstance(g, Polygon):
            polys.append(g)
        elif isinstance(g, MultiPolygon):
            polys.extend(g.geoms)
    if not polys:
        return geom
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _ring_to_search(ring: Sequence[Coord]) -> BaseGeometry:
    coords = _unwrap(ring)
    span = coords[-1][0] - coords[0][0]
    if abs(span) > 180.0:
        # The ring goes round a pole: close it along the pole it encircles.
        mean_lat = sum(lat for _, lat in coords) / len(coords)
        pole = 90.0 if mean_lat >= 0 else -90.0
        # Through the first vertex seen one turn later, so no sector of the cap is lost.
        turn = coords[0][0] + math.copysign(360.0, span)
        coords = [*coords, (turn, coords[0][1]), (turn, pole), (coords[0][0], pole)]
    elif coords[0] != coords[-1]:
        coords = [*coords, coords[0]]
    poly = Polygon(coords)
    if not poly.is_valid:
        poly = shapely.make_valid(poly)
    return _fold(poly)


def _polygon_rings(poly: Polygon) -> list[list[Coord]]:
    return [list(poly.exterior.coords)] + [list(r.coords) for r in poly.interiors]


def _to_search(geom: BaseGeometry) -> BaseGeometry:
    """Normalise a lon/lat geometry for search (antimeridian split, pole closure, validity)."""
    if isinstance(geom, Point):
        return geom
    if isinstance(geom, Polygon):
        outer = _ring_to_search(list(geom.exterior.coords)[:-1] or list(geom.exterior.coords))
        result = outer
        for hole in geom.interiors:
            result = result.difference(_ring_to_search(list(hole.coords)))
        return _polygons_only(result)
    if isinstance(geom, (MultiPolygon, GeometryCollection)) or hasattr(geom, "geoms"):
        parts = [_to_search(g) for g in geom.geoms]  # type: ignore[attr-defined]
        return _polygons_only(shapely.union_all(parts)) if parts else geom
    # Lines: unwrap and fold too.
    return _fold(geom)


@dataclass(frozen=True, eq=False)
class Footprint:
    """A product footprint or a query geometry, WGS84 lon/lat."""

    original: BaseGeometry
    search: BaseGeometry = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Footprint) and self.search.equals_exact(other.search, 1e-9)

    def __hash__(self) -> int:
        return hash(shapely.to_wkb(self.search, hex=True))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_geometry(cls, geom: BaseGeometry, *, strict: bool = False) -> Footprint:
        """Build from a lon/lat shapely geometry.

        ``strict`` (queries from users): refuse invalid shapes instead of repairing them.
        """
        if geom.is_empty:
            raise InvalidGeometry("geometry is empty")
        _check_range(geom, allow_wrapped=True)
        if strict and not isinstance(geom, Point) and not geom.is_valid:
            raise InvalidGeometry(f"invalid geometry: {explain_validity(geom)}")
        search = _to_search(geom)
        if not search.is_valid:
            search = shapely.make_valid(search)
        if search.is_empty:
            raise InvalidGeometry("geometry has no area inside the world")
        _check_range(search, allow_wrapped=False)
        return cls(original=geom, search=search)

    @classmethod
    def from_wkt(cls, text: str, *, strict: bool = True) -> Footprint:
        """Parse WKT (lon lat order). Unclosed rings and bad syntax raise InvalidGeometry."""
        try:
            geom = shapely.from_wkt(text.strip())
        except shapely.errors.GEOSException as exc:  # also raised for unclosed rings
            raise InvalidGeometry(f"invalid WKT geometry: {exc}") from None
        return cls.from_geometry(geom, strict=strict)

    @classmethod
    def from_geojson(cls, obj: dict[str, object], *, strict: bool = True) -> Footprint:
        """Parse a GeoJSON geometry object."""
        try:
            geom = shape(obj)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise InvalidGeometry(f"invalid GeoJSON geometry: {exc}") from None
        except shapely.errors.ShapelyError as exc:  # GEOS errors, unknown geometry types
            raise InvalidGeometry(f"invalid GeoJSON geometry: {exc}") from None
        return cls.from_geometry(geom, strict=strict)

    @classmethod
    def from_rings(cls, rings: Iterable[Sequence[Coord]]) -> Footprint:
        """Build from one or more outer rings in lon/lat (open or closed); product readers use it.

        Several rings become a MultiPolygon; each ring may cross the antimeridian or a pole.
        """
        polys: list[Polygon] = []
        for ring in rings:
            pts = [(float(x), float(y)) for x, y in ring]
            if len(pts) >= 2 and pts[0] == pts[-1]:
                pts = pts[:-1]
            if len(pts) < 3:
                raise InvalidGeometry("a footprint ring needs at least 3 distinct points")
            polys.append(Polygon(LinearRing(pts)))
        if not polys:
            raise InvalidGeometry("footprint has no ring")
        geom: BaseGeometry = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        return cls.from_geometry(geom)

    @classmethod
    def from_wkb(cls, original: bytes, search: bytes | None = None) -> Footprint:
        """Restore a stored footprint (no re-validation)."""
        orig = shapely_wkb.loads(original)
        return cls(original=orig, search=shapely_wkb.loads(search) if search else _to_search(orig))

    # -- views --------------------------------------------------------------------------------
    @property
    def wkt(self) -> str:
        """WKT of the display geometry."""
        return str(self.original.wkt)

    @property
    def search_wkt(self) -> str:
        """WKT of the search geometry."""
        return str(self.search.wkt)

    @property
    def geojson(self) -> dict[str, object]:
        """GeoJSON of the search geometry (already split at the antimeridian)."""
        return dict(mapping(self.search))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the search geometry."""
        b = self.search.bounds
        return (b[0], b[1], b[2], b[3])

    def part_bounds(self) -> list[tuple[float, float, float, float]]:
        """Bounding boxes of each part of the search geometry (one per side of 180 degrees)."""
        geoms = getattr(self.search, "geoms", None)
        items = list(geoms) if geoms is not None else [self.search]
        return [tuple(g.bounds) for g in items if not g.is_empty]  # type: ignore[misc]

    def to_wkb(self) -> tuple[bytes, bytes]:
        """(original, search) as WKB for storage."""
        return shapely.to_wkb(self.original), shapely.to_wkb(self.search)

    def polygon_rings(self) -> list[list[Coord]]:
        """Outer and inner rings of the display geometry (for GML and other renderings)."""
        geom = self.original
        polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        rings: list[list[Coord]] = []
        for poly in polys:
            if isinstance(poly, Polygon):
                rings.extend(_polygon_rings(poly))
        return rings

    def within_world(self) -> bool:
        """True when the search geometry lies inside [-180, 180] x [-90, 90]."""
        return bool(_WORLD.covers(self.search))
