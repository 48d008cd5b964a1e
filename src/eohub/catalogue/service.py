"""The catalogue service: validates queries, then delegates to a backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from eohub.catalogue.ports import CatalogueBackend
from eohub.errors import NotFound
from eohub.model.product import Product
from eohub.query.normalize import normalize_query
from eohub.query.query import Page, Query


class Catalogue:
    """Search and maintain products; every query is normalised before a backend runs it."""

    def __init__(self, backend: CatalogueBackend) -> None:
        self.backend = backend

    def search(self, query: Query) -> Page[Product]:
        """Validate and run a query."""
        return self.backend.search(normalize_query(query))

    def count(self, query: Query) -> int:
        """Exact count of a query's matches."""
        return self.backend.count(normalize_query(query))

    def get(self, product_id: uuid.UUID) -> Product:
        """One product, or NotFound."""
        product = self.backend.get(product_id)
        if product is None:
            raise NotFound(f"product {product_id} not found")
        return product

    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products."""
        return self.backend.upsert(products)

    def delete(self, product_id: uuid.UUID) -> bool:
        """Remove a product."""
        return self.backend.delete(product_id)
