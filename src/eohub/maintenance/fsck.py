"""``eohub fsck``: reconcile the catalogue (truth for metadata) with the archive (truth for bytes).

- bytes no catalogue row points to (an ingest killed before its catalogue write, a replaced
  product whose old bytes could not be removed) are orphans: reported, removed with repair;
- partial uploads left by a crash are removed with repair;
- a product marked online whose bytes are missing is reported, and marked offline with repair;
- with repair, missing or outdated stored product documents are rendered and stored;
- partial downloads of copy synchronisers (``<downloads>/<synchroniser>/<product>.part`` and
  its sidecars) untouched for longer than ``stale_after`` seconds are reported, and removed
  with repair (a running synchroniser touches the ones it resumes; a product's files go
  together);
- zipped products without file checksums are counted, and with repair get them computed from
  one pass over their archive object (see ``file_checksums``).
Memory stays bounded: the archive is listed and checked against the catalogue in batches.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eohub.catalogue.service import Catalogue
from eohub.maintenance.file_checksums import FileChecksumsReport, fill_files, needs_files
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
    stale_downloads: list[str] = field(default_factory=list)  # <synchroniser>/<product Id>
    stale_download_bytes: int = 0
    documents_stored: int = 0
    files: FileChecksumsReport = field(default_factory=FileChecksumsReport)
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


def _stale_downloads(folder: Path, stale_after: float, report: FsckReport) -> None:
    """Find (with repair: remove) the partial downloads whose newest file is older than
    ``stale_after`` seconds."""
    limit = time.time() - stale_after
    try:
        synchronisers = sorted(
            (e for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)),
            key=lambda e: e.name,
        )
    except (FileNotFoundError, NotADirectoryError):
        return
    for sync_dir in synchronisers:
        groups: dict[str, list[tuple[str, float, int]]] = {}
        with suppress(FileNotFoundError):
            for entry in os.scandir(sync_dir.path):
                with suppress(FileNotFoundError):
                    st = entry.stat(follow_symlinks=False)
                    stem = entry.name.partition(".")[0]
                    groups.setdefault(stem, []).append((entry.path, st.st_mtime, st.st_size))
        for stem, files in sorted(groups.items()):
            if max(mtime for _, mtime, _ in files) > limit:
                continue
            report.stale_downloads.append(f"{sync_dir.name}/{stem}")
            report.stale_download_bytes += sum(size for _, _, size in files)
            if report.repaired:
                for path, _, _ in files:
                    with suppress(FileNotFoundError, IsADirectoryError):
                        os.unlink(path)
                log.info("removed stale partial download %s/%s", sync_dir.name, stem)


def fsck(
    catalogue: Catalogue,
    store: ObjectStore,
    *,
    repair: bool = False,
    downloads: Path | None = None,
    stale_after: float = 72 * 3600.0,
) -> FsckReport:
    """Check (and with ``repair`` fix) the agreement of catalogue and archive, and look for
    stale partial downloads in ``downloads``."""
    report = FsckReport(repaired=repair)
    if repair:
        cleanup = getattr(store, "cleanup_partials", None)
        if cleanup is not None:
            report.partials_removed = int(cleanup())
    if downloads is not None:
        _stale_downloads(downloads, stale_after, report)
    _orphans(catalogue, store, report)
    fixes: list[Product] = []
    zipped: list[Product] = []
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
        elif needs_files(product):
            zipped.append(product)
            if len(zipped) == _BATCH:
                fill_files(catalogue, store, zipped, report.files, repair=repair)
                zipped = []
    if zipped:
        fill_files(catalogue, store, zipped, report.files, repair=repair)
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
