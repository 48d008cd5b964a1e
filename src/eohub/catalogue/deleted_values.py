"""Searchable values of deleted products, and conditions on them (``DeletedFilter.product``).

A deleted product keeps, next to its whole stored document, a flat JSON object of its values
by query field name (``sensing_start``, ``cloud_cover``, ``attributes.<name>``...), each as
``[kind, value]``: ``s`` text, ``n`` number (booleans as 0/1, as Python compares them), ``t``
an aware datetime and ``T`` a naive one in microseconds since the epoch, ``x`` a value that
exists but never compares (a NaN). Both backends answer ContentDate and attribute conditions
from it in SQL, with the reference semantics of ``eohub.query.evaluate``: a comparison with a
missing value or a value of another kind is false, ``ne`` is true for a value of another kind,
``Not`` is the complement. Such conditions scan the rows the other conditions of the filter
leave (DeletionDate, Name, Id use their indexes).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from eohub.errors import InvalidQuery
from eohub.model.product import Product
from eohub.query.evaluate import fold
from eohub.query.fields import ATTRIBUTE_PREFIX, FIELDS, FieldType
from eohub.query.tree import And, Compare, CompareOp, IsNull, Like, Node, Not, Or, Value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SKIPPED = (FieldType.GEOMETRY, FieldType.UUID)
SQL_OPS = {
    CompareOp.EQ: "=",
    CompareOp.NE: "!=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
}
Condition = tuple[str, list[Any]]


def _us(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_value(value: object) -> list[Any] | None:
    """``[kind, value]`` of one value (None: no value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ["n", int(value)]
    if isinstance(value, int):
        return ["n", value]
    if isinstance(value, float):
        return ["n", value] if math.isfinite(value) else ["x", None]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, datetime):
        return ["t" if value.tzinfo is not None else "T", _us(value)]
    return ["x", None]


def search_values(product: Product) -> bytes:
    """The searchable values of a product, as stored with its deletion."""
    values: dict[str, list[Any]] = {}
    for field in FIELDS:
        if field.type not in _SKIPPED and (found := encode_value(field.get(product))):
            values[field.name] = found
    for name, value in product.attributes.items():
        if (found := encode_value(value)) is not None:
            values[ATTRIBUTE_PREFIX + name] = found
    return orjson.dumps(values)


def _kind(value: Value) -> str | None:
    """The stored kind a query value compares with (None: none does)."""
    if isinstance(value, bool | int | float):
        return "n"
    if isinstance(value, str):
        return "s"
    if isinstance(value, datetime):
        return "t" if value.tzinfo is not None else "T"
    return None


def _param(value: Value) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return _us(value)
    return value


class ValueDialect(Protocol):
    """How one database reads a field of the ``search`` column (every value bound)."""

    true: str
    false: str

    def present(self, name: str) -> Condition:
        """The field has a value (of any kind)."""

    def compare(self, name: str, kind: str, op: str, value: Any, *, fold: bool) -> Condition:
        """The field holds a value of ``kind`` and ``value op param`` holds (NULL otherwise);
        ``fold``: compare the ASCII-lower-cased text."""

    def like(self, name: str, pattern: str, *, fold: bool) -> Condition:
        """The field holds a text matching the ``*``/``?`` pattern (NULL otherwise)."""


def condition(node: Node, dialect: ValueDialect) -> Condition:
    """The SQL condition of a product condition (always TRUE or FALSE, never NULL)."""
    if isinstance(node, And | Or):
        if not node.items:
            return (dialect.true if isinstance(node, And) else dialect.false), []
        parts = [condition(item, dialect) for item in node.items]
        joiner = " AND " if isinstance(node, And) else " OR "
        return (
            "(" + joiner.join(text for text, _ in parts) + ")",
            [p for _, params in parts for p in params],
        )
    if isinstance(node, Not):
        text, params = condition(node.item, dialect)
        return f"(NOT {text})", params
    if isinstance(node, IsNull):
        text, params = dialect.present(node.field)
        return f"(NOT {text})", params
    if isinstance(node, Compare):
        return _compare(node, dialect)
    if isinstance(node, Like):
        pattern = fold(node.pattern) if node.ignore_case else node.pattern
        text, params = dialect.like(node.field, pattern, fold=node.ignore_case)
        return f"coalesce({text}, {dialect.false})", params
    raise InvalidQuery(f"a deleted-product condition cannot hold {type(node).__name__}")


def _compare(node: Compare, dialect: ValueDialect) -> Condition:
    kind = _kind(node.value)
    folded = node.ignore_case and isinstance(node.value, str)
    value = fold(node.value) if folded and isinstance(node.value, str) else _param(node.value)
    if node.op is CompareOp.NE:
        present, params = dialect.present(node.field)
        if kind is None:
            return present, params
        equal, more = dialect.compare(node.field, kind, "=", value, fold=folded)
        return f"({present} AND NOT coalesce({equal}, {dialect.false}))", [*params, *more]
    if kind is None:
        return dialect.false, []
    text, params = dialect.compare(node.field, kind, SQL_OPS[node.op], value, fold=folded)
    return f"coalesce({text}, {dialect.false})", params
