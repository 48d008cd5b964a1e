"""What a product reader returns (ProductMetadata) and what a reader is (the Reader Protocol)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from eohub.errors import InvalidGeometry
from eohub.ingest.readers.xml import lat_lon_pairs
from eohub.ingest.source import ProductSource
from eohub.model import AttributeValue, Checksum, Footprint, Product, TimeRange


@dataclass(frozen=True)
class ProductMetadata:
    """Everything a reader found in one product, typed; the catalogue entry before it exists.

    The common search fields are typed attributes. ``attributes`` holds the product's values
    under CDSE-style camelCase names (``platformShortName``, ``datatakeID``, ``cloudCover``,
    ...), including the CDSE spelling of typed fields where CDSE has one (for Sentinel-1,
    ``productType`` is the name code ``IW_GRDH_1S`` while ``product_type`` is ``GRD``), and every
    other value found under the camelCase of its name in the file.
    """

    name: str  # identifier without extension
    filename: str  # as distributed: .SAFE, .SEN3, .nc
    collection: str  # SENTINEL-1, SENTINEL-2, SENTINEL-3, SENTINEL-5P
    platform: str  # Sentinel-2A, Sentinel-5P
    product_type: str
    sensing: TimeRange
    footprint: Footprint | None = None
    instrument: str | None = None
    processing_level: str | None = None
    processing_baseline: str | None = None
    orbit_number: int | None = None
    relative_orbit: int | None = None
    orbit_direction: str | None = None
    cloud_cover: float | None = None
    tile_id: str | None = None
    polarisation: str | None = None  # space-separated, e.g. "VV VH"
    sensor_mode: str | None = None
    swath: str | None = None  # space-separated, e.g. "IW1 IW2 IW3"
    timeliness: str | None = None
    product_class: str | None = None
    generation_date: datetime | None = None
    quicklook_member: str | None = None  # member path of the product's own preview image
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def to_product(
        self,
        *,
        product_id: uuid.UUID,
        publication_date: datetime,
        ingestion_date: datetime,
        size: int,
        checksums: Iterable[Checksum],
        online: bool = True,
    ) -> Product:
        """The catalogue Product for this metadata; the generation date goes into attributes
        as ``generationDate`` (DHuS ``generationdate``) unless already there."""
        attributes = dict(self.attributes)
        if self.generation_date is not None:
            attributes.setdefault("generationDate", self.generation_date)
        return Product(
            id=product_id,
            name=self.name,
            filename=self.filename,
            collection=self.collection,
            platform=self.platform,
            sensing=self.sensing,
            publication_date=publication_date,
            ingestion_date=ingestion_date,
            modification_date=publication_date,
            product_type=self.product_type,
            footprint=self.footprint,
            size=size,
            checksums=tuple(checksums),
            online=online,
            instrument=self.instrument,
            processing_level=self.processing_level,
            processing_baseline=self.processing_baseline,
            orbit_number=self.orbit_number,
            relative_orbit=self.relative_orbit,
            orbit_direction=self.orbit_direction,
            cloud_cover=self.cloud_cover,
            tile_id=self.tile_id,
            polarisation=self.polarisation,
            sensor_mode=self.sensor_mode,
            swath=self.swath,
            timeliness=self.timeliness,
            product_class=self.product_class,
            attributes=attributes,
        )


@runtime_checkable
class Reader(Protocol):
    """A product reader: says whether it knows a product and reads its metadata.

    Readers are registered through the ``eohub.readers`` entry-point group (the entry point
    names a Reader class or instance). ``read`` raises RejectedProduct with a clear reason.
    """

    name: str

    def accepts(self, source: ProductSource) -> bool:
        """True when this reader knows the product (cheap: names, a small member at most)."""
        ...

    def read(self, source: ProductSource) -> ProductMetadata:
        """The product's metadata; RejectedProduct when it is unsound."""
        ...


def footprint_from_lat_lon(
    source: ProductSource, what: str, coordinate_lists: Sequence[str]
) -> Footprint | None:
    """A footprint from GML coordinate texts written lat/lon (one ring per text); None if none.

    Malformed coordinates or an unusable ring reject the product naming ``what``.
    """
    if not coordinate_lists:
        return None
    try:
        rings = [lat_lon_pairs(t) for t in coordinate_lists]
        return Footprint.from_rings(rings)
    except (ValueError, InvalidGeometry) as exc:
        message = exc.user_message if isinstance(exc, InvalidGeometry) else str(exc)
        raise source.reject(f"invalid footprint in {what}: {message}") from None


def time_range(source: ProductSource, start: datetime | None, end: datetime | None) -> TimeRange:
    """The sensing TimeRange (end defaults to start); RejectedProduct when missing or reversed."""
    if start is None:
        raise source.reject("no sensing start time in the metadata")
    try:
        return TimeRange(start, end or start)
    except ValueError as exc:
        raise source.reject(str(exc)) from None


def set_if(attributes: dict[str, AttributeValue], name: str, value: AttributeValue | None) -> None:
    """Store a value unless it is None or the name is already taken."""
    if value is not None and name not in attributes:
        attributes[name] = value
