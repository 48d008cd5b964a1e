"""OData 2 ``$filter`` syntax tree -> the one query tree (``eohub.query.tree``).

Names: the DHuS Product properties (``Name``, ``IngestionDate``, ``ContentDate/Start``...), and,
beyond DHuS, any queryable by its DHuS OpenSearch or CDSE name (``cloudcoverpercentage``,
``productType``) and any metadata attribute as ``Attributes('<Name>')`` (the names
``Products(...)/Attributes`` lists). Functions: ``substringof``, ``startswith``, ``endswith``
(and v4 ``contains``) become wildcard matches; ``tolower``/``toupper`` case-insensitive ones;
``year`` a date range; ``month``, ``day``, ``hour``, ``minute``, ``second`` a union of date
ranges over the period the catalogue covers (``span``), since no backend extracts date parts.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.odata_v1.dateparts import PART_DOMAINS, part_intervals, year_node
from eohub.protocols.dhus.odata_v1.entities import ATTRIBUTE_FIELDS
from eohub.protocols.dhus.odata_v1.filter_parser import (
    Binary,
    Call,
    Expr,
    Lambda,
    Literal,
    Member,
    Unary,
    parse_filter,
)
from eohub.query.fields import FIELDS, Field, FieldType, Protocol, attribute_field
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    And,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Range,
    and_,
    or_,
)

#: ``(field, filter) -> (earliest, latest)`` values of a datetime field among the products
#: matching ``filter``, or None when none does.
Span = Callable[[str, Node], tuple[datetime, datetime] | None]
_PLACEHOLDER = "\x00part:"  # stands for a date-part comparison until its span is known

NOT_FILTERABLE = ("EvictionDate", "ContentType", "Value", "ChildrenNumber")
_CONSTANT_PROPERTIES: dict[str, object] = {"OnDemand": False}
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}
_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}  # fmt: skip
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "mod": operator.mod,
}  # fmt: skip
_DATE_PARTS = ("year", "month", "day", "hour", "minute", "second")
_UNSUPPORTED = ("concat", "indexof", "length", "substring", "trim", "round", "floor", "ceiling",
                "replace", "isof", "cast")  # fmt: skip


def _error(message: str, field: str | None = None) -> InvalidQuery:
    return InvalidQuery(f"invalid $filter: {message}", field=field or "$filter")


@dataclass(frozen=True)
class _Field:
    field: Field
    name: str  # as written, for messages
    case: str | None = None  # "lower" / "upper" when wrapped in tolower()/toupper()


@dataclass(frozen=True)
class _Part:
    field: Field
    name: str
    part: str


@dataclass(frozen=True)
class _Const:
    value: object


@dataclass(frozen=True)
class _Pred:
    node: Node


_Value = _Field | _Part | _Const | _Pred


def resolve_property(name: str) -> Field:
    """The query field behind a Product property or another queryable name."""
    if name in NOT_FILTERABLE:
        raise _error(f"Property {name} is not filterable.", name)
    for protocol in (Protocol.ODATA, Protocol.DHUS, Protocol.CDSE):
        found = FIELDS.find(protocol, name)
        if found is not None:
            return found
    valid = [*FIELDS.aliases(Protocol.ODATA), "OnDemand", "Attributes('<name>')"]
    raise InvalidQuery(f"invalid $filter: unknown property '{name}'", field=name, choices=valid)


def attribute_query_field(name: str) -> Field:
    """The field of ``Attributes('<name>')``: a typed field, else the stored attribute."""
    canonical = ATTRIBUTE_FIELDS.get(name)
    if canonical is not None:
        return FIELDS.get(canonical)
    if not name or len(name) > 200:
        raise _error("an attribute name must have 1 to 200 characters")
    return attribute_field(name, FieldType.STRING)


class _Translator:
    def __init__(self, span: Span | None) -> None:
        self.span = span
        self.parts: list[tuple[str, str, set[int]]] = []  # (field, part, wanted values)

    # -- expressions ---------------------------------------------------------------------------
    def value(self, expr: Expr) -> _Value:
        if isinstance(expr, Literal):
            return _Const(expr.value)
        if isinstance(expr, Member):
            return self.member(expr)
        if isinstance(expr, Unary):
            return self.unary(expr)
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Lambda):  # only the CDSE dialect reads lambdas
            raise _error("lambda expressions (any/all) are not part of OData v1")
        return self.binary(expr)

    def member(self, expr: Member) -> _Value:
        if expr.name in _CONSTANT_PROPERTIES:
            return _Const(_CONSTANT_PROPERTIES[expr.name])
        return _Field(resolve_property(expr.name), expr.name)

    def unary(self, expr: Unary) -> _Value:
        inner = self.value(expr.operand)
        if expr.op == "not":
            return _Pred(Not(self.predicate(inner, expr.operand)))
        if isinstance(inner, _Const) and type(inner.value) in (int, float):
            return _Const(-inner.value)  # type: ignore[operator]
        raise _error("unary minus applies to numbers only")

    def binary(self, expr: Binary) -> _Value:
        if expr.op in ("and", "or"):
            left = self.predicate(self.value(expr.left), expr.left)
            right = self.predicate(self.value(expr.right), expr.right)
            return _Pred(and_(left, right) if expr.op == "and" else or_(left, right))
        left_v, right_v = self.value(expr.left), self.value(expr.right)
        if expr.op in _COMPARISONS:
            return _Pred(self.compare(expr.op, left_v, right_v))
        if isinstance(left_v, _Const) and isinstance(right_v, _Const):
            a, b = left_v.value, right_v.value
            if type(a) in (int, float) and type(b) in (int, float):
                try:
                    return _Const(_ARITHMETIC[expr.op](a, b))
                except ZeroDivisionError:
                    raise _error("division by zero") from None
        raise _error(f"arithmetic ('{expr.op}') applies to number literals only")

    def predicate(self, value: _Value, expr: Expr) -> Node:
        if isinstance(value, _Pred):
            return value.node
        if isinstance(value, _Field) and value.field.type is FieldType.BOOL:
            return Compare(value.field.name, CompareOp.EQ, True)
        if isinstance(value, _Const) and isinstance(value.value, bool):
            return MATCH_ALL if value.value else MATCH_NONE
        raise _error(f"{_describe(expr)} is not a condition (true or false)")

    # -- comparisons ---------------------------------------------------------------------------
    def compare(self, op: str, left: _Value, right: _Value) -> Node:
        if isinstance(left, _Const) and not isinstance(right, _Const):
            left, right, op = right, left, _FLIP[op]
        if isinstance(left, _Const) and isinstance(right, _Const):
            return _constant_compare(op, left.value, right.value)
        if not isinstance(right, _Const):
            raise _error("a comparison needs a literal value on one side")
        if isinstance(left, _Pred) or (
            isinstance(left, _Field) and left.field.type is FieldType.BOOL and op in ("eq", "ne")
        ):
            return self.compare_bool(op, left, right.value)
        if isinstance(left, _Part):
            return self.compare_part(op, left, right.value)
        assert isinstance(left, _Field)
        return _compare_field(op, left, right.value)

    def compare_bool(self, op: str, left: _Pred | _Field, value: object) -> Node:
        if not isinstance(value, bool):
            raise _error(f"a condition compares with true or false, not {value!r}")
        if op not in ("eq", "ne"):
            raise _error(f"operator '{op}' does not apply to true/false")
        if isinstance(left, _Field):
            node: Node = Compare(left.field.name, CompareOp.EQ, True)
        else:
            node = left.node
        return node if (op == "eq") == value else Not(node)

    def compare_part(self, op: str, part: _Part, value: object) -> Node:
        if type(value) is not int:
            raise _error(f"{part.part}({part.name}) compares with an integer, not {value!r}")
        if part.part == "year":
            return year_node(op, part.field.name, value)
        return self.expand_part(op, part, value)

    def expand_part(self, op: str, part: _Part, value: int) -> Node:
        domain = PART_DOMAINS[part.part]
        wanted = {v for v in domain if _PY_OPS[op](v, value)}
        if not wanted:
            return MATCH_NONE
        if wanted == set(domain):
            return MATCH_ALL
        self.parts.append((part.field.name, part.part, wanted))
        return IsNull(f"{_PLACEHOLDER}{len(self.parts) - 1}")

    def expand(self, index: int, context: Node) -> Node:
        """A date-part comparison as date ranges over the products matching ``context``."""
        name, part, wanted = self.parts[index]
        bounds = self.span(name, context) if self.span else None
        if bounds is None:
            return MATCH_NONE
        intervals = list(part_intervals(part, wanted, bounds[0], bounds[1]))
        if not intervals:
            return MATCH_NONE
        return or_(*(Range(name, a, b, high_inclusive=False) for a, b in intervals))

    def resolve(self, node: Node, outer: Node = MATCH_ALL) -> Node:
        """Replace the placeholders; at the top of an ``and`` the other conditions narrow the
        period to expand over (the result needs them anyway), elsewhere the whole catalogue."""
        if not self.parts:
            return node
        items = node.items if isinstance(node, And) else (node,)
        plain = [item for item in items if not _has_placeholder(item)]
        context = and_(outer, *plain)
        return and_(*(self.substitute(item, context) for item in items))

    def substitute(self, node: Node, context: Node) -> Node:
        if isinstance(node, IsNull) and node.field.startswith(_PLACEHOLDER):
            return self.expand(int(node.field[len(_PLACEHOLDER) :]), context)
        if isinstance(node, And):
            return And(tuple(self.substitute(i, context) for i in node.items))
        if isinstance(node, Or):
            return Or(tuple(self.substitute(i, context) for i in node.items))
        if isinstance(node, Not):
            return Not(self.substitute(node.item, context))
        return node

    # -- functions -----------------------------------------------------------------------------
    def call(self, expr: Call) -> _Value:
        name = expr.name
        lower = name.lower()
        if name == "Attributes":
            if len(expr.args) != 1 or not _is_string(expr.args[0]):
                raise _error("write an attribute as Attributes('<name>')")
            attr = str(expr.args[0].value)  # type: ignore[union-attr]
            return _Field(attribute_query_field(attr), f"Attributes('{attr}')")
        if lower in ("substringof", "contains", "startswith", "endswith"):
            return self.text_match(expr, lower)
        if lower in ("tolower", "toupper"):
            target = self.one_field(expr, {FieldType.STRING})
            return _Field(target.field, target.name, case=lower[2:])
        if lower in _DATE_PARTS:
            target = self.one_field(expr, {FieldType.DATETIME})
            return _Part(target.field, target.name, lower)
        if lower in _UNSUPPORTED:
            raise _error(f"function '{name}' is not supported by this hub")
        raise _error(f"unknown function '{name}'")

    def one_field(self, expr: Call, types: set[FieldType]) -> _Field:
        if len(expr.args) != 1:
            raise _error(f"function '{expr.name}' takes one argument")
        target = self.value(expr.args[0])
        if not isinstance(target, _Field) or target.field.type not in types:
            kinds = " or ".join(sorted(t.value for t in types))
            raise _error(f"function '{expr.name}' applies to a {kinds} property")
        return target

    def text_match(self, expr: Call, name: str) -> _Pred:
        if len(expr.args) != 2:
            raise _error(f"function '{expr.name}' takes two arguments")
        first, second = (self.value(a) for a in expr.args)
        target, needle = (second, first) if name == "substringof" else (first, second)
        if not isinstance(target, _Field) or target.field.type is not FieldType.STRING:
            raise _error(f"function '{expr.name}' needs a text property")
        if not isinstance(needle, _Const) or not isinstance(needle.value, str):
            raise _error(f"function '{expr.name}' needs a text literal")
        text = needle.value
        ignore_case = target.case is not None
        if ignore_case and not _case_matches(text, target.case):
            return _Pred(MATCH_NONE)
        escaped = "".join("\\" + ch if ch in "*?\\" else ch for ch in text)
        pattern = {"startswith": f"{escaped}*", "endswith": f"*{escaped}"}.get(name, f"*{escaped}*")
        return _Pred(Like(target.field.name, pattern, ignore_case=ignore_case))


def _has_placeholder(node: Node) -> bool:
    if isinstance(node, IsNull):
        return node.field.startswith(_PLACEHOLDER)
    if isinstance(node, (And, Or)):
        return any(_has_placeholder(i) for i in node.items)
    if isinstance(node, Not):
        return _has_placeholder(node.item)
    return False


def _is_string(expr: Expr) -> bool:
    return isinstance(expr, Literal) and expr.kind == "string"


def _describe(expr: Expr) -> str:
    if isinstance(expr, Member):
        return f"'{expr.name}'"
    if isinstance(expr, Literal):
        return repr(expr.value)
    if isinstance(expr, Call):
        return f"{expr.name}(...)"
    return "the expression"


def _case_matches(text: str, case: str | None) -> bool:
    return text == (text.lower() if case == "lower" else text.upper())


def _constant_compare(op: str, a: object, b: object) -> Node:
    try:
        return MATCH_ALL if _PY_OPS[op](a, b) else MATCH_NONE
    except TypeError:
        raise _error(f"cannot compare {a!r} with {b!r}") from None


def _typed_value(target: _Field, value: object) -> object:
    """The literal converted to the property's type, or InvalidQuery naming the property."""
    kind = target.field.type
    ok: object = None
    if kind is FieldType.STRING and isinstance(value, str):
        ok = value
    elif kind is FieldType.INT and type(value) is int:
        ok = value
    elif kind is FieldType.INT and type(value) is float and value.is_integer():
        ok = int(value)
    elif kind is FieldType.FLOAT and type(value) in (int, float):
        ok = float(value)  # type: ignore[arg-type]
    elif kind is FieldType.DATETIME and isinstance(value, datetime):
        ok = value
    elif kind is FieldType.BOOL and isinstance(value, bool):
        ok = value
    elif kind is FieldType.UUID and isinstance(value, uuid.UUID):
        ok = value
    elif kind is FieldType.UUID and isinstance(value, str):
        try:
            ok = uuid.UUID(value)
        except ValueError:
            ok = _NO_UUID
    if ok is None:
        raise _error(f"property '{target.name}' cannot be compared with {value!r}", target.name)
    return ok


