"""Query tree -> PostgreSQL WHERE conditions over ``products p``, with bound values.

Every value travels as a bound parameter (``%s``); identifiers come only from the fixed column
map below. The SQL matches :mod:`eohub.query.evaluate` exactly:
- two-valued logic: ``Not`` over a nullable column becomes ``col IS NULL OR NOT (...)``;
- strings compare by code point (columns are ``COLLATE "C"``) and ``ignore_case`` uses
  ``lower()`` under "C", which folds ASCII letters only; values are folded in Python;
- PostgreSQL text cannot hold NUL (nor lone surrogates), so no stored string contains one: a
  query string with one is rewritten exactly (``col < 'ab\\0c'`` is ``col < 'ab\\1'``;
  equality never holds);
- ``Text`` uses the token array computed in Python by ``product_tokens``;
- ``Spatial`` runs planar PostGIS predicates (GEOS) on the search geometry with its GiST index
  (or, next to time and platform bounds, behind the 4-D index of ``spacetime``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal
from typing import Any

import shapely
from psycopg import sql

from eohub.errors import InvalidQuery
from eohub.query.evaluate import fold
from eohub.query.fields import FIELDS, Field, FieldType
from eohub.query.text import query_tokens
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
    Value,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SQL_OPS = {
    CompareOp.EQ: "=",
    CompareOp.NE: "<>",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
}
_SPATIAL = {
    SpatialOp.INTERSECTS: "ST_Intersects",
    SpatialOp.WITHIN: "ST_Within",
    SpatialOp.CONTAINS: "ST_Contains",
}
# Canonical field -> column of ``products`` (every field but footprint has its own column).
COLUMNS: dict[str, str] = {f.name: f.name for f in FIELDS if f.type is not FieldType.GEOMETRY}


@dataclass(frozen=True)
class Frag:
    """A piece of SQL and the values of its ``%s`` placeholders, in order."""

    sql: sql.Composable
    params: tuple[Any, ...] = ()
    constant: bool | None = None  # True/False when the fragment is a constant
    nullable: bool = False  # may evaluate to NULL (then NOT needs a NULL guard)


TRUE = Frag(sql.SQL("TRUE"), constant=True)
FALSE = Frag(sql.SQL("FALSE"), constant=False)


def _join(frags: Sequence[Frag], word: str) -> Frag:
    is_and = word == "AND"
    kept: list[Frag] = []
    for f in frags:
        if f.constant is is_and:  # TRUE in an AND, FALSE in an OR: no effect
            continue
        if f.constant is (not is_and):  # FALSE in an AND, TRUE in an OR: decides
            return f
        kept.append(f)
    if not kept:
        return TRUE if is_and else FALSE
    if len(kept) == 1:
        return kept[0]
    body = sql.SQL(f" {word} ").join(f.sql for f in kept)
    params = tuple(p for f in kept for p in f.params)
    return Frag(sql.SQL("({})").format(body), params, nullable=any(f.nullable for f in kept))


def and_all(frags: Sequence[Frag]) -> Frag:
    """Conjunction (constants folded)."""
    return _join(frags, "AND")


def or_any(frags: Sequence[Frag]) -> Frag:
    """Disjunction (constants folded)."""
    return _join(frags, "OR")


def column(field: str, alias: str = "p") -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(COLUMNS[field]))


def _frag(template: str, *parts: sql.Composable, params: tuple[Any, ...] = ()) -> Frag:
    return Frag(sql.SQL(template).format(*parts), params)  # type: ignore[arg-type]


# -- scalar comparisons ---------------------------------------------------------------------------


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: not in PostgreSQL text


def storable_text(text: str) -> bool:
    """Whether PostgreSQL text can hold ``text`` (no NUL, no lone surrogate)."""
    return _UNSTORABLE.search(text) is None


def compare_value(expr: sql.Composable, op: CompareOp, value: Any) -> Frag:
    """``expr op value`` for a non-NULL value, exact for values PostgreSQL cannot hold."""
    found = _UNSTORABLE.search(value) if isinstance(value, str) else None
    if found is not None:
        # No stored string holds the character c at i, so a stored s is below the value
        # exactly when it is below head + (the next storable character after c).
        i, c = found.start(), found.group()
        bound = value[:i] + ("\x01" if c == "\x00" else "\ue000")
        if op is CompareOp.EQ:
            return FALSE
        if op is CompareOp.NE:
            return _frag("{} IS NOT NULL", expr)
        text_op = "<" if op in (CompareOp.LT, CompareOp.LE) else ">="
        return _frag("{} " + text_op + " %s", expr, params=(bound,))
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:  # beyond bigint: compare as numeric
            return _frag("{}::numeric " + _SQL_OPS[op] + " %s::numeric", expr, params=(value,))
    return _frag("{} " + _SQL_OPS[op] + " %s", expr, params=(value,))


def field_of(name: str) -> Field:
    return FIELDS.get(name)


def _compare(node: Compare) -> Frag:
    if field_of(node.field).is_attribute:
        return _attr_compare(node.field, node.op, node.value, node.ignore_case)
    col = column(node.field)
    if node.ignore_case and isinstance(node.value, str):
        return compare_value(sql.SQL("lower({})").format(col), node.op, fold(node.value))
    return compare_value(col, node.op, node.value)


def _in_values(values: Sequence[Value], ignore_case: bool) -> list[Value]:
    out: list[Value] = []
    for v in values:
        if isinstance(v, str):
            if not storable_text(v):
                continue  # no stored string holds a NUL or a lone surrogate
            v = fold(v) if ignore_case else v
        elif isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX:
            continue  # no stored integer is that large
        out.append(v)
    return out


_ARRAY_TYPES = {
    FieldType.STRING: "text",
    FieldType.INT: "bigint",
    FieldType.FLOAT: "float8",
    FieldType.DATETIME: "timestamptz",
    FieldType.BOOL: "boolean",
    FieldType.UUID: "uuid",
}


def _in(node: In) -> Frag:
    field = field_of(node.field)
    if field.is_attribute:
        return or_any(
            [_attr_compare(node.field, CompareOp.EQ, v, node.ignore_case) for v in node.values]
        )
    values = _in_values(node.values, node.ignore_case)
    if not values:
        return FALSE
    expr: sql.Composable = column(node.field)
    if node.ignore_case:
        expr = sql.SQL("lower({})").format(expr)
    cast = _ARRAY_TYPES[field.type]
    return _frag("{} = ANY(%s::" + cast + "[])", expr, params=(values,))


def _range(node: Range) -> Frag:
    parts: list[Frag] = []
    if node.low is not None:
        parts.append(
            _range_bound(node.field, CompareOp.GE if node.low_inclusive else CompareOp.GT, node.low)
        )
    if node.high is not None:
        parts.append(
            _range_bound(
                node.field, CompareOp.LE if node.high_inclusive else CompareOp.LT, node.high
            )
        )
    if not parts:
        return _not_null(node.field)
    return and_all(parts)


def _range_bound(field: str, op: CompareOp, value: Value) -> Frag:
    if field_of(field).is_attribute:
        return _attr_compare(field, op, value, False)
    return compare_value(column(field), op, value)


def _not_null(field: str) -> Frag:
    if field_of(field).is_attribute:
        return _attr_exists(field, TRUE)
    return _frag("{} IS NOT NULL", column(field))


# -- Like ---------------------------------------------------------------------------------------


def like_pattern(pattern: str) -> str:
    """A ``*``/``?`` pattern (backslash escapes) as a SQL LIKE pattern with ``\\`` escapes."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            out.append("\\" + ch if ch in "%_\\" else ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append("\\" + ch if ch in "%_\\" else ch)
    return "".join(out)


