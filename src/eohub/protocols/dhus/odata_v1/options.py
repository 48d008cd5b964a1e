"""OData system query options ($filter, $orderby, $top, $skip, $select, $expand, $format,
$inlinecount) and the resource path (``Products('id')/Nodes('x')/$value``)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.odata_v1.deleted_filter import parse_deleted_orderby
from eohub.protocols.dhus.odata_v1.errors import ODataError, bad_request
from eohub.protocols.dhus.odata_v1.filter_translate import resolve_property
from eohub.query.query import SortKey

DEFAULT_TOP = 50  # DHuS <search:odata defaultTop="50"/>
MAX_TOP = 1000  # largest page; DHuS's max.product.page.size message above it
MAX_SKIP = 2**62
MAX_PATH_SEGMENTS = 32
_SYSTEM = {"$filter", "$orderby", "$top", "$skip", "$select", "$expand", "$format",
           "$inlinecount", "$skiptoken"}  # fmt: skip


class Format(StrEnum):
    """Response formats."""

    ATOM = "atom"
    XML = "xml"
    JSON = "json"
    CSV = "csv"
    METALINK = "metalink"


_FORMATS = {
    "atom": Format.ATOM,
    "application/atom+xml": Format.ATOM,
    "xml": Format.XML,
    "application/xml": Format.XML,
    "json": Format.JSON,
    "application/json": Format.JSON,
    "csv": Format.CSV,
    "text/csv": Format.CSV,
    "metalink": Format.METALINK,
    "application/metalink4+xml": Format.METALINK,
}


@dataclass(frozen=True)
class Options:
    """Parsed system query options (raw ``$filter``; names of ``$select``/``$expand``)."""

    filter: str | None = None
    orderby: tuple[SortKey, ...] = ()
    top: int | None = None
    skip: int = 0
    inlinecount: bool = False
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    format: Format | None = None


def _int_option(name: str, raw: str, maximum: int) -> int:
    text = raw.strip()
    if not text.isdigit():
        raise bad_request(f"Invalid value '{raw}' for system query option {name}: expected a "
                          "non-negative integer")  # fmt: skip
    value = int(text[:30])
    if len(text) > 30 or value > maximum:
        if name == "$top":
            raise bad_request(f"Product page size exceeds the authorized size ({maximum}).")
        raise bad_request(f"Invalid value '{raw[:40]}' for system query option {name}")
    return value


def parse_format(raw: str) -> Format:
    """``$format`` value (short name or media type)."""
    found = _FORMATS.get(raw.strip().lower().split(";")[0])
    if found is None:
        raise bad_request(
            f"Unsupported $format '{raw[:60]}' (use atom, xml, json, csv or metalink)",
            cause="ODataNotAcceptableException",
        )
    return found


def parse_orderby(raw: str) -> tuple[SortKey, ...]:
    """``Prop [asc|desc], ...`` -> sort keys on canonical fields."""
    keys: list[SortKey] = []
    for item in raw.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_request(f"Invalid $orderby item '{item.strip()[:60]}'")
        try:
            field = resolve_property(words[0])
        except InvalidQuery as exc:
            raise bad_request(exc.user_message.replace("$filter", "$orderby")) from None
        if not field.sortable:
            raise bad_request(f"Property {words[0]} cannot be used in $orderby")
        keys.append(SortKey(field.name, descending=len(words) == 2 and words[1] == "desc"))
    return tuple(keys)


def _names(raw: str, option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if not names or any(len(n) > 100 for n in names):
        raise bad_request(f"Invalid value for system query option {option}")
    return names


def parse_options(params: Mapping[str, str], segments: Sequence[Segment] = ()) -> Options:
    """System query options of a request; unknown ``$`` options are a 400 as in Olingo.

    ``segments`` (the resource path) chooses the ``$orderby`` properties: those of
    DeletedProducts below that set, else those of Products.
    """
    for name in params:
        if name.startswith("$") and name not in _SYSTEM:
            raise bad_request(f"Invalid system query option: '{name[:40]}'")
    inline = params.get("$inlinecount")
    if inline is not None and inline not in ("allpages", "none"):
        raise bad_request(f"Invalid value '{inline[:40]}' for $inlinecount (allpages or none)")
    deleted = bool(segments) and segments[0].name == "DeletedProducts"
    sort_parser = parse_deleted_orderby if deleted else parse_orderby
    return Options(
        filter=params.get("$filter"),
        orderby=sort_parser(params["$orderby"]) if params.get("$orderby") else (),
        top=_int_option("$top", params["$top"], MAX_TOP) if "$top" in params else None,
        skip=_int_option("$skip", params["$skip"], MAX_SKIP) if "$skip" in params else 0,
        inlinecount=inline == "allpages",
        select=_names(params["$select"], "$select") if "$select" in params else (),
        expand=_names(params["$expand"], "$expand") if "$expand" in params else (),
        format=parse_format(params["$format"]) if "$format" in params else None,
    )


# -- resource path ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One path segment: a name and an optional key (``Products('x')``: key ``x``)."""

    name: str
    key: str | None = None


def _split(raw: str) -> list[str]:
    """Split on ``/`` outside quoted keys."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in raw:
        if ch == "'":
            quoted = not quoted
        if ch == "/" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _segment(text: str) -> Segment:
    if "(" not in text:
        if not text or "'" in text or ")" in text:
            raise bad_request(f"Invalid resource path segment '{text[:80]}'")
        return Segment(text)
    name, _, rest = text.partition("(")
    if not name or not rest.endswith(")"):
        raise bad_request(f"Invalid resource path segment '{text[:80]}'")
    body = rest[:-1]
    if len(body) >= 2 and body[0] == "'" and body[-1] == "'":
        inner = body[1:-1]
        if "'" in inner.replace("''", ""):
            raise bad_request(f"Invalid key predicate in '{text[:80]}'")
        return Segment(name, inner.replace("''", "'"))
    if body.startswith("guid'") and body.endswith("'"):
        return Segment(name, body[5:-1])
    raise ODataError(
        400,
        f"Invalid key predicate ({body[:80]}) for {name}: keys are quoted strings "
        f"such as {name}('value')",
        cause="UriSyntaxException",
    )


def parse_path(raw: str) -> list[Segment]:
    """The segments of a raw (still percent-encoded) resource path below ``/odata/v1``."""
    raw = raw.strip("/")
    if not raw:
        return []
    parts = _split(raw)
    if len(parts) > MAX_PATH_SEGMENTS:
        raise bad_request(f"Resource path too long (at most {MAX_PATH_SEGMENTS} segments)")
    segments: list[Segment] = []
    for part in parts:
        try:
            text = urllib.parse.unquote(part, errors="strict")
        except UnicodeDecodeError:
            raise bad_request("Resource path is not valid UTF-8") from None
        if any(ord(ch) < 32 for ch in text):
            raise bad_request("Resource path contains control characters")
        segments.append(_segment(text))
    return segments
