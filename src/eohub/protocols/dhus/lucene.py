"""DHuS ``q=``: the Solr/Lucene query dialect, parsed with luqum, translated into the query tree.

Semantics, as DHuS (Solr 4/5, ``defaultOperator=AND``, default field ``contents``):
- terms side by side are ANDed; ``AND``, ``OR``, ``NOT``, ``&&``, ``||``, ``!``, ``+``, ``-`` and
  parentheses combine them (AND binds tighter than OR, as in luqum);
- ``field:value``, ``field:"a phrase"``, ``field:(a OR b)``; field names are case-insensitive;
- ranges ``[a TO b]`` (inclusive) and ``{a TO b}`` (exclusive), ``*`` for an open end, bounds
  quoted or not; Solr dates and date math (``NOW-1DAY``) resolved with the injected clock;
- ``*`` and ``?`` wildcards; ``/regex/`` made of literals, ``.``, ``.*`` and ``.+``;
- text keywords match case-insensitively, string keywords exactly; ``field:*`` means "has a
  value"; a bare word or phrase is a full-text search over metadata values (``Text``);
- ``footprint:"Intersects(...)"`` (see :mod:`eohub.protocols.dhus.spatial`).
Boosts (``^2``) and proximity (``~3`` after a phrase) only rank in Solr and are ignored here.
No luqum object leaves this module.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from luqum import tree as lq
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.datemath import parse_date
from eohub.protocols.dhus.keywords import KEYWORDS, SPECIAL, Keyword, keyword_names
from eohub.protocols.dhus.spatial import parse_footprint
from eohub.protocols.dhus.values import format_suffixes, hv_to_tile, size_bounds, unit_range
from eohub.query.fields import FIELDS, FieldType, Protocol
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    Compare,
    CompareOp,
    IsNull,
    Like,
    Node,
    Not,
    Range,
    Text,
    Value,
    and_,
    or_,
)

_WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*[*?]")


def _unescape(text: str) -> str:
    """Lucene escapes removed: ``\\:`` -> ``:``."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _like_pattern(text: str) -> str:
    """A Lucene wildcard term as a Like pattern: ``\\*`` and ``\\?`` stay escaped."""
    return re.sub(r"\\(.)", lambda m: m[0] if m[1] in "*?\\" else m[1], text, flags=re.DOTALL)


def _escape_like(text: str) -> str:
    return re.sub(r"([*?\\])", r"\\\1", text)


def _has_wildcard(text: str) -> bool:
    return _WILDCARD.search(text) is not None


