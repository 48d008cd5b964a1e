"""The contract every catalogue backend implements (SQLite, PostgreSQL + PostGIS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from eohub.model.change import Change
from eohub.model.deleted import DeletedProduct
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.query.deleted import DeletedQuery
from eohub.query.query import Page, Query


class CatalogueBackend(Protocol):
    """Stores products and runs normalised queries with the reference semantics.

    ``search`` receives a query already passed through ``normalize_query``; it returns the same
    products, in the same order, with the same count as ``eohub.query.evaluate.search``.
    Driver errors are translated at this boundary into ``eohub.errors`` classes.
    """

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent)."""

    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products by Id in one transaction; returns how many were written."""

    def get(self, product_id: uuid.UUID) -> Product | None:
        """One product by Id."""

    def get_many(self, product_ids: Sequence[uuid.UUID]) -> list[Product]:
        """Products by Id, in the given order, skipping unknown Ids."""

    def find_by_name(self, name: str) -> Product | None:
        """One product by identifier (name without extension)."""

    def delete(
        self,
        product_id: uuid.UUID,
        *,
        cause: str | None = None,
        purge: bool = False,
        deletion_date: datetime | None = None,
    ) -> DeletedProduct | None:
        """Remove a product and, unless ``purge``, record it in the deleted products, in one
        transaction; returns what was removed (None when the Id is unknown).

        ``deletion_date`` defaults to now; a deletion of an Id recorded before replaces the
        earlier record. Upserting the Id again later leaves the record in place (as DHuS).
        """

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products in the query's order, with the count when asked;
        the same page as ``eohub.query.deleted.select_deleted``."""

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct | None:
        """The deletion record of one Id."""

    def put_files(self, manifest: FileManifest) -> bool:
        """Store the file checksums of a product's archive object, replacing earlier ones,
        only while the product points to that object (``archive_key``); False otherwise."""

    def get_files(self, product_id: uuid.UUID) -> FileManifest | None:
        """The stored file checksums of a product (of whichever object they describe)."""

    def files_keys(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The archive key each stored manifest of ``product_ids`` describes (none: absent)."""

    def changes(self, after: int, limit: int) -> list[Change]:
        """At most ``limit`` change-feed events with a sequence number above ``after``, oldest
        first. Every ``upsert`` (``created``, or ``modified`` when the Id was stored before) and
        every ``delete`` appends its events in its own transaction; numbers grow in commit
        order, so a reader never later finds an event below one it has seen (numbers may skip).
        """

    def change_head(self) -> int:
        """The highest sequence number of the feed (0 when nothing was ever written)."""

    def prune_changes(self, before: datetime) -> int:
        """Delete events written before ``before``, always keeping the newest one (so the head
        stays known); returns how many were deleted."""

    def search(self, query: Query) -> Page[Product]:
        """One page of a normalised query."""

    def search_documents(self, query: Query, kind: str) -> Page[bytes]:
        """One page of a normalised query as the products' documents of ``kind`` (a
        ``DocumentKind`` given to the backend): the same order, total and cursor as
        ``search``, each item the kind's rendering of the product (stored or rendered)."""

    def refresh_documents(self, batch: int = 1000) -> int:
        """Store the missing or outdated documents of every kind (0 where none are stored);
        returns how many were written."""

    def count(self, query: Query) -> int:
        """Exact number of products matching a normalised query's filter."""

    def prepare_search_index(self, wait_s: float = 0.0) -> str:
        """Start building an in-process search index if the backend keeps one, waiting up to
        ``wait_s``; its state: "ready", "building", "failed", or "off" (none kept)."""

    def close(self) -> None:
        """Release connections."""
