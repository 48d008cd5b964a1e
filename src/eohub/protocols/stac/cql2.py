"""CQL2 (text and JSON) -> the query tree, through pygeofilter's parsers and AST.

Supported: comparisons (``= <> < <= > >=``), ``LIKE``, ``BETWEEN``, ``IN``, ``IS NULL``,
``AND``/``OR``/``NOT``, ``S_INTERSECTS``/``S_WITHIN``/``S_CONTAINS``/``S_DISJOINT`` and
``BBOX``, and on time properties ``T_AFTER``, ``T_BEFORE``, ``T_DURING``, ``T_EQUALS``,
``T_DISJOINT`` and ``T_INTERSECTS`` (pygeofilter reads ``t_intersects`` as its overlaps node,
which for our instant properties means the same). Property names are the STAC names of
:mod:`eohub.query.fields` (``properties.`` prefix allowed), plus ``collection`` (a STAC
collection id, see :mod:`.collections`) and ``geometry`` (spatial predicates only). Values
shown lower-case in Items (``platform``, ``constellation``, ``instruments``,
``sat:orbit_state``) compare without regard to case; ``grid:code`` takes ``MGRS-<tile>``.
Anything else is an InvalidQuery naming what is wrong.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json_ast
from pygeofilter.parsers.cql2_text import parse as parse_text_ast

from eohub.errors import InvalidGeometry, InvalidQuery
from eohub.model.geometry import Footprint
from eohub.protocols.stac import collections
from eohub.query.fields import FIELDS, Field, FieldType, Protocol
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    Compare,
    CompareOp,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Range,
    Spatial,
    SpatialOp,
    Value,
    and_,
    or_,
)

MAX_FILTER_LENGTH = 20_000
# STAC common-metadata names the field registry has no STAC alias for: STAC name -> field.
EXTRA_NAMES = {"mission": "mission"}
_CASELESS = {"platform", "mission", "instrument", "orbit_direction"}
_COMPARE = {
    ast.ComparisonOp.EQ: CompareOp.EQ,
    ast.ComparisonOp.NE: CompareOp.NE,
    ast.ComparisonOp.LT: CompareOp.LT,
    ast.ComparisonOp.LE: CompareOp.LE,
    ast.ComparisonOp.GT: CompareOp.GT,
    ast.ComparisonOp.GE: CompareOp.GE,
}
_SWAPPED = {CompareOp.LT: CompareOp.GT, CompareOp.LE: CompareOp.GE,
            CompareOp.GT: CompareOp.LT, CompareOp.GE: CompareOp.LE}  # fmt: skip
_SPATIAL = {
    ast.SpatialComparisonOp.INTERSECTS: SpatialOp.INTERSECTS,
    ast.SpatialComparisonOp.WITHIN: SpatialOp.WITHIN,
    ast.SpatialComparisonOp.CONTAINS: SpatialOp.CONTAINS,
}


def parse_text(text: str) -> Node:
    """A CQL2-text filter as a query tree."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidQuery("filter too long", field="filter")
    try:
        node = parse_text_ast(text)
    except Exception as exc:  # lark raises many unrelated classes for bad input
        raise InvalidQuery(
            f"invalid CQL2-text filter: {_first_line(exc)}", field="filter"
        ) from None
    return translate(node)


def parse_json(obj: Any) -> Node:
    """A CQL2-JSON filter (already decoded) as a query tree."""
    if not isinstance(obj, dict):
        raise InvalidQuery("a CQL2-JSON filter must be a JSON object", field="filter")
    try:
        node = parse_json_ast(_between_as_list(obj))
    except Exception as exc:  # the parser indexes into the input without checking it
        raise InvalidQuery(
            f"invalid CQL2-JSON filter: {_first_line(exc)}", field="filter"
        ) from None
    return translate(node)


