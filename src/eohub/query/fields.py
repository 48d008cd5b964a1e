"""The registry of queryable fields: one canonical name each, its type, and its protocol names.

Front-ends look names up here (``FIELDS.resolve("dhus", "beginPosition")``); backends map
canonical names to columns; the evaluator uses ``Field.get``. Any stored metadata attribute is
also queryable as ``attributes.<name>`` through :func:`attribute_field`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from eohub.errors import InvalidQuery
from eohub.model.product import Product

ATTRIBUTE_PREFIX = "attributes."


class FieldType(StrEnum):
    """Value types of queryable fields."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    DATETIME = "datetime"
    BOOL = "bool"
    UUID = "uuid"
    GEOMETRY = "geometry"


class Protocol(StrEnum):
    """Query languages whose field names the registry knows."""

    DHUS = "dhus"  # OpenSearch q= keywords (case-insensitive)
    ODATA = "odata"  # DHuS OData v1 property names
    CDSE = "cdse"  # CDSE OData properties and attribute names
    STAC = "stac"  # STAC / CQL2 property names


@dataclass(frozen=True)
class Field:
    """One queryable field."""

    name: str
    type: FieldType
    get: Callable[[Product], Any] = field(repr=False, compare=False)
    description: str
    sortable: bool = False
    nullable: bool = True
    aliases: Mapping[Protocol, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @property
    def is_attribute(self) -> bool:
        """True for a generic ``attributes.<name>`` field (not a promoted column)."""
        return self.name.startswith(ATTRIBUTE_PREFIX)

    @property
    def attribute_name(self) -> str:
        """The attribute name behind an ``attributes.<name>`` field."""
        return self.name[len(ATTRIBUTE_PREFIX) :]


def _f(
    name: str,
    type_: FieldType,
    get: Callable[[Product], Any],
    description: str,
    *,
    sortable: bool = False,
    nullable: bool = True,
    dhus: Iterable[str] = (),
    odata: Iterable[str] = (),
    cdse: Iterable[str] = (),
    stac: Iterable[str] = (),
) -> Field:
    aliases = {
        Protocol.DHUS: tuple(dhus),
        Protocol.ODATA: tuple(odata),
        Protocol.CDSE: tuple(cdse),
        Protocol.STAC: tuple(stac),
    }
    return Field(name, type_, get, description, sortable, nullable, aliases)


S, INT, F, D, B, U, G = (
    FieldType.STRING,
    FieldType.INT,
    FieldType.FLOAT,
    FieldType.DATETIME,
    FieldType.BOOL,
    FieldType.UUID,
    FieldType.GEOMETRY,
)

_FIELDS: tuple[Field, ...] = (
    _f(
        "id",
        U,
        lambda p: p.id,
        "Product Id (UUID, kept across hubs)",
        sortable=True,
        nullable=False,
        dhus=["uuid"],
        odata=["Id"],
        cdse=["Id"],
    ),
    _f(
        "name",
        S,
        lambda p: p.name,
        "Product identifier without extension",
        sortable=True,
        nullable=False,
        dhus=["identifier"],
        odata=["Name"],
        stac=["id"],
    ),
    _f(
        "filename",
        S,
        lambda p: p.filename,
        "Product file name as distributed (with extension)",
        sortable=True,
        nullable=False,
        dhus=["filename"],
        cdse=["Name"],
    ),
    _f(
        "collection",
        S,
        lambda p: p.collection,
        "Collection, e.g. SENTINEL-2",
        sortable=True,
        nullable=False,
        dhus=["collection"],
        odata=["Collection/Name"],
        cdse=["Collection/Name"],
        stac=["collection"],
    ),
    _f(
        "mission",
        S,
        lambda p: p.mission,
        "Platform name without serial, e.g. Sentinel-2",
        sortable=True,
        nullable=False,
        dhus=["platformname"],
        stac=["constellation"],
    ),
    _f(
        "platform",
        S,
        lambda p: p.platform,
        "Platform, e.g. Sentinel-2A",
        sortable=True,
        nullable=False,
        stac=["platform"],
    ),
    _f(
        "platform_short_name",
        S,
        lambda p: p.platform_short_name,
        "Mission short name, e.g. SENTINEL-2",
        dhus=["platformshortname"],
        cdse=["platformShortName"],
        nullable=False,
    ),
    _f(
        "platform_serial",
        S,
        lambda p: p.platform_serial,
        "Platform serial letter (A, B, C)",
        dhus=["platformserialidentifier"],
        cdse=["platformSerialIdentifier"],
    ),
    _f(
        "instrument",
        S,
        lambda p: p.instrument,
        "Instrument short name (SAR-C SAR, MSI, OLCI...)",
        dhus=["instrumentshortname"],
        cdse=["instrumentShortName"],
        stac=["instruments"],
    ),
    _f(
        "product_type",
        S,
        lambda p: p.product_type,
        "Product type (GRD, S2MSI1C, OL_1_EFR___...)",
        sortable=True,
        nullable=False,
        dhus=["producttype"],
        cdse=["productType"],
        stac=["product:type"],
    ),
    _f(
        "processing_level",
        S,
        lambda p: p.processing_level,
        "Processing level (Level-1C, L2...)",
        dhus=["processinglevel"],
        cdse=["processingLevel"],
        stac=["processing:level"],
    ),
    _f(
        "processing_baseline",
        S,
        lambda p: p.processing_baseline,
        "Processing baseline (05.09)",
        dhus=["processingbaseline"],
        cdse=["processingBaseline"],
        stac=["processing:version"],
    ),
    _f(
        "sensing_start",
        D,
        lambda p: p.sensing.start,
        "Sensing start (UTC)",
        sortable=True,
        nullable=False,
        dhus=["beginposition"],
        odata=["ContentDate/Start"],
        cdse=["ContentDate/Start"],
        stac=["start_datetime", "datetime"],
    ),
    _f(
        "sensing_end",
        D,
        lambda p: p.sensing.end,
        "Sensing end (UTC)",
        sortable=True,
        nullable=False,
        dhus=["endposition"],
        odata=["ContentDate/End"],
        cdse=["ContentDate/End"],
        stac=["end_datetime"],
    ),
    _f(
        "publication_date",
        D,
        lambda p: p.publication_date,
        "Publication in this hub (UTC)",
        sortable=True,
        nullable=False,
        odata=["CreationDate"],
        cdse=["PublicationDate"],
        stac=["published"],
    ),
    _f(
        "ingestion_date",
        D,
        lambda p: p.ingestion_date,
        "First ingestion into a hub (UTC)",
        sortable=True,
        nullable=False,
        dhus=["ingestiondate"],
        odata=["IngestionDate"],
        cdse=["OriginDate"],
        stac=["created"],
    ),
    _f(
        "modification_date",
        D,
        lambda p: p.modification_date,
        "Last modification (UTC)",
        sortable=True,
        nullable=False,
        odata=["ModificationDate"],
        cdse=["ModificationDate"],
        stac=["updated"],
    ),
    _f(
        "size",
        INT,
        lambda p: p.size,
        "Size in bytes",
        sortable=True,
        nullable=False,
        odata=["ContentLength"],
        cdse=["ContentLength"],
    ),
    _f(
        "online",
        B,
        lambda p: p.online,
        "Bytes available in this hub's archive",
        nullable=False,
        dhus=["online"],
        odata=["Online"],
        cdse=["Online"],
    ),
    _f(
        "orbit_number",
        INT,
        lambda p: p.orbit_number,
        "Absolute orbit number",
        sortable=True,
        dhus=["orbitnumber"],
        cdse=["orbitNumber"],
        stac=["sat:absolute_orbit"],
    ),
    _f(
        "relative_orbit",
        INT,
        lambda p: p.relative_orbit,
        "Relative orbit number",
        sortable=True,
        dhus=["relativeorbitnumber"],
        cdse=["relativeOrbitNumber"],
        stac=["sat:relative_orbit"],
    ),
    _f(
        "orbit_direction",
        S,
        lambda p: p.orbit_direction,
        "ASCENDING or DESCENDING",
        dhus=["orbitdirection"],
        cdse=["orbitDirection"],
        stac=["sat:orbit_state"],
    ),
    _f(
        "cloud_cover",
        F,
        lambda p: p.cloud_cover,
        "Cloud cover percentage",
        sortable=True,
        dhus=["cloudcoverpercentage"],
        cdse=["cloudCover"],
        stac=["eo:cloud_cover"],
    ),
    _f(
        "tile_id",
        S,
        lambda p: p.tile_id,
        "MGRS tile (Sentinel-2), e.g. 32UNF",
        sortable=True,
        dhus=["tileid"],
        cdse=["tileId"],
        stac=["grid:code"],
    ),
    _f(
        "polarisation",
        S,
        lambda p: p.polarisation,
        "Polarisations, e.g. VV VH",
        dhus=["polarisationmode"],
        cdse=["polarisationChannels"],
        stac=["sar:polarizations"],
    ),
    _f(
        "sensor_mode",
        S,
        lambda p: p.sensor_mode,
        "Sensor operational mode (IW, EW, SM, WV...)",
        dhus=["sensoroperationalmode"],
        cdse=["operationalMode"],
        stac=["sar:instrument_mode"],
    ),
    _f(
        "swath",
        S,
        lambda p: p.swath,
        "Swath identifier(s)",
        dhus=["swathidentifier"],
        cdse=["swathIdentifier"],
    ),
    _f(
        "timeliness",
        S,
        lambda p: p.timeliness,
        "Timeliness (NRT, NR, ST, NT, Fast-24h...)",
        dhus=["timeliness"],
        cdse=["timeliness"],
        stac=["product:timeliness_category"],
    ),
    _f(
        "product_class",
        S,
        lambda p: p.product_class,
        "Product class (S, A, C, N...)",
        dhus=["productclass"],
        cdse=["productClass"],
    ),
    _f(
        "footprint",
        G,
        lambda p: p.footprint,
        "Footprint (WGS84 lon/lat)",
        dhus=["footprint"],
        odata=["ContentGeometry"],
        cdse=["Footprint"],
        stac=["geometry"],
    ),
)


# Metadata attributes the product readers store with a non-string type, for the protocols that
# search them by name (DHuS OpenSearch keywords). Any other ``attributes.<name>`` is a string.
ATTRIBUTE_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {
        **dict.fromkeys(
            ("datatakeID", "sliceNumber", "lastOrbitNumber", "lastRelativeOrbitNumber",
             "passNumber", "relativePassNumber", "productUnitDuration",
             "productUnitAlongtrackCoordinate", "lrmModePercentage", "sarModePercentage",
             "landPercentage", "closedSeaPercentage", "continentalIcePercentage",
             "openOceanPercentage", "ispCount", "nbFire",
             # CDSE attribute names (cdse.md section 1.6)
             "cycleNumber", "totalSlices", "instrumentConfigurationID", "qualityInfo",
             "openOceanCover", "closedSeaCover", "continentalIceCover"),
            INT,
        ),
        **dict.fromkeys(("datatakeSensingStart", "creationDate", "generationDate",
                         "processingDate", "productGeneration", "segmentStartTime"), D),
        "sliceProductFlag": B,
        **dict.fromkeys(
            ("vegetationPercentage", "notVegetatedPercentage", "waterPercentage",
             "unclassifiedPercentage", "mediumProbaCloudsPercentage",
             "highProbaCloudsPercentage", "snowIcePercentage", "illuminationAzimuthAngle",
             "illuminationZenithAngle", "salineWaterCover", "coastalCover", "tidalRegionCover",
             "freshInlandWaterCover", "brightCover", "landCover", "snowOrIceCover",
             "bareSoilPercentage", "lowProbaCloudsPercentage",
             "startTimeFromAscendingNode", "completionTimeFromAscendingNode"),
            F,
        ),
    }
)  # fmt: skip


