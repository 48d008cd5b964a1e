"""Safe XML parsing and small, namespace-agnostic helpers for product metadata.

Documents are parsed by lxml with entity resolution, network access and huge trees switched off,
and any document with a DOCTYPE is refused: product metadata never has one, and a DTD is where
billion-laughs and external-entity (XXE) attacks live.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from lxml import etree

from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue, utc

Element = etree._Element

_INT = re.compile(r"^[+-]?(0|[1-9]\d*)$")
_FLOAT = re.compile(r"^[+-]?(0|[1-9]\d*|(?=\.))(\.\d+)?([eE][+-]?\d+)?$")
_TIME = re.compile(
    r"^(?:UTC=)?(\d{4}-?\d{2}-?\d{2}T\d{2}:?\d{2}:?\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$"
)


class UnsafeXml(ValueError):
    """A document refused by the safe parser (malformed, or declaring a DTD/entities)."""


_REFUSED_DTD = "XML with a DOCTYPE/entity declarations is refused (entity expansion, XXE)"
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


def parse_xml(data: bytes) -> Element:
    """Parse bytes into an element tree with safe settings; UnsafeXml when refused."""
    first = _FIRST_ELEMENT.search(data)
    if b"<!DOCTYPE" in data[: first.start() if first else len(data)]:
        raise UnsafeXml(_REFUSED_DTD)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"malformed XML ({exc})") from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise UnsafeXml(_REFUSED_DTD)
    return root


def parse_member(source: ProductSource, name: str) -> Element:
    """Read and safely parse one XML member; RejectedProduct naming the member when refused."""
    try:
        return parse_xml(source.read(name))
    except UnsafeXml as exc:
        raise source.reject(f"{name}: {exc}") from None


def localname(el: Element) -> str:
    """The tag without its namespace."""
    tag = el.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


@lru_cache(maxsize=256)
def _xpath(path: str) -> etree.XPath:
    steps = [s for s in path.split("/") if s]
    expr = ".//" + "/".join("*" if s == "*" else f"*[local-name()='{s}']" for s in steps)
    return etree.XPath(expr)


def findall(root: Element, path: str) -> list[Element]:
    """Descendants matching ``a/b/c`` by local names (the first step anywhere below root)."""
    result = _xpath(path)(root)
    assert isinstance(result, list)
    return [e for e in result if isinstance(e, etree._Element)]


def find(root: Element, path: str) -> Element | None:
    """The first element matching ``path`` (see :func:`findall`), or None."""
    found = findall(root, path)
    return found[0] if found else None


def text_of(el: Element | None) -> str | None:
    """Stripped text of an element, None when absent or blank."""
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def text(root: Element, path: str) -> str | None:
    """Stripped text of the first element matching ``path``."""
    return text_of(find(root, path))


def texts(root: Element, path: str) -> list[str]:
    """Stripped, non-blank texts of every element matching ``path``."""
    return [t for t in (text_of(e) for e in findall(root, path)) if t is not None]


def attr(root: Element, path: str, name: str) -> str | None:
    """An attribute of the first element matching ``path``."""
    el = find(root, path)
    value = el.get(name) if el is not None else None
    return value.strip() if value else None


def camel(name: str) -> str:
    """CDSE-style camelCase of an XML or netCDF name (``NODATA_PIXEL_PERCENTAGE``, ``eop:x``)."""
    name = name.rsplit(":", 1)[-1].replace("-", "_").replace(" ", "_").replace(".", "_")
    if "_" in name or name.isupper():
        parts = [p for p in name.split("_") if p]
        if not parts:
            return name
        return parts[0].lower() + "".join(p[:1].upper() + p[1:].lower() for p in parts[1:])
    return name[:1].lower() + name[1:]


def suffix_key(value: str) -> str:
    """CamelCase words to end an attribute name (``"0.5 km stripe A"`` -> ``05KmStripeA``)."""
    words = [w for w in re.split(r"\s+", value.strip()) if w]
    return "".join(re.sub(r"[^A-Za-z0-9]", "", w[:1].upper() + w[1:].lower()) for w in words)


def parse_time(value: str) -> datetime:
    """A UTC datetime from ISO 8601 (``Z`` or none = UTC), basic or extended, any fraction."""
    m = _TIME.match(value.strip())
    if not m:
        raise ValueError(f"not a date-time: {value!r}")
    base, frac, zone = m.groups()
    digits = re.sub(r"[-:]", "", base)
    text_value = f"{digits[:8]}T{digits[9:15]}"
    micro = (frac or "")[:6].ljust(6, "0")
    stamp = datetime.strptime(text_value, "%Y%m%dT%H%M%S").replace(microsecond=int(micro))
    if zone and zone != "Z":
        stamp = datetime.fromisoformat(stamp.isoformat() + zone[:3] + ":" + zone[-2:])
    return utc(stamp)


def typed(value: str) -> AttributeValue:
    """Type a metadata text: bool, int, float, UTC datetime, else the string as written.

    Numbers written with leading zeros (``004``, ``02.14``) are codes and stay strings.
    """
    v = value.strip()
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if _INT.match(v):
        return int(v)
    if _FLOAT.match(v) and any(c in v for c in ".eE"):
        number = float(v)
        return number if math.isfinite(number) else v
    if _TIME.match(v):
        try:
            return parse_time(v)
        except ValueError:
            return v
    return v


def lat_lon_pairs(value: str) -> list[tuple[float, float]]:
    """Lon/lat points from a GML list written lat/lon (``lat lon ...`` or ``lat,lon ...``)."""
    numbers = [float(n) for n in re.split(r"[\s,]+", value.strip()) if n]
    if len(numbers) % 2 or len(numbers) < 6:
        raise ValueError(f"a coordinate list needs lat/lon pairs, got {len(numbers)} numbers")
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError("a coordinate list has non-finite numbers")
    return [(numbers[i + 1], numbers[i]) for i in range(0, len(numbers), 2)]


def leaf_values(
    root: Element | None, *, skip: Iterable[str] = (), suffix_attr: str | None = None
) -> dict[str, AttributeValue]:
    """Typed values of the leaf elements below ``root`` under camelCase names.

    A leaf without text gives its ``percentage`` or ``value`` attribute. Names seen more than
    once are ambiguous and dropped, unless an ancestor carries ``suffix_attr`` (e.g. ``grid``),
    whose value then ends the name. Elements named in ``skip`` are left out with their subtrees.
    """
    if root is None:
        return {}
    skipped = set(skip)
    out: dict[str, AttributeValue] = {}
    dropped: set[str] = set()

    def walk(el: Element, suffix: str) -> None:
        for child in el:
            if not isinstance(child.tag, str):
                continue
            lname = localname(child)
            if lname in skipped:
                continue
            here = suffix
            if suffix_attr and child.get(suffix_attr):
                here = suffix + " " + str(child.get(suffix_attr))
            if len(child):
                walk(child, here)
                continue
            raw = text_of(child) or child.get("percentage") or child.get("value")
            if raw is None:
                continue
            key = camel(lname) + suffix_key(here)
            if key in out or key in dropped:
                out.pop(key, None)
                dropped.add(key)
                continue
            out[key] = typed(raw)

    walk(root, "")
    return out
