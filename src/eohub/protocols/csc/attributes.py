"""CDSE product attributes: the queryable names per collection, their types, the query field
behind each name, and the typed attribute list of one product (``$expand=Attributes``).

The per-collection lists are a static table after CDSE's own ``Attributes(<collection>)``
answers (reference: cdse.md section 1.6), extended with what this hub's readers store; a name
that is a typed product field (``productType``, ``cloudCover``...) is searched on its indexed
column, any other on the stored attribute of that name (``attributes.<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from eohub.errors import InvalidQuery
from eohub.model.product import AttributeValue, Product, utc
from eohub.query.fields import ATTRIBUTE_PREFIX, FIELDS, Field, FieldType, Protocol

STRING, INTEGER, DOUBLE, DATETIME, BOOLEAN = (
    "String",
    "Integer",
    "Double",
    "DateTimeOffset",
    "Boolean",
)
VALUE_TYPES = (STRING, INTEGER, DOUBLE, DATETIME, BOOLEAN)

_FIELD_VALUE_TYPE = {
    FieldType.STRING: STRING,
    FieldType.INT: INTEGER,
    FieldType.FLOAT: DOUBLE,
    FieldType.DATETIME: DATETIME,
    FieldType.BOOL: BOOLEAN,
    FieldType.UUID: STRING,
}

# CDSE attribute names that are typed product fields, in the order an expansion lists them.
# (``beginningDateTime``/``endingDateTime`` are shown by CDSE but not listed as queryable.)
TYPED_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "productType": "product_type",
        "platformShortName": "platform_short_name",
        "platformSerialIdentifier": "platform_serial",
        "instrumentShortName": "instrument",
        "processingLevel": "processing_level",
        "processingBaseline": "processing_baseline",
        "orbitNumber": "orbit_number",
        "relativeOrbitNumber": "relative_orbit",
        "orbitDirection": "orbit_direction",
        "cloudCover": "cloud_cover",
        "tileId": "tile_id",
        "operationalMode": "sensor_mode",
        "polarisationChannels": "polarisation",
        "swathIdentifier": "swath",
        "timeliness": "timeliness",
        "productClass": "product_class",
        "beginningDateTime": "sensing_start",
        "endingDateTime": "sensing_end",
    }
)


def _table(spec: str) -> dict[str, str]:
    """``"name:S name:I ..."`` -> {name: ValueType}."""
    kinds = {"S": STRING, "I": INTEGER, "D": DOUBLE, "T": DATETIME, "B": BOOLEAN}
    return {name: kinds[kind] for name, kind in (item.split(":") for item in spec.split())}


_COMMON = (
    "platformShortName:S platformSerialIdentifier:S instrumentShortName:S productType:S "
    "processingLevel:S processingBaseline:S processingDate:T processorVersion:S "
    "processingCenter:S orbitNumber:I coordinates:S"
)

COLLECTION_ATTRIBUTES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "SENTINEL-1": _table(
            f"{_COMMON} operationalMode:S swathIdentifier:S polarisationChannels:S "
            "orbitDirection:S relativeOrbitNumber:I cycleNumber:I datatakeID:I sliceNumber:I "
            "totalSlices:I "
            "sliceProductFlag:B timeliness:S productClass:S productComposition:S "
            "productConsolidation:S processorName:S productGeneration:T segmentStartTime:T "
            "startTimeFromAscendingNode:D completionTimeFromAscendingNode:D "
            "instrumentConfigurationID:I origin:S"
        ),
        "SENTINEL-2": _table(
            f"{_COMMON} cloudCover:D tileId:S granuleIdentifier:S datastripId:S productGroupId:S "
            "relativeOrbitNumber:I lastOrbitNumber:I operationalMode:S illuminationZenithAngle:D "
            "qualityInfo:I qualityStatus:S sourceProduct:S sourceProductOriginDate:S origin:S"
        ),
        "SENTINEL-3": _table(
            f"{_COMMON} timeliness:S cloudCover:D landCover:D snowOrIceCover:D brightCover:D "
            "coastalCover:D freshInlandWaterCover:D salineWaterCover:D tidalRegionCover:D "
            "openOceanCover:I closedSeaCover:I continentalIceCover:I relativeOrbitNumber:I "
            "lastOrbitNumber:I lastRelativeOrbitNumber:I orbitDirection:S lastOrbitDirection:S "
            "cycleNumber:I baselineCollection:S processorName:S operationalMode:S"
        ),
        "SENTINEL-5P": _table(
            f"{_COMMON} processingMode:S baselineCollection:S processorName:S acquisitionType:S "
            "productClass:S qualityStatus:S doi:S identifier:S parentIdentifier:S"
        ),
    }
)

# Every name any collection lists, with its declared CDSE type.
ALL_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {name: kind for table in COLLECTION_ATTRIBUTES.values() for name, kind in table.items()}
    | {name: _FIELD_VALUE_TYPE[FIELDS.get(f).type] for name, f in TYPED_ATTRIBUTES.items()}
)


def attribute_query_field(name: str) -> Field:
    """The query field of a CDSE attribute name; an unknown name is an InvalidQuery."""
    canonical = TYPED_ATTRIBUTES.get(name)
    if canonical is not None:
        return FIELDS.get(canonical)
    found = FIELDS.find(Protocol.CDSE, name)
    if found is not None and found.name in TYPED_ATTRIBUTES.values():
        return found  # a different spelling of a typed attribute
    if name in ALL_ATTRIBUTES:
        return FIELDS.get(ATTRIBUTE_PREFIX + name)
    raise InvalidQuery(
        f"Invalid attribute name '{name[:100]}'", field="$filter", choices=list(ALL_ATTRIBUTES)
    )


def value_type(value: AttributeValue) -> str:
    """The CDSE ValueType of a stored value."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, datetime):
        return DATETIME
    return STRING


def format_datetime(value: datetime) -> str:
    """``2024-06-04T12:03:49.113620Z``: UTC, six fractional digits, as CDSE since 2024-09."""
    # isoformat on the naive UTC value: four times faster than strftime, the same text (every
    # entity carries six of these, and the catalogue renders one per product it stores).
    return utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _attribute(name: str, value: AttributeValue) -> dict[str, Any]:
    kind = value_type(value)
    shown: Any = format_datetime(value) if isinstance(value, datetime) else value
    return {
        "@odata.type": f"#OData.CSC.{kind}Attribute",
        "Name": name,
        "Value": shown,
        "ValueType": kind,
    }


def product_attributes(product: Product) -> list[dict[str, Any]]:
    """The typed attribute list of a product: its typed fields, then every other stored one."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, canonical in TYPED_ATTRIBUTES.items():
        # The readers also store CDSE's spelling (IW_GRDH_1S, VV&VH); it wins when present.
        value = product.attributes.get(name)
        if value is None:
            value = FIELDS.get(canonical).get(product)
        if value is not None:
            out.append(_attribute(name, value))
            seen.add(name)
    for name in sorted(product.attributes):
        if name not in seen:
            out.append(_attribute(name, product.attributes[name]))
    return out


def collection_attributes(collection: str) -> list[dict[str, str]] | None:
    """``[{"Name", "ValueType"}]`` queryable in a collection, None for an unknown one."""
    table = COLLECTION_ATTRIBUTES.get(collection.upper())
    if table is None:
        return None
    return [{"Name": name, "ValueType": kind} for name, kind in table.items()]


def all_collection_attributes() -> dict[str, list[dict[str, str]]]:
    """``GET Attributes``: the queryable attributes of every known collection."""
    return {name: collection_attributes(name) or [] for name in COLLECTION_ATTRIBUTES}