def _regex_pattern(body: str, name: str) -> str:
    """A Lucene regular expression as a Like pattern (literals, ``.``, ``.*``, ``.+`` only)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if ch == "\\" and nxt:
            out.append(_escape_like(nxt))
            i += 2
        elif ch == "." and nxt in "*+":
            out.append("*" if nxt == "*" else "?*")
            i += 2
        elif ch == ".":
            out.append("?")
            i += 1
        elif ch in '[](){}|*+?^$~<>&#@"':
            raise InvalidQuery(
                f"regular expression /{body}/ on '{name}' is not supported: only literal "
                "characters, '.', '.*' and '.+' are",
                field=name,
            )
        else:
            out.append(_escape_like(ch))
            i += 1
    return "".join(out)


class _Translator:
    """One query's translation (holds the clock and the original text for messages)."""

    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.now = now

    # -- structure ------------------------------------------------------------------------------
    def node(self, item: lq.Item, field: str | None) -> Node:
        if isinstance(item, (lq.AndOperation, lq.UnknownOperation)):
            return self._and(item.children, field)
        if isinstance(item, lq.OrOperation):
            return or_(*(self.node(c, field) for c in item.children))
        if isinstance(item, (lq.Not, lq.Prohibit)):
            return Not(self.node(item.a, field))
        if isinstance(item, lq.Plus):
            return self.node(item.a, field)
        if isinstance(item, (lq.Group, lq.FieldGroup)):
            return self.node(item.expr, field)
        if isinstance(item, lq.Boost):
            return self.node(item.expr, field)
        if isinstance(item, lq.SearchField):
            return self.search_field(item)
        if isinstance(item, lq.Proximity):
            return self.node(item.term, field)
        if isinstance(item, lq.Fuzzy):
            raise InvalidQuery(
                f"fuzzy search ('~') is not supported: '{item}'", field=field or "contents"
            )
        if isinstance(item, (lq.Word, lq.Phrase, lq.Range, lq.Regex)):
            return self.value(item, field)
        raise InvalidQuery(f"Cannot parse '{self.text}': unsupported syntax '{item}'")

    def _and(self, children: Sequence[lq.Item], field: str | None) -> Node:
        """Implicit AND, with ``&&`` and ``||`` (which luqum reads as words) honoured."""
        groups: list[list[Node]] = [[]]
        for child in children:
            if isinstance(child, lq.Word) and child.value in ("&&", "||"):
                if child.value == "||":
                    groups.append([])
                continue
            groups[-1].append(self.node(child, field))
        return or_(*(and_(*g) for g in groups if g)) if any(groups) else MATCH_ALL

    def search_field(self, item: lq.SearchField) -> Node:
        name = str(item.name)
        if name == "*":
            if isinstance(item.expr, lq.Word) and item.expr.value == "*":
                return MATCH_ALL
            raise InvalidQuery(f"Cannot parse '{self.text}': '*' is not a field name")
        return self.node(item.expr, _unescape(name).lower())

    # -- values ---------------------------------------------------------------------------------
    def value(self, item: lq.Item, field: str | None) -> Node:
        if field is None or field == "contents":
            return self.text_search(item)
        if field in SPECIAL:
            return self.special(field, item)
        keyword = KEYWORDS.get(field)
        if keyword is None:
            found = FIELDS.find(Protocol.DHUS, field)
            if found is None:
                raise InvalidQuery(f"undefined field {field}", field=field, choices=keyword_names())
            keyword = Keyword(field, found.name, text=found.type is FieldType.STRING)
        if isinstance(item, lq.Range):
            return self.range(keyword, item)
        if isinstance(item, lq.Regex):
            pattern = _regex_pattern(item.value[1:-1], keyword.name)
            return self.like(keyword, pattern)
        if isinstance(item, lq.Phrase):
            return self.equals(keyword, _unescape(item.value[1:-1]))
        raw = str(item.value)
        if raw == "*":
            return Not(IsNull(keyword.field))
        if _has_wildcard(raw):
            return self.like(keyword, _like_pattern(raw))
        if raw.startswith("!") and len(raw) > 1:
            return Not(self.value(lq.Word(raw[1:]), field))
        return self.equals(keyword, _unescape(raw))

    def text_search(self, item: lq.Item) -> Node:
        if isinstance(item, lq.Word):
            raw = str(item.value)
            if raw == "*":
                return MATCH_ALL
            if raw.startswith("!") and len(raw) > 1:
                return Not(self.text_search(lq.Word(raw[1:])))
            if _has_wildcard(raw.rstrip("*")):  # a wildcard inside: match the product name
                return Like("name", _like_pattern(raw), ignore_case=True)
            return Text(_unescape(raw))
        if isinstance(item, lq.Phrase):
            return Text(_unescape(item.value[1:-1]))
        raise InvalidQuery(
            f"a range or regular expression needs a field name: '{item}'", field="contents"
        )

    def typed(self, keyword: Keyword, text: str) -> Value:
        """``text`` as a value of the keyword's field type (InvalidQuery names the keyword)."""
        kind = keyword.spec.type
        value = text.strip()
        try:
            if kind is FieldType.INT:
                number = float(value) if "." in value or "e" in value.lower() else int(value)
                if isinstance(number, float):
                    if not number.is_integer():
                        raise ValueError(value)
                    number = int(number)
                return number
            if kind is FieldType.FLOAT:
                result = float(value)
                if not math.isfinite(result):
                    raise ValueError(value)
                return result
            if kind is FieldType.BOOL:
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                return value.lower() == "true"
        except (ValueError, OverflowError):
            raise InvalidQuery(
                f"Invalid Number: '{text}' is not a valid {kind.value} for field {keyword.name}",
                field=keyword.name,
            ) from None
        if kind is FieldType.DATETIME:
            return parse_date(value, self.now)
        return text

    def equals(self, keyword: Keyword, text: str) -> Node:
        field = keyword.field
        if keyword.spec.type is FieldType.UUID:
            try:
                return Compare(field, CompareOp.EQ, uuid.UUID(text.strip()))
            except ValueError:
                return MATCH_NONE  # a string field in DHuS: another value matches nothing
        value = self.typed(keyword, text)
        if keyword.spec.type is not FieldType.STRING:
            return Compare(field, CompareOp.EQ, value)
        if keyword.tokens:
            escaped = _escape_like(text)
            return or_(
                Compare(field, CompareOp.EQ, text, ignore_case=True),
                *(Like(field, p, ignore_case=True) for p in (f"{escaped} *", f"* {escaped}")),
                Like(field, f"* {escaped} *", ignore_case=True),
            )
        return Compare(field, CompareOp.EQ, text, ignore_case=keyword.text)

    def like(self, keyword: Keyword, pattern: str) -> Node:
        if keyword.spec.type is not FieldType.STRING:
            raise InvalidQuery(
                f"wildcards and regular expressions apply to text fields only, not to "
                f"{keyword.spec.type.value} field {keyword.name}",
                field=keyword.name,
            )
        if keyword.tokens:
            return or_(
                *(
                    Like(keyword.field, p, ignore_case=True)
                    for p in (pattern, f"{pattern} *", f"* {pattern}", f"* {pattern} *")
                )
            )
        return Like(keyword.field, pattern, ignore_case=keyword.text)

    def range(self, keyword: Keyword, item: lq.Range) -> Node:
        bounds: list[Value | None] = []
        for bound in (item.low, item.high):
            raw = _bound_text(bound)
            if isinstance(bound, lq.Phrase):
                bounds.append(self.typed(keyword, _unescape(raw[1:-1])))
            elif raw == "*":
                bounds.append(None)
            else:
                bounds.append(self.typed(keyword, _unescape(raw)))
        low, high = bounds
        if low is None and high is None:
            return Not(IsNull(keyword.field))
        if keyword.spec.type is FieldType.UUID:
            raise InvalidQuery(f"a range does not apply to field {keyword.name}", field="uuid")
        return Range(keyword.field, low, high, item.include_low, item.include_high)

    # -- keywords translated by hand ------------------------------------------------------------
    def special(self, name: str, item: lq.Item) -> Node:
        if (
            isinstance(item, lq.Word)
            and item.value == "*"
            or (isinstance(item, lq.Range) and item.low.value == "*" and item.high.value == "*")
        ):
            has = {"footprint": "footprint", "gmlfootprint": "footprint", "size": "size"}
            return Not(IsNull(has[name])) if name in has else MATCH_ALL
        if isinstance(item, lq.Regex) or (isinstance(item, lq.Word) and _has_wildcard(item.value)):
            unit = _size_unit(str(item.value).strip("/")) if name == "size" else None
            if unit is not None:
                return unit
            raise InvalidQuery(
                f"wildcards and regular expressions are not supported on field {name}", field=name
            )
        handler = _SPECIAL_HANDLERS.get(name)
        if handler is None:
            raise InvalidQuery(
                f"field {name} is not searchable on this hub"
                + (", use footprint" if name == "gmlfootprint" else ""),
                field=name,
            )
        if isinstance(item, lq.Range):
            if name != "size":
                raise InvalidQuery(f"a range does not apply to field {name}", field=name)
            return _size_range(item)
        raw = str(item.value)
        text = _unescape(raw[1:-1] if isinstance(item, lq.Phrase) else raw)
        return handler(text)