_NO_UUID = object()  # a string that is no UUID: equal to no product Id


def _compare_field(op: str, target: _Field, value: object) -> Node:
    field = target.field
    if field.type is FieldType.GEOMETRY:
        raise _error(f"property '{target.name}' cannot be compared", target.name)
    if value is None:
        if op not in ("eq", "ne"):
            raise _error(f"only eq and ne compare with null ('{target.name}')", target.name)
        node: Node = IsNull(field.name)
        return node if op == "eq" else Not(node)
    typed = _typed_value(target, value)
    if typed is _NO_UUID:
        if op not in ("eq", "ne"):
            raise _error(f"property '{target.name}' compares with a UUID", target.name)
        return MATCH_NONE if op == "eq" else MATCH_ALL
    if field.type is FieldType.BOOL and op not in ("eq", "ne"):
        raise _error(f"operator '{op}' does not apply to '{target.name}'", target.name)
    if target.case is not None:
        if op not in ("eq", "ne"):
            raise _error(f"to{target.case}() compares with eq or ne only", target.name)
        assert isinstance(typed, str)
        found: Node = (
            Compare(field.name, CompareOp.EQ, typed, ignore_case=True)
            if _case_matches(typed, target.case)
            else MATCH_NONE
        )
        return found if op == "eq" else Not(found)
    return Compare(field.name, CompareOp(op), typed)  # type: ignore[arg-type]


def translate(expr: Expr, *, span: Span | None = None, context: Node = MATCH_ALL) -> Node:
    """The query tree of a parsed ``$filter``; ``context`` is a condition the results must also
    meet (e.g. the collection), used to narrow the expansion of date parts."""
    translator = _Translator(span)
    return translator.resolve(translator.predicate(translator.value(expr), expr), context)


def parse(text: str, *, span: Span | None = None, context: Node = MATCH_ALL) -> Node:
    """Parse and translate a ``$filter`` value."""
    return translate(parse_filter(text), span=span, context=context)
