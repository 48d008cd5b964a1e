"""The DHuS OData v1 data model (namespace ``DHuS``, container ``DHuSData``) and entity values.

``ENTITY_TYPES`` describes the entity types the hub serves, in the property order DHuS uses;
``$metadata``, ``$select`` checks and the CSV columns are derived from it. :class:`Entity` and
:class:`Feed` are the protocol-neutral values every renderer (JSON, Atom, CSV...) writes.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum

NAMESPACE = "DHuS"
CONTAINER = "DHuSData"


class Edm(StrEnum):
    """Primitive and complex types used by the model."""

    STRING = "Edm.String"
    INT64 = "Edm.Int64"
    INT32 = "Edm.Int32"
    BOOLEAN = "Edm.Boolean"
    DATETIME = "Edm.DateTime"
    DOUBLE = "Edm.Double"
    TIME_RANGE = "DHuS.TimeRange"
    CHECKSUM = "DHuS.Checksum"


@dataclass(frozen=True)
class PropertyDef:
    """One declared property."""

    name: str
    type: Edm
    nullable: bool = True


@dataclass(frozen=True)
class NavigationDef:
    """One navigation property; ``many`` for a feed, else a single entry."""

    name: str
    target: str  # entity type name
    many: bool


@dataclass(frozen=True)
class EntityTypeDef:
    """One entity type: key, properties in order, navigations, media (``HasStream``)."""

    name: str
    entity_set: str
    key: str
    properties: tuple[PropertyDef, ...]
    navigations: tuple[NavigationDef, ...] = ()
    has_stream: bool = False

    def property(self, name: str) -> PropertyDef | None:
        """A declared property by name."""
        return next((p for p in self.properties if p.name == name), None)

    def navigation(self, name: str) -> NavigationDef | None:
        """A declared navigation by name."""
        return next((n for n in self.navigations if n.name == name), None)


COMPLEX_TYPES: dict[Edm, tuple[PropertyDef, ...]] = {
    Edm.TIME_RANGE: (PropertyDef("Start", Edm.DATETIME), PropertyDef("End", Edm.DATETIME)),
    Edm.CHECKSUM: (PropertyDef("Algorithm", Edm.STRING), PropertyDef("Value", Edm.STRING)),
}

_S, _I64, _B, _D = Edm.STRING, Edm.INT64, Edm.BOOLEAN, Edm.DATETIME
_ITEM = (
    PropertyDef("Id", _S, nullable=False),
    PropertyDef("Name", _S),
    PropertyDef("ContentType", _S),
    PropertyDef("ContentLength", _I64),
)
_NODE = (*_ITEM, PropertyDef("ChildrenNumber", _I64), PropertyDef("Value", _S))
_NODE_NAVS = (
    NavigationDef("Nodes", "Node", many=True),
    NavigationDef("Attributes", "Attribute", many=True),
    NavigationDef("Class", "Class", many=False),
)

PRODUCT = EntityTypeDef(
    "Product",
    "Products",
    "Id",
    (
        *_NODE,
        PropertyDef("CreationDate", _D),
        PropertyDef("IngestionDate", _D),
        PropertyDef("ModificationDate", _D),
        PropertyDef("EvictionDate", _D),
        PropertyDef("Online", _B),
        PropertyDef("OnDemand", _B),
        PropertyDef("ContentDate", Edm.TIME_RANGE),
        PropertyDef("Checksum", Edm.CHECKSUM),
        PropertyDef("ContentGeometry", _S),
    ),
    (NavigationDef("Products", "Product", many=True), *_NODE_NAVS),
    has_stream=True,
)
NODE = EntityTypeDef("Node", "Nodes", "Id", _NODE, _NODE_NAVS, has_stream=True)
ATTRIBUTE = EntityTypeDef(
    "Attribute", "Attributes", "Id", (*_ITEM, PropertyDef("Value", _S), PropertyDef("Category", _S))
)
CLASS = EntityTypeDef(
    "Class",
    "Classes",
    "Id",
    (PropertyDef("Id", _S, nullable=False), PropertyDef("Uri", _S)),
    (NavigationDef("Classes", "Class", many=True),),
)
COLLECTION = EntityTypeDef(
    "Collection",
    "Collections",
    "Name",
    (
        PropertyDef("Name", _S, nullable=False),
        PropertyDef("Description", _S),
        PropertyDef("UUID", _S),
    ),
    (NavigationDef("Products", "Product", many=True),),
)
DELETED_PRODUCT = EntityTypeDef(
    "DeletedProduct",
    "DeletedProducts",
    "Id",
    (
        PropertyDef("Id", _S, nullable=False),
        PropertyDef("Name", _S),
        PropertyDef("CreationDate", _D),
        PropertyDef("FootPrint", _S),
        PropertyDef("Size", _I64),
        PropertyDef("IngestionDate", _D),
        PropertyDef("ContentDate", Edm.TIME_RANGE),
        PropertyDef("DeletionDate", _D),
        PropertyDef("DeletionCause", _S),
        PropertyDef("Checksum", Edm.CHECKSUM),
    ),
    (NavigationDef("Class", "Class", many=False),),
)

ENTITY_TYPES: dict[str, EntityTypeDef] = {
    t.name: t for t in (PRODUCT, NODE, ATTRIBUTE, CLASS, COLLECTION, DELETED_PRODUCT)
}
# Entity sets a client may read directly (Nodes and Attributes only through a product).
TOP_LEVEL_SETS: dict[str, EntityTypeDef] = {
    t.entity_set: t for t in (PRODUCT, COLLECTION, CLASS, DELETED_PRODUCT)
}
ALL_SETS: dict[str, EntityTypeDef] = {t.entity_set: t for t in ENTITY_TYPES.values()}


@dataclass(frozen=True)
class Prop:
    """A property value; complex values hold their members as a tuple of ``Prop``."""

    name: str
    type: Edm
    value: object


@dataclass
class Entity:
    """One entity ready to render.

    ``path`` is relative to the service root (``Products('x')/Nodes('a')``). ``expanded`` holds
    the content of navigations asked for with ``$expand`` (a Feed, an Entity or None);
    the others are rendered as deferred links.
    """

    type: EntityTypeDef
    path: str
    props: list[Prop]
    title: str = ""
    media_type: str | None = None
    expanded: dict[str, Feed | Entity | None] = field(default_factory=dict)

    def get(self, name: str) -> Prop | None:
        """A property by name."""
        return next((p for p in self.props if p.name == name), None)


@dataclass
class Feed:
    """A collection of entities; ``count`` is set when ``$inlinecount=allpages`` asked for it."""

    path: str
    title: str
    entries: list[Entity]
    count: int | None = None
    type: EntityTypeDef | None = None


def quote_key(value: str) -> str:
    """An OData string key literal for a URI: ``'value'``, quotes doubled, percent-encoded
    where a URI needs it (``Attributes('Baseline%20Collection')``, as DHuS writes)."""
    return "'" + urllib.parse.quote(value.replace("'", "''"), safe="'-._~:!$&*+,;=@") + "'"
