"""Domain values -> DHuS OData v1 entities (Products, Attributes, derived products, Collections).

Property semantics follow DHuS (``olingo/v1/entity/Product.java``): ``Name`` is the identifier
without extension, ``CreationDate`` the publication in this hub, ``ContentGeometry`` a GML 2
polygon with ``lat,lon`` pairs, ``ChildrenNumber`` the number of derived products (quicklook,
thumbnail), ``EvictionDate`` null (no eviction policy yet), ``OnDemand`` false.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from eohub.model.geometry import Footprint
from eohub.model.product import AttributeValue, Product
from eohub.protocols.dhus.odata_v1.edm import (
    ATTRIBUTE,
    CLASS,
    COLLECTION,
    PRODUCT,
    Edm,
    Entity,
    Prop,
    quote_key,
)

PRODUCT_CONTENT_TYPE = "application/octet-stream"
DERIVED = ("Quicklook", "Thumbnail")
_GML_SRS = "http://www.opengis.net/gml/srs/epsg.xml#4326"
_COLLECTION_NAMESPACE = uuid.UUID("0e5c1b7e-3c2b-5d7a-9f5e-0d1a2b3c4d5e")


def product_path(product_id: uuid.UUID | str) -> str:
    """``Products('<id>')``."""
    return f"Products({quote_key(str(product_id))})"


def media_name(product: Product) -> str:
    """The download name: the archive object's name, else ``<Name>.zip`` as DHuS does."""
    if product.archive_key:
        return product.archive_key.rsplit("/", 1)[-1]
    if product.filename.lower().endswith(".nc"):
        return product.filename
    return f"{product.name}.zip"


def is_online(product: Product) -> bool:
    """True when the hub holds the product's bytes."""
    return product.online and product.archive_key is not None


def derived_keys(product: Product) -> dict[str, str]:
    """Archive keys of the derived products (Quicklook, Thumbnail) that exist."""
    keys = {"Quicklook": product.quicklook_key, "Thumbnail": product.thumbnail_key}
    return {name: key for name, key in keys.items() if key}


def md5_of(product: Product) -> str | None:
    """The product's MD5, upper-case as DHuS writes it (dhusget compares upper-case)."""
    value = product.checksum("MD5")
    return value.upper() if value else None


# -- GML ---------------------------------------------------------------------------------------


def _coords(ring: list[tuple[float, float]]) -> str:
    return " ".join(f"{lat!r},{lon!r}" for lon, lat in ring)


def _polygon_gml(poly: Polygon, indent: str, xmlns: str) -> str:
    pad = indent + "   "
    outer = [(float(x), float(y)) for x, y, *_ in poly.exterior.coords]
    parts = [
        f'{indent}<gml:Polygon srsName="{_GML_SRS}"{xmlns}>',
        f"{pad}<gml:outerBoundaryIs>",
        f"{pad}   <gml:LinearRing>",
        f"{pad}      <gml:coordinates>{_coords(outer)}</gml:coordinates>",
        f"{pad}   </gml:LinearRing>",
        f"{pad}</gml:outerBoundaryIs>",
    ]
    for interior in poly.interiors:
        ring = [(float(x), float(y)) for x, y, *_ in interior.coords]
        parts += [
            f"{pad}<gml:innerBoundaryIs>",
            f"{pad}   <gml:LinearRing>",
            f"{pad}      <gml:coordinates>{_coords(ring)}</gml:coordinates>",
            f"{pad}   </gml:LinearRing>",
            f"{pad}</gml:innerBoundaryIs>",
        ]
    parts.append(f"{indent}</gml:Polygon>")
    return "\n".join(parts)


def gml_footprint(footprint: Footprint | None) -> str | None:
    """The footprint as DHuS's GML 2 string (``lat,lon`` pairs), or None."""
    if footprint is None:
        return None
    geom: BaseGeometry = footprint.original
    xmlns = ' xmlns:gml="http://www.opengis.net/gml"'
    if isinstance(geom, Polygon):
        return _polygon_gml(geom, "", xmlns)
    if isinstance(geom, MultiPolygon):
        members = [
            f"   <gml:polygonMember>\n{_polygon_gml(p, '      ', '')}\n   </gml:polygonMember>"
            for p in geom.geoms
        ]
        body = "\n".join(members)
        return f'<gml:MultiPolygon srsName="{_GML_SRS}"{xmlns}>\n{body}\n</gml:MultiPolygon>'
    return None


