"""The OData v1 service: a parsed request (path + options) -> a result to render.

Framework-free: it reads products through anything shaped like the catalogue service and
bytes through anything shaped like the archive (``stat``, ``open_file``); the web layer renders
the result (:mod:`.render`) or streams the media it names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol

from eohub.errors import NotFound
from eohub.model.deleted import DeletedProduct
from eohub.model.product import Product
from eohub.protocols.dhus.odata_v1 import entities as ent
from eohub.protocols.dhus.odata_v1.deleted import deleted_entity, deleted_query
from eohub.protocols.dhus.odata_v1.edm import (
    ALL_SETS,
    ATTRIBUTE,
    CLASS,
    COLLECTION,
    DELETED_PRODUCT,
    NODE,
    PRODUCT,
    TOP_LEVEL_SETS,
    Edm,
    Entity,
    EntityTypeDef,
    Feed,
    Prop,
    quote_key,
)
from eohub.protocols.dhus.odata_v1.errors import ODataError, bad_request, invalid_key, not_found
from eohub.protocols.dhus.odata_v1.filter_translate import parse as parse_filter
from eohub.protocols.dhus.odata_v1.nodes import NodeInfo, ProductTree
from eohub.protocols.dhus.odata_v1.options import DEFAULT_TOP, Format, Options, Segment
from eohub.query.deleted import DeletedQuery
from eohub.query.fields import FIELDS
from eohub.query.query import CountMode, Page, Query, SortKey
from eohub.query.tree import MATCH_ALL, Compare, CompareOp, Node, and_

DEFAULT_SORT = (SortKey("publication_date"),)  # insertion order, as DHuS lists products
MAX_DISTINCT = 1000


class Products(Protocol):
    """What the service needs from the catalogue."""

    def search(self, query: Query) -> Page[Product]:
        """One page of products."""

    def count(self, query: Query) -> int:
        """Number of matches."""

    def get(self, product_id: uuid.UUID) -> Product:
        """One product; raises NotFound."""

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products."""

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct:
        """The deletion record of one Id; raises NotFound."""


class Stat(Protocol):
    """Size, MD5 and time of a stored object."""

    @property
    def size(self) -> int:
        """Bytes."""

    @property
    def md5(self) -> str:
        """Lower-case hex."""

    @property
    def modified(self) -> datetime:
        """Last write."""


class Archive(Protocol):
    """What the service needs from the archive."""

    def stat(self, key: str) -> Stat | None:
        """An object's size and checksums, or None."""

    def open_file(self, key: str) -> BinaryIO:
        """A seekable file of an object."""


# -- results ------------------------------------------------------------------------------------


@dataclass
class EntityResult:
    """One entity."""

    entity: Entity
    select: tuple[str, ...] = ()


@dataclass
class FeedResult:
    """A feed; ``products`` keeps the catalogue products of a Products feed (for Metalink)."""

    feed: Feed
    select: tuple[str, ...] = ()
    products: list[Product] | None = None


@dataclass
class PropertyResult:
    """One property; ``raw`` for ``.../$value`` (the bare value as text)."""

    prop: Prop
    raw: bool = False


@dataclass
class CountResult:
    """``/$count``."""

    count: int


@dataclass
class MediaResult:
    """Bytes to stream: an archive object (``member`` None) or a file inside a zipped one."""

    filename: str
    content_type: str
    size: int = 0
    etag: str | None = None
    last_modified: datetime | None = None
    key: str | None = None
    member: NodeInfo | None = None
    tree: ProductTree | None = field(default=None, repr=False)
    offline: bool = False
    product_id: uuid.UUID | None = None
    """The product the bytes belong to (downloads are counted against quotas per product)."""
    preview: bool = False
    """A quicklook or thumbnail: shown to searchers, not a download."""


@dataclass
class MetadataResult:
    """``$metadata``."""


@dataclass
class ServiceResult:
    """The service document."""

    entity_sets: list[str]


Result = (
    EntityResult | FeedResult | PropertyResult | CountResult | MediaResult | MetadataResult
    | ServiceResult
)  # fmt: skip


# -- the service --------------------------------------------------------------------------------