def _bound_text(bound: lq.Item) -> str:
    """A range bound's text; luqum reads a leading sign as an operator (``[-5 TO 5]``)."""
    if isinstance(bound, (lq.Prohibit, lq.Plus)) and isinstance(bound.a, lq.Word):
        return ("-" if isinstance(bound, lq.Prohibit) else "+") + str(bound.a.value)
    if not isinstance(bound, (lq.Word, lq.Phrase)):
        raise InvalidQuery(f"invalid range bound '{bound}'", field="q")
    return str(bound.value)


_UNIT_PATTERN = re.compile(r"^(?:\.[*+]|\*)\s*([KMGT]?B)$", re.IGNORECASE)


def _size_unit(pattern: str) -> Node | None:
    """``size:/.+KB/`` or ``size:*KB``: every size DHuS shows in that unit."""
    match = _UNIT_PATTERN.match(pattern.strip())
    if match is None:
        return None
    low, high = unit_range(match[1])
    return Range("size", low, high)


def _size_range(item: lq.Range) -> Node:
    def bound(b: lq.Item, high: bool) -> int | None:
        raw = _bound_text(b)
        if raw == "*":
            return None
        text = _unescape(raw[1:-1] if isinstance(b, lq.Phrase) else raw)
        low_b, high_b = size_bounds(text)
        return high_b if high else low_b

    low, high = bound(item.low, False), bound(item.high, True)
    if low is None and high is None:
        return Not(IsNull("size"))
    # Human sizes cover an interval of byte counts: take its outer edges for inclusive bounds.
    return Range("size", low, high, item.include_low, item.include_high)