# -- attributes --------------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """``2018-04-07T18:04:59.601Z`` (UTC, milliseconds), as DHuS writes attribute dates."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_value(value: AttributeValue) -> str:
    """An attribute value as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


def human_size(size: int) -> str:
    """``679.11 KB`` / ``110.44 MB`` / ``1.05 GB``, as DHuS's ``Size`` attribute."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def _format_name(product: Product) -> str:
    lower = product.filename.lower()
    if lower.endswith(".nc"):
        return "NetCDF"
    if lower.endswith(".sen3"):
        return "SEN3"
    return "SAFE"


@dataclass(frozen=True)
class _Typed:
    name: str
    category: str
    get: Callable[[Product], AttributeValue | None]
    field: str | None  # canonical query field behind the attribute, for $filter


_TYPED: tuple[_Typed, ...] = (
    _Typed("Filename", "summary", lambda p: p.filename, "filename"),
    _Typed("Identifier", "summary", lambda p: p.name, "name"),
    _Typed("Date", "summary", lambda p: p.sensing.start, "sensing_start"),
    _Typed("Satellite", "summary", lambda p: p.mission, "mission"),
    _Typed("Instrument", "summary", lambda p: p.instrument, "instrument"),
    _Typed("Mode", "summary", lambda p: p.sensor_mode, "sensor_mode"),
    _Typed("Size", "summary", lambda p: human_size(p.size), None),
    _Typed("Collection", "product", lambda p: p.collection, "collection"),
    _Typed("Format", "product", _format_name, None),
    _Typed("Footprint", "product", lambda p: gml_footprint(p.footprint), None),
    _Typed("JTS footprint", "product", lambda p: p.footprint.wkt if p.footprint else None, None),
    _Typed("Ingestion Date", "product", lambda p: p.ingestion_date, "ingestion_date"),
    _Typed("Product type", "product", lambda p: p.product_type, "product_type"),
    _Typed("Product class", "product", lambda p: p.product_class, "product_class"),
    _Typed("Sensing start", "product", lambda p: p.sensing.start, "sensing_start"),
    _Typed("Sensing stop", "product", lambda p: p.sensing.end, "sensing_end"),
    _Typed("Orbit number (start)", "product", lambda p: p.orbit_number, "orbit_number"),
    _Typed("Relative orbit (start)", "product", lambda p: p.relative_orbit, "relative_orbit"),
    _Typed("Pass direction", "product", lambda p: p.orbit_direction, "orbit_direction"),
    _Typed("Cloud Cover Percentage", "product", lambda p: p.cloud_cover, "cloud_cover"),
    _Typed("Tile Identifier", "product", lambda p: p.tile_id, "tile_id"),
    _Typed("Polarisation", "product", lambda p: p.polarisation, "polarisation"),
    _Typed("Swath", "product", lambda p: p.swath, "swath"),
    _Typed("Timeliness Category", "product", lambda p: p.timeliness, "timeliness"),
    _Typed("Satellite name", "platform", lambda p: p.mission, "mission"),
    _Typed("Satellite number", "platform", lambda p: p.platform_serial, "platform_serial"),
    _Typed("Processing level", "processing", lambda p: p.processing_level, "processing_level"),
    _Typed(
        "Processing baseline", "processing", lambda p: p.processing_baseline, "processing_baseline"
    ),
)

#: Attribute names of the typed fields -> the canonical query field a $filter uses for them.
ATTRIBUTE_FIELDS: dict[str, str] = {t.name: t.field for t in _TYPED if t.field}
TYPED_ATTRIBUTE_NAMES = frozenset(t.name for t in _TYPED)


def _category(name: str) -> str:
    lower = name.lower()
    for prefix, category in (("platform", "platform"), ("nssdc", "platform"),
                             ("instrument", "instrument"), ("processing", "processing"),
                             ("processor", "processing")):  # fmt: skip
        if lower.startswith(prefix):
            return category
    return "product"


@dataclass(frozen=True)
class AttributeItem:
    """One metadata item of a product as DHuS lists it."""

    name: str
    value: str
    category: str


def product_attributes(product: Product) -> list[AttributeItem]:
    """Every metadata item: the typed fields (DHuS names) then every stored attribute."""
    items: list[AttributeItem] = []
    for typed in _TYPED:
        value = typed.get(product)
        if value is not None:
            items.append(AttributeItem(typed.name, format_value(value), typed.category))
    for name in sorted(product.attributes):
        if name not in TYPED_ATTRIBUTE_NAMES:
            value = product.attributes[name]
            items.append(AttributeItem(name, format_value(value), _category(name)))
    return items


