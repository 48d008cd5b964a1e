"""A product's metadata as the product page shows it: labelled values in named groups.

Every typed field of the product and every stored attribute appears once: identification,
acquisition, orbit, processing, archive, then all other attributes by name. Values are plain
strings; the template escapes them (metadata is never trusted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from eohub.model.product import AttributeValue, Product

_UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")
Getter = Callable[[Product], object]


@dataclass(frozen=True)
class Row:
    """One labelled value."""

    label: str
    value: str


@dataclass(frozen=True)
class Group:
    """A titled list of rows."""

    title: str
    rows: tuple[Row, ...]


def human_size(size: int) -> str:
    """``1.5 GB`` (powers of 1000, as the cart and the DHuS portal show sizes)."""
    value, unit = float(size), 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{size} bytes" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


def size_text(size: int) -> str:
    """``1.6 GB (1,610,612,736 bytes)``."""
    short = human_size(size)
    return short if short.endswith(" bytes") else f"{short} ({size:,} bytes)"


def show(value: AttributeValue | object) -> str:
    """A metadata value as text (datetimes in ISO 8601 UTC)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_GROUPS: tuple[tuple[str, tuple[tuple[str, Getter], ...]], ...] = (
    ("Identification", (
        ("Id", lambda p: p.id),
        ("Name", lambda p: p.name),
        ("File name", lambda p: p.filename),
        ("Collection", lambda p: p.collection),
        ("Mission", lambda p: p.mission),
        ("Platform", lambda p: p.platform),
        ("Instrument", lambda p: p.instrument),
        ("Product type", lambda p: p.product_type),
        ("Product class", lambda p: p.product_class),
    )),
    ("Acquisition", (
        ("Sensing start", lambda p: p.sensing.start),
        ("Sensing end", lambda p: p.sensing.end),
        ("Sensor mode", lambda p: p.sensor_mode),
        ("Polarisation", lambda p: p.polarisation),
        ("Swath", lambda p: p.swath),
        ("Tile", lambda p: p.tile_id),
        ("Cloud cover (%)", lambda p: p.cloud_cover),
    )),
    ("Orbit", (
        ("Absolute orbit", lambda p: p.orbit_number),
        ("Relative orbit", lambda p: p.relative_orbit),
        ("Orbit direction", lambda p: p.orbit_direction),
    )),
    ("Processing", (
        ("Processing level", lambda p: p.processing_level),
        ("Processing baseline", lambda p: p.processing_baseline),
        ("Timeliness", lambda p: p.timeliness),
        ("Ingestion date", lambda p: p.ingestion_date),
        ("Publication date", lambda p: p.publication_date),
        ("Modification date", lambda p: p.modification_date),
    )),
)  # fmt: skip


def metadata_groups(product: Product) -> list[Group]:
    """The product's metadata, grouped; absent values are left out, empty groups too."""
    groups: list[Group] = []
    for title, getters in _GROUPS:
        rows = []
        for label, getter in getters:
            value = getter(product)
            if value is not None and value != "":
                rows.append(Row(label, show(value)))
        if rows:
            groups.append(Group(title, tuple(rows)))
    others = tuple(Row(name, show(product.attributes[name])) for name in sorted(product.attributes))
    if others:
        groups.append(Group("All other attributes", others))
    return groups
