"""STAC item-search requests (GET parameters or POST body) -> Query, and their next links.

Parameters: ``bbox``, ``intersects``, ``datetime``, ``ids``, ``collections``, ``limit``
(default 10, larger values are capped at :data:`MAX_LIMIT`, below 1 is an error), ``sortby``,
``filter`` + ``filter-lang`` (+ ``filter-crs``, CRS84 only), ``query``, ``fields``, ``q``
(free text; comma-separated terms, any of which may match) and the keyset cursor of the next
page: ``cursor`` in a GET query string, ``token`` in a POST body. In a query string ``token`` is
the caller's credentials, as on every other API of the hub, so paging cannot use that name
there. ``datetime`` selects products whose sensing interval meets the given instant or
interval. Every problem is an InvalidQuery (HTTP 400) naming the parameter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pygeofilter import ast
from shapely.geometry import box

from eohub.errors import InvalidGeometry, InvalidQuery
from eohub.model.geometry import Footprint
from eohub.protocols.stac import collections, cql2
from eohub.query.fields import FIELDS, FieldType, Protocol
from eohub.query.query import CountMode, Cursor, Query, SortKey
from eohub.query.tree import (
    MATCH_ALL,
    In,
    Node,
    Range,
    Spatial,
    SpatialOp,
    Text,
    and_,
    or_,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
PAGING_QUERY = "cursor"  # the next-page cursor of a GET search
PAGING_BODY = "token"  # ... and of a POST search (the name STAC APIs commonly use)
MAX_IDS = 1000
DEFAULT_SORT = (SortKey("sensing_start", descending=True),)
_GET_LISTS = ("ids", "collections")

# RFC 3339 date-time, as STAC requires: datetime.fromisoformat also takes date-only values,
# missing offsets, "+0100" and comma fractions, all of which the STAC API must refuse.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True)
class Search:
    """A parsed item search."""

    query: Query
    include: tuple[str, ...] | None = None  # None: no include list given
    exclude: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)  # for next links, without token


def parse_rfc3339(text: str, name: str = "datetime") -> datetime:
    """One RFC 3339 date-time (any offset), as aware UTC."""
    found = _RFC3339.fullmatch(text.strip())
    if not found:
        raise InvalidQuery(f"invalid {name} '{text}': expected RFC 3339, e.g. "
                           "2024-01-31T10:00:00Z", field=name)  # fmt: skip
    year, month, day, hour, minute, second, frac, offset = found.groups()
    try:
        if offset in ("Z", "z"):
            tz: timezone = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        micro = int((frac or "0")[:6].ljust(6, "0"))
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                         micro, tzinfo=tz)  # fmt: skip
    except ValueError:
        raise InvalidQuery(f"invalid {name} '{text}': out of range", field=name) from None
    return value.astimezone(UTC)


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """``datetime``: an instant or an interval with ``..`` or empty open ends."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidQuery("datetime must be a non-empty string", field="datetime")
    parts = text.strip().split("/")
    if len(parts) == 1:
        instant = parse_rfc3339(parts[0])
        return instant, instant
    if len(parts) != 2:
        raise InvalidQuery(f"invalid datetime interval '{text}'", field="datetime")
    start, end = (None if p in ("", "..") else parse_rfc3339(p) for p in parts)
    if start is None and end is None:
        raise InvalidQuery("a datetime interval needs at least one bound", field="datetime")
    if start is not None and end is not None and end < start:
        raise InvalidQuery("datetime interval ends before it starts", field="datetime")
    return start, end


def datetime_tree(start: datetime | None, end: datetime | None) -> Node:
    """Products whose sensing interval meets [start, end]."""
    parts: list[Node] = []
    if end is not None:
        parts.append(Range("sensing_start", high=end))
    if start is not None:
        parts.append(Range("sensing_end", low=start))
    return and_(*parts)


