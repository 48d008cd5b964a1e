"""THE internal query tree: small immutable nodes every front-end produces and every backend runs.

Field references are canonical field names from :mod:`eohub.query.fields` (or
``attributes.<name>`` for any stored metadata attribute). Values are typed Python values:
``str``, ``int``, ``float``, ``bool``, aware UTC ``datetime``, ``uuid.UUID``. Geometry is a
validated :class:`~eohub.model.Footprint`.

Semantics (defined by :mod:`eohub.query.evaluate`, the reference every backend must match):
- a comparison with a missing (NULL) value is false; ``Not`` of it is true (two-valued logic:
  ``Not(x)`` is exactly the complement of ``x``);
- ``Like`` patterns use ``*`` (any run) and ``?`` (one character), ``\\`` escapes;
- ``Text`` matches when every token of ``text`` is a token of the product's text (its name and
  string metadata values, split on non-alphanumerics, case-insensitive); a trailing ``*`` makes
  the last token a prefix;
- ``Spatial`` compares the product's search footprint with the geometry (planar lon/lat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias
from uuid import UUID

from eohub.model.geometry import Footprint

Value: TypeAlias = str | int | float | bool | datetime | UUID


class CompareOp(StrEnum):
    """Comparison operators."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


class SpatialOp(StrEnum):
    """Spatial predicates between a product footprint and a query geometry."""

    INTERSECTS = "intersects"
    WITHIN = "within"  # footprint within geometry (DHuS IsWithin)
    CONTAINS = "contains"  # footprint contains geometry


@dataclass(frozen=True)
class And:
    """All items match (an empty And matches everything)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any item matches (an empty Or matches nothing)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The item does not match."""

    item: Node


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``ignore_case`` for string equality (DHuS text fields)."""

    field: str
    op: CompareOp
    value: Value
    ignore_case: bool = False


@dataclass(frozen=True)
class In:
    """``field`` equals one of ``values``."""

    field: str
    values: tuple[Value, ...]
    ignore_case: bool = False


@dataclass(frozen=True)
class Range:
    """``low <(=) field <(=) high``; an absent bound is open."""

    field: str
    low: Value | None = None
    high: Value | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class Like:
    """Wildcard match: ``*`` any run, ``?`` one character, backslash escapes."""

    field: str
    pattern: str
    ignore_case: bool = False


@dataclass(frozen=True)
class Text:
    """Full-text match over the product's metadata values."""

    text: str


@dataclass(frozen=True)
class IsNull:
    """The field has no value."""

    field: str


@dataclass(frozen=True)
class Spatial:
    """Spatial predicate between the product footprint and ``geometry``."""

    op: SpatialOp
    geometry: Footprint


Node: TypeAlias = And | Or | Not | Compare | In | Range | Like | Text | IsNull | Spatial

MATCH_ALL: Node = And(())
MATCH_NONE: Node = Or(())


def and_(*items: Node) -> Node:
    """Conjunction, flattening nested Ands."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def or_(*items: Node) -> Node:
    """Disjunction, flattening nested Ors."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Or) else (item,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def fields_of(node: Node) -> set[str]:
    """Every field name referenced by ``node`` ("footprint" for spatial, "text" for Text)."""
    if isinstance(node, (And, Or)):
        out: set[str] = set()
        for item in node.items:
            out |= fields_of(item)
        return out
    if isinstance(node, Not):
        return fields_of(node.item)
    if isinstance(node, Spatial):
        return {"footprint"}
    if isinstance(node, Text):
        return {"text"}
    return {node.field}
