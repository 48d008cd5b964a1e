"""Helpers for SAFE and XFDU manifests (manifest.safe, xfdumanifest.xml) shared by the readers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from eohub.ingest.readers.base import set_if
from eohub.ingest.readers.xml import Element, attr, find, findall, parse_time, text, text_of
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue


@dataclass(frozen=True)
class Platform:
    """Platform and instrument as a SAFE manifest describes them."""

    platform: str | None  # Sentinel-1A
    instrument: str | None  # SAR
    instrument_name: str | None  # Synthetic Aperture Radar


def platform_name(family: str | None, number: str | None) -> str | None:
    """``Sentinel-2A`` from familyName/number pairs such as SENTINEL/2A or SENTINEL-1/A."""
    if not family or not number:
        return None
    digits = re.search(r"(\d+)$", family)
    mission = digits.group(1) if digits else ""
    return f"Sentinel-{mission}{number.strip().upper()}"


def read_platform(root: Element, attributes: dict[str, AttributeValue]) -> Platform:
    """Platform facts from ``metadataObject[@ID=platform]`` into attributes."""
    plat = find(root, "platform/nssdcIdentifier")
    set_if(attributes, "nssdcIdentifier", text_of(plat))
    name = platform_name(text(root, "platform/familyName"), text(root, "platform/number"))
    inst = find(root, "platform/instrument/familyName")
    short = inst.get("abbreviation") if inst is not None else None
    long_name = text_of(inst)
    set_if(attributes, "instrumentName", long_name)
    return Platform(name, short.strip() if short else None, long_name)


def read_orbit(
    source: ProductSource, root: Element, attributes: dict[str, AttributeValue]
) -> tuple[int | None, int | None, str | None]:
    """(absolute orbit, relative orbit, direction) at start; stop values go to attributes."""
    orbit: int | None = None
    relative: int | None = None
    direction: str | None = None
    for el in findall(root, "orbitReference/orbitNumber"):
        value = int_value(source, text_of(el), "orbit number")
        if el.get("type", "start") == "stop":
            set_if(attributes, "lastOrbitNumber", value)
        elif orbit is None:
            orbit = value
            direction = direction or _direction(el.get("groundTrackDirection"))
    for el in findall(root, "orbitReference/relativeOrbitNumber"):
        value = int_value(source, text_of(el), "relative orbit number")
        if el.get("type", "start") == "stop":
            set_if(attributes, "lastRelativeOrbitNumber", value)
        elif relative is None:
            relative = value
            direction = direction or _direction(el.get("groundTrackDirection"))
    for tag in ("passNumber", "relativePassNumber"):
        for el in findall(root, f"orbitReference/{tag}"):
            key = tag if el.get("type", "start") != "stop" else "last" + tag[:1].upper() + tag[1:]
            set_if(attributes, key, int_value(source, text_of(el), tag))
    for tag in ("cycleNumber", "phaseIdentifier"):
        set_if(attributes, tag, int_value(source, text(root, f"orbitReference/{tag}"), tag))
    direction = direction or _direction(text(root, "orbitReference/extension/orbitProperties/pass"))
    return orbit, relative, direction


@dataclass(frozen=True)
class Processing:
    """The outermost processing step of a manifest and the software that made the product."""

    software: list[tuple[str, str]]  # distinct (name, version) in document order
    facility: str | None
    start: datetime | None
    stop: datetime | None


def read_processing(source: ProductSource, root: Element) -> Processing | None:
    """The manifest's ``processing`` provenance (None when the manifest has none)."""
    outer = find(root, "metadataObject/metadataWrap/xmlData/processing")
    if outer is None:
        return None
    software: list[tuple[str, str]] = []
    for el in outer.iter():
        if isinstance(el.tag, str) and el.tag.endswith("software"):
            item = ((el.get("name") or "").strip(), (el.get("version") or "").strip())
            if item[0] and item not in software:
                software.append(item)
    facility = attr(outer, "facility", "name")
    return Processing(
        software,
        facility,
        time_attr(source, outer.get("start"), "processing start"),
        time_attr(source, outer.get("stop"), "processing stop"),
    )


def time_attr(source: ProductSource, value: str | None, what: str) -> datetime | None:
    """A UTC datetime from a manifest value; RejectedProduct naming ``what`` if malformed."""
    if value is None or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise source.reject(f"malformed {what} time {value!r}") from None


def int_value(source: ProductSource, value: str | None, what: str) -> int | None:
    """An int from a manifest value; RejectedProduct naming ``what`` if malformed."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise source.reject(f"malformed {what} {value!r}") from None


def _direction(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None
