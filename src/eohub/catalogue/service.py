"""The catalogue service: validates queries, then delegates to a backend."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from eohub.catalogue.ports import CatalogueBackend
from eohub.errors import InvalidQuery, NotFound
from eohub.model.change import Change
from eohub.model.deleted import DeletedProduct, cause_problem
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.query.deleted import DeletedQuery
from eohub.query.normalize import normalize_query
from eohub.query.query import Page, Query

log = logging.getLogger("eohub.catalogue")

NewProductsObserver = Callable[[list[Product]], object]
"""Called with the products an upsert added (not those it replaced), after it committed."""


def _now() -> datetime:
    return datetime.now(UTC)


def _always() -> bool:
    return True


class Catalogue:
    """Search and maintain products; every query is normalised before a backend runs it."""

    def __init__(self, backend: CatalogueBackend, *, clock: Callable[[], datetime] = _now) -> None:
        self.backend = backend
        self.clock = clock
        self._observers: list[tuple[NewProductsObserver, Callable[[], bool]]] = []
        self._lock = threading.Lock()
        self._gathering = 0
        self._gathered: dict[uuid.UUID, Product] = {}

    def on_new_products(
        self, observer: NewProductsObserver, *, active: Callable[[], bool] = _always
    ) -> None:
        """Call ``observer`` after each upsert that added products. ``active`` is asked first:
        when no observer is active, an upsert does not look up which of its Ids are new.
        An observer's error is logged, never raised: it cannot fail the upsert."""
        self._observers.append((observer, active))

    @contextmanager
    def gathering(self) -> Iterator[None]:
        """Inside this block observers are not called after each upsert but once, when the
        outermost block ends, with every product added in it (one call for a whole ingest
        run, from any thread)."""
        with self._lock:
            self._gathering += 1
        try:
            yield
        finally:
            with self._lock:
                self._gathering -= 1
                done = list(self._gathered.values()) if self._gathering == 0 else []
                if self._gathering == 0:
                    self._gathered = {}
            if done:
                self._tell(done, self._active())

    def _active(self) -> list[NewProductsObserver]:
        return [observer for observer, active in self._observers if _asks(active)]

    def _tell(self, new: list[Product], observers: list[NewProductsObserver]) -> None:
        for observer in observers:
            try:
                observer(new)
            except Exception:
                log.exception("an observer of new products failed (the upsert stands)")

    def search(self, query: Query) -> Page[Product]:
        """Validate and run a query."""
        return self.backend.search(normalize_query(query))

    def search_documents(self, query: Query, kind: str) -> Page[bytes]:
        """Validate and run a query; the page holds the products' documents of ``kind`` (see
        ``eohub.model.documents``) instead of products."""
        return self.backend.search_documents(normalize_query(query), kind)

    def count(self, query: Query) -> int:
        """Exact count of a query's matches."""
        return self.backend.count(normalize_query(query))

    def prepare_search_index(self, wait_s: float = 0.0) -> str:
        """Start building the backend's in-process search index (see the backend), waiting up
        to ``wait_s``; its state: "ready", "building", "failed" or "off"."""
        return self.backend.prepare_search_index(wait_s)

    def get(self, product_id: uuid.UUID) -> Product:
        """One product, or NotFound."""
        product = self.backend.get(product_id)
        if product is None:
            raise NotFound(f"product {product_id} not found")
        return product

    def get_many(self, product_ids: Sequence[uuid.UUID]) -> list[Product]:
        """Products by Id, in the given order, skipping unknown Ids."""
        return self.backend.get_many(product_ids)

    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products, then tell the observers which were new."""
        observers = self._active()
        if not observers:
            return self.backend.upsert(products)
        batch = list(products)
        known = {p.id for p in self.backend.get_many([p.id for p in batch])}
        written = self.backend.upsert(batch)
        new = {p.id: p for p in batch if p.id not in known}
        with self._lock:
            if self._gathering:
                self._gathered.update(new)
                return written
        if new:
            self._tell(list(new.values()), observers)
        return written

    def delete(
        self, product_id: uuid.UUID, *, cause: str | None = None, purge: bool = False
    ) -> DeletedProduct | None:
        """Remove a product and, unless ``purge``, record it in the deleted products with the
        current time and ``cause``; returns what was removed, or None for an unknown Id.

        An empty cause counts as none; a cause that cannot be recorded is an InvalidQuery.
        """
        cause = cause or None
        if cause is not None:
            problem = cause_problem(cause)
            if problem is not None:
                raise InvalidQuery(problem, field="cause")
        return self.backend.delete(product_id, cause=cause, purge=purge, deletion_date=self.clock())

    def store_files(self, manifest: FileManifest) -> bool:
        """Keep the file checksums of a product's archive object; False when the product no
        longer points to that object (deleted or replaced meanwhile)."""
        return self.backend.put_files(manifest)

    def files(self, product: Product) -> FileManifest | None:
        """The file checksums of the object the product points to, when they are known."""
        if product.archive_key is None:
            return None
        found = self.backend.get_files(product.id)
        return found if found is not None and found.describes(product.archive_key) else None

    def changes(self, after: int = 0, limit: int = 1000) -> list[Change]:
        """At most ``limit`` change-feed events after sequence number ``after``, oldest first
        (see ``CatalogueBackend.changes``)."""
        if after < 0 or limit < 0:
            raise InvalidQuery("a change-feed position and limit cannot be negative")
        return self.backend.changes(after, limit) if limit else []

    def change_head(self) -> int:
        """The highest sequence number of the change feed (0 for an empty feed)."""
        return self.backend.change_head()

    def prune_changes(self, before: datetime) -> int:
        """Drop change-feed events written before ``before`` (the newest stays); how many."""
        return self.backend.prune_changes(before)

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products (see ``eohub.query.deleted``)."""
        return self.backend.deleted(query)

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct:
        """The deletion record of one Id, or NotFound."""
        found = self.backend.get_deleted(product_id)
        if found is None:
            raise NotFound(f"deleted product {product_id} not found")
        return found


def _asks(active: Callable[[], bool]) -> bool:
    try:
        return active()
    except Exception:
        log.exception("an observer of new products could not say whether it is active")
        return False
