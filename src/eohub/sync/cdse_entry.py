"""A CDSE-style OData Product entity (with ``$expand=Attributes``) -> :class:`Product`.

The entity gives the Id, the file ``Name``, the dates to the microsecond, size, checksums,
``ContentDate``, the footprint (``geography'SRID=4326;<WKT>'``) and, in the expansion, typed
attributes (``{"Name", "Value", "ValueType"}``): the names that are typed product fields
(``productType``, ``cloudCover``... see :data:`TYPED_ATTRIBUTES`) fill those fields, every other
one is kept as an attribute with its own type. What CDSE spells differently from the field is
kept under the CDSE name too, as the readers do (Sentinel-1 ``productType`` ``IW_GRDH_1S``
while the field is ``GRD``; ``polarisationChannels`` ``VV&VH`` while the field is ``VV VH``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import Polygon

from eohub.errors import InvalidGeometry
from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Checksum, Product, TimeRange
from eohub.protocols.csc.attributes import TYPED_ATTRIBUTES
from eohub.sync.dhus_entry import BadEntry, RemoteProduct

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SUFFIXES = (".SAFE.zip", ".SEN3.zip", ".SAFE", ".SEN3", ".zip", ".nc")
_FIELDS = {
    "instrumentShortName": "instrument",
    "processingLevel": "processing_level",
    "processingBaseline": "processing_baseline",
    "orbitDirection": "orbit_direction",
    "tileId": "tile_id",
    "operationalMode": "sensor_mode",
    "swathIdentifier": "swath",
    "timeliness": "timeliness",
    "productClass": "product_class",
}


def parse_datetime(value: object, name: str) -> datetime:
    """An ISO 8601 datetime (``2024-06-04T12:03:49.113620Z``) as aware UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise BadEntry(f"remote entity has no valid {name}: {value!r:.60}")