def parse_bbox(raw: object) -> Footprint:
    """``bbox``: 4 or 6 numbers (2D box, or 3D with heights ignored); west > east crosses
    the antimeridian."""
    if isinstance(raw, str):
        try:
            numbers = [float(v) for v in raw.split(",")]
        except ValueError:
            raise InvalidQuery(f"invalid bbox '{raw}': expected comma-separated numbers",
                               field="bbox") from None  # fmt: skip
    elif isinstance(raw, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw
    ):
        numbers = [float(v) for v in raw]
    else:
        raise InvalidQuery("bbox must be a list of 4 or 6 numbers", field="bbox")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise InvalidQuery("bbox must have 4 or 6 finite numbers", field="bbox")
    west, south, east, north = numbers
    if south > north:
        raise InvalidQuery("bbox: the southern latitude is north of the northern one",
                           field="bbox")  # fmt: skip
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south and north <= 90):
        raise InvalidQuery("bbox out of range (lon -180..180, lat -90..90)", field="bbox")
    if west > east:
        east += 360.0  # the footprint code folds it back across the antimeridian
    try:
        return Footprint.from_geometry(box(west, south, east, north))
    except InvalidGeometry as exc:
        raise InvalidQuery(f"invalid bbox: {exc.user_message}", field="bbox") from None


def parse_intersects(raw: object) -> Footprint:
    """``intersects``: a GeoJSON geometry (an object, or its JSON text in GET)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidQuery("intersects is not valid JSON", field="intersects") from None
    if not isinstance(raw, dict) or "type" not in raw:
        raise InvalidQuery("intersects must be a GeoJSON geometry", field="intersects")
    if raw.get("type") in ("Feature", "FeatureCollection"):
        raise InvalidQuery("intersects must be a GeoJSON geometry, not a Feature",
                           field="intersects")  # fmt: skip
    try:
        return Footprint.from_geojson(raw, strict=True)
    except InvalidGeometry as exc:
        raise InvalidQuery(exc.user_message, field="intersects") from None


def _strings(raw: object, name: str) -> list[str]:
    if isinstance(raw, str):
        values = [v.strip() for v in raw.split(",")]
    elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        values = [v.strip() for v in raw]
    else:
        raise InvalidQuery(f"{name} must be a list of strings", field=name)
    values = [v for v in values if v]
    if len(values) > MAX_IDS:
        raise InvalidQuery(f"at most {MAX_IDS} {name}", field=name)
    return values


def parse_limit(raw: object) -> int:
    """``limit``: 1 or more; values above :data:`MAX_LIMIT` are capped."""
    if isinstance(raw, bool):
        raise InvalidQuery("limit must be an integer", field="limit")
    if isinstance(raw, str):
        try:
            raw = int(raw.strip())
        except ValueError:
            raise InvalidQuery(f"limit must be an integer, got '{raw}'", field="limit") from None
    if not isinstance(raw, int):
        raise InvalidQuery("limit must be an integer", field="limit")
    if raw < 1:
        raise InvalidQuery("limit must be at least 1", field="limit")
    return min(raw, MAX_LIMIT)


def _sort_field(name: str) -> str:
    name = name.strip()
    if name.startswith("properties."):
        name = name[len("properties.") :]
    found = cql2.find_property(name)
    if found is None or not found.sortable:
        choices = [a for f in FIELDS if f.sortable for a in f.aliases.get(Protocol.STAC, ())]
        raise InvalidQuery(f"cannot sort by '{name}'", field="sortby", choices=choices)
    return found.name


def parse_sortby(raw: object) -> tuple[SortKey, ...]:
    """``sortby``: ``+a,-b`` (GET) or ``[{"field": a, "direction": "asc"}]`` (POST)."""
    keys: list[SortKey] = []
    if isinstance(raw, str):
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            descending = part.startswith("-")
            keys.append(SortKey(_sort_field(part.lstrip("+-")), descending))
    elif isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
                raise InvalidQuery("sortby entries are {field, direction}", field="sortby")
            direction = str(entry.get("direction", "asc")).lower()
            if direction not in ("asc", "desc"):
                raise InvalidQuery("sortby direction is asc or desc", field="sortby")
            keys.append(SortKey(_sort_field(entry["field"]), direction == "desc"))
    else:
        raise InvalidQuery("invalid sortby", field="sortby")
    return tuple(keys) or DEFAULT_SORT


def parse_fields(raw: object) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``fields``: ``a,-b,+c`` (GET) or ``{"include": [...], "exclude": [...]}`` (POST).

    The include list is None when none was given (GET: no unsigned or ``+`` entry; POST: no
    ``include`` key), which keeps every field that is not excluded."""
    if isinstance(raw, str):
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        include = tuple(p.lstrip("+") for p in parts if not p.startswith("-"))
        exclude = tuple(p[1:] for p in parts if p.startswith("-"))
        return include or None, exclude
    if isinstance(raw, dict):
        inc, exc = raw.get("include"), raw.get("exclude") or []
        if (inc is None or isinstance(inc, list)) and isinstance(exc, list):
            if all(isinstance(v, str) for v in [*(inc or []), *exc]):
                return (None if "include" not in raw else tuple(inc or [])), tuple(exc)
    raise InvalidQuery("fields must be {include: [...], exclude: [...]}", field="fields")