def _like(node: Like) -> Frag:
    if not storable_text(node.pattern):
        return FALSE  # such a character is literal in the pattern and no stored string has it
    pattern = like_pattern(fold(node.pattern) if node.ignore_case else node.pattern)
    if field_of(node.field).is_attribute:
        expr: sql.Composable = sql.SQL("x.text_value")
        if node.ignore_case:
            expr = sql.SQL("lower(x.text_value)")
        test = _frag("x.type = 'str' AND {} LIKE %s ESCAPE '\\'", expr, params=(pattern,))
        return _attr_exists(node.field, test)
    expr = column(node.field)
    if node.ignore_case:
        expr = sql.SQL("lower({})").format(expr)
    return _frag("{} LIKE %s ESCAPE '\\'", expr, params=(pattern,))


# -- attributes ---------------------------------------------------------------------------------


def _attr_exists(field: str, test: Frag) -> Frag:
    name = field_of(field).attribute_name
    if test.constant is False:
        return FALSE
    cond = sql.SQL("") if test.constant is True else sql.SQL(" AND {}").format(test.sql)
    params = (name,) if test.constant is True else (name, *test.params)
    body = sql.SQL(
        "EXISTS (SELECT 1 FROM product_attributes x WHERE x.product_id = p.id AND x.name = %s{})"
    ).format(cond)
    return Frag(body, params)


