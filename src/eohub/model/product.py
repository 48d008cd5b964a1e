"""Products, collections, checksums and time ranges: frozen values, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from eohub.model.geometry import Footprint

AttributeValue = str | int | float | bool | datetime

# Namespace for UUIDv5 ids derived from a product name when no upstream id exists. Keeping the
# id a function of the name means the same product ingested on two hubs gets the same Id.
PRODUCT_NAMESPACE = uuid.UUID("5f1b0c8e-4c1a-5b7e-9a57-6e6f68756221")


def product_id_for(name: str) -> uuid.UUID:
    """The stable Id of a product first seen on this hub (UUIDv5 of its name)."""
    return uuid.uuid5(PRODUCT_NAMESPACE, name)


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is UTC:  # the usual case (every decoded product): nothing to convert
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """A closed UTC interval [start, end] with microsecond precision."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end < self.start:
            raise ValueError(f"time range ends before it starts: {self.start} > {self.end}")


@dataclass(frozen=True)
class Checksum:
    """A checksum of stored bytes; ``value`` is lower-case hex."""

    algorithm: str  # "MD5", "BLAKE3", ...
    value: str
    computed_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", self.algorithm.upper())
        object.__setattr__(self, "value", self.value.lower())


@dataclass(frozen=True)
class Collection:
    """A named set of products (a mission family such as SENTINEL-2, or a hub-defined one)."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Product:
    """One catalogued product. ``id`` is kept across hubs; times are UTC.

    The common search fields are typed attributes of the class; every other metadata value
    read from the product lives in ``attributes`` under its CDSE-style camelCase name.
    """

    id: uuid.UUID
    name: str  # identifier without extension, e.g. S2A_MSIL1C_..._20210908T070248
    filename: str  # as distributed, e.g. ...SAFE, ...SEN3, ...nc
    collection: str  # SENTINEL-1, SENTINEL-2, SENTINEL-3, SENTINEL-5P, ...
    platform: str  # Sentinel-2A
    sensing: TimeRange
    publication_date: datetime  # when this hub published it (sync cursors use it)
    ingestion_date: datetime  # when the first hub ingested it (kept by mirrors)
    modification_date: datetime
    product_type: str
    footprint: Footprint | None = None
    size: int = 0
    checksums: tuple[Checksum, ...] = ()
    online: bool = True
    instrument: str | None = None
    processing_level: str | None = None
    processing_baseline: str | None = None
    orbit_number: int | None = None
    relative_orbit: int | None = None
    orbit_direction: str | None = None  # ASCENDING | DESCENDING
    cloud_cover: float | None = None
    tile_id: str | None = None
    polarisation: str | None = None  # e.g. "VV VH"
    sensor_mode: str | None = None  # IW, EW, SM, WV, S1..S6, INS-NOBS, ...
    swath: str | None = None
    timeliness: str | None = None
    product_class: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    # Where this hub keeps the bytes (keys of the archive); None when it has none. Internal:
    # like DHuS's LocalPath, not part of any protocol's product document.
    archive_key: str | None = None
    quicklook_key: str | None = None
    thumbnail_key: str | None = None

    def __post_init__(self) -> None:
        for name in ("publication_date", "ingestion_date", "modification_date"):
            object.__setattr__(self, name, utc(getattr(self, name)))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    # Derived names used by the protocols ---------------------------------------------------
    @property
    def mission(self) -> str:
        """DHuS ``platformname``: the platform without its serial letter, e.g. Sentinel-2."""
        serial = self.platform_serial
        return self.platform[: -len(serial)] if serial else self.platform

    @property
    def platform_serial(self) -> str | None:
        """Serial letter of the platform (A, B, C, ...), if any."""
        last = self.platform[-1:]
        return last if last and last in "ABCDEFGH" and self.platform[-2:-1].isdigit() else None

    @property
    def platform_short_name(self) -> str:
        """CDSE ``platformShortName``: the mission upper-cased, e.g. SENTINEL-2."""
        return self.mission.upper()

    def checksum(self, algorithm: str) -> str | None:
        """The hex value of one checksum algorithm, if known."""
        wanted = algorithm.upper()
        return next((c.value for c in self.checksums if c.algorithm == wanted), None)

    def evolve(self, **changes: object) -> Product:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
