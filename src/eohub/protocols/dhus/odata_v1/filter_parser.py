"""A parser for OData 2 ``$filter`` expressions (the dialect of DHuS / Apache Olingo 2).

Written by hand on purpose: the maintained Python parser, ``odata-query``, reads OData v4 only
and rejects what DHuS clients send (the ``substringof`` function, ``datetime'...'``,
``guid'...'`` and ``10L`` literals). This is a small recursive-descent parser over the OData 2
grammar, with the OData 2 operator precedence (lowest first): ``or``, ``and``, ``eq ne``,
``lt gt le ge``, ``add sub``, ``mul div mod``, unary ``not`` and ``-``, then member access and
function calls. It returns a tiny syntax tree; :mod:`.filter_translate` turns that into the
query tree.

With ``csc=True`` it also reads the OData v4 forms of the CDSE / ESA CSC dialect that DHuS
never accepted: lambdas (``Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'x')``), named
function arguments (``OData.CSC.Intersects(area=geography'SRID=4326;POINT(1 2)')``), ``geography``
literals and bare dates (``2024-08-01``); the DHuS parse is unchanged without it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

from eohub.errors import InvalidQuery

MAX_FILTER_LENGTH = 8000
MAX_NESTING = 64  # parentheses, unary operators and function calls inside each other

KEYWORDS = frozenset(
    {"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "div", "mod"}
)


@dataclass(frozen=True)
class Literal:
    """A literal value; ``kind`` is null, bool, int, float, string, datetime or guid."""

    kind: str
    value: object


@dataclass(frozen=True)
class Member:
    """A property path such as ``Name`` or ``ContentDate/Start``."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The path as written (``ContentDate/Start``)."""
        return "/".join(self.path)


@dataclass(frozen=True)
class Call:
    """A function call, ``name(args...)``; ``params`` names each argument ("" positional)."""

    name: str
    args: tuple[Expr, ...]
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lambda:
    """An OData v4 lambda, ``path/any(var:body)`` (``csc`` dialect only)."""

    path: tuple[str, ...]
    op: str  # "any" or "all"
    var: str
    body: Expr


