"""A synchroniser's filter: parsed once into the query tree, applied to every remote product
here, and compiled to the remote's OData v1 ``$filter`` where DHuS can run it.

DHuS OData v1 filters products only on a few properties (``Name``, ``ContentLength``,
``IngestionDate``, ``ContentDate/Start``, ``ContentDate/End``, ``Online``); the remote part is
built from the conjuncts of the tree on those, made wider rather than narrower where OData v1
cannot say exactly the same (dates to the millisecond), and the whole tree is applied here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from eohub.errors import InvalidQuery
from eohub.model.geometry import Footprint
from eohub.protocols.csc.filter import parse_filter as parse_cdse
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.odata_v1.filter_translate import parse as parse_odata
from eohub.query.tree import (
    MATCH_ALL,
    And,
    Compare,
    CompareOp,
    In,
    Node,
    Or,
    Range,
    Spatial,
    SpatialOp,
    and_,
)
from eohub.sync.model import FilterLanguage, SyncDefinition

# Canonical field -> the DHuS OData v1 property a remote can filter on.
_REMOTE = {
    "name": "Name",
    "size": "ContentLength",
    "ingestion_date": "IngestionDate",
    "sensing_start": "ContentDate/Start",
    "sensing_end": "ContentDate/End",
}
_MS = timedelta(milliseconds=1)


def parse_geofilter(text: str) -> Node:
    """``<op> <WKT>`` (op: intersects, within, contains) as a spatial node."""
    op, _, wkt = text.strip().partition(" ")
    try:
        spatial = SpatialOp(op.lower())
    except ValueError:
        valid = ", ".join(o.value for o in SpatialOp)
        raise InvalidQuery(f"geofilter operation '{op}' is not one of {valid}") from None
    return Spatial(spatial, Footprint.from_wkt(wkt))


def local_filter(definition: SyncDefinition, now: datetime | None = None) -> Node:
    """The tree every remote product must match (filter and geofilter; the collection is
    read from the remote's ``Collections('<name>')/Products``: a DHuS collection is a set
    of the hub's own, not a product property)."""
    parts: list[Node] = []
    if definition.filter:
        if definition.filter_language is FilterLanguage.OPENSEARCH:
            parts.append(parse_q(definition.filter, now or datetime.now(UTC)))
        elif definition.filter_language is FilterLanguage.CDSE:
            parts.append(parse_cdse(definition.filter))
        else:
            parts.append(parse_odata(definition.filter))
    if definition.geofilter:
        parts.append(parse_geofilter(definition.geofilter))
    return and_(*parts) if parts else MATCH_ALL


def datetime_literal(value: datetime, *, up: bool = False) -> str:
    """``datetime'2024-01-02T03:04:05.678'`` (UTC, milliseconds: DHuS reads 1 to 3 digits),
    rounded down, or up with ``up``."""
    value = value.astimezone(UTC)
    if up and value.microsecond % 1000:
        value += _MS
    stamp = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return f"datetime'{stamp}'"


def _literal(value: object, *, up: bool = False) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return datetime_literal(value, up=up)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _compare(node: Compare) -> str | None:
    prop = _REMOTE.get(node.field)
    if prop is None or node.ignore_case:
        return None
    if isinstance(node.value, datetime):
        # Millisecond literals: widen the bound so the remote never drops a match.
        if node.op in (CompareOp.GT, CompareOp.GE):
            return f"{prop} ge {datetime_literal(node.value)}"
        if node.op in (CompareOp.LT, CompareOp.LE):
            return f"{prop} le {datetime_literal(node.value, up=True)}"
        return None
    literal = _literal(node.value)
    return None if literal is None else f"{prop} {node.op.value} {literal}"


def _range(node: Range) -> str | None:
    prop = _REMOTE.get(node.field)
    if prop is None:
        return None
    parts: list[str] = []
    for bound, value, inclusive in (("low", node.low, node.low_inclusive),
                                    ("high", node.high, node.high_inclusive)):  # fmt: skip
        if value is None:
            continue
        if isinstance(value, datetime):
            op = "ge" if bound == "low" else "le"
            literal = datetime_literal(value, up=bound == "high")
        else:
            op = ("ge" if inclusive else "gt") if bound == "low" else ("le" if inclusive else "lt")
            found = _literal(value)
            if found is None:
                return None
            literal = found
        parts.append(f"{prop} {op} {literal}")
    return " and ".join(parts) if parts else None


def remote_filter(node: Node) -> str | None:
    """The part of ``node`` a DHuS OData v1 remote can run, as a ``$filter``, or None.

    Only conjuncts are sent (a disjunction or negation stays local as a whole): the remote
    then returns a superset of the matches, and the local filter decides.
    """
    items = node.items if isinstance(node, And) else (node,)
    parts: list[str] = []
    for item in items:
        found = None
        if isinstance(item, Compare):
            found = _compare(item)
        elif isinstance(item, Range):
            found = _range(item)
        if found:
            parts.append(f"({found})")
    return " and ".join(parts) if parts else None


# Canonical field -> the CDSE property a CDSE-style source can filter on.
_CDSE = {
    "size": "ContentLength",
    "sensing_start": "ContentDate/Start",
    "sensing_end": "ContentDate/End",
    "collection": "Collection/Name",
}


def cdse_datetime(value: datetime) -> str:
    """``2024-01-02T03:04:05.678901Z``: UTC to the microsecond, as CDSE filters read it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cdse_value(value: object) -> str | None:
    if isinstance(value, datetime):
        return cdse_datetime(value)
    if isinstance(value, bool):
        return None
    return _literal(value)


def _cdse_item(item: Node) -> str | None:
    if isinstance(item, Spatial):
        # Within and contains are narrower than intersects: the source returns a superset.
        return f"OData.CSC.Intersects(area=geography'SRID=4326;{item.geometry.search_wkt}')"
    if isinstance(item, In) and not item.ignore_case and item.field in _CDSE:
        values = [_cdse_value(v) for v in item.values]
        if not values or None in values:
            return None
        return " or ".join(f"{_CDSE[item.field]} eq {v}" for v in values)
    if isinstance(item, Compare) and not item.ignore_case and item.field in _CDSE:
        found = _cdse_value(item.value)
        return None if found is None else f"{_CDSE[item.field]} {item.op.value} {found}"
    if isinstance(item, Range) and item.field in _CDSE:
        parts: list[str] = []
        for value, op in ((item.low, "ge" if item.low_inclusive else "gt"),
                          (item.high, "le" if item.high_inclusive else "lt")):  # fmt: skip
            if value is not None:
                found = _cdse_value(value)
                if found is None:
                    return None
                parts.append(f"{_CDSE[item.field]} {op} {found}")
        return " and ".join(parts) or None
    if isinstance(item, Or):
        alternatives = [_cdse_item(i) for i in item.items]
        if not alternatives or None in alternatives:
            return None  # one alternative the source cannot run: the whole Or stays local
        return " or ".join(f"({a})" for a in alternatives)
    return None


def cdse_remote_filter(definition: SyncDefinition, node: Node) -> str | None:
    """The ``$filter`` a CDSE-style source runs for the synchroniser: a CDSE filter as given
    (and the geofilter's area), else the conjuncts of ``node`` it can run (a superset: the
    whole tree is applied here too)."""
    if definition.filter_language is FilterLanguage.CDSE and definition.filter:
        parts = [definition.filter]
        if definition.geofilter:
            parts.append(_cdse_item(parse_geofilter(definition.geofilter)) or "")
        return " and ".join(f"({p})" for p in parts if p)
    items = node.items if isinstance(node, And) else (node,)
    found = [f"({p})" for p in (_cdse_item(i) for i in items) if p]
    return " and ".join(found) or None
