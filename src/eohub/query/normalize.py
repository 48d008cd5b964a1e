"""Canonical form and type checks of a Query, before any backend sees it.

After :func:`normalize_query`:
- every field exists (``FIELDS`` or ``attributes.<name>``) and every value has the field's type
  (datetimes aware UTC, UUIDs as ``uuid.UUID``, ints for int fields, floats for float fields);
- And/Or are flat, single-item And/Or are unwrapped, and ``Not`` appears only directly above a
  leaf (negation normal form: ``Not(And(a, b))`` becomes ``Or(Not a, Not b)``);
- the sort ends with the ``id`` tie-break and every key is sortable;
- the limit, offset and cursor are in range and consistent with the sort.
Anything else raises :class:`~eohub.errors.InvalidQuery` naming what is wrong.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from eohub.errors import InvalidQuery
from eohub.model.product import utc
from eohub.query.fields import FIELDS, Field, FieldType
from eohub.query.query import ID_TIEBREAK, MAX_LIMIT, Cursor, Query, SortKey
from eohub.query.tree import (
    And,
    Compare,
    CompareOp,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Range,
    Spatial,
    Text,
    Value,
)

_ORDERED = {FieldType.STRING, FieldType.INT, FieldType.FLOAT, FieldType.DATETIME, FieldType.UUID}
MAX_TEXT_LENGTH = 1000
MAX_DEPTH = 32  # and/or levels; every backend runs this deep (SQLite's parser stops near 50)
MAX_OFFSET = 2**62  # far beyond any catalogue; keeps offsets inside SQL's 64-bit integers


def _as_int(value: object) -> Value | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: object) -> Value | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _as_uuid(value: object) -> Value | None:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


_COERCE: dict[FieldType, Callable[[object], Value | None]] = {
    FieldType.STRING: lambda v: v if isinstance(v, str) else None,
    FieldType.BOOL: lambda v: v if isinstance(v, bool) else None,
    FieldType.INT: _as_int,
    FieldType.FLOAT: _as_float,
    FieldType.DATETIME: lambda v: utc(v) if isinstance(v, datetime) else None,
    FieldType.UUID: _as_uuid,
}


def coerce(field: Field, value: object) -> Value:
    """``value`` converted to ``field``'s type, or InvalidQuery naming the field."""
    if field.type is FieldType.GEOMETRY:
        raise InvalidQuery(
            f"field '{field.name}' can only be used in spatial predicates", field=field.name
        )
    result = _COERCE[field.type](value)
    if result is None:
        raise InvalidQuery(
            f"field '{field.name}' expects a {field.type.value} value, got {value!r}",
            field=field.name,
        )
    return result


def _leaf(node: Node) -> Node:
    if isinstance(node, Compare):
        field = FIELDS.get(node.field)
        value = coerce(field, node.value)
        if node.op not in (CompareOp.EQ, CompareOp.NE) and field.type not in _ORDERED:
            raise InvalidQuery(
                f"operator '{node.op.value}' does not apply to {field.type.value} field "
                f"'{field.name}'",
                field=field.name,
            )
        _check_ignore_case(field, node.ignore_case)
        return replace(node, field=field.name, value=value)
    if isinstance(node, In):
        field = FIELDS.get(node.field)
        _check_ignore_case(field, node.ignore_case)
        if not node.values:
            raise InvalidQuery(f"empty list of values for '{field.name}'", field=field.name)
        return replace(node, values=tuple(coerce(field, v) for v in node.values))
    if isinstance(node, Range):
        field = FIELDS.get(node.field)
        if field.type not in _ORDERED:
            raise InvalidQuery(
                f"a range does not apply to {field.type.value} field '{field.name}'",
                field=field.name,
            )
        low = None if node.low is None else coerce(field, node.low)
        high = None if node.high is None else coerce(field, node.high)
        return replace(node, low=low, high=high)
    if isinstance(node, Like):
        field = FIELDS.get(node.field)
        if field.type is not FieldType.STRING:
            raise InvalidQuery(
                f"wildcards apply to text fields only, not to {field.type.value} field "
                f"'{field.name}'",
                field=field.name,
            )
        return node
    if isinstance(node, IsNull):
        FIELDS.get(node.field)
        return node
    if isinstance(node, Text):
        if len(node.text) > MAX_TEXT_LENGTH:
            raise InvalidQuery("full-text query too long", field="text")
        return node
    if isinstance(node, Spatial):
        return node
    raise InvalidQuery(f"unsupported query node {type(node).__name__}")  # pragma: no cover