_NUMERIC_TYPES = "x.type IN ('int', 'float', 'bool')"  # bools compare as 0/1, as in Python


def _typed_value(value: Value, ignore_case: bool) -> tuple[str, sql.Composable, Any] | None:
    """(type test, value expression, parameter) for an attribute comparison.

    None when no stored attribute type can equal the value (a UUID).
    """
    if isinstance(value, (bool, int)):
        return _NUMERIC_TYPES, sql.SQL("x.num_value"), Decimal(int(value))
    if isinstance(value, float):  # repr: the float's exact shortest decimal, as stored
        return _NUMERIC_TYPES, sql.SQL("x.num_value"), Decimal(repr(value))
    if isinstance(value, datetime):
        return "x.type = 'datetime'", sql.SQL("x.ts_value"), value
    if not isinstance(value, str):
        return None
    if ignore_case:
        return "x.type = 'str'", sql.SQL("lower(x.text_value)"), fold(value)
    return "x.type = 'str'", sql.SQL("x.text_value"), value


def _attr_compare(field: str, op: CompareOp, value: Value, ignore_case: bool) -> Frag:
    """``attributes.<name> op value``; a stored value of another type never matches.

    ``ne`` means present and not equal, as in the evaluator (``5 != "5"`` is true). A stored
    NaN (numeric NaN sorts above every number in PostgreSQL) is never greater than anything.
    """
    typed_value = _typed_value(value, ignore_case)
    positive = CompareOp.EQ if op is CompareOp.NE else op
    if typed_value is None:
        typed = FALSE
    else:
        type_test, expr, param = typed_value
        tests = [Frag(sql.SQL(type_test)), compare_value(expr, positive, param)]
        if isinstance(param, Decimal) and positive in (CompareOp.GT, CompareOp.GE):
            tests.append(Frag(sql.SQL("x.num_value <> 'NaN'::numeric")))
        if isinstance(param, str) and not ignore_case and op is CompareOp.EQ:
            # Redundant prefix test so the (name, left(text_value, 200)) index can serve it.
            tests.append(Frag(sql.SQL("left(x.text_value, 200) = left(%s, 200)"), (param,)))
        typed = and_all(tests)
    if op is CompareOp.NE:
        if typed.constant is False:
            return _attr_exists(field, TRUE)
        return _attr_exists(field, Frag(sql.SQL("NOT {}").format(typed.sql), typed.params))
    return _attr_exists(field, typed)


# -- text and space -----------------------------------------------------------------------------


MAX_EXPANSION = 2000  # prefix tokens looked up in the vocabulary before falling back to a scan


@dataclass(frozen=True)
class Context:
    """What compiling a filter may use besides the tree.

    ``prefixes``: for a Text prefix, every vocabulary token starting with it (None: too many,
    or not looked up). ``spatial_unindexed``: leave spatial tests out of the 2-D index (the
    space-time prefilter serves them better).
    """

    prefixes: Mapping[str, Sequence[str] | None] = dataclass_field(default_factory=dict)
    spatial_unindexed: bool = False


def text_prefixes(node: Node) -> set[str]:
    """The prefix tokens of every Text node of a filter (to look up in the vocabulary)."""
    if isinstance(node, (And, Or)):
        return set().union(*(text_prefixes(item) for item in node.items))
    if isinstance(node, Not):
        return text_prefixes(node.item)
    if isinstance(node, Text):
        tokens, prefix = query_tokens(node.text)
        return {tokens[-1]} if prefix else set()
    return set()


