"""The ingest pipeline: product file -> metadata -> archive -> catalogue, all or nothing.

Order of work, so that a crash at any point leaves no half product:
1. read the metadata (nothing stored yet);
2. stream the product into the archive under a fresh key (the store commits atomically);
3. store the quicklook and thumbnail next to it;
4. write the catalogue row in one transaction — from here on the product exists;
5. record the checksums of the files inside the product (see below);
6. only then remove the bytes of a product this one replaced.
A crash between 2 and 4 leaves bytes that no catalogue row points to: ``eohub fsck --repair``
removes them, and re-running the ingest completes the job.

Duplicates and reprocessings (documented choice, as DHuS keys products by identifier): a
product whose identifier is already catalogued is a duplicate and is skipped, unless its
generation date is later than the catalogued one (a newer reprocessing of the same product):
then it replaces the old one, keeping its Id, publication and ingestion dates. A catalogued
product without bytes here (marked offline by ``fsck --repair``) is replaced the same way, so
ingesting it again brings it back online.

File checksums (MD5 and BLAKE3 of each file inside a zipped product, shown by the CDSE
``Nodes`` and the STAC file assets) are computed from bytes that flow anyway (see
``packaging``) and stored in the catalogue after the product row, for the product's archive
object. A crash or a catalogue failure in between leaves a product without them, which shows
no file checksums (never wrong ones) until ``eohub fsck --repair`` computes them.
"""

from __future__ import annotations

import io
import logging
import shutil
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from eohub.catalogue.service import Catalogue
from eohub.errors import CatalogueUnavailable, HubError
from eohub.ingest.errors import RejectedProduct
from eohub.ingest.packaging import (
    archive_filename,
    folder_is_product,
    input_file_digests,
    product_stream,
)
from eohub.ingest.quicklook import product_previews
from eohub.ingest.readers import read_product
from eohub.ingest.readers.base import ProductMetadata
from eohub.ingest.source import ProductSource
from eohub.model.files import FileDigest, FileManifest
from eohub.model.product import Checksum, Product, product_id_for
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore, product_key

log = logging.getLogger("eohub.ingest")

PRODUCT_SUFFIXES = (".zip", ".nc", ".SAFE", ".SEN3")


class Outcome(StrEnum):
    """What happened to one input."""

    INGESTED = "ingested"
    REPLACED = "replaced"  # a newer reprocessing replaced the catalogued product
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    """The outcome for one input path."""

    path: Path
    outcome: Outcome
    product: Product | None = None
    reason: str | None = None
    # A rejection that is not the product's fault (archive or catalogue unavailable): the
    # input is not quarantined, and a watched folder tries it again.
    retryable: bool = False


@dataclass
class IngestSummary:
    """Counts of a batch, and the rejected inputs with their reasons."""

    ingested: int = 0
    replaced: int = 0
    duplicates: int = 0
    rejected: list[IngestResult] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        """Count one result."""
        if result.outcome is Outcome.INGESTED:
            self.ingested += 1
        elif result.outcome is Outcome.REPLACED:
            self.replaced += 1
        elif result.outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        else:
            self.rejected.append(result)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejected


def find_products(paths: Iterable[Path]) -> Iterator[Path]:
    """Expand the inputs: a product path as is, a plain folder scanned recursively."""
    for path in paths:
        if path.is_dir() and not folder_is_product(path):
            for child in sorted(path.rglob("*")):
                if folder_is_product(child) or (
                    child.is_file()
                    and child.suffix in (".zip", ".nc")
                    and not any(folder_is_product(p) for p in child.parents)
                ):
                    yield child
        else:
            yield path