class ODataService:
    """Resolves OData v1 requests against a catalogue and an archive."""

    def __init__(self, products: Products, archive: Archive) -> None:
        self.products = products
        self.archive = archive

    def handle(self, segments: Sequence[Segment], options: Options) -> Result:
        """The result of one GET (or HEAD) request."""
        if not segments:
            return ServiceResult(list(TOP_LEVEL_SETS))
        head, rest = segments[0], list(segments[1:])
        if head.name == "$metadata" and head.key is None and not rest:
            if options.format not in (None, Format.XML):
                raise bad_request("System query option '$format' is not compatible with the "
                                  "return type.")  # fmt: skip
            return MetadataResult()
        if head.name == "Products":
            return self._products(head, rest, options, MATCH_ALL, "Products")
        if head.name == "Collections":
            return self._collections(head, rest, options)
        if head.name == "Classes":
            return self._classes(head, rest, options)
        if head.name == "DeletedProducts":
            return self._deleted(head, rest, options)
        if head.name in ALL_SETS:
            raise not_found(f"{head.name} can only be reached through a Product")
        raise not_found(f"Could not find an entity set or function import for '{head.name}'.")

    # -- products ----------------------------------------------------------------------------
    def _product(self, key: str) -> Product:
        try:
            return self.products.get(uuid.UUID(key))
        except (ValueError, NotFound):
            raise invalid_key(key, "Products") from None

    def _products(
        self, head: Segment, rest: list[Segment], options: Options, base: Node, path: str
    ) -> Result:
        if head.key is not None:
            return self._product_tail(self._product(head.key), rest, options)
        if rest and rest[0].name == "$count" and len(rest) == 1:
            return CountResult(self.products.count(Query(filter=self._filter(options, base))))
        if rest:
            raise bad_request(f"Invalid segment '{rest[0].name}' after an entity set")
        query = Query(
            filter=self._filter(options, base),
            sort=options.orderby or DEFAULT_SORT,
            limit=DEFAULT_TOP if options.top is None else options.top,
            offset=options.skip,
            count=CountMode.EXACT if options.inlinecount else CountMode.NONE,
        )
        page = self.products.search(query)
        _check_select(PRODUCT, options.select)
        entries = [self._product_entity(p, options.expand) for p in page.items]
        feed = Feed(path, "Products", entries, count=page.total, type=PRODUCT)
        return FeedResult(feed, options.select, list(page.items))

    def _filter(self, options: Options, base: Node) -> Node:
        if not options.filter:
            return base
        return and_(base, parse_filter(options.filter, span=self._span, context=base))

    def _span(self, name: str, where: Node) -> tuple[datetime, datetime] | None:
        getter = FIELDS.get(name).get
        first = self.products.search(Query(filter=where, sort=(SortKey(name),), limit=1)).items
        last = self.products.search(
            Query(filter=where, sort=(SortKey(name, descending=True),), limit=1)
        ).items
        if not first or not last:
            return None
        return getter(first[0]), getter(last[0])

    def _product_entity(self, product: Product, expand: tuple[str, ...]) -> Entity:
        entity = ent.product_entity(product)
        for name in _check_expand(PRODUCT, expand):
            if name == "Attributes":
                entity.expanded[name] = self._attributes_feed(product)
            elif name == "Nodes":
                entity.expanded[name] = self._nodes_feed(product, None, entity.path)
            elif name == "Class":
                entity.expanded[name] = ent.class_entity(product.collection, product.product_type)
            else:
                entity.expanded[name] = self._derived_feed(product)
        return entity

    def _product_tail(self, product: Product, rest: list[Segment], options: Options) -> Result:
        path = ent.product_path(product.id)
        if not rest:
            _check_select(PRODUCT, options.select)
            return EntityResult(self._product_entity(product, options.expand), options.select)
        head, tail = rest[0], rest[1:]
        if head.name == "$value" and not tail and head.key is None:
            return self._product_media(product)
        if head.name == "Nodes":
            tree = self._tree(product)
            if head.key is None:
                return self._list(self._nodes_feed(product, None, path, tree), tail, options)
            return self._node_tail(product, tree, [head.key], tail, options)
        if head.name == "Attributes":
            feed = self._attributes_feed(product)
            if head.key is None:
                return self._list(feed, tail, options)
            entity = next((e for e in feed.entries if e.title == head.key), None)
            if entity is None:
                raise invalid_key(head.key, "Attributes")
            return self._entity_tail(entity, tail, options)
        if head.name == "Class" and head.key is None:
            entity = ent.class_entity(product.collection, product.product_type)
            return self._entity_tail(entity, tail, options)
        if head.name == "Products":
            feed = self._derived_feed(product)
            if head.key is None:
                return self._list(feed, tail, options)
            entity = next((e for e in feed.entries if e.title == head.key), None)
            if entity is None:
                raise invalid_key(head.key, "Products")
            if tail and tail[0].name == "$value" and len(tail) == 1:
                return self._derived_media(product, head.key)
            return self._entity_tail(entity, tail, options)
        return self._entity_tail(self._product_entity(product, ()), rest, options)

    def _product_media(self, product: Product) -> MediaResult:
        name = ent.media_name(product)
        if not ent.is_online(product) or product.archive_key is None:
            # The catalogued size: what a proxied download's quota admission counts.
            return MediaResult(name, ent.PRODUCT_CONTENT_TYPE, size=product.size, offline=True,
                               product_id=product.id)  # fmt: skip
        stat = self.archive.stat(product.archive_key)
        if stat is None:
            raise ODataError(503, f"The data of product {product.id} is temporarily unavailable",
                             cause="DataStoreException")  # fmt: skip
        return MediaResult(name, ent.PRODUCT_CONTENT_TYPE, stat.size, stat.md5,
                           product.modification_date, key=product.archive_key,
                           product_id=product.id)  # fmt: skip

    # -- derived products (quicklook, thumbnail) -------------------------------------------------
    def _derived_feed(self, product: Product) -> Feed:
        entries: list[Entity] = []
        for kind, key in ent.derived_keys(product).items():
            stat = self.archive.stat(key)
            if stat is not None:
                entries.append(ent.derived_entity(product, kind, stat.size, stat.md5))
        path = f"{ent.product_path(product.id)}/Products"
        return Feed(path, "Products", entries, type=PRODUCT)

    def _derived_media(self, product: Product, kind: str) -> MediaResult:
        key = ent.derived_keys(product).get(kind)
        stat = self.archive.stat(key) if key else None
        if key is None or stat is None:
            raise invalid_key(kind, "Products")
        filename = f"{product.name}-{'ql' if kind == 'Quicklook' else 'th'}.jpg"
        return MediaResult(filename, "image/jpeg", stat.size, stat.md5,
                           product.modification_date, key=key, product_id=product.id,
                           preview=True)  # fmt: skip

    # -- attributes -----------------------------------------------------------------------------
    def _attributes_feed(self, product: Product) -> Feed:
        path = ent.product_path(product.id)
        entries = [ent.attribute_entity(path, item) for item in ent.product_attributes(product)]
        return Feed(f"{path}/Attributes", "Attributes", entries, type=ATTRIBUTE)

    # -- nodes ----------------------------------------------------------------------------------
    def _tree(self, product: Product) -> ProductTree:
        key = product.archive_key
        if key is None or not ent.is_online(product):
            raise not_found(f"Product {product.id} is offline: its nodes cannot be browsed")
        archive = self.archive
        return ProductTree(ent.media_name(product), product.size, lambda: archive.open_file(key))

    def _node_entity(self, path: str, node: NodeInfo) -> Entity:
        return Entity(
            NODE,
            path,
            [
                Prop("Id", Edm.STRING, node.name),
                Prop("Name", Edm.STRING, node.name),
                Prop("ContentType", Edm.STRING, node.content_type),
                Prop("ContentLength", Edm.INT64, node.size),
                Prop("ChildrenNumber", Edm.INT64, node.children),
                Prop("Value", Edm.STRING, None),
            ],
            title=node.name,
            media_type=node.content_type,
        )

    def _nodes_feed(
        self, product: Product, node: NodeInfo | None, path: str, tree: ProductTree | None = None
    ) -> Feed:
        if tree is None:
            if not ent.is_online(product):
                return Feed(f"{path}/Nodes", "Nodes", [], type=NODE)
            tree = self._tree(product)
        children = tree.roots() if node is None else tree.children(node)
        entries = [self._node_entity(f"{path}/Nodes({quote_key(c.name)})", c) for c in children]
        return Feed(f"{path}/Nodes", "Nodes", entries, type=NODE)

    def _node_tail(
        self,
        product: Product,
        tree: ProductTree,
        names: list[str],
        rest: list[Segment],
        options: Options,
    ) -> Result:
        while rest and rest[0].name == "Nodes" and rest[0].key is not None:
            names.append(rest[0].key)
            rest = rest[1:]
        node = tree.resolve(names)
        path = ent.product_path(product.id) + "".join(f"/Nodes({quote_key(n)})" for n in names)
        if rest and rest[0].name == "$value" and len(rest) == 1:
            if node.is_dir:
                raise bad_request(f"Node '{node.name}' is a folder: it has no value")
            etag = f"{product.checksum('MD5') or product.id}-{node.crc:08x}"
            return MediaResult(node.name, node.content_type, node.size, etag,
                               product.modification_date, key=product.archive_key,
                               member=node if node.member else None, tree=tree,
                               product_id=product.id)  # fmt: skip
        if rest and rest[0].name == "Nodes" and rest[0].key is None:
            return self._list(self._nodes_feed(product, node, path, tree), rest[1:], options)
        if rest and rest[0].name == "Attributes" and rest[0].key is None:
            return self._list(Feed(f"{path}/Attributes", "Attributes", [], type=ATTRIBUTE),
                              rest[1:], options)  # fmt: skip
        entity = self._node_entity(path, node)
        for name in _check_expand(NODE, options.expand):
            if name == "Nodes":
                entity.expanded[name] = self._nodes_feed(product, node, path, tree)
            elif name == "Attributes":
                entity.expanded[name] = Feed(f"{path}/Attributes", "Attributes", [], type=ATTRIBUTE)
            else:
                entity.expanded[name] = None
        return self._entity_tail(entity, rest, options)

    # -- deleted products -----------------------------------------------------------------------
    def _deleted(self, head: Segment, rest: list[Segment], options: Options) -> Result:
        if head.key is None:
            if rest and rest[0].name == "$count" and len(rest) == 1:
                page = self.products.deleted(deleted_query(options).counting())
                return CountResult(page.total or 0)
            if rest:
                raise bad_request(f"Invalid segment '{rest[0].name}' after an entity set")
            _check_select(DELETED_PRODUCT, options.select)
            page = self.products.deleted(deleted_query(options))
            entries = [self._deleted_entity(d, options.expand) for d in page.items]
            feed = Feed("DeletedProducts", "DeletedProducts", entries, count=page.total,
                        type=DELETED_PRODUCT)  # fmt: skip
            return FeedResult(feed, options.select)
        try:
            found = self.products.get_deleted(uuid.UUID(head.key))
        except (ValueError, NotFound):
            raise invalid_key(head.key, "DeletedProducts") from None
        if rest and rest[0].name == "Class" and rest[0].key is None:
            entity = ent.class_entity(found.product.collection, found.product.product_type)
            return self._entity_tail(entity, rest[1:], options)
        return self._entity_tail(self._deleted_entity(found, () if rest else options.expand),
                                 rest, options)  # fmt: skip

    def _deleted_entity(self, found: DeletedProduct, expand: tuple[str, ...]) -> Entity:
        entity = deleted_entity(found)
        for name in _check_expand(DELETED_PRODUCT, expand):  # Class is its only navigation
            entity.expanded[name] = ent.class_entity(found.product.collection,
                                                     found.product.product_type)  # fmt: skip
        return entity

    # -- collections and classes ----------------------------------------------------------------
    def _distinct(self, name: str, base: Node) -> list[str]:
        """Distinct values of a sortable field, one indexed search each (a skip scan)."""
        values: list[str] = []
        getter = FIELDS.get(name).get
        while len(values) < MAX_DISTINCT:
            where = base if not values else and_(base, Compare(name, CompareOp.GT, values[-1]))
            page = self.products.search(Query(filter=where, sort=(SortKey(name),), limit=1))
            if not page.items:
                break
            values.append(getter(page.items[0]))
        return values

    def _collections(self, head: Segment, rest: list[Segment], options: Options) -> Result:
        if head.key is None:
            names = self._distinct("collection", MATCH_ALL)
            feed = Feed("Collections", "Collections", [ent.collection_entity(n) for n in names],
                        type=COLLECTION)  # fmt: skip
            return self._list(feed, rest, options)
        if not self._distinct_exists("collection", head.key):
            raise invalid_key(head.key, "Collections")
        entity = ent.collection_entity(head.key)
        if rest and rest[0].name == "Products":
            base = Compare("collection", CompareOp.EQ, head.key)
            return self._products(rest[0], rest[1:], options, base,
                                  f"{entity.path}/Products")  # fmt: skip
        return self._entity_tail(entity, rest, options)

    def _distinct_exists(self, name: str, value: str) -> bool:
        query = Query(filter=Compare(name, CompareOp.EQ, value), limit=1)
        return bool(self.products.search(query).items)

    def _classes(self, head: Segment, rest: list[Segment], options: Options) -> Result:
        pairs: list[tuple[str, str]] = []
        for collection in self._distinct("collection", MATCH_ALL):
            base = Compare("collection", CompareOp.EQ, collection)
            pairs += [(collection, t) for t in self._distinct("product_type", base)]
        entries = [ent.class_entity(c, t) for c, t in pairs]
        if head.key is None:
            return self._list(Feed("Classes", "Classes", entries, type=CLASS), rest, options)
        entity = next((e for e in entries if e.title == head.key), None)
        if entity is None:
            raise invalid_key(head.key, "Classes")
        if rest and rest[0].name == "Classes" and rest[0].key is None:
            return self._list(Feed(f"{entity.path}/Classes", "Classes", [], type=CLASS),
                              rest[1:], options)  # fmt: skip
        return self._entity_tail(entity, rest, options)

    # -- generic tails ----------------------------------------------------------------------------
    def _list(self, feed: Feed, rest: list[Segment], options: Options) -> Result:
        """A feed built in memory: ``$top``, ``$skip``, ``$inlinecount``, ``/$count``."""
        if rest:
            if rest[0].name == "$count" and len(rest) == 1:
                return CountResult(len(feed.entries))
            raise bad_request(f"Invalid segment '{rest[0].name}' after a feed")
        if options.filter or options.orderby:
            raise ODataError(501, f"$filter and $orderby are supported on Products and "
                             f"DeletedProducts only, not on "
                             f"{feed.title}", cause="ODataNotImplementedException")  # fmt: skip
        if feed.type is not None:
            _check_select(feed.type, options.select)
        total = len(feed.entries)
        top = DEFAULT_TOP if options.top is None else options.top
        feed.entries = feed.entries[options.skip : options.skip + top]
        feed.count = total if options.inlinecount else None
        return FeedResult(feed, options.select)

    def _entity_tail(self, entity: Entity, rest: list[Segment], options: Options) -> Result:
        """An entity, one of its properties, or a property's ``$value``."""
        if not rest:
            _check_select(entity.type, options.select)
            return EntityResult(entity, options.select)
        names = [s.name for s in rest]
        if any(s.key is not None for s in rest):
            raise bad_request(f"Invalid key predicate after {entity.type.name} properties")
        raw = names[-1] == "$value"
        if raw:
            names = names[:-1]
        if not names or len(names) > 2:
            raise bad_request("Invalid property path " + "/".join(s.name for s in rest)[:100])
        prop = entity.get(names[0])
        if prop is None:
            raise not_found(f"Could not find property with name: '{names[0]}'")
        if len(names) == 2:
            members = prop.value if prop.type in (Edm.TIME_RANGE, Edm.CHECKSUM) else None
            member = next((m for m in members or () if m.name == names[1]), None)  # type: ignore[attr-defined]
            if member is None:
                raise not_found(f"Could not find property with name: '{names[1]}'")
            prop = member
        if raw and prop.type in (Edm.TIME_RANGE, Edm.CHECKSUM):
            raise bad_request(f"Property '{prop.name}' is complex: it has no $value")
        return PropertyResult(prop, raw)


def _check_select(type_def: EntityTypeDef, select: tuple[str, ...]) -> None:
    for name in select:
        if name != "*" and type_def.property(name) is None and type_def.navigation(name) is None:
            raise bad_request(f"Invalid $select: '{name[:60]}' is not a property of "
                              f"{type_def.name}")  # fmt: skip


def _check_expand(type_def: EntityTypeDef, expand: tuple[str, ...]) -> list[str]:
    for name in expand:
        if type_def.navigation(name) is None:
            raise bad_request(f"Invalid $expand: '{name[:60]}' is not a navigation property of "
                              f"{type_def.name}")  # fmt: skip
    return list(dict.fromkeys(expand))