@dataclass(frozen=True)
class Unary:
    """``not x`` or ``-x``."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """``left op right`` for logical, comparison and arithmetic operators."""

    op: str
    left: Expr
    right: Expr


Expr: TypeAlias = Literal | Member | Call | Unary | Binary | Lambda


@dataclass(frozen=True)
class _Token:
    kind: str  # punct, string, typed, number, word, end
    text: str
    pos: int


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BARE_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_BARE_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?![\w-])")
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT:])")
_TYPED_PREFIXES = ("datetimeoffset", "datetime", "guid", "time", "binary", "x")
_CSC_TYPED_PREFIXES = (*_TYPED_PREFIXES, "geography", "geometry")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def _error(message: str) -> InvalidQuery:
    return InvalidQuery(f"invalid $filter: {message}", field="$filter")


def _quoted_end(text: str, start: int) -> int:
    """Index just past the string literal whose opening quote is at ``start``."""
    i = start + 1
    while i < len(text):
        if text[i] == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    raise _error(f"unterminated string starting at position {start + 1}")


def tokenize(text: str, *, csc: bool = False) -> list[_Token]:
    """Split a filter into tokens; raise InvalidQuery naming the first bad character."""
    tokens: list[_Token] = []
    punct = "(),/-:=" if csc else "(),/-"
    prefixes = _CSC_TYPED_PREFIXES if csc else _TYPED_PREFIXES
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in punct:
            tokens.append(_Token("punct", ch, i))
            i += 1
        elif ch == "'":
            end = _quoted_end(text, i)
            tokens.append(_Token("string", text[i + 1 : end - 1].replace("''", "'"), i))
            i = end
        elif csc and ch.isalnum() and (guid := _BARE_GUID.match(text, i)) is not None:
            tokens.append(_Token("typed", f"guid:{guid.group()}", i))  # OData v4 bare GUID
            i = guid.end()
        elif ch.isdigit() and (bare := _BARE_DATETIME.match(text, i)) is not None:
            # Lenient: an OData v4 style bare datetime, as CDSE clients write it.
            tokens.append(_Token("typed", f"datetime:{bare.group()}", i))
            i = bare.end()
        elif csc and ch.isdigit() and (day := _BARE_DATE.match(text, i)) is not None:
            tokens.append(_Token("typed", f"datetime:{day.group()}T00:00:00Z", i))
            i = day.end()
        elif ch.isdigit():
            m = _NUMBER.match(text, i)
            assert m is not None
            tokens.append(_Token("number", m.group(), i))
            i = m.end()
        else:
            m = _WORD.match(text, i)
            if m is None:
                raise _error(f"unexpected character {ch!r} at position {i + 1}")
            word = m.group()
            end = m.end()
            if end < len(text) and text[end] == "'" and word.lower() in prefixes:
                close = _quoted_end(text, end)
                body = text[end + 1 : close - 1].replace("''", "'")
                tokens.append(_Token("typed", f"{word.lower()}:{body}", i))
                i = close
            else:
                tokens.append(_Token("word", word, i))
                i = end
    tokens.append(_Token("end", "", len(text)))
    return tokens


def parse_datetime_literal(body: str, *, offset_required: bool = False) -> datetime:
    """``2014-12-06T00:00:00[.fff][Z|+hh:mm]`` as an aware UTC datetime (no zone means UTC)."""
    m = _DATETIME.fullmatch(body.strip())
    if m is None:
        raise _error(f"'{body}' is not a datetime (expected yyyy-mm-ddThh:mm[:ss[.fff]])")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if offset_required and zone is None:
        raise _error(f"datetimeoffset '{body}' needs a zone (Z or +hh:mm)")
    tz = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    micro = int((fraction or "0").ljust(7, "0")[:6])
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        )
    except ValueError as exc:
        raise _error(f"'{body}' is not a valid datetime ({exc})") from None
    return value.astimezone(UTC)


def _number(text: str) -> Literal:
    suffix = text[-1].lower() if text[-1].isalpha() else ""
    body = text[:-1] if suffix else text
    if suffix == "l" or (not suffix and re.fullmatch(r"\d+", body)):
        if "." in body or "e" in body.lower():
            raise _error(f"'{text}' is not an integer")
        return Literal("int", int(body))
    try:
        value = float(Decimal(body)) if suffix == "m" else float(body)
    except (ValueError, InvalidOperation):
        raise _error(f"'{text}' is not a number") from None
    return Literal("float", value)


def _typed(text: str) -> Literal:
    prefix, body = text.split(":", 1)
    if prefix == "datetime":
        return Literal("datetime", parse_datetime_literal(body))
    if prefix == "datetimeoffset":
        return Literal("datetime", parse_datetime_literal(body, offset_required=True))
    if prefix in ("geography", "geometry"):
        return Literal("geography", body)
    if prefix == "guid":
        try:
            return Literal("guid", uuid.UUID(body))
        except ValueError:
            raise _error(f"'{body}' is not a GUID") from None
    raise _error(f"{prefix}'...' literals are not supported")


class _Parser:
    def __init__(self, tokens: list[_Token], *, csc: bool = False) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.csc = csc

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.tokens[min(self.i + ahead, len(self.tokens) - 1)]
        return token.kind == "punct" and token.text == text

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "word" and token.text.lower() in words:
            self.i += 1
            return token.text.lower()
        return None

    def expect(self, text: str) -> None:
        token = self.next()
        if token.kind != "punct" or token.text != text:
            found = "the end" if token.kind == "end" else repr(token.text)
            raise _error(f"expected '{text}' at position {token.pos + 1}, found {found}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _error(f"expression nested too deeply (at most {MAX_NESTING} levels)")

    def binary(self, level: int) -> Expr:
        levels = (("or",), ("and",), ("eq", "ne"), ("lt", "gt", "le", "ge"), ("add", "sub"),
                  ("mul", "div", "mod"))  # fmt: skip
        if level == len(levels):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.keyword(*levels[level])) is not None:
            left = Binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> Expr:
        token = self.peek()
        if token.kind == "punct" and token.text == "-":
            self.next()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return Unary("-", operand)
        if self.keyword("not"):
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return Unary("not", operand)
        return self.primary()

    def primary(self) -> Expr:
        token = self.next()
        if token.kind == "punct" and token.text == "(":
            self.nest()
            inner = self.binary(0)
            self.expect(")")
            self.depth -= 1
            return inner
        if token.kind == "string":
            return Literal("string", token.text)
        if token.kind == "number":
            return _number(token.text)
        if token.kind == "typed":
            return _typed(token.text)
        if token.kind == "word":
            return self.word(token)
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        raise _error(f"expected a value or a property at position {token.pos + 1}, found {found}")

    def word(self, token: _Token) -> Expr:
        lower = token.text.lower()
        if lower in ("true", "false"):
            return Literal("bool", lower == "true")
        if lower == "null":
            return Literal("null", None)
        if lower in KEYWORDS:
            raise _error(f"operator '{token.text}' at position {token.pos + 1} lacks an operand")
        nxt = self.peek()
        if nxt.kind == "punct" and nxt.text == "(":
            self.next()
            self.nest()
            args: list[Expr] = []
            params: list[str] = []
            if not self.at(")"):
                while True:
                    named = self.csc and self.peek().kind == "word" and self.at("=", 1)
                    params.append(self.next().text if named else "")
                    if named:
                        self.next()  # the "="
                    args.append(self.binary(0))
                    if not self.at(","):
                        break
                    self.next()
            self.expect(")")
            self.depth -= 1
            return Call(token.text, tuple(args), tuple(params) if any(params) else ())
        path = [token.text]
        while self.peek().kind == "punct" and self.peek().text == "/":
            self.next()
            part = self.next()
            if part.kind != "word":
                raise _error(f"expected a property name after '/' at position {part.pos + 1}")
            if self.csc and part.text.lower() in ("any", "all") and self.at("("):
                return self.lambda_(tuple(path), part.text.lower())
            path.append(part.text)
        return Member(tuple(path))

    def lambda_(self, path: tuple[str, ...], op: str) -> Lambda:
        """``path/any(var:body)``: the opening parenthesis is next."""
        self.next()
        self.nest()
        var = self.next()
        if var.kind != "word" or var.text.lower() in KEYWORDS:
            raise _error(f"expected a lambda variable name at position {var.pos + 1}")
        self.expect(":")
        body = self.binary(0)
        self.expect(")")
        self.depth -= 1
        return Lambda(path, op, var.text, body)


def parse_filter(text: str, *, csc: bool = False) -> Expr:
    """Parse a ``$filter`` value; malformed input raises InvalidQuery saying where and why.

    ``csc``: also read the CDSE / CSC OData v4 forms (see the module docstring)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _error(f"expression longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise _error("empty expression")
    parser = _Parser(tokenize(text, csc=csc), csc=csc)
    expr = parser.binary(0)
    token = parser.peek()
    if token.kind != "end":
        raise _error(f"unexpected {token.text!r} at position {token.pos + 1}")
    return expr
