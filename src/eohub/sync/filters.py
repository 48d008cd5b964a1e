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
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.odata_v1.filter_translate import parse as parse_odata
from eohub.query.tree import (
    MATCH_ALL,
    And,
    Compare,
    CompareOp,
    Node,
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