class FieldRegistry:
    """Lookup of fields by canonical name and by protocol alias."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self._by_name: dict[str, Field] = {}
        self._by_alias: dict[tuple[Protocol, str], Field] = {}
        for f in fields:
            self._by_name[f.name] = f
            for protocol, names in f.aliases.items():
                for alias in names:
                    self._by_alias[(protocol, alias.lower())] = f

    def __iter__(self) -> Iterator[Field]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Canonical names of the registered fields."""
        return list(self._by_name)

    def get(self, name: str) -> Field:
        """A field by canonical name, or ``attributes.<name>`` (typed by ATTRIBUTE_TYPES)."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
            attribute = name[len(ATTRIBUTE_PREFIX) :]
            return attribute_field(attribute, ATTRIBUTE_TYPES.get(attribute, FieldType.STRING))
        raise InvalidQuery(f"unknown field '{name}'", field=name, choices=self.names())

    def aliases(self, protocol: Protocol | str) -> list[str]:
        """Every name a protocol may use."""
        proto = Protocol(protocol)
        return [a for f in self for a in f.aliases.get(proto, ())]

    def find(self, protocol: Protocol | str, alias: str) -> Field | None:
        """A field by protocol alias (case-insensitive), or None."""
        return self._by_alias.get((Protocol(protocol), alias.lower()))

    def resolve(self, protocol: Protocol | str, alias: str) -> Field:
        """A field by protocol alias; unknown names raise InvalidQuery listing the valid ones."""
        found = self.find(protocol, alias)
        if found is None:
            raise InvalidQuery(
                f"unknown field '{alias}'", field=alias, choices=self.aliases(protocol)
            )
        return found


def attribute_field(name: str, type_: FieldType) -> Field:
    """A field over one stored metadata attribute (``Product.attributes[name]``)."""
    if type_ is FieldType.GEOMETRY:
        raise InvalidQuery(f"attribute '{name}' cannot be a geometry", field=name)
    return Field(
        name=f"{ATTRIBUTE_PREFIX}{name}",
        type=type_,
        get=lambda p: p.attributes.get(name),
        description=f"metadata attribute {name}",
        sortable=False,
        nullable=True,
    )


FIELDS = FieldRegistry(_FIELDS)
