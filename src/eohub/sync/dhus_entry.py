"""A remote hub's DHuS OData v1 JSON Product entry -> :class:`eohub.model.Product`.

The entry gives the Id, Name, dates (``/Date(ms)/``: millisecond precision), size, MD5 and
the GML footprint; the rest comes from the expanded ``Attributes``, under the names DHuS (and
this hub's OData v1) gives them (``Product type``, ``Satellite name``, ``JTS footprint``...).
Attributes that are no typed product field are kept as attributes. OData v1 gives every
attribute as text, so their types are read back from the text: ``true``/``false`` are
booleans, integers without leading zeros are ints, decimals that print back the same are
floats, ``2018-04-07T18:04:59.601Z`` is a datetime, anything else stays text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eohub.errors import HubError, InvalidGeometry
from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Checksum, Product, TimeRange
from eohub.protocols.dhus.odata_v1.entities import TYPED_ATTRIBUTE_NAMES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_INT = re.compile(r"-?(?:0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"-?\d+\.\d+(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_GML_COORDS = re.compile(r"<gml:coordinates>([^<]*)</gml:coordinates>")
_SUFFIXES = {"S1": ".SAFE", "S2": ".SAFE", "S3": ".SEN3", "S5": ".nc"}


class BadEntry(HubError):
    """A remote entry this hub cannot catalogue (missing or malformed values)."""

    code = "sync_bad_entry"


@dataclass(frozen=True)
class RemoteProduct:
    """A decoded remote entry: the product, its remote CreationDate (the cursor's key) and
    how many derived products (quicklook, thumbnail) the remote has."""

    product: Product
    creation_ms: int
    children: int
    online: bool
    cursor_us: int | None = None  # a CDSE-style source: PublicationDate in microseconds
    quicklook_url: str | None = None  # a CDSE-style source: the quicklook asset's link

    @property
    def id(self) -> uuid.UUID:
        """The product Id (kept across hubs)."""
        return self.product.id


def date_ms(value: object, name: str) -> int:
    """Milliseconds since the epoch of a ``/Date(ms)/`` value (or an ISO text)."""
    if isinstance(value, str):
        found = _DATE.fullmatch(value.replace("\\/", "/"))
        if found:
            return int(found.group(1))
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            return (aware - _EPOCH) // timedelta(milliseconds=1)
    raise BadEntry(f"remote entry has no valid {name}: {value!r:.60}")


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


def typed_value(text: str) -> AttributeValue:
    """An attribute value read back from its OData v1 text (see the module docstring)."""
    if text in ("true", "false"):
        return text == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and str(float(text)) == text:
        return float(text)
    if _DATETIME.fullmatch(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


def _attributes(entry: Mapping[str, Any]) -> dict[str, str]:
    block = entry.get("Attributes")
    results = block.get("results") if isinstance(block, dict) else None
    if not isinstance(results, list):
        return {}
    found: dict[str, str] = {}
    for item in results:
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            value = item.get("Value")
            if isinstance(value, str):
                found[item["Name"]] = value
    return found


def _footprint(attrs: Mapping[str, str], gml: object) -> Footprint | None:
    wkt = attrs.get("JTS footprint")
    try:
        if wkt:
            return Footprint.from_wkt(wkt, strict=False)
        if isinstance(gml, str):
            rings = []
            for coords in _GML_COORDS.findall(gml):
                pairs = [p.split(",") for p in coords.split()]
                rings.append([(float(lon), float(lat)) for lat, lon in pairs])
            return Footprint.from_rings(rings[:1]) if rings else None
    except (InvalidGeometry, ValueError) as exc:
        raise BadEntry(f"remote footprint is not valid: {exc}") from None
    return None


def _int(attrs: Mapping[str, str], name: str) -> int | None:
    text = attrs.get(name)
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def _float(attrs: Mapping[str, str], name: str) -> float | None:
    text = attrs.get(name)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _direction(attrs: Mapping[str, str]) -> str | None:
    # This hub writes "Pass direction" (ASCENDING); DHuS writes "Pass direction (start)" in
    # lower case (see the recorded fixtures).
    text = attrs.get("Pass direction") or attrs.get("Pass direction (start)")
    return text.upper() if text else None


def _filename(name: str, attrs: Mapping[str, str]) -> str:
    given = attrs.get("Filename")
    if given:
        return given
    return name + _SUFFIXES.get(name[:2], "")


def entry_position(entry: Mapping[str, Any]) -> tuple[int, uuid.UUID, str] | None:
    """(CreationDate ms, Id, Name or Id) of an entry, when at least these decode: enough to
    record it on the skip list and to move the cursor past it; None otherwise."""
    try:
        product_id = uuid.UUID(str(entry["Id"]))
        creation = date_ms(entry.get("CreationDate"), "CreationDate")
    except (KeyError, ValueError, BadEntry):
        return None
    name = entry.get("Name")
    return creation, product_id, name if isinstance(name, str) and name else str(product_id)


def decode_product(entry: Mapping[str, Any]) -> RemoteProduct:
    """Decode one JSON Product entry; BadEntry names what is wrong."""
    try:
        product_id = uuid.UUID(str(entry["Id"]))
    except (KeyError, ValueError):
        raise BadEntry(f"remote entry has no valid Id: {entry.get('Id')!r:.60}") from None
    name = entry.get("Name")
    if not isinstance(name, str) or not name:
        raise BadEntry(f"remote product {product_id} has no Name")
    attrs = _attributes(entry)
    content = entry.get("ContentDate") or {}
    creation = date_ms(entry.get("CreationDate"), "CreationDate")
    ingestion = entry.get("IngestionDate")
    modification = entry.get("ModificationDate")
    start = from_ms(date_ms(content.get("Start"), "ContentDate/Start"))
    end = from_ms(date_ms(content.get("End"), "ContentDate/End"))
    # DHuS publishes some products with End before Start (recorded: an S3 OLCI product of
    # apihub); refusing one would hold the cursor on it for ever, so the range is ordered.
    start, end = min(start, end), max(start, end)
    checksum = entry.get("Checksum") or {}
    checksums: tuple[Checksum, ...] = ()
    if isinstance(checksum.get("Value"), str) and checksum.get("Value"):
        checksums = (Checksum(str(checksum.get("Algorithm") or "MD5"), checksum["Value"]),)
    mission = attrs.get("Satellite name") or attrs.get("Satellite") or ""
    serial = attrs.get("Satellite number") or ""
    try:
        size = int(entry.get("ContentLength") or 0)
        children = int(entry.get("ChildrenNumber") or 0)
        sensing = TimeRange(start, end)
    except ValueError as exc:
        raise BadEntry(f"remote product {product_id}: {exc}") from None
    stored = {k: typed_value(v) for k, v in attrs.items() if k not in TYPED_ATTRIBUTE_NAMES}
    product = Product(
        id=product_id,
        name=name,
        filename=_filename(name, attrs),
        collection=attrs.get("Collection") or mission.upper(),
        platform=mission + serial,
        sensing=sensing,
        publication_date=from_ms(creation),
        ingestion_date=from_ms(date_ms(ingestion, "IngestionDate"))
        if ingestion
        else from_ms(creation),
        modification_date=from_ms(date_ms(modification, "ModificationDate"))
        if modification
        else from_ms(creation),
        product_type=attrs.get("Product type") or "",
        footprint=_footprint(attrs, entry.get("ContentGeometry")),
        size=size,
        checksums=checksums,
        online=bool(entry.get("Online", True)),
        instrument=attrs.get("Instrument"),
        processing_level=attrs.get("Processing level"),
        processing_baseline=attrs.get("Processing baseline"),
        orbit_number=_int(attrs, "Orbit number (start)"),
        relative_orbit=_int(attrs, "Relative orbit (start)"),
        orbit_direction=_direction(attrs),
        # DHuS names it "Cloud Cover Percentage (%)"; this hub without the unit.
        cloud_cover=_float(attrs, "Cloud Cover Percentage")
        if "Cloud Cover Percentage" in attrs
        else _float(attrs, "Cloud Cover Percentage (%)"),
        tile_id=attrs.get("Tile Identifier"),
        polarisation=attrs.get("Polarisation"),
        sensor_mode=attrs.get("Mode"),
        swath=attrs.get("Swath"),
        timeliness=attrs.get("Timeliness Category"),
        product_class=attrs.get("Product class"),
        attributes=stored,
    )
    return RemoteProduct(product, creation, children, product.online)


def deleted_entry(entry: Mapping[str, Any]) -> tuple[uuid.UUID, int]:
    """(Id, DeletionDate in epoch ms) of a JSON DeletedProduct entry."""
    try:
        product_id = uuid.UUID(str(entry["Id"]))
    except (KeyError, ValueError):
        raise BadEntry(f"remote deletion has no valid Id: {entry.get('Id')!r:.60}") from None
    return product_id, date_ms(entry.get("DeletionDate"), "DeletionDate")
