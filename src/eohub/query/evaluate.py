"""The reference evaluator: plain-Python semantics of the query tree.

Every catalogue backend must return exactly what :func:`search` returns for the same products
(the property tests check it). Rules:
- two-valued logic: a leaf over a missing value is false, ``Not`` is the plain complement;
- strings compare by code point; ``ignore_case`` folds ASCII letters only (as SQL ``lower``
  does on every backend);
- ``Like``: ``*`` any run of characters, ``?`` exactly one, ``\\`` escapes the next character;
- sort: NULL after every value ascending and before every value descending; ``id`` breaks ties;
- spatial: planar predicates between the product's search footprint and the query geometry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cmp_to_key, lru_cache
from typing import Any

from eohub.model.product import Product
from eohub.query.fields import FIELDS
from eohub.query.query import CountMode, Cursor, Page, Query, SortKey
from eohub.query.text import product_tokens, query_tokens
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
    SpatialOp,
    Text,
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII-only lower-casing, the case folding shared by every backend."""
    return text.translate(_ASCII_LOWER)


@lru_cache(maxsize=1024)
def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compile a ``*``/``?`` wildcard pattern (backslash escapes) to an anchored regex."""
    out: list[str] = []
    chars = iter(fold(pattern) if ignore_case else pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "\\")
            out.append(re.escape(nxt))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


COMPARE_OPS: dict[CompareOp, Callable[[Any, Any], Any]] = {
    CompareOp.EQ: lambda a, b: a == b,
    CompareOp.NE: lambda a, b: a != b,
    CompareOp.LT: lambda a, b: a < b,
    CompareOp.LE: lambda a, b: a <= b,
    CompareOp.GT: lambda a, b: a > b,
    CompareOp.GE: lambda a, b: a >= b,
}
"""The comparison of each operator (element-wise on numpy arrays too)."""


def _field_value(field: str, product: Product) -> Any:
    return FIELDS.get(field).get(product)


def _compare(node: Compare, value: Any) -> bool:
    if value is None:
        return False
    target = node.value
    if node.ignore_case and isinstance(value, str) and isinstance(target, str):
        value, target = fold(value), fold(target)
    try:
        return bool(COMPARE_OPS[node.op](value, target))
    except TypeError:  # an attribute of another type than the value: never ordered
        return False


def _in(node: In, value: Any) -> bool:
    if value is None:
        return False
    if node.ignore_case:
        if not isinstance(value, str):  # an attribute holding a number, date...
            return False
        return fold(value) in {fold(str(v)) for v in node.values}
    return value in node.values


def _range(node: Range, value: Any) -> bool:
    if value is None:
        return False
    try:
        if node.low is not None:
            if value < node.low or (value == node.low and not node.low_inclusive):
                return False
        if node.high is not None:
            if value > node.high or (value == node.high and not node.high_inclusive):
                return False
    except TypeError:  # an attribute of another type than the bounds: never in range
        return False
    return True


def _like(node: Like, value: Any) -> bool:
    if not isinstance(value, str):  # missing, or an attribute holding a number, date...
        return False
    text = fold(value) if node.ignore_case else value
    return like_regex(node.pattern, node.ignore_case).fullmatch(text) is not None


_VALUE_LEAVES: dict[type, Callable[[Any, Any], bool]] = {
    Compare: _compare,
    In: _in,
    Range: _range,
    Like: _like,
    IsNull: lambda node, value: value is None,
}


def value_matches(node: Compare | In | Range | Like | IsNull, value: Any) -> bool:
    """Whether a field's value (None: missing) passes a leaf on that field."""
    return _VALUE_LEAVES[type(node)](node, value)


def _text(node: Text, product: Product) -> bool:
    tokens, prefix = query_tokens(node.text)
    if not tokens:
        return True
    have = product_tokens(product)
    exact = tokens[:-1] if prefix else tokens
    if not all(t in have for t in exact):
        return False
    return not prefix or any(h.startswith(tokens[-1]) for h in have)


def _spatial(node: Spatial, product: Product) -> bool:
    if product.footprint is None:
        return False
    mine, other = product.footprint.search, node.geometry.search
    if node.op is SpatialOp.INTERSECTS:
        return bool(mine.intersects(other))
    if node.op is SpatialOp.WITHIN:
        return bool(mine.within(other))
    return bool(mine.contains(other))


_LEAVES: dict[type, Callable[[Any, Product], bool]] = {
    Text: _text,
    Spatial: _spatial,
    **{
        kind: lambda node, product: value_matches(node, _field_value(node.field, product))
        for kind in _VALUE_LEAVES
    },
}


def matches(node: Node, product: Product) -> bool:
    """Whether ``product`` matches the (normalised) ``node``."""
    if isinstance(node, And):
        return all(matches(item, product) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, product) for item in node.items)
    if isinstance(node, Not):
        return not matches(node.item, product)
    return _LEAVES[type(node)](node, product)


def sort_values(product: Product, sort: tuple[SortKey, ...]) -> tuple[Any, ...]:
    """The product's values of each sort key (for cursors)."""
    return tuple(FIELDS.get(k.field).get(product) for k in sort)


def compare_rows(a: tuple[Any, ...], b: tuple[Any, ...], sort: tuple[SortKey, ...]) -> int:
    """-1/0/1 ordering of two rows' sort values under ``sort`` (NULL largest)."""
    for key, x, y in zip(sort, a, b, strict=True):
        if x == y:
            continue
        if x is None:
            c = 1
        elif y is None:
            c = -1
        else:
            c = -1 if x < y else 1
        return -c if key.descending else c
    return 0


def search(query: Query, products: Iterable[Product]) -> Page[Product]:
    """Run a normalised query over ``products`` in memory: the reference result."""
    hits = [p for p in products if matches(query.filter, p)]
    rows: list[tuple[tuple[Any, ...], Product]] = [(sort_values(p, query.sort), p) for p in hits]

    def order(r1: tuple[tuple[Any, ...], Product], r2: tuple[tuple[Any, ...], Product]) -> int:
        return compare_rows(r1[0], r2[0], query.sort)

    rows.sort(key=cmp_to_key(order))
    if query.after is not None:
        after = query.after.values
        rows = [r for r in rows if compare_rows(r[0], after, query.sort) > 0]
    window = rows[query.offset : query.offset + query.limit]
    more = len(rows) > query.offset + query.limit
    next_cursor = Cursor(query.sort, window[-1][0]) if more and window else None
    total = len(hits) if query.count is CountMode.EXACT else None
    return Page(items=[p for _, p in window], total=total, next=next_cursor, sort=query.sort)
