"""CDSE ``$filter`` for Products -> the one query tree.

The text is read by the hand-written OData parser the DHuS service uses, in its ``csc``
dialect (lambdas, named arguments, ``geography'...'`` and bare dates); this module gives the
CDSE meaning to its syntax tree (reference: cdse.md section 1.4):

- properties ``Name`` (file name), ``Id``, ``Collection/Name``, ``PublicationDate``,
  ``ModificationDate``, ``OriginDate``, ``ContentDate/Start|End``, ``Online``,
  ``ContentLength`` with ``eq ne lt le gt ge`` (``eq null`` tests a missing value);
- ``contains``/``startswith``/``endswith`` on text properties;
- ``OData.CSC.Intersects(area=geography'SRID=4326;<WKT>')`` (also ``Footprint=``, positional);
- ``Attributes/OData.CSC.<T>Attribute/any(x:x/Name eq 'n' and x/OData.CSC.<T>Attribute/Value
  op v)``, leniently: any variable name, ``x/Value`` without a cast, casts that disagree with
  each other or with the attribute (the attribute's own type decides and the literal is
  converted to it when that loses nothing), the conditions in any order, several of them;
- ``and``, ``or``, ``not``, parentheses; datetimes without a zone are UTC, dates are midnight.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

from eohub.errors import InvalidQuery
from eohub.model.geometry import Footprint
from eohub.protocols.csc.attributes import attribute_query_field
from eohub.protocols.dhus.odata_v1.filter_parser import (
    Binary,
    Call,
    Expr,
    Lambda,
    Literal,
    Member,
    Unary,
    parse_datetime_literal,
)
from eohub.protocols.dhus.odata_v1.filter_parser import parse_filter as parse_expr
from eohub.query.fields import FIELDS, Field, FieldType
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Node,
    Not,
    Spatial,
    SpatialOp,
    Value,
    and_,
    or_,
)

PROPERTIES: dict[str, str] = {
    "Id": "id",
    "Name": "filename",
    "Collection/Name": "collection",
    "PublicationDate": "publication_date",
    "ModificationDate": "modification_date",
    "OriginDate": "ingestion_date",
    "ContentDate/Start": "sensing_start",
    "ContentDate/End": "sensing_end",
    "Online": "online",
    "ContentLength": "size",
}
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}
_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_TEXT_FUNCTIONS = {"contains": "*{}*", "startswith": "{}*", "endswith": "*{}"}
_INTERSECTS = "odata.csc.intersects"
_SRID = re.compile(r"^\s*SRID=(\d+)\s*;\s*", re.IGNORECASE)
# CDSE's Sentinel-1 product types (IW_GRDH_1S, EW_SLC__1A...) live in the name; the catalogue's
# product type is the DHuS one (GRD, SLC), which also serves CDSE's legacy grouped types.
_S1_TYPE = re.compile(r"^[A-Z0-9]{2}_(RAW|SLC|GRD|OCN|ETA)[A-Z_]_[0-9][A-Z]$")


def _error(message: str) -> InvalidQuery:
    return InvalidQuery(f"Invalid filter: {message}", field="$filter")


def parse_filter(text: str) -> Node:
    """The query tree of a CDSE ``$filter``; malformed or unknown input is an InvalidQuery."""
    return _Translator().predicate(parse_expr(text, csc=True))


def translate_condition(expr: Expr) -> Node:
    """The query tree of one parsed condition (a part of a ``$filter`` read elsewhere)."""
    return _Translator().predicate(expr)


class _Translator:
    def __init__(self) -> None:
        self.var: str | None = None  # the lambda variable while inside any(...)
        self.bound: Field | None = None  # the attribute field the variable's Value stands for

    # -- predicates -----------------------------------------------------------------------------
    def predicate(self, expr: Expr) -> Node:
        if isinstance(expr, Binary):
            if expr.op == "and":
                return and_(self.predicate(expr.left), self.predicate(expr.right))
            if expr.op == "or":
                return or_(self.predicate(expr.left), self.predicate(expr.right))
            if expr.op in _COMPARISONS:
                return self.comparison(expr)
            raise _error(f"arithmetic ('{expr.op}') is not supported")
        if isinstance(expr, Unary) and expr.op == "not":
            return Not(self.predicate(expr.operand))
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Lambda):
            return self.lambda_(expr)
        if isinstance(expr, Literal) and isinstance(expr.value, bool):
            return MATCH_ALL if expr.value else MATCH_NONE
        if isinstance(expr, Member):
            field = self.field(expr)
            if field.type is FieldType.BOOL:
                return Compare(field.name, CompareOp.EQ, True)
        raise _error(f"{_describe(expr)} is not a condition")

    def comparison(self, expr: Binary) -> Node:
        op, left, right = expr.op, expr.left, expr.right
        if isinstance(left, Literal) and not isinstance(right, Literal):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(right, Literal):
            raise _error(f"{_describe(right)} must be a literal value")
        if not isinstance(left, Member) and op in ("eq", "ne") and isinstance(right.value, bool):
            inner = self.predicate(left)  # contains(Name,'x') eq true
            return inner if (op == "eq") == right.value else Not(inner)
        if not isinstance(left, Member):
            raise _error(f"{_describe(left)} cannot be compared")
        field = self.field(left)
        if right.kind == "null":
            if op not in ("eq", "ne"):
                raise _error("null compares with eq or ne only")
            return IsNull(field.name) if op == "eq" else Not(IsNull(field.name))
        value = convert(field, right, left.name)
        if field.name == "product_type" and isinstance(value, str):
            return _product_type(op, value)
        if field.name == "polarisation" and isinstance(value, str):
            value = value.replace("&", " ")  # CDSE writes VV&VH, the catalogue VV VH
        return Compare(field.name, CompareOp(op), value)

    def call(self, expr: Call) -> Node:
        name = expr.name.lower()
        if name in _TEXT_FUNCTIONS:
            if len(expr.args) != 2:
                raise _error(f"{expr.name}() takes a property and a text")
            target, text = expr.args
            if not isinstance(target, Member) or not (
                isinstance(text, Literal) and text.kind == "string"
            ):
                raise _error(
                    f"{expr.name}() takes a property and a quoted text, e.g. "
                    f"{expr.name}(Name,'S2A')"
                )
            field = self.field(target)
            if field.type is not FieldType.STRING:
                raise _error(f"{expr.name}() applies to text properties, not {target.name}")
            assert isinstance(text.value, str)
            pattern = _TEXT_FUNCTIONS[name].format(_escape(text.value))
            return Like(field.name, pattern)
        if name == _INTERSECTS:
            return _intersects(expr)
        raise _error(
            f"unknown function '{expr.name[:60]}' (supported: contains, startswith, "
            f"endswith, OData.CSC.Intersects)"
        )

    def lambda_(self, expr: Lambda) -> Node:
        if self.var is not None:
            raise _error("a lambda cannot contain another lambda")
        if not expr.path or expr.path[0] != "Attributes" or len(expr.path) > 2:
            raise _error(f"lambdas apply to Attributes only, not {'/'.join(expr.path)}")
        if len(expr.path) == 2 and not re.fullmatch(r"OData\.CSC\.\w+Attribute", expr.path[1]):
            raise _error(f"unknown attribute type '{expr.path[1][:60]}'")
        if expr.op != "any":
            raise _error("only any() is supported on Attributes")
        conjuncts = _conjuncts(expr.body)
        names = [c for c in conjuncts if _is_name_test(c, expr.var)]
        if len(names) != 1:
            raise _error(
                f"an attribute condition names exactly one attribute, as "
                f"{expr.var}/Name eq 'cloudCover'"
            )
        name_test = names[0]
        assert isinstance(name_test, Binary)
        literal = name_test.right if isinstance(name_test.right, Literal) else name_test.left
        assert isinstance(literal, Literal) and isinstance(literal.value, str)
        field = attribute_query_field(literal.value)
        rest = [c for c in conjuncts if c is not name_test]
        self.var, self.bound = expr.var, field
        try:
            if not rest:
                return Not(IsNull(field.name))
            return and_(*(self.predicate(c) for c in rest))
        finally:
            self.var, self.bound = None, None

    # -- names ----------------------------------------------------------------------------------
    def field(self, member: Member) -> Field:
        path = member.path
        if self.var is not None and path[0] == self.var:
            if path[-1] == "Value" and len(path) <= 3 and self.bound is not None:
                return self.bound
            raise _error(
                f"inside the lambda use {self.var}/Value (or "
                f"{self.var}/OData.CSC.<Type>Attribute/Value), not {member.name}"
            )
        canonical = PROPERTIES.get(member.name)
        if canonical is None:
            raise InvalidQuery(
                f"Invalid filter: unknown property '{member.name[:100]}'",
                field="$filter",
                choices=[*PROPERTIES, "Attributes/OData.CSC.<Type>Attribute/any(...)"],
            )
        return FIELDS.get(canonical)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_string(value: object) -> Value | None:
    return value if isinstance(value, str) else str(value) if _number(value) else None


def _to_int(value: object) -> Value | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    return None


def _to_float(value: object) -> Value | None:
    if _number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _to_datetime(value: object) -> Value | None:
    if isinstance(value, datetime) or not isinstance(value, str):
        return value if isinstance(value, datetime) else None
    text = value.strip()
    text = f"{text}T00:00:00Z" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text
    try:
        return parse_datetime_literal(text)
    except InvalidQuery:
        return None


def _to_bool(value: object) -> Value | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _to_uuid(value: object) -> Value | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


_CONVERTERS: dict[FieldType, tuple[Callable[[object], Value | None], str]] = {
    FieldType.STRING: (_to_string, "a text"),
    FieldType.INT: (_to_int, "an integer"),
    FieldType.FLOAT: (_to_float, "a number"),
    FieldType.DATETIME: (_to_datetime, "a date and time"),
    FieldType.BOOL: (_to_bool, "true or false"),
    FieldType.UUID: (_to_uuid, "a UUID"),
}


def convert(field: Field, literal: Literal, shown: str) -> Value:
    """A literal as a value of the field's type, when that loses nothing; else InvalidQuery."""
    if field.type not in _CONVERTERS:
        raise _error(f"{shown} cannot be compared with a value")
    converter, expected = _CONVERTERS[field.type]
    result = converter(literal.value)
    if result is None:
        raise _error(f"{shown} expects {expected}, not {_shown(literal)}")
    return result