def attribute_entity(base_path: str, item: AttributeItem) -> Entity:
    """An Attribute entity under ``base_path`` (a product or node path)."""
    return Entity(
        ATTRIBUTE,
        f"{base_path}/Attributes({quote_key(item.name)})",
        [
            Prop("Id", Edm.STRING, item.name),
            Prop("Name", Edm.STRING, item.name),
            Prop("ContentType", Edm.STRING, "text/plain"),
            Prop("ContentLength", Edm.INT64, len(item.value)),
            Prop("Value", Edm.STRING, item.value),
            Prop("Category", Edm.STRING, item.category),
        ],
        title=item.name,
    )


# -- products ----------------------------------------------------------------------------------


def _checksum(algorithm: str | None, value: str | None) -> Prop:
    return Prop(
        "Checksum",
        Edm.CHECKSUM,
        (Prop("Algorithm", Edm.STRING, algorithm), Prop("Value", Edm.STRING, value)),
    )


def product_entity(product: Product) -> Entity:
    """The Product entity of a catalogued product."""
    md5 = md5_of(product)
    return Entity(
        PRODUCT,
        product_path(product.id),
        [
            Prop("Id", Edm.STRING, str(product.id)),
            Prop("Name", Edm.STRING, product.name),
            Prop("ContentType", Edm.STRING, PRODUCT_CONTENT_TYPE),
            Prop("ContentLength", Edm.INT64, product.size),
            Prop("ChildrenNumber", Edm.INT64, len(derived_keys(product))),
            Prop("Value", Edm.STRING, None),
            Prop("CreationDate", Edm.DATETIME, product.publication_date),
            Prop("IngestionDate", Edm.DATETIME, product.ingestion_date),
            Prop("ModificationDate", Edm.DATETIME, product.modification_date),
            Prop("EvictionDate", Edm.DATETIME, None),
            Prop("Online", Edm.BOOLEAN, is_online(product)),
            Prop("OnDemand", Edm.BOOLEAN, False),
            Prop(
                "ContentDate",
                Edm.TIME_RANGE,
                (
                    Prop("Start", Edm.DATETIME, product.sensing.start),
                    Prop("End", Edm.DATETIME, product.sensing.end),
                ),
            ),
            _checksum("MD5" if md5 else None, md5),
            Prop("ContentGeometry", Edm.STRING, gml_footprint(product.footprint)),
        ],
        title=product.name,
        media_type=PRODUCT_CONTENT_TYPE,
    )


def derived_entity(product: Product, kind: str, size: int, md5: str | None) -> Entity:
    """A derived product (``Quicklook`` or ``Thumbnail``) as DHuS exposes it."""
    entity = product_entity(product)
    entity.path = f"{entity.path}/Products({quote_key(kind)})"
    entity.title = kind
    entity.media_type = "image/jpeg"
    replaced = {
        "Id": kind,
        "Name": kind,
        "ContentType": "image/jpeg",
        "ContentLength": size,
        "ChildrenNumber": 0,
        "Online": True,
    }
    entity.props = [
        Prop(p.name, p.type, replaced[p.name]) if p.name in replaced else p for p in entity.props
    ]
    entity.props = [
        _checksum("MD5", md5.upper()) if p.name == "Checksum" and md5 else p for p in entity.props
    ]
    return entity


# -- collections and classes -------------------------------------------------------------------


def collection_entity(name: str) -> Entity:
    """A Collection (one per distinct product collection)."""
    return Entity(
        COLLECTION,
        f"Collections({quote_key(name)})",
        [
            Prop("Name", Edm.STRING, name),
            Prop("Description", Edm.STRING, f"Products of the {name} collection"),
            Prop("UUID", Edm.STRING, str(uuid.uuid5(_COLLECTION_NAMESPACE, name))),
        ],
        title=name,
    )


def class_id(collection: str, product_type: str) -> str:
    """The Id of the class of a product: ``<collection>:<product type>``."""
    return f"{collection}:{product_type}"


def class_entity(collection: str, product_type: str) -> Entity:
    """The Class of products of one collection and product type."""
    cid = class_id(collection, product_type)
    return Entity(
        CLASS,
        f"Classes({quote_key(cid)})",
        [
            Prop("Id", Edm.STRING, cid),
            Prop("Uri", Edm.STRING, f"urn:eohub:class:{collection}:{product_type}"),
        ],
        title=cid,
    )