_QUERY_OPS = {"eq": ast.Equal, "neq": ast.NotEqual, "lt": ast.LessThan,
              "lte": ast.LessEqual, "gt": ast.GreaterThan, "gte": ast.GreaterEqual}  # fmt: skip


# Query-extension text operators as CQL2 LIKE patterns around the escaped value.
_QUERY_TEXT_OPS = {"startsWith": "{}%", "endsWith": "%{}", "contains": "%{}%"}


def _like_literal(text: str) -> str:
    """``text`` with the CQL2 LIKE wildcards (``%``, ``_``) and the escape escaped."""
    return re.sub(r"([%_\\])", r"\\\1", text)


def _query_value(name: str, value: object) -> object:
    """A numeric string as a number on a numeric property: clients that build the query from
    text (command lines, stac-api-validator) send ``{"eo:cloud_cover": {"lte": "50"}}``."""
    found = cql2.find_property(name)
    if not isinstance(value, str) or found is None:
        return value
    try:
        if found.type is FieldType.INT and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            return int(value)
        if found.type is FieldType.FLOAT:
            number = float(value)
            return number if math.isfinite(number) else value
    except ValueError:
        pass
    return value


def parse_query_extension(raw: object) -> Node:
    """The query extension: ``{"eo:cloud_cover": {"lt": 10}, "platform": {"in": [...]}}``;
    operators ``eq neq lt lte gt gte in startsWith endsWith contains``."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidQuery("query is not valid JSON", field="query") from None
    if not isinstance(raw, dict):
        raise InvalidQuery("query must be an object of {property: {op: value}}", field="query")
    parts: list[Node] = []
    for name, ops in raw.items():
        if not isinstance(ops, dict) or not ops:
            raise InvalidQuery(f"query: '{name}' needs {{op: value}}", field="query")
        for op, value in ops.items():
            attribute = ast.Attribute(name)
            if op == "in":
                if not isinstance(value, list):
                    raise InvalidQuery(f"query: 'in' on '{name}' needs a list", field="query")
                parts.append(cql2.translate(ast.In(attribute, value, False)))
            elif op in _QUERY_OPS:
                if isinstance(value, (dict, list)) or value is None:
                    raise InvalidQuery(f"query: bad value for '{name}'", field="query")
                parts.append(cql2.translate(_QUERY_OPS[op](attribute, _query_value(name, value))))
            elif op in _QUERY_TEXT_OPS:
                if not isinstance(value, str):
                    raise InvalidQuery(f"query: '{op}' on '{name}' needs a string", field="query")
                pattern = _QUERY_TEXT_OPS[op].format(_like_literal(value))
                like = ast.Like(attribute, pattern, False, "%", "_", "\\", False)
                parts.append(cql2.translate(like))
            else:
                raise InvalidQuery(f"query: unknown operator '{op}' (eq, neq, lt, lte, gt, "
                                   "gte, in, startsWith, endsWith, contains)",
                                   field="query")  # fmt: skip
    return and_(*parts)


def parse_filter(raw: object, lang: object, crs: object) -> Node:
    """``filter`` in ``filter-lang`` (cql2-text by default for strings, cql2-json for
    objects)."""
    if crs not in (None, "", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise InvalidQuery("filter-crs: only CRS84 is supported", field="filter-crs")
    if lang is None:
        lang = "cql2-json" if isinstance(raw, dict) else "cql2-text"
    if lang == "cql2-text":
        if not isinstance(raw, str):
            raise InvalidQuery("a cql2-text filter must be a string", field="filter")
        return cql2.parse_text(raw)
    if lang == "cql2-json":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise InvalidQuery("filter is not valid JSON", field="filter") from None
        return cql2.parse_json(raw)
    raise InvalidQuery(f"unsupported filter-lang '{lang}' (cql2-text, cql2-json)",
                       field="filter-lang")  # fmt: skip


def parse_free_text(raw: object) -> Node:
    """``q``: comma-separated terms (or a list), any of which may match."""
    terms = _strings(raw, "q")
    return or_(*(Text(t) for t in terms)) if terms else MATCH_ALL


def parse_search(
    params: Mapping[str, Any], *, collection: str | None = None, post: bool = False
) -> Search:
    """A search from GET parameters (strings) or a POST body (JSON values, ``post``).

    ``collection`` restricts the search to one collection (the items endpoint)."""
    parts: list[Node] = []
    if post and "fields" in params and params["fields"] is None:
        raise InvalidQuery("fields must be {include: [...], exclude: [...]}", field="fields")
    if post and isinstance(params.get("bbox"), str):
        raise InvalidQuery("bbox must be a JSON array of numbers in a POST search", field="bbox")
    if params.get("bbox") not in (None, "") and params.get("intersects") not in (None, ""):
        raise InvalidQuery("use either bbox or intersects, not both", field="bbox")
    if params.get("bbox") not in (None, ""):
        parts.append(Spatial(SpatialOp.INTERSECTS, parse_bbox(params["bbox"])))
    if params.get("intersects") not in (None, ""):
        parts.append(Spatial(SpatialOp.INTERSECTS, parse_intersects(params["intersects"])))
    if params.get("datetime") not in (None, ""):
        parts.append(datetime_tree(*parse_datetime(params["datetime"])))
    if params.get("ids") not in (None, "", []):
        parts.append(In("name", tuple(_strings(params["ids"], "ids"))))
    if collection is not None:
        parts.append(collections.trees([collection]))
    elif params.get("collections") not in (None, "", []):
        ids = _strings(params["collections"], "collections")
        if ids:
            parts.append(collections.trees(ids))
    if params.get("filter") not in (None, ""):
        parts.append(parse_filter(params["filter"], params.get("filter-lang"),
                                  params.get("filter-crs")))  # fmt: skip
    if params.get("query") not in (None, ""):
        parts.append(parse_query_extension(params["query"]))
    if params.get("q") not in (None, "", []):
        parts.append(parse_free_text(params["q"]))
    limit = parse_limit(params["limit"]) if params.get("limit") not in (None, "") else DEFAULT_LIMIT
    sort = (
        parse_sortby(params["sortby"])
        if params.get("sortby") not in (None, "", [])
        else DEFAULT_SORT
    )
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    fields_given = params.get("fields") not in (None, "")
    if fields_given:
        include, exclude = parse_fields(params["fields"])
    after = None
    paging = PAGING_BODY if post else PAGING_QUERY
    token = params.get(paging)
    if token not in (None, ""):
        if not isinstance(token, str):
            raise InvalidQuery(f"{paging} must be a string", field=paging)
        try:
            after = Cursor.decode(token)
        except InvalidQuery:
            raise InvalidQuery(f"invalid paging {paging}", field=paging) from None
    query = Query(filter=and_(*parts) if parts else MATCH_ALL, sort=sort, limit=limit,
                  after=after, count=CountMode.EXACT)  # fmt: skip
    raw = {k: v for k, v in params.items() if k != paging}
    return Search(query, include, exclude, raw)