def _product_type(op: str, value: str) -> Node:
    match = _S1_TYPE.fullmatch(value)
    if match is None or op not in ("eq", "ne"):
        return Compare("product_type", CompareOp(op), value)
    by_name = and_(
        Compare("product_type", CompareOp.EQ, match.group(1)),
        Like("filename", f"S1?_{_escape(value)}*"),
    )
    equal = or_(Compare("product_type", CompareOp.EQ, value), by_name)
    return equal if op == "eq" else Not(equal)


def _intersects(expr: Call) -> Node:
    if len(expr.args) != 1:
        raise _error(
            "OData.CSC.Intersects takes one geography, as "
            "OData.CSC.Intersects(area=geography'SRID=4326;POINT(12.5 41.9)')"
        )
    param = expr.params[0] if expr.params else ""
    if param and param.lower() not in ("area", "footprint", "geography"):
        raise _error(f"unknown parameter '{param[:40]}' of OData.CSC.Intersects (use area=)")
    arg = expr.args[0]
    if not isinstance(arg, Literal) or arg.kind not in ("geography", "string"):
        raise _error("OData.CSC.Intersects needs a geography'SRID=4326;<WKT>' literal")
    assert isinstance(arg.value, str)
    text = arg.value
    srid = _SRID.match(text)
    if srid is not None:
        if srid.group(1) != "4326":
            raise _error(f"only SRID=4326 (WGS84 lon/lat) is supported, not SRID={srid.group(1)}")
        text = text[srid.end() :]
    return Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(text, strict=True))


def _conjuncts(expr: Expr) -> list[Expr]:
    if isinstance(expr, Binary) and expr.op == "and":
        return [*_conjuncts(expr.left), *_conjuncts(expr.right)]
    return [expr]


def _is_name_test(expr: Expr, var: str) -> bool:
    if not (isinstance(expr, Binary) and expr.op == "eq"):
        return False
    sides = (expr.left, expr.right)
    named = any(isinstance(s, Member) and s.path == (var, "Name") for s in sides)
    text = any(isinstance(s, Literal) and s.kind == "string" for s in sides)
    return named and text


def _escape(text: str) -> str:
    """A literal text inside a wildcard pattern (``*``, ``?`` and ``\\`` taken literally)."""
    return re.sub(r"([*?\\])", r"\\\1", text)


def _shown(literal: Literal) -> str:
    if isinstance(literal.value, str):
        return f"'{literal.value[:60]}'"
    return str(literal.value)[:60]


def _describe(expr: Expr) -> str:
    if isinstance(expr, Member):
        return expr.name[:100]
    if isinstance(expr, Literal):
        return _shown(expr)
    if isinstance(expr, Call):
        return f"{expr.name[:60]}(...)"
    return "this expression"