class Ingestor:
    """Turns product files into archived, catalogued products."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: ObjectStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        quarantine: Path | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.clock = clock
        self.quarantine = quarantine
        # One product identifier is ingested by one thread at a time (a batch may hold the
        # same product twice, e.g. as a folder and as a zip).
        self._name_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._name_locks.setdefault(name, threading.Lock())

    # -- one product ------------------------------------------------------------------------
    def ingest(self, path: Path) -> IngestResult:
        """Ingest one product; every failure is a REJECTED result with one clear reason."""
        try:
            result = self._ingest(path)
        except RejectedProduct as exc:
            result = IngestResult(path, Outcome.REJECTED, reason=exc.reason)
        except StorageError as exc:
            reason = f"archive: {exc.user_message}"
            result = IngestResult(path, Outcome.REJECTED, reason=reason, retryable=True)
        except HubError as exc:
            transient = isinstance(exc, CatalogueUnavailable)
            result = IngestResult(
                path, Outcome.REJECTED, reason=exc.user_message, retryable=transient
            )
        except OSError as exc:
            reason = f"{exc.strerror or exc}"
            result = IngestResult(path, Outcome.REJECTED, reason=reason, retryable=True)
        if result.outcome is Outcome.REJECTED:
            # info, not warning: callers report results (a warning would print it twice)
            log.info("rejected %s: %s", path, result.reason)
            if not result.retryable:
                self._quarantine(path)
        return result

    def _ingest(self, path: Path) -> IngestResult:
        with ProductSource.open(path) as source:
            meta = read_product(source)
            with self._lock_for(meta.name):
                return self._ingest_locked(path, source, meta)

    def _ingest_locked(
        self, path: Path, source: ProductSource, meta: ProductMetadata
    ) -> IngestResult:
        existing = self.catalogue.backend.find_by_name(meta.name)
        if existing is not None and _has_bytes(existing) and not _is_newer(meta, existing):
            return IngestResult(path, Outcome.DUPLICATE, product=existing)
        product, files = self._store(source, meta, existing)
        try:
            self.catalogue.upsert([product])
        except BaseException:
            self._forget(product)  # the row was not written: its bytes must not linger
            raise
        self._record_files(files)
        if existing is not None:
            self._forget(existing)
            return IngestResult(path, Outcome.REPLACED, product=product)
        return IngestResult(path, Outcome.INGESTED, product=product)

    def _store(
        self, source: ProductSource, meta: ProductMetadata, existing: Product | None
    ) -> tuple[Product, FileManifest | None]:
        now = self.clock()
        product_id = existing.id if existing else product_id_for(meta.name)
        folder = product_key(product_id, now.strftime("%Y%m%dT%H%M%S%f"))
        key = f"{folder}/{archive_filename(source, meta.name)}"
        digests = input_file_digests(source)  # a zip: read once more before anything is stored
        with product_stream(source, digests) as stream:  # a folder: its files hashed as zipped
            stored = self.store.put(key, stream)
        files = None
        if source.kind != "file":
            files = FileManifest(product_id, key, now, tuple(sorted(digests, key=_path)))
        keys: dict[str, str | None] = {"quicklook_key": None, "thumbnail_key": None}
        try:
            previews = product_previews(source, meta.quicklook_member)
            if previews is not None:
                keys["quicklook_key"] = self._put_small(
                    f"{folder}/quicklook.jpg", previews.quicklook
                )
                keys["thumbnail_key"] = self._put_small(
                    f"{folder}/thumbnail.jpg", previews.thumbnail
                )
        except BaseException:
            self._delete_keys([key, keys["quicklook_key"], keys["thumbnail_key"]])
            raise
        product = meta.to_product(
            product_id=product_id,
            publication_date=existing.publication_date if existing else now,
            ingestion_date=existing.ingestion_date if existing else now,
            size=stored.size,
            checksums=[Checksum("MD5", stored.md5, now), Checksum("BLAKE3", stored.blake3, now)],
        )
        return product.evolve(modification_date=now, archive_key=key, **keys), files

    def _record_files(self, files: FileManifest | None) -> None:
        """Store the file checksums of a product just catalogued; a failure leaves it without
        them (``eohub fsck --repair`` computes them), never fails the ingest."""
        if files is None:
            return
        try:
            self.catalogue.store_files(files)
        except HubError as exc:
            log.warning("file checksums of %s not stored: %s", files.product_id, exc)

    def _put_small(self, key: str, data: bytes) -> str:
        self.store.put(key, io.BytesIO(data), expected_size=len(data))
        return key

    def _forget(self, product: Product) -> None:
        self._delete_keys([product.archive_key, product.quicklook_key, product.thumbnail_key])

    def _delete_keys(self, keys: Iterable[str | None]) -> None:
        for key in keys:
            if key:
                try:
                    self.store.delete(key)
                except StorageError as exc:  # fsck reports what is left behind
                    log.warning("could not remove %s from the archive: %s", key, exc)

    def _quarantine(self, path: Path) -> None:
        if self.quarantine is None or not path.exists():
            return
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target = self.quarantine / path.name
        try:
            shutil.move(str(path), str(target))
            log.info("moved %s to quarantine %s", path, target)
        except OSError as exc:
            log.warning("could not move %s to quarantine: %s", path, exc)

    # -- batches ------------------------------------------------------------------------------
    def ingest_all(
        self,
        paths: Iterable[Path],
        *,
        workers: int = 1,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> IngestSummary:
        """Ingest every product found under ``paths``; one failure never stops the batch.

        With ``workers`` > 1, products are ingested by that many threads (archive writes and
        fsyncs overlap; catalogue writes stay serialised by the backend). Results are reported
        in input order; at most ``2 * workers`` products are in flight.
        """
        summary = IngestSummary()

        def report(result: IngestResult) -> None:
            summary.add(result)
            if on_result is not None:
                on_result(result)

        with self.catalogue.gathering():  # one saved-search mail per run, not per product
            if workers <= 1:
                for path in find_products(paths):
                    report(self.ingest(path))
                return summary
            pending: deque[Future[IngestResult]] = deque()
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eohub-ingest") as pool:
                for path in find_products(paths):
                    pending.append(pool.submit(self.ingest, path))
                    if len(pending) >= 2 * workers:
                        report(pending.popleft().result())
                while pending:
                    report(pending.popleft().result())
        return summary


def _path(digest: FileDigest) -> str:
    return digest.path


def _is_newer(meta: ProductMetadata, existing: Product) -> bool:
    old = existing.attributes.get("generationDate")
    new = meta.generation_date
    return isinstance(old, datetime) and new is not None and new > old


def _has_bytes(product: Product) -> bool:
    """True when the catalogued product has its bytes in this hub's archive."""
    return product.online and product.archive_key is not None
