"""The CDSE-style OData service: parsed requests -> JSON bodies or media to stream.

Framework-free: it reads products through the catalogue service and bytes through the
archive; the web layer (``eohub.api.csc``) turns the results into responses. Product bytes,
files inside a product and quicklooks are resolved by the DHuS OData service, which already
knows archive objects, zip members and derived products, so both APIs serve the same bytes.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from eohub.errors import InvalidQuery, NotFound
from eohub.model.deleted import DeletedProduct
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.protocols.csc import entities
from eohub.protocols.csc.attributes import all_collection_attributes, collection_attributes
from eohub.protocols.csc.deleted import parse_deleted_filter
from eohub.protocols.csc.filter import parse_filter
from eohub.protocols.csc.options import DEFAULT_ORDER, Options
from eohub.protocols.dhus.odata_v1.edm import Entity
from eohub.protocols.dhus.odata_v1.options import Options as DhusOptions
from eohub.protocols.dhus.odata_v1.options import Segment
from eohub.protocols.dhus.odata_v1.service import (
    Archive,
    FeedResult,
    MediaResult,
    ODataService,
)
from eohub.query.deleted import DEFAULT_DELETED_SORT, DeletedQuery
from eohub.query.query import CountMode, Page, Query
from eohub.query.tree import MATCH_ALL, Compare, CompareOp, Node, and_, or_

MAX_FILTER_LIST = 1000
MAX_NODES = 100_000


class Catalogue(Protocol):
    """What the service needs from the catalogue."""

    def search(self, query: Query) -> Page[Product]:
        """One page of products."""

    def search_documents(self, query: Query, kind: str) -> Page[bytes]:
        """One page of the products' stored documents of ``kind``."""

    def count(self, query: Query) -> int:
        """Number of matches."""

    def get(self, product_id: uuid.UUID) -> Product:
        """One product; raises NotFound."""

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products."""

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct:
        """The deletion record of one Id; raises NotFound."""

    def files(self, product: Product) -> FileManifest | None:
        """The checksums of the files inside the product's archive object, if known."""


class EvictionDates(Protocol):
    """Each product's EvictionDate from the hub's eviction policies."""

    def __call__(self, product: Product) -> datetime | None:
        """The date, or None for never."""

    def active(self) -> bool:
        """Whether any policy gives dates (else every product's is never)."""


def parse_id(key: str, what: str = "Product") -> uuid.UUID:
    """A key as a UUID; anything else is NotFound with CDSE's message."""
    try:
        return uuid.UUID(key.strip("'"))
    except ValueError:
        raise NotFound(f"{what} with id {key[:100]} not found.") from None