def _between_as_list(obj: Any, depth: int = 0) -> Any:
    """CQL2 1.0 writes ``between`` with three arguments; pygeofilter 0.4 reads only the draft's
    ``[property, [low, high]]``: rewrite the first into the second (other input unchanged)."""
    if depth > 100:
        raise InvalidQuery("filter is nested too deeply", field="filter")
    if isinstance(obj, list):
        return [_between_as_list(v, depth + 1) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _between_as_list(v, depth + 1) for k, v in obj.items()}
    args = out.get("args")
    if out.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        out["args"] = [args[0], [args[1], args[2]]]
    return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def translate(node: Any) -> Node:
    """pygeofilter AST -> query tree."""
    try:
        return _node(node)
    except RecursionError:
        raise InvalidQuery("filter is nested too deeply", field="filter") from None


def _node(node: Any) -> Node:
    if isinstance(node, ast.And):
        return and_(_node(node.lhs), _node(node.rhs))
    if isinstance(node, ast.Or):
        return or_(_node(node.lhs), _node(node.rhs))
    if isinstance(node, ast.Not):
        return Not(_node(node.sub_node))
    if isinstance(node, ast.Include):
        return MATCH_NONE if node.not_ else MATCH_ALL
    if isinstance(node, ast.Comparison):
        return _comparison(node)
    if isinstance(node, ast.Between):
        return _negate(_between(node), node.not_)
    if isinstance(node, ast.Like):
        return _negate(_like(node), node.not_)
    if isinstance(node, ast.In):
        return _negate(_in(node), node.not_)
    if isinstance(node, ast.IsNull):
        return _negate(_is_null(node), node.not_)
    if isinstance(node, ast.SpatialComparisonPredicate):
        return _spatial(node)
    if isinstance(node, ast.BBox):
        _geometry_attribute(node.lhs)
        if node.crs not in (None, "", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
            raise InvalidQuery("BBOX supports CRS84 only", field="filter")
        envelope = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
        return Spatial(SpatialOp.INTERSECTS, _footprint(envelope))
    if isinstance(node, ast.TemporalPredicate):
        return _temporal(node)
    if isinstance(node, bool):
        return MATCH_ALL if node else MATCH_NONE
    raise InvalidQuery(f"unsupported CQL2 expression: {_describe(node)}", field="filter")


def _describe(node: Any) -> str:
    if isinstance(node, ast.Node):
        return type(node).__name__
    return repr(node)[:80]


def _negate(node: Node, negate: bool) -> Node:
    return Not(node) if negate else node


# -- properties and values ---------------------------------------------------------------------


def _name(node: Any) -> str | None:
    if isinstance(node, ast.Attribute):
        name = str(node.name)
        return name[len("properties.") :] if name.startswith("properties.") else name
    return None


def find_property(name: str) -> Field | None:
    """The catalogue field of a STAC property name (None for unknown names)."""
    found = FIELDS.find(Protocol.STAC, name)
    if found is None and name in EXTRA_NAMES:
        found = FIELDS.get(EXTRA_NAMES[name])
    return found


def property_names() -> list[str]:
    """Every STAC property name a filter may use (``geometry`` in spatial predicates only)."""
    return list(dict.fromkeys(["collection", *FIELDS.aliases(Protocol.STAC), *EXTRA_NAMES]))


def _field(name: str) -> Field:
    found = find_property(name)
    if found is None or found.type is FieldType.GEOMETRY:
        choices = [n for n in property_names() if n != "geometry"]
        raise InvalidQuery(f"unknown property '{name}'", field=name, choices=choices)
    return found


def _value(raw: Any, field: Field) -> Value:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime.combine(raw, time(), tzinfo=UTC)
    if isinstance(raw, list) and field.name == "polarisation":
        return " ".join(str(v) for v in raw)
    if isinstance(raw, str) and field.type is FieldType.DATETIME:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQuery(f"'{raw}' is not a timestamp", field=field.name) from None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(raw, str) and field.name == "tile_id" and raw.upper().startswith("MGRS-"):
        return raw[5:]
    if isinstance(raw, (str, int, float, bool)):
        return raw
    raise InvalidQuery(f"unsupported value {_describe(raw)} for '{field.name}'", field=field.name)


def _casei(node: Any) -> tuple[Any, bool]:
    """``CASEI(x)`` (pygeofilter reads it as ``lower(x)``, in CQL2 text and JSON) -> ``(x,
    True)``; any other node -> ``(node, False)``. The tree compares case-insensitively itself
    (``ignore_case``), so the function is not applied to the value."""
    if isinstance(node, ast.Function) and str(node.name).lower() in ("lower", "casei"):
        if len(node.arguments) != 1:
            raise InvalidQuery("CASEI takes one argument", field="filter")
        return node.arguments[0], True
    if isinstance(node, ast.Function):
        raise InvalidQuery(f"unsupported function '{str(node.name)[:60]}' (CASEI only)",
                           field="filter")  # fmt: skip
    return node, False


def _text_value(value: Value, field: Field) -> Value:
    if not isinstance(value, str) or field.type is not FieldType.STRING:
        raise InvalidQuery(f"CASEI applies to text properties and values ('{field.name}')",
                           field=field.name)  # fmt: skip
    return value


def _comparison(node: Any) -> Node:
    op = _COMPARE[node.op]
    (lhs, case_l), (rhs, case_r) = _casei(node.lhs), _casei(node.rhs)
    casei = case_l or case_r
    if casei and op not in (CompareOp.EQ, CompareOp.NE):
        raise InvalidQuery("CASEI compares with =, <>, LIKE or IN only", field="filter")
    if _name(lhs) is None and _name(rhs) is not None:
        lhs, rhs = rhs, lhs
        op = _SWAPPED.get(op, op)
    name = _name(lhs)
    if name is None or _name(rhs) is not None:
        raise InvalidQuery("a comparison needs one property and one value", field="filter")
    if name == "collection":
        if not isinstance(rhs, str):
            raise InvalidQuery("collection compares with a string", field="collection")
        return collections.compare_tree(op, rhs.lower() if casei else rhs)  # ids: lower-case
    field = _field(name)
    value = _value(rhs, field)
    if casei:
        value = _text_value(value, field)
    caseless = casei or (field.name in _CASELESS and op in (CompareOp.EQ, CompareOp.NE))
    return Compare(field.name, op, value, ignore_case=caseless)


def _between(node: Any) -> Node:
    name = _name(node.lhs)
    if name is None:
        raise InvalidQuery("BETWEEN needs a property on its left", field="filter")
    field = _field(name)
    return Range(field.name, _value(node.low, field), _value(node.high, field))


def _in(node: Any) -> Node:
    lhs, casei = _casei(node.lhs)
    values = [_casei(v) for v in node.sub_nodes]
    casei = casei or any(c for _, c in values)
    name = _name(lhs)
    if name is None:
        raise InvalidQuery("IN needs a property on its left", field="filter")
    if name == "collection":  # collection ids are lower-case
        return collections.in_tree(str(v).lower() if casei else str(v) for v, _ in values)
    field = _field(name)
    items = tuple(_value(v, field) for v, _ in values)
    if casei:
        items = tuple(_text_value(v, field) for v in items)
    if not items:
        return MATCH_NONE
    return In(field.name, items, ignore_case=casei or field.name in _CASELESS)


def _is_null(node: Any) -> Node:
    name = _name(node.lhs)
    if name is None:
        raise InvalidQuery("IS NULL needs a property", field="filter")
    if name == "collection":
        return MATCH_NONE
    return IsNull(_field(name).name)


def _like(node: Any) -> Node:
    (lhs, case_l), (raw, case_p) = _casei(node.lhs), _casei(node.pattern)
    name = _name(lhs)
    if name is None or not isinstance(raw, str):
        raise InvalidQuery("LIKE needs a property and a string pattern", field="filter")
    pattern = _tree_pattern(raw, node.wildcard, node.singlechar, node.escapechar)
    if name == "collection":  # collection ids are lower-case
        return collections.like_tree(pattern.lower() if case_l or case_p else pattern)
    field = _field(name)
    if field.type is not FieldType.STRING:
        raise InvalidQuery(f"LIKE applies to text properties ('{name}')", field=name)
    if field.name == "tile_id" and pattern.upper().startswith("MGRS-"):
        pattern = pattern[5:]
    caseless = node.nocase or case_l or case_p or field.name in _CASELESS
    return Like(field.name, pattern, ignore_case=caseless)


def _tree_pattern(pattern: str, wildcard: str, single: str, escape: str) -> str:
    """CQL2 wildcards (``%``, ``_``, ``\\``) -> the tree's (``*``, ``?``, ``\\``)."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if escape and ch == escape:
            nxt = next(chars, "")
            out.append("\\" + nxt if nxt in ("*", "?", "\\") else nxt)
        elif ch == wildcard:
            out.append("*")
        elif ch == single or (single == "." and ch == "_"):
            # pygeofilter marks the single-character wildcard as "." for CQL2; CQL2 uses "_"
            out.append("?")
        elif ch in ("*", "?", "\\"):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


# -- space and time ------------------------------------------------------------------------------


def _geometry_attribute(node: Any) -> None:
    if _name(node) != "geometry":
        raise InvalidQuery("spatial predicates apply to the property 'geometry'", field="filter")


def _footprint(node: Any) -> Footprint:
    if isinstance(node, (values.Geometry, values.Envelope)):
        return Footprint.from_geojson(dict(node.geometry), strict=True)
    raise InvalidGeometry(f"expected a geometry, got {_describe(node)}")


def _spatial(node: Any) -> Node:
    lhs, rhs = node.lhs, node.rhs
    if _name(rhs) == "geometry" and _name(lhs) is None:
        lhs, rhs = rhs, lhs
        swap = {ast.SpatialComparisonOp.WITHIN: ast.SpatialComparisonOp.CONTAINS,
                ast.SpatialComparisonOp.CONTAINS: ast.SpatialComparisonOp.WITHIN}  # fmt: skip
        op = swap.get(node.op, node.op)
    else:
        op = node.op
    _geometry_attribute(lhs)
    geometry = _footprint(rhs)
    if op is ast.SpatialComparisonOp.DISJOINT:
        return Not(Spatial(SpatialOp.INTERSECTS, geometry))
    if op not in _SPATIAL:
        raise InvalidQuery(f"unsupported spatial operator S_{op.name}", field="filter")
    return Spatial(_SPATIAL[op], geometry)


def _instant(raw: Any) -> datetime | None:
    if raw is None or raw == "..":
        return None
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime.combine(raw, time(), tzinfo=UTC)
    raise InvalidQuery(f"unsupported time value {_describe(raw)}", field="filter")


def _temporal(node: Any) -> Node:
    name = _name(node.lhs)
    if name is None:
        raise InvalidQuery("temporal predicates need a time property first", field="filter")
    field = _field(name)
    if field.type is not FieldType.DATETIME:
        raise InvalidQuery(f"'{name}' is not a time property", field=name)
    op = node.op.name
    rhs = node.rhs
    if isinstance(rhs, values.Interval):
        start, end = _instant(rhs.start), _instant(rhs.end)
    else:
        start = end = _instant(rhs)
        if start is None:
            raise InvalidQuery("temporal predicates need a time value", field="filter")
    inside = Range(field.name, start, end)
    if op in ("TOVERLAPS", "TINTERSECTS"):
        return inside
    if op == "DISJOINT":
        return Not(inside)
    if op == "AFTER":
        return Range(field.name, low=end, low_inclusive=False) if end else MATCH_NONE
    if op == "BEFORE":
        return Range(field.name, high=start, high_inclusive=False) if start else MATCH_NONE
    if op == "DURING":
        return Range(field.name, start, end, low_inclusive=False, high_inclusive=False)
    if op == "TEQUALS":
        if start != end or start is None:
            return MATCH_NONE  # an instant never equals an interval
        return Compare(field.name, CompareOp.EQ, start)
    raise InvalidQuery(f"unsupported temporal operator {op}", field="filter")
