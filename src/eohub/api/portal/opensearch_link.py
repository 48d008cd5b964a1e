"""The DHuS OpenSearch URL (``/search?q=...``) that runs the same search as plain parameters.

The portal shows it next to the plain API URL so people can move a search into their DHuS
scripts (dhusget, sentinelsat). ``q`` is built from the query tree of the plain parameters:
``platformname:"Sentinel-2" AND cloudcoverpercentage:[* TO 30.0] AND
footprint:"Intersects(POLYGON((...)))"``. A search OpenSearch cannot say (a field without a
DHuS keyword, a page larger than DHuS allows, a query longer than DHuS accepts) gives no URL
and a note saying why.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import shapely

from eohub.protocols.dhus.keywords import KEYWORDS, SORTABLE
from eohub.protocols.dhus.opensearch import MAX_ENCODED_QUERY, MAX_ROWS, encoded_length
from eohub.protocols.dhus.values import solr_date
from eohub.query.query import Query
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

_KEYWORD_OF: dict[str, str] = {}
for _kw in KEYWORDS.values():
    _KEYWORD_OF.setdefault(_kw.field, _kw.name)
_TOKENS = {kw.field for kw in KEYWORDS.values() if kw.tokens}
_ORDER_OF = {field: name for name, field in SORTABLE.items()}
_PREDICATES = {SpatialOp.INTERSECTS: "Intersects", SpatialOp.WITHIN: "IsWithin",
               SpatialOp.CONTAINS: "Contains"}  # fmt: skip
_RANGES = {CompareOp.LE: "[* TO {}]", CompareOp.GE: "[{} TO *]", CompareOp.LT: "{{* TO {}}}",
           CompareOp.GT: "{{{} TO *}}"}  # fmt: skip
_SERIAL = re.compile(r"^(?P<mission>.*\d)(?P<serial>[A-H])$")


class Unsayable(Exception):
    """A part of the search DHuS OpenSearch has no way to express."""


@dataclass(frozen=True)
class OpenSearchLink:
    """The OpenSearch URL path with its query (None when impossible) and a note for people."""

    url: str | None
    note: str | None = None


def opensearch_link(query: Query) -> OpenSearchLink:
    """``/search?q=...&rows=...&start=...&orderby=...&format=json`` for ``query``."""
    try:
        q = lucene_q(query)
        params = {"q": q, "rows": str(query.limit), "start": str(query.offset or 0)}
        order = _orderby(query)
        if order:
            params["orderby"] = order
    except Unsayable as exc:
        return OpenSearchLink(None, str(exc))
    if query.limit > MAX_ROWS:
        return OpenSearchLink(None, f"OpenSearch pages hold at most {MAX_ROWS} products")
    length = encoded_length(q)
    if length > MAX_ENCODED_QUERY:
        return OpenSearchLink(
            None,
            f"the OpenSearch query would be {length} characters long once encoded, more than "
            f"the {MAX_ENCODED_QUERY} DHuS accepts (draw a simpler area)",
        )
    params["format"] = "json"
    note = None
    if any(f in _TOKENS for f in _fields(query.filter)):
        note = "OpenSearch also matches products having more values of a list field"
    return OpenSearchLink("/search?" + urlencode(params), note)


def lucene_q(query: Query) -> str:
    """The DHuS ``q`` for the filter of ``query`` (``*`` when it matches everything)."""
    items = query.filter.items if isinstance(query.filter, And) else (query.filter,)
    terms = [_term(node) for node in items]
    return " AND ".join(terms) if terms else "*"


def _fields(node: Node) -> set[str]:
    items = node.items if isinstance(node, And) else (node,)
    return {n.field for n in items if isinstance(n, (Compare, In, Range))}


def _term(node: Node) -> str:
    if isinstance(node, Text):
        return _phrase(node.text)
    if isinstance(node, Spatial):
        wkt = shapely.to_wkt(node.geometry.original, rounding_precision=7, trim=True,
                             output_dimension=2)  # fmt: skip
        return f'footprint:"{_PREDICATES[node.op]}({wkt})"'
    if isinstance(node, Range):
        return f"{_keyword(node.field)}:{_range(node)}"
    if isinstance(node, Compare):
        if node.field == "platform" and node.op is CompareOp.EQ:
            return _platform(str(node.value))
        keyword = _keyword(node.field)
        if node.op is CompareOp.EQ:
            return f"{keyword}:{_literal(node.value)}"
        if node.op is CompareOp.NE:
            return f"NOT {keyword}:{_literal(node.value)}"
        return f"{keyword}:{_RANGES[node.op].format(_literal(node.value))}"
    if isinstance(node, In):
        if node.field == "platform":
            return "(" + " OR ".join(_platform(str(v)) for v in node.values) + ")"
        keyword = _keyword(node.field)
        return f"{keyword}:(" + " OR ".join(_literal(v) for v in node.values) + ")"
    raise Unsayable("this search has a condition OpenSearch cannot express")


def _keyword(field: str) -> str:
    keyword = _KEYWORD_OF.get(field)
    if keyword is None:
        raise Unsayable(f"OpenSearch has no keyword for the field '{field}'")
    return keyword


def _platform(platform: str) -> str:
    """``Sentinel-2A`` -> ``(platformname:"Sentinel-2" AND platformserialidentifier:"A")``."""
    match = _SERIAL.match(platform)
    if match is None:
        return f"platformname:{_phrase(platform)}"
    return (
        f"(platformname:{_phrase(match.group('mission'))} AND "
        f"platformserialidentifier:{_phrase(match.group('serial'))})"
    )


def _range(node: Range) -> str:
    low = "*" if node.low is None else _literal(node.low)
    high = "*" if node.high is None else _literal(node.high)
    opening = "[" if node.low_inclusive or node.low is None else "{"
    closing = "]" if node.high_inclusive or node.high is None else "}"
    return f"{opening}{low} TO {high}{closing}"


def _literal(value: Value) -> str:
    if isinstance(value, datetime):
        return solr_date(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, uuid.UUID):
        return _phrase(str(value))
    return _phrase(value)


def _phrase(text: str) -> str:
    """A quoted Lucene phrase (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _orderby(query: Query) -> str:
    parts = []
    for key in query.sort:
        name = _ORDER_OF.get(key.field)
        if name is None:
            raise Unsayable(f"OpenSearch cannot sort by '{key.field}'")
        parts.append(f"{name} {'desc' if key.descending else 'asc'}")
    return ",".join(parts)