class CscService:
    """Resolves CDSE OData requests against a catalogue and an archive."""

    def __init__(
        self,
        catalogue: Catalogue,
        archive: Archive,
        root: str,
        *,
        eviction_dates: EvictionDates | None = None,
        s3: entities.S3Paths | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.archive = archive
        self.root = root
        self.eviction_dates = eviction_dates
        self.s3 = s3

    # -- products -----------------------------------------------------------------------------
    def query(self, options: Options, base: Node = MATCH_ALL) -> Query:
        """The catalogue query of a Products request."""
        node = parse_filter(options.filter) if options.filter else MATCH_ALL
        return Query(
            filter=and_(base, node),
            sort=options.orderby or DEFAULT_ORDER,
            limit=options.top,
            offset=0 if options.skiptoken else options.skip,
            after=options.skiptoken,
            count=CountMode.EXACT if options.count else CountMode.NONE,
        )

    def products(self, options: Options) -> dict[str, Any]:
        """``GET Products``: one page, its count when asked, and the next page's link.

        Without ``$select`` and ``$expand`` the entities are the catalogue's stored documents
        (``orjson.Fragment``: JSON bytes placed as they are), which harvests read page after
        page; otherwise they are rendered here.
        """
        query = self.query(options)
        page: Page[Any]
        dated = self.eviction_dates is not None and self.eviction_dates.active()
        if options.select or options.expand or dated:
            page = self.catalogue.search(query)
            values: list[Any] = [self._entity(p, options) for p in page.items]
        else:
            page = self.catalogue.search_documents(query, entities.PRODUCT_DOCUMENT.name)
            values = [orjson.Fragment(doc) for doc in page.items]
        body: dict[str, Any] = {"@odata.context": entities.context("Products", options.expand)}
        if page.total is not None:
            body["@odata.count"] = page.total
        body["value"] = values
        if page.next is not None and page.items:
            body["@odata.nextLink"] = self.next_link("Products", options, page.next.encode())
        return body

    def _entity(self, product: Product, options: Options) -> dict[str, Any]:
        evicts = self.eviction_dates(product) if self.eviction_dates is not None else None
        entity = entities.product_entity(
            product, self.root, options.expand, eviction_date=evicts, s3=self.s3
        )
        return entities.select(entity, options.select)

    def product(self, key: str, options: Options) -> dict[str, Any]:
        """``GET Products(<id>)``: the entity itself with a ``$entity`` context."""
        product = self.get(key)
        context = entities.context("Products", options.expand, entity=True)
        return {"@odata.context": context, **self._entity(product, options)}

    def get(self, key: str) -> Product:
        """A product by its key; NotFound in CDSE's words."""
        product_id = parse_id(key)
        try:
            return self.catalogue.get(product_id)
        except NotFound:
            raise NotFound(f"Product with id {product_id} not found.") from None

    def filter_list(self, body: object, options: Options) -> dict[str, Any]:
        """``POST Products/OData.CSC.FilterList``: the products of the listed names that exist
        (a name with or without its extension), in catalogue order; unknown names dropped."""
        names = _filter_list_names(body)
        if not names:
            items: Sequence[Product] = []
        else:
            tests = [Compare(f, CompareOp.EQ, n) for n in names for f in ("filename", "name")]
            node = and_(or_(*tests), parse_filter(options.filter) if options.filter else MATCH_ALL)
            query = Query(filter=node, sort=options.orderby or DEFAULT_ORDER, limit=2 * len(names))
            items = self.catalogue.search(query).items
        return {
            "@odata.context": entities.context("Products", options.expand),
            "value": [self._entity(p, options) for p in items],
        }

    def next_link(self, entity_set: str, options: Options, token: str) -> str:
        """The link of the next page: the same options, ``$skiptoken`` instead of ``$skip``."""
        kept = [(k, v) for k, v in options.raw if k not in ("$skip", "$skiptoken")]
        query = urllib.parse.urlencode([*kept, ("$skiptoken", token)], quote_via=urllib.parse.quote)
        return f"{self.root}/{entity_set}?{query}"

    # -- deleted products ---------------------------------------------------------------------
    def deleted(self, options: Options) -> dict[str, Any]:
        """``GET DeletedProducts``: like Products, ordered by DeletionDate then Id."""
        query = DeletedQuery(
            filter=parse_deleted_filter(options.filter) if options.filter else MATCH_DELETED,
            sort=options.orderby or DEFAULT_DELETED_SORT,
            limit=options.top,
            offset=0 if options.skiptoken else options.skip,
            after=options.skiptoken,
            count=CountMode.EXACT if options.count else CountMode.NONE,
        )
        page = self.catalogue.deleted(query)
        body: dict[str, Any] = {
            "@odata.context": entities.context("DeletedProducts", options.expand)
        }
        if page.total is not None:
            body["@odata.count"] = page.total
        body["value"] = [self._deleted(d, options) for d in page.items]
        if page.next is not None and page.items:
            body["@odata.nextLink"] = self.next_link("DeletedProducts", options, page.next.encode())
        return body

    def _deleted(self, found: DeletedProduct, options: Options) -> dict[str, Any]:
        entity = entities.deleted_entity(found, self.root, options.expand)
        return entities.select(entity, options.select)

    def deleted_one(self, key: str, options: Options) -> dict[str, Any]:
        """``GET DeletedProducts(<id>)``."""
        product_id = parse_id(key, "Deleted product")
        try:
            found = self.catalogue.get_deleted(product_id)
        except NotFound:
            raise NotFound(f"Deleted product with id {product_id} not found.") from None
        context = entities.context("DeletedProducts", options.expand, entity=True)
        return {"@odata.context": context, **self._deleted(found, options)}

    # -- attributes -----------------------------------------------------------------------------
    def attributes(self, collection: str | None) -> object:
        """``GET Attributes`` (every collection) or ``GET Attributes(<collection>)``."""
        if collection is None:
            return all_collection_attributes()
        found = collection_attributes(collection.strip("'"))
        if found is None:
            raise NotFound(f"Collection {collection[:100]} not found.")
        return found

    # -- nodes and bytes ------------------------------------------------------------------------
    def _dhus(self) -> ODataService:
        return ODataService(self.catalogue, self.archive)  # type: ignore[arg-type]

    def nodes(self, key: str, names: Sequence[str], listing: bool) -> dict[str, Any]:
        """``Products(<id>)/Nodes[(a)/Nodes(b)...][/Nodes]`` in CDSE's ``{"result": [...]}``.

        Each entry also carries the ``Checksum`` list of the file (MD5 and BLAKE3, as the
        product's own), empty for folders and for files whose checksums are not known.
        """
        product = self.get(key)
        segments = [Segment("Products", str(product.id)), *(Segment("Nodes", n) for n in names)]
        if listing:
            segments.append(Segment("Nodes"))
        result = self._dhus().handle(segments, DhusOptions(top=MAX_NODES))
        base = f"{self.root}/Products({product.id})" + "".join(
            f"/Nodes({urllib.parse.quote(n, safe='')})" for n in names
        )
        sums = _NodeChecksums(product, self.catalogue.files(product))
        if isinstance(result, FeedResult):
            return {
                "result": [
                    self._node(base, e, sums.of([*names, str(e.title)]))
                    for e in result.feed.entries
                ]
            }
        parent = base.rsplit("/Nodes(", 1)[0]
        assert not isinstance(result, MediaResult)
        entity = getattr(result, "entity", None)
        if not isinstance(entity, Entity):
            return {"result": []}
        return {"result": [self._node(parent, entity, sums.of(list(names)))]}

    def _node(self, base: str, entity: Entity, checksum: list[dict[str, Any]]) -> dict[str, Any]:
        name = str(entity.title)
        size = entity.get("ContentLength")
        children = entity.get("ChildrenNumber")
        uri = f"{base}/Nodes({urllib.parse.quote(name, safe='')})/Nodes"
        return {
            "Id": name,
            "Name": name,
            "ContentLength": size.value if size else 0,
            "ChildrenNumber": children.value if children else 0,
            "Checksum": checksum,
            "Nodes": {"uri": uri},
        }

    def media(self, key: str, names: Sequence[str] = ()) -> MediaResult:
        """The bytes of a product (no names) or of a file inside it."""
        product = self.get(key)
        segments = [Segment("Products", str(product.id)), *(Segment("Nodes", n) for n in names)]
        result = self._dhus().handle([*segments, Segment("$value")], DhusOptions())
        assert isinstance(result, MediaResult)
        return result

    def asset(self, key: str) -> MediaResult:
        """``Assets(<id>)/$value``: a product's quicklook."""
        asset = parse_id(key, "Asset")
        missing = NotFound(f"Asset with id {asset} not found.")
        try:
            product = self.catalogue.get(entities.asset_product(asset))
        except NotFound:
            raise missing from None
        if not product.quicklook_key:
            raise missing
        segments = [
            Segment("Products", str(product.id)),
            Segment("Products", "Quicklook"),
            Segment("$value"),
        ]
        try:
            result = self._dhus().handle(segments, DhusOptions())
        except NotFound:
            raise missing from None
        assert isinstance(result, MediaResult)
        return result


MATCH_DELETED = parse_deleted_filter(None)


class _NodeChecksums:
    """The ``Checksum`` list of a node by its chain of names: a file of a zipped product from
    its stored manifest, the single node of any other product (a netCDF file) from the
    product's own checksums."""

    def __init__(self, product: Product, manifest: FileManifest | None) -> None:
        key = product.archive_key or ""
        self._zipped = key.lower().endswith(".zip")
        self._product = product
        self._manifest = manifest

    def of(self, names: Sequence[str]) -> list[dict[str, Any]]:
        if not self._zipped:
            return entities.checksums(self._product.checksums) if len(names) == 1 else []
        if self._manifest is None:
            return []
        digest = self._manifest.get("/".join(names))
        return entities.file_checksums(digest, self._manifest.computed_at)


def _filter_list_names(body: object) -> list[str]:
    bad = InvalidQuery(
        'FilterList expects {"FilterProducts": [{"Name": "..."}, ...]}', field="FilterProducts"
    )
    if not isinstance(body, dict) or not isinstance(body.get("FilterProducts"), list):
        raise bad
    items = body["FilterProducts"]
    if len(items) > MAX_FILTER_LIST:
        raise InvalidQuery(
            f"FilterList takes at most {MAX_FILTER_LIST} names", field="FilterProducts"
        )
    names: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise bad
        if item["Name"] and len(item["Name"]) <= 500:
            names.append(item["Name"])
    return list(dict.fromkeys(names))