def _check_ignore_case(field: Field, ignore_case: bool) -> None:
    if ignore_case and field.type is not FieldType.STRING:
        raise InvalidQuery(
            f"case-insensitive match applies to text fields only ('{field.name}')",
            field=field.name,
        )


def normalize_filter(node: Node, *, negate: bool = False) -> Node:
    """Type-checked, flattened, negation-normal form of ``node``."""
    if isinstance(node, Not):
        return normalize_filter(node.item, negate=not negate)
    if isinstance(node, (And, Or)):
        is_and = isinstance(node, And) != negate  # De Morgan under negation
        items: list[Node] = []
        for item in node.items:
            child = normalize_filter(item, negate=negate)
            same = And if is_and else Or
            if isinstance(child, same):
                items.extend(child.items)
            else:
                items.append(child)
        if len(items) == 1:
            return items[0]
        return And(tuple(items)) if is_and else Or(tuple(items))
    leaf = _leaf(node)
    return Not(leaf) if negate else leaf


def normalize_sort(sort: tuple[SortKey, ...]) -> tuple[SortKey, ...]:
    """Check sort keys and append the ``id`` tie-break (keys after ``id`` are dropped)."""
    out: list[SortKey] = []
    for key in sort:
        field = FIELDS.get(key.field)
        if not field.sortable:
            raise InvalidQuery(
                f"cannot sort by '{key.field}'",
                field=key.field,
                choices=[f.name for f in FIELDS if f.sortable],
            )
        if any(k.field == field.name for k in out):
            continue
        out.append(SortKey(field.name, key.descending))
        if field.name == "id":
            break
    if not out or out[-1].field != "id":
        out.append(ID_TIEBREAK)
    return tuple(out)


def normalize_query(query: Query) -> Query:
    """The canonical, validated form of ``query`` (see module docstring)."""
    if not isinstance(query.limit, int) or isinstance(query.limit, bool):
        raise InvalidQuery("limit must be an integer", field="limit")
    if query.limit < 0 or query.limit > MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
    if not isinstance(query.offset, int) or isinstance(query.offset, bool):
        raise InvalidQuery("offset must be an integer", field="offset")
    if query.offset < 0 or query.offset > MAX_OFFSET:
        raise InvalidQuery(f"offset must be between 0 and {MAX_OFFSET}", field="offset")
    sort = normalize_sort(query.sort)
    after: Cursor | None = query.after
    if after is not None:
        if query.offset:
            raise InvalidQuery("use either an offset or a cursor, not both", field="cursor")
        if after.sort != sort:
            raise InvalidQuery("page token does not belong to this sort order", field="cursor")
        try:
            values = tuple(
                None if v is None else coerce(FIELDS.get(k.field), v)
                for k, v in zip(sort, after.values, strict=True)
            )
        except (InvalidQuery, ValueError):
            raise InvalidQuery("invalid page token (cursor)", field="cursor") from None
        after = Cursor(sort, values)
    try:
        node = normalize_filter(query.filter)
    except RecursionError:
        node = None
    if node is None or _depth(node) > MAX_DEPTH:
        raise InvalidQuery(
            f"query is nested too deeply (at most {MAX_DEPTH} levels of and/or)", field="filter"
        )
    return replace(query, filter=node, sort=sort, after=after)


def _depth(node: Node) -> int:
    """Levels of And/Or nesting of a normalised filter (a leaf or a negated leaf is 0)."""
    if isinstance(node, (And, Or)):
        return 1 + max((_depth(item) for item in node.items), default=0)
    return 0
