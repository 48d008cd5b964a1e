"""``eohub fsck``: reconcile the catalogue (truth for metadata) with the archive (truth for bytes).

- bytes no catalogue row points to (an ingest killed before its catalogue write, a replaced
  product whose old bytes could not be removed) are orphans: reported, removed with repair;
- partial uploads left by a crash are removed with repair;
- a product marked online whose bytes are missing is reported, and marked offline with repair;
- with repair, missing or outdated stored product documents are rendered and stored.
Memory stays bounded: the archive is listed and checked against the catalogue in batches.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.model.product import Product
from eohub.query.query import Cursor, Query, SortKey
from eohub.storage.ports import ObjectStore

log = logging.getLogger("eohub.fsck")
_BATCH = 1000


@dataclass
class FsckReport:
    """What fsck found (and, with repair, fixed)."""

    products: int = 0
    objects: int = 0
    orphans: list[str] = field(default_factory=list)
    missing: list[uuid.UUID] = field(default_factory=list)
    partials_removed: int = 0
    documents_stored: int = 0
    repaired: bool = False

    @property
    def clean(self) -> bool:
        """True when catalogue and archive agree."""
        return not self.orphans and not self.missing


def _product_id(key: str) -> uuid.UUID | None:
    parts = key.split("/")
    if len(parts) < 4:
        return None
    try:
        return uuid.UUID(parts[2])
    except ValueError:
        return None


def _keys_of(product: Product) -> set[str]:
    return {k for k in (product.archive_key, product.quicklook_key, product.thumbnail_key) if k}


def _all_products(catalogue: Catalogue) -> Iterator[Product]:
    after: Cursor | None = None
    while True:
        page = catalogue.search(Query(sort=(SortKey("id"),), limit=_BATCH, after=after))
        yield from page.items
        if page.next is None:
            return
        after = page.next


def _orphans(catalogue: Catalogue, store: ObjectStore, report: FsckReport) -> None:
    batch: list[str] = []

    def check(keys: list[str]) -> None:
        ids = list({pid for k in keys if (pid := _product_id(k)) is not None})
        known: dict[uuid.UUID, set[str]] = {
            p.id: _keys_of(p) for p in catalogue.backend.get_many(ids)
        }
        for key in keys:
            pid = _product_id(key)
            if pid is None or key not in known.get(pid, set()):
                report.orphans.append(key)

    for key in store.keys():
        report.objects += 1
        batch.append(key)
        if len(batch) >= _BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)


def fsck(catalogue: Catalogue, store: ObjectStore, *, repair: bool = False) -> FsckReport:
    """Check (and with ``repair`` fix) the agreement of catalogue and archive."""
    report = FsckReport(repaired=repair)
    if repair:
        cleanup = getattr(store, "cleanup_partials", None)
        if cleanup is not None:
            report.partials_removed = int(cleanup())
    _orphans(catalogue, store, report)
    fixes: list[Product] = []
    now = datetime.now(UTC)
    for product in _all_products(catalogue):
        report.products += 1
        if product.online and (
            product.archive_key is None or store.stat(product.archive_key) is None
        ):
            report.missing.append(product.id)
            if repair:
                fixes.append(product.evolve(online=False, archive_key=None, modification_date=now))
                if len(fixes) == _BATCH:  # the walk is in Id order: a fixed product stays behind
                    catalogue.upsert(fixes)
                    fixes = []
    if repair:
        for key in report.orphans:
            store.delete(key)
            log.info("removed orphan object %s", key)
        if fixes:
            catalogue.upsert(fixes)
        # Products catalogued before a document kind existed (or by an older rendering) are
        # served by rendering them on every read until their documents are stored.
        report.documents_stored = catalogue.backend.refresh_documents()
    return report