def epoch_us(value: datetime) -> int:
    """Microseconds since the epoch."""
    return (value - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The UTC datetime of epoch microseconds."""
    return _EPOCH + timedelta(microseconds=us)


def _attributes(entity: Mapping[str, Any]) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {}
    items = entity.get("Attributes")
    for item in items if isinstance(items, list) else ():
        # Inline, not a helper per item: a page of 1,000 products has 20,000 attributes.
        try:
            name, value, kind = item["Name"], item["Value"], item.get("ValueType")
        except (KeyError, TypeError):
            continue
        if kind == "DateTimeOffset" and isinstance(value, str):
            value = parse_datetime(value, str(name))
        elif kind == "Double" and type(value) is int:
            value = float(value)
        if isinstance(name, str) and isinstance(value, str | int | float | bool | datetime):
            found[name] = value
    return found


def _footprint(entity: Mapping[str, Any]) -> Footprint | None:
    text = entity.get("Footprint")
    if not isinstance(text, str) or not text:
        return None
    wkt = text.removeprefix("geography'").removesuffix("'")
    wkt = wkt.split(";", 1)[1] if wkt.upper().startswith("SRID=") else wkt
    try:
        geom = shapely.from_wkt(wkt)
        # The usual footprint (one valid polygon, no hole, inside the world, not crossing
        # the antimeridian) is its own search shape: skip the normalisation, which costs
        # ten times the parse and would return the same coordinates.
        if isinstance(geom, Polygon) and not geom.interiors and geom.is_valid:
            west, south, east, north = geom.bounds
            if -180.0 <= west and east <= 180.0 and east - west < 180.0 and -90.0 <= south:
                if north <= 90.0:
                    return Footprint(original=geom, search=geom)
        return Footprint.from_geometry(geom, strict=False)
    except (InvalidGeometry, ValueError, shapely.errors.GEOSException) as exc:
        raise BadEntry(f"remote footprint is not valid: {exc}") from None


def _checksums(entity: Mapping[str, Any]) -> tuple[Checksum, ...]:
    found: list[Checksum] = []
    items = entity.get("Checksum")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("Value") and item.get("Algorithm"):
            when = item.get("ChecksumDate")
            computed = parse_datetime(when, "ChecksumDate") if when else None
            found.append(Checksum(str(item["Algorithm"]), str(item["Value"]), computed))
    return tuple(found)


def product_name(filename: str) -> str:
    """The product identifier: the file name without its distribution suffix."""
    for suffix in _SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


def _mission(short_name: str) -> str:
    """``SENTINEL-2`` -> ``Sentinel-2`` (the platform's spelling in this hub)."""
    return short_name.title() if short_name.isupper() else short_name


def _quicklook(entity: Mapping[str, Any]) -> str | None:
    assets = entity.get("Assets")
    for asset in assets if isinstance(assets, list) else ():
        if isinstance(asset, dict) and asset.get("Type") == "QUICKLOOK":
            link = asset.get("DownloadLink")
            return link if isinstance(link, str) else None
    return None


def _int(value: AttributeValue | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: AttributeValue | None) -> str | None:
    return None if value is None else str(value)


def entity_position(entity: Mapping[str, Any]) -> tuple[int, uuid.UUID, str] | None:
    """(PublicationDate us, Id, Name or Id) of an entity, when at least these decode (see
    :func:`eohub.sync.dhus_entry.entry_position`); None otherwise."""
    try:
        product_id = uuid.UUID(str(entity["Id"]))
        published = parse_datetime(entity.get("PublicationDate"), "PublicationDate")
    except (KeyError, ValueError, BadEntry):
        return None
    name = entity.get("Name")
    return epoch_us(published), product_id, name if isinstance(name, str) and name else str(
        product_id)  # fmt: skip


def decode_cdse_product(entity: Mapping[str, Any]) -> RemoteProduct:
    """Decode one CDSE Product entity; BadEntry names what is wrong."""
    try:
        product_id = uuid.UUID(str(entity["Id"]))
    except (KeyError, ValueError):
        raise BadEntry(f"remote entity has no valid Id: {entity.get('Id')!r:.60}") from None
    filename = entity.get("Name")
    if not isinstance(filename, str) or not filename:
        raise BadEntry(f"remote product {product_id} has no Name")
    name = product_name(filename)
    attrs = _attributes(entity)
    typed = {k: attrs.pop(k) for k in TYPED_ATTRIBUTES if k in attrs}
    published = parse_datetime(entity.get("PublicationDate"), "PublicationDate")
    origin = entity.get("OriginDate")
    modified = entity.get("ModificationDate")
    content = entity.get("ContentDate") or {}
    short = str(typed.get("platformShortName") or "")
    serial = str(typed.get("platformSerialIdentifier") or "")
    product_type = str(typed.get("productType") or "")
    if short == "SENTINEL-1" and len(product_type) == 10 and product_type[2] == "_":
        attrs["productType"] = product_type  # CDSE's name code: IW_GRDH_1S is a GRD
        product_type = product_type[3:6].rstrip("_")
    polarisation = _text(typed.get("polarisationChannels"))
    if polarisation and "&" in polarisation:
        attrs["polarisationChannels"] = polarisation
        polarisation = polarisation.replace("&", " ")
    cloud = typed.get("cloudCover")
    fields: dict[str, Any] = {k: _text(typed.get(cdse)) for cdse, k in _FIELDS.items()}
    try:
        size = int(entity.get("ContentLength") or 0)
        sensing = TimeRange(
            parse_datetime(content.get("Start"), "ContentDate/Start"),
            parse_datetime(content.get("End"), "ContentDate/End"),
        )
        product = Product(
            id=product_id,
            name=name,
            filename=filename,
            collection=short,
            platform=_mission(short) + serial,
            sensing=sensing,
            publication_date=published,
            ingestion_date=parse_datetime(origin, "OriginDate") if origin else published,
            modification_date=parse_datetime(modified, "ModificationDate")
            if modified
            else published,
            product_type=product_type,
            footprint=_footprint(entity),
            size=size,
            checksums=_checksums(entity),
            online=bool(entity.get("Online", True)),
            orbit_number=_int(typed.get("orbitNumber")),
            relative_orbit=_int(typed.get("relativeOrbitNumber")),
            cloud_cover=float(cloud) if isinstance(cloud, int | float) else None,
            polarisation=polarisation,
            attributes=attrs,
            **fields,
        )
    except (ValueError, TypeError) as exc:
        raise BadEntry(f"remote product {product_id}: {exc}") from None
    quicklook = _quicklook(entity)
    return RemoteProduct(
        product,
        epoch_us(published) // 1000,
        1 if quicklook else 0,
        product.online,
        cursor_us=epoch_us(published),
        quicklook_url=quicklook,
    )


def deleted_cdse(entity: Mapping[str, Any]) -> tuple[uuid.UUID, int]:
    """(Id, DeletionDate in epoch microseconds) of a CDSE DeletedProduct entity."""
    try:
        product_id = uuid.UUID(str(entity["Id"]))
    except (KeyError, ValueError):
        raise BadEntry(f"remote deletion has no valid Id: {entity.get('Id')!r:.60}") from None
    return product_id, epoch_us(parse_datetime(entity.get("DeletionDate"), "DeletionDate"))