def _size(text: str) -> Node:
    low, high = size_bounds(text)
    return Compare("size", CompareOp.EQ, low) if low == high else Range("size", low, high)


def _format(text: str) -> Node:
    return or_(*(Like("filename", "*" + _escape_like(s)) for s in format_suffixes(text)))


def _hv_order_tileid(text: str) -> Node:
    tile = hv_to_tile(text)
    return MATCH_NONE if tile is None else Compare("tile_id", CompareOp.EQ, tile)


def _productlevel(text: str) -> Node:
    level = text.strip()
    if len(level) >= 2 and level[0] in "Ll":
        return Compare("processing_level", CompareOp.EQ, f"Level-{level[1:]}", ignore_case=True)
    return Compare("processing_level", CompareOp.EQ, level, ignore_case=True)


def _footprint(text: str) -> Node:
    return parse_footprint(text)


_SPECIAL_HANDLERS: dict[str, Callable[[str], Node]] = {
    "footprint": _footprint,
    "size": _size,
    "format": _format,
    "hv_order_tileid": _hv_order_tileid,
    "productlevel": _productlevel,
}


def parse_q(text: str, now: datetime) -> Node:
    """The query tree of a DHuS ``q=`` value; InvalidQuery (DHuS wording) when it is bad.

    ``now`` is the time ``NOW`` stands for (an aware UTC datetime). Trees of queries without
    ``NOW`` are cached (clients page through one query; trees are immutable).
    """
    if "now" in text.lower():
        return _parse(text, now)
    return _parse_cached(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Node:
    return _parse(text, datetime.now(UTC))  # never read: the text has no NOW


def _parse(text: str, now: datetime) -> Node:
    if not text.strip():
        return MATCH_ALL
    try:
        parsed = luqum_parse(text)
    except ParseError as exc:
        raise InvalidQuery(f"Cannot parse '{text}': {exc}", field="q") from None
    except RecursionError:
        raise InvalidQuery(f"Cannot parse '{text}': nested too deeply", field="q") from None
    try:
        return _Translator(text, now).node(parsed, None)
    except RecursionError:
        raise InvalidQuery(f"Cannot parse '{text}': nested too deeply", field="q") from None