def _text(node: Text, ctx: Context) -> Frag:
    tokens, prefix = query_tokens(node.text)
    if not tokens:
        return TRUE
    exact = tokens[:-1] if prefix else tokens
    parts: list[Frag] = []
    if exact:
        parts.append(Frag(sql.SQL("p.text_tokens @> %s::text[]"), (sorted(set(exact)),)))
    if prefix:
        expanded = ctx.prefixes.get(tokens[-1])
        if expanded is not None:
            # Every stored token is in the vocabulary: overlap with the tokens that start with
            # the prefix is the prefix test, and the GIN index serves it.
            found = Frag(sql.SQL("p.text_tokens && %s::text[]"), (list(expanded),))
            parts.append(found if expanded else FALSE)
        else:
            unnest = "EXISTS (SELECT 1 FROM unnest(p.text_tokens) t WHERE starts_with(t, %s))"
            parts.append(Frag(sql.SQL(unnest), (tokens[-1],)))
    return and_all(parts)


def _spatial(node: Spatial, unindexed: bool) -> Frag:
    geometry = shapely.force_2d(node.geometry.search)
    wkb = bytes(shapely.to_wkb(geometry))
    # The "_ST_" forms are the same GEOS predicates without the implied 2-D index test.
    func = sql.SQL(("_" if unindexed else "") + _SPATIAL[node.op])
    body = sql.SQL("{}(p.footprint, ST_GeomFromWKB(%s, 4326))").format(func)
    return Frag(body, (wkb,), nullable=True)


def _is_null(node: IsNull) -> Frag:
    field = field_of(node.field)
    if field.is_attribute:
        inner = _attr_exists(node.field, TRUE)
        return Frag(sql.SQL("NOT {}").format(inner.sql), inner.params)
    if field.type is FieldType.GEOMETRY:
        return Frag(sql.SQL("p.footprint IS NULL"))
    if not field.nullable:
        return FALSE
    return _frag("{} IS NULL", column(node.field))


# -- tree ---------------------------------------------------------------------------------------


def _leaf(node: Node, ctx: Context) -> Frag:
    if isinstance(node, Compare):
        frag = _compare(node)
    elif isinstance(node, In):
        frag = _in(node)
    elif isinstance(node, Range):
        frag = _range(node)
    elif isinstance(node, Like):
        frag = _like(node)
    elif isinstance(node, Text):
        return _text(node, ctx)
    elif isinstance(node, Spatial):
        return _spatial(node, ctx.spatial_unindexed)
    elif isinstance(node, IsNull):
        return _is_null(node)
    else:  # pragma: no cover - the tree has no other node
        raise InvalidQuery(f"unsupported query node {type(node).__name__}")
    field = field_of(node.field)
    if not field.is_attribute and field.nullable and frag.constant is None:
        return Frag(frag.sql, frag.params, nullable=True)
    return frag


def _negate(frag: Frag, node: Node) -> Frag:
    if frag.constant is not None:
        return FALSE if frag.constant else TRUE
    if not frag.nullable:
        return Frag(sql.SQL("NOT {}").format(frag.sql), frag.params)
    # Two-valued logic: the leaf is false on NULL, so its negation is true there.
    if isinstance(node, (Compare, In, Range, Like)):
        guard: sql.Composable = sql.SQL("{} IS NULL").format(column(node.field))
    else:
        guard = sql.SQL("p.footprint IS NULL")
    return Frag(sql.SQL("({} OR NOT {})").format(guard, frag.sql), frag.params)


def compile_filter(node: Node, ctx: Context | None = None) -> Frag:
    """The WHERE condition of a (normalised) filter over ``products p``."""
    ctx = ctx or Context()

    def walk(item: Node) -> Frag:
        return compile_filter(item, ctx)

    if isinstance(node, And):
        return and_all([walk(item) for item in node.items])
    if isinstance(node, Or):
        return or_any([walk(item) for item in node.items])
    if isinstance(node, Not):
        item = node.item
        if isinstance(item, Not):
            return walk(item.item)
        if isinstance(item, And):  # not expected after normalisation: push the negation down
            return or_any([walk(Not(i)) for i in item.items])
        if isinstance(item, Or):
            return and_all([walk(Not(i)) for i in item.items])
        return _negate(_leaf(item, ctx), item)
    return _leaf(node, ctx)
