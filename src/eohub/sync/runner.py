"""One synchroniser at work: pages of remote products after its cursor -> this catalogue.

The cursor (see :class:`eohub.sync.model.Cursor`) reads the remote by CreationDate, which
OData v1 JSON gives to the millisecond while a hub may order by finer times. So it reads
``CreationDate ge T`` by ``CreationDate, Id``; after a full page whose last product is in the
millisecond ``L``, every product before ``L`` has been seen, and the millisecond ``L`` itself
is then read alone, ordered by Id and paged with ``Id gt '<last>'`` (a "bucket"), before the
cursor moves on to ``L + 1 ms``. However many products share one time, none is lost or read
twice within the bucket; products seen again at a bucket's start are recognised (same Id and
checksum) and left alone.

Order of work per page, so that a crash at any point leaves no half product and no gap:
1. fetch and decode the page; apply the local filter;
2. for each product not already here: store its bytes (copy mode: streamed into the
   synchroniser's download folder, resumed with Range there across restarts, checked against
   the remote's size and checksums, then adopted by the archive; retried with backoff),
   quicklook and thumbnail;
3. write the catalogue rows in one upsert;
4. only then persist the cursor, and only if every product of the page passed: a product
   that failed holds the cursor back, so the next run tries it again.

A product that failed ``max_failures`` runs goes on the skip list (table
``sync_failed_products``) before the cursor moves past it: it is recorded, never dropped, and
``eohub sync retry`` queues it for the next runs, which fetch it by Id before their pages.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError
from eohub.model.files import FileManifest
from eohub.model.product import Checksum, Product
from eohub.query.evaluate import matches
from eohub.query.tree import Node
from eohub.storage.checksums import digest_chunks
from eohub.storage.errors import StorageError
from eohub.storage.file_digests import ZipDigestError, digest_zip
from eohub.storage.ports import FileAdopter, ObjectStore, StoredObject, product_key
from eohub.sync.cdse_entry import decode_cdse_product, deleted_cdse, entity_position, from_us
from eohub.sync.cdse_remote import CdseHub
from eohub.sync.credentials import source_client
from eohub.sync.dhus_entry import (
    BadEntry,
    RemoteProduct,
    decode_product,
    deleted_entry,
    entry_position,
    from_ms,
)
from eohub.sync.filters import (
    cdse_datetime,
    cdse_remote_filter,
    datetime_literal,
    local_filter,
    remote_filter,
)
from eohub.sync.model import (
    Cursor,
    DeletedCursor,
    FailureState,
    SourceState,
    SyncCounters,
    Synchroniser,
    SyncMode,
    VerifyMode,
)
from eohub.sync.partial import Archived, DownloadFolder, Expected
from eohub.sync.remote import RemoteError, RemoteHub
from eohub.sync.store import SqlSyncStore
from eohub.sync.streams import StreamLimit

log = logging.getLogger("eohub.sync")

RemoteFactory = Callable[[Synchroniser], RemoteHub]


def _now() -> datetime:
    return datetime.now(UTC)


def default_remote(sync: Synchroniser, *, timeout: float = 60.0) -> RemoteHub:
    """A client of the synchroniser's source (``sync.source``, else its first URL) with its
    credentials, speaking that source's protocol; ``timeout`` seconds per request."""
    d = sync.definition
    url = sync.source or d.url
    return source_client(d.login_for(url), d.protocol_for(url), client_id=d.client_id,
                         timeout=timeout, connections=max(4, d.streams + 2))  # fmt: skip


Page = tuple[list[dict[str, object]], str | None]


@dataclass
class PageReport:
    """What one page did."""

    fetched: int = 0
    catalogued: int = 0
    unchanged: int = 0  # already here, same checksum
    filtered: int = 0  # did not match the local filter
    deleted: int = 0
    bytes: int = 0
    resumes: int = 0  # Range requests after broken transfers
    failures: list[str] = field(default_factory=list)
    skipped: int = 0  # products put on the skip list (the cursor moves past them)
    retry_failures: list[str] = field(default_factory=list)  # retried, failed again
    more: bool = False  # a full page: more may wait
    source_failed: bool = False  # the source itself failed (not one product)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


@dataclass
class RunReport:
    """What a run of one synchroniser did, in all."""

    label: str
    pages: int = 0
    catalogued: int = 0
    deleted: int = 0
    bytes: int = 0
    resumes: int = 0
    skipped: int = 0  # products put on the skip list
    retry_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    source: str | None = None  # the source URL of the (last) attempt
    source_failed: bool = False  # the run stopped because its source failed
    failovers: int = 0  # sources given up in this run

    def add(self, page: PageReport) -> None:
        """Count one page."""
        self.pages += 1
        self.source_failed = page.source_failed
        self.catalogued += page.catalogued
        self.deleted += page.deleted
        self.bytes += page.bytes
        self.resumes += page.resumes
        self.skipped += page.skipped
        self.retry_failures += page.retry_failures


class ChecksumMismatch(RemoteError):
    """Stored bytes whose checksum differs from the remote's."""

    code = "sync_checksum_mismatch"


def page_filter(cursor: Cursor, extra: str | None) -> tuple[str | None, str]:
    """``($filter, $orderby)`` of the next page after ``cursor`` (``extra``: the remote part
    of the synchroniser's own filter)."""
    parts: list[str] = []
    orderby = "CreationDate asc,Id asc"
    if cursor.time_ms is not None:
        start = datetime_literal(from_ms(cursor.time_ms))
        parts.append(f"CreationDate ge {start}")
        if cursor.bucket:
            parts.append(f"CreationDate lt {datetime_literal(from_ms(cursor.time_ms + 1))}")
            orderby = "Id asc"
            if cursor.after_id:
                parts.append(f"Id gt '{uuid.UUID(cursor.after_id)}'")
    if extra:
        parts.append(f"({extra})")
    return (" and ".join(parts) or None), orderby


def cdse_page_filter(cursor: Cursor, extra: str | None) -> str | None:
    """The ``$filter`` of a CDSE-style source's products from ``cursor`` on (products at the
    cursor's microsecond up to its Id are read again and dropped here)."""
    parts: list[str] = []
    if cursor.time_us is not None:
        parts.append(f"PublicationDate ge {cdse_datetime(from_us(cursor.time_us))}")
    if extra:
        parts.append(f"({extra})")
    return " and ".join(parts) or None


def advance(cursor: Cursor, last: tuple[int, uuid.UUID] | None, full: bool) -> Cursor:
    """The cursor after a page whose last entry was ``last`` (CreationDate ms, Id)."""
    if cursor.bucket:
        assert cursor.time_ms is not None
        if full and last is not None:
            return Cursor(cursor.time_ms, True, str(last[1]))
        return Cursor(cursor.time_ms + 1, False, None)
    if last is None:
        return cursor
    # After a full page the last millisecond may go on: read it alone, by Id.
    return Cursor(last[0], full, None)


def advance_deleted(cursor: DeletedCursor, times: Iterable[int]) -> DeletedCursor:
    """The deletions cursor after a page of deletions at ``times`` (ms, in feed order)."""
    time_ms, skip = cursor.time_ms, cursor.skip
    for ms in times:
        if time_ms is None or ms > time_ms:
            time_ms, skip = ms, 1
        else:
            skip += 1
    return DeletedCursor(time_ms, skip)


def archive_name(product: Product) -> str:
    """The stored file name: the NetCDF file as is, else ``<Name>.zip`` (as DHuS serves)."""
    if product.filename.lower().endswith(".nc"):
        return product.filename
    return f"{product.name}.zip"


class SyncJob:
    """One synchroniser with its remote client, compiled filters and collaborators."""

    def __init__(
        self,
        sync: Synchroniser,
        remote: RemoteHub,
        store: SqlSyncStore,
        catalogue: Catalogue,
        archive: ObjectStore,
        *,
        downloads: DownloadFolder,
        clock: Callable[[], datetime] = _now,
        product_attempts: int = 3,
    ) -> None:
        url = sync.source or sync.definition.url
        state = sync.source_state(url)
        # The cursors are the source's own: each hub publishes at its own times.
        self.sync = sync.evolve(
            source=url, cursor=state.cursor, deleted_cursor=state.deleted_cursor
        )
        self.remote = remote
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.downloads = downloads
        self.clock = clock
        self.product_attempts = product_attempts
        # Products with failures on record, by state (kept up to date by this job).
        self._failing: dict[uuid.UUID, FailureState] = {
            f.product_id: f.state for f in store.failed_products(sync.id)
        }
        self.filter: Node = local_filter(sync.definition, clock())
        self.cdse = isinstance(remote, CdseHub)
        # File checksums of copies stored, until their products are catalogued.
        self._manifests: dict[uuid.UUID, FileManifest] = {}
        # Parallel transfers: --streams, lowered for this run when the source refuses some.
        self.streams = StreamLimit(sync.definition.streams, sync.definition.label)
        remote.on_throttle = self.streams.throttled
        self.remote_filter = (
            cdse_remote_filter(sync.definition, self.filter)
            if self.cdse
            else remote_filter(self.filter)
        )
        # CDSE-style sources: the next page is fetched while this one is catalogued.
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[Page] | None = None
        self._deleted_link: str | None = None

    def close(self) -> None:
        """Stop the page prefetch (the remote client is closed by its owner)."""
        self._next = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- products ------------------------------------------------------------------------------
    def products_page(self) -> PageReport:
        """Fetch, store and catalogue the next page of products; persist the progress."""
        if self.cdse:
            return self._cdse_products_page()
        d = self.sync.definition
        flt, orderby = page_filter(self.sync.cursor, self.remote_filter)
        report = PageReport()
        started = self.clock()
        try:
            entries = self.remote.products(
                filter=flt, orderby=orderby, top=d.page_size, collection=d.collection
            )
        except HubError as exc:
            report.failures.append(exc.user_message)
            report.source_failed = True
            self._save(report, started, cursor=None)
            return report
        report.fetched = len(entries)
        # A bucket read to its end is followed by the products after it.
        report.more = len(entries) >= d.page_size or self.sync.cursor.bucket
        decoded: list[RemoteProduct] = []
        last: tuple[int, uuid.UUID] | None = None
        for entry in entries:
            try:
                item = decode_product(entry)
            except BadEntry as exc:
                position = entry_position(entry)
                if self._undecodable(position, exc, report) and position is not None:
                    last = (position[0], position[1])
                continue
            decoded.append(item)
            last = (item.creation_ms, item.id)
        self._catalogue(decoded, report)
        full = len(entries) >= d.page_size
        cursor = advance(self.sync.cursor, last, full) if report.ok else None
        newest = max((p.creation_ms for p in decoded), default=None)
        self._save(report, started, cursor=cursor, newest=newest)
        return report

    def _cdse_products_page(self) -> PageReport:
        d = self.sync.definition
        cursor = self.sync.cursor
        report = PageReport()
        started = self.clock()
        assert isinstance(self.remote, CdseHub)
        try:
            if self._next is not None:
                entries, link = self._next.result()
            else:
                flt = cdse_page_filter(cursor, self.remote_filter)
                entries, link = self.remote.product_page(filter=flt, top=d.page_size)
        except HubError as exc:
            report.failures.append(exc.user_message)
            report.source_failed = True
            self._save(report, started, cursor=None)
            return report
        finally:
            self._next = None
        report.fetched = len(entries)
        report.more = link is not None
        seen = (cursor.time_us, cursor.after_id or "") if cursor.time_us is not None else None
        decoded: list[RemoteProduct] = []
        last: tuple[int, str] | None = None
        for entry in entries:
            try:
                item = decode_cdse_product(entry)
            except BadEntry as exc:
                position = entity_position(entry)
                key = None if position is None else (position[0], str(position[1]))
                if key is not None and seen is not None and key <= seen:
                    continue  # passed over before (read again up to the cursor's Id)
                if self._undecodable(position, exc, report) and key is not None:
                    last = key
                continue
            assert item.cursor_us is not None
            last = (item.cursor_us, str(item.id))
            if seen is None or last > seen:  # else read before, up to the cursor's Id
                decoded.append(item)
        if link is not None and report.ok:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="eohub-sync-page")
            remote = self.remote
            self._next = self._pool.submit(
                lambda: remote.product_page(filter=None, top=d.page_size, link=link)
            )
        self._catalogue(decoded, report)
        if not report.ok:
            self._next = None  # the page is read again from the cursor
        moved = Cursor(time_us=last[0], after_id=last[1]) if last else cursor
        newest = max((p.creation_ms for p in decoded), default=None)
        self._save(report, started, cursor=moved if report.ok else None, newest=newest)
        return report

    def _catalogue(
        self, items: list[RemoteProduct], report: PageReport, *, behind: bool = False
    ) -> None:
        """Store and catalogue ``items``; ``behind``: products behind the cursor (retried),
        whose failures never hold the synchroniser back."""
        wanted = [i for i in items if matches(self.filter, i.product)]
        report.filtered = len(items) - len(wanted)
        wanted_ids = {i.id for i in wanted}
        # Failures on record of products no longer wanted are moot.
        settled = [i.id for i in items if i.id in self._failing and i.id not in wanted_ids]
        local = {p.id: p for p in self.catalogue.get_many([i.id for i in wanted])}
        todo: list[RemoteProduct] = []
        for item in wanted:
            if self._up_to_date(local.get(item.id), item):
                report.unchanged += 1
                settled.append(item.id)
            elif behind or self._failing.get(item.id) is not FailureState.SKIPPED:
                todo.append(item)  # (a skipped one waits for `eohub sync retry`)
        done: list[tuple[Product, Product | None]] = []
        slow = [i for i in todo if self._transfers(i)]
        for item in todo:
            if not self._transfers(item):
                done.append((self._record(item, local.get(item.id), None, {}), local.get(item.id)))
        if slow:
            workers = max(1, min(self.sync.definition.streams, len(slow)))
            with ThreadPoolExecutor(workers, thread_name_prefix="eohub-sync") as pool:
                results = list(pool.map(lambda i: self._fetch(i, local.get(i.id)), slow))
            for item, result in zip(slow, results, strict=True):
                if isinstance(result, str):
                    self._failed(item.id, item.product.name, result, report, behind=behind)
                else:
                    product, resumes = result
                    report.resumes += resumes
                    done.append((product, local.get(item.id)))
        if not done:
            self._manifests.clear()
            self._settle(settled)
            return
        try:
            self.catalogue.upsert([product for product, _ in done])
        except BaseException:
            self._manifests.clear()
            for product, _ in done:  # the rows were not written: their bytes must not linger
                self._delete_keys(_keys(product))
                self._forget_notes(product.id)
            raise
        for product, _ in done:
            self._forget_notes(product.id)
        self._store_manifests([product for product, _ in done])
        for product, old in done:
            if old is not None:
                self._delete_keys(set(_keys(old)) - set(_keys(product)))
        report.catalogued = len(done)
        report.bytes = sum(p.size for p, _ in done if p.archive_key)
        self._settle(settled + [p.id for p, _ in done])

    def _failed(
        self, product_id: uuid.UUID, name: str, error: str, report: PageReport, *, behind: bool
    ) -> None:
        """Count a product's failed run: on the skip list after ``max_failures`` of them,
        recorded before the cursor moves past it (a kill in between reads the page again and
        passes over it)."""
        d = self.sync.definition
        state = FailureState.RETRY if behind else FailureState.FAILING
        found = self.store.product_failed(
            self.sync.id, product_id, name, error, self.clock(),
            limit=d.max_failures, state=state,
        )  # fmt: skip
        self._failing[product_id] = found.state
        message = f"{name}: {error}"
        if found.state is FailureState.SKIPPED:
            report.skipped += 1
            log.error("%s: on the skip list after %d failed runs: %s", d.label, found.failures,
                      message)  # fmt: skip
        elif behind:
            report.retry_failures.append(message)
        else:
            report.failures.append(message)

    def _undecodable(
        self, position: tuple[int, uuid.UUID, str] | None, error: BadEntry, report: PageReport
    ) -> bool:
        """Count a remote entry that cannot be decoded as a failed run of its product (on the
        skip list after ``max_failures``, as a failed transfer); True when it is on the skip
        list, so the cursor may move past it. One without a readable Id and date holds the
        synchroniser back: nothing would say where it lies."""
        if position is None:
            report.failures.append(error.user_message)
            return False
        _, product_id, name = position
        if self._failing.get(product_id) is not FailureState.SKIPPED:
            self._failed(product_id, name, error.user_message, report, behind=False)
        return self._failing.get(product_id) is FailureState.SKIPPED

    def _settle(self, product_ids: Iterable[uuid.UUID]) -> None:
        """Forget the failures of products catalogued, here already, or no longer wanted."""
        known = [pid for pid in product_ids if pid in self._failing]
        if known:
            self.store.products_done(self.sync.id, known)
            for pid in known:
                del self._failing[pid]

    def _up_to_date(self, local: Product | None, item: RemoteProduct) -> bool:
        if local is None or local.checksum("MD5") != item.product.checksum("MD5"):
            return False
        wants_bytes = self.sync.definition.mode is SyncMode.COPY and item.online
        return not wants_bytes or (local.online and local.archive_key is not None)

    def _transfers(self, item: RemoteProduct) -> bool:
        d = self.sync.definition
        copies = d.mode is SyncMode.COPY and item.online
        return copies or (d.quicklooks and item.children > 0)

    def _fetch(self, item: RemoteProduct, old: Product | None) -> tuple[Product, int] | str:
        """Store one product's bytes and previews; an error message when every try failed."""
        d = self.sync.definition
        folder = product_key(item.id, self.clock().strftime("%Y%m%dT%H%M%S%f"))
        error = "not tried"
        for attempt in range(self.product_attempts):
            stored_keys: list[str] = []
            try:
                data = None
                resumes = 0
                if d.mode is SyncMode.COPY and item.online:
                    with self.streams.slot():
                        data, resumes = self._copy(
                            item, f"{folder}/{archive_name(item.product)}", old
                        )
                    stored_keys.append(data[0])
                    if d.file_checksums:
                        self._file_digests(item.id, data[0])
                previews = self._previews(item, folder, stored_keys) if d.quicklooks else {}
                return self._record(item, old, data, previews), resumes
            except (RemoteError, StorageError) as exc:
                self._delete_keys(stored_keys)
                if stored_keys:  # deleted: the list and the note name nothing now
                    self._forget_notes(item.id)
                error = exc.user_message
                if isinstance(exc, RemoteError) and not exc.transient:
                    break
                if attempt + 1 < self.product_attempts:
                    wait = self.remote.backoff.delay(attempt)
                    log.warning("%s: %s; trying again in %.1fs", item.product.name, error, wait)
                    self.remote.sleep(wait)
        log.error("%s: not synchronised: %s", item.product.name, error)
        return error

    def _file_digests(self, product_id: uuid.UUID, key: str) -> None:
        """The checksums of the files inside the zip just stored as ``key``, kept until the
        product is catalogued; one that cannot be read is catalogued without them (as at
        ingest: the copy is the source's, verified)."""
        if not key.lower().endswith(".zip"):
            return
        try:
            with self.archive.open_file(key) as handle:
                files = digest_zip(handle)
        except (ZipDigestError, StorageError, OSError) as exc:
            log.warning("file checksums of product %s not computed: %s", product_id, exc)
            return
        self._manifests[product_id] = FileManifest(product_id, key, self.clock(), files)

    def _store_manifests(self, products: list[Product]) -> None:
        """Keep the file checksums of the products just catalogued (a failure is logged:
        ``eohub fsck --repair`` computes them later)."""
        manifests = [m for p in products if (m := self._manifests.get(p.id)) is not None
                     and m.describes(p.archive_key)]  # fmt: skip
        self._manifests.clear()
        for manifest in manifests:
            try:
                self.catalogue.store_files(manifest)
            except HubError as exc:
                log.warning("file checksums of product %s not stored: %s", manifest.product_id,
                            exc)  # fmt: skip

    def _copy(
        self, item: RemoteProduct, key: str, old: Product | None
    ) -> tuple[tuple[str, int, str, str], int]:
        """Download into the partial file (resumed from what an earlier try, in this process or
        another, left), verify, then hand the file to the archive; or reuse the object a run
        killed before cataloguing it archived, when it still holds the listed bytes."""
        product = item.product
        expected = Expected(product.size, product.checksum("MD5"), product.checksum("BLAKE3"))
        # MD5 is taken from the source only where BLAKE3, computed here, proves the bytes.
        trusted = self.sync.definition.verify is VerifyMode.BLAKE3 and None not in (
            expected.md5, expected.blake3)  # fmt: skip
        reused = self._archived_copy(item, expected, old, md5=not trusted)
        if reused is not None:
            return reused, 0
        received = self.downloads.fetch(self.remote, item.id, expected, md5=not trusted)
        digests = received.digests
        if trusted:
            digests = replace(digests, md5=str(expected.md5))
        for algorithm, value, wanted in (
            ("MD5", digests.md5, expected.md5), ("BLAKE3", digests.blake3, expected.blake3)
        ):  # fmt: skip
            if wanted is not None and wanted != value:
                self.downloads.discard(item.id)  # the next try starts at byte 0
                raise ChecksumMismatch(
                    f"{algorithm} of the received bytes is {value}, the remote says {wanted}"
                )
        self.downloads.note_archived(item.id, Archived(key, expected))
        self._note_key(item.id, key)
        stored = self._archive_file(key, received.path, digests.size, digests.md5, digests.blake3)
        self.downloads.discard_partial(item.id)
        return (key, stored.size, stored.md5, stored.blake3), received.resumes

    def _archived_copy(
        self, item: RemoteProduct, expected: Expected, old: Product | None, *, md5: bool
    ) -> tuple[str, int, str, str] | None:
        """The object an earlier run archived for this product but did not catalogue (killed
        in between), when it still holds the bytes the remote lists: hashed again here, as a
        download is. None otherwise; a stored object that is not of those bytes is deleted
        (unless the catalogue refers to it), its note forgotten."""
        note = self.downloads.archived(item.id)
        if note is None:
            return None
        name = item.product.name
        found = self.archive.stat(note.key) if note.listed == expected else None
        if found is not None and found.size == expected.size:
            chunks = self.archive.open(note.key)
            with closing(chunks):  # type: ignore[type-var]
                digests = digest_chunks(chunks, md5=md5)
            md5_hex = digests.md5 if md5 else str(expected.md5)
            if expected.md5 in (None, md5_hex) and expected.blake3 in (None, digests.blake3):
                log.info("%s: the bytes an earlier run archived are reused (%s)", name, note.key)
                return note.key, found.size, md5_hex, digests.blake3
        log.info("%s: the bytes an earlier run archived are gone or not the listed ones; "
                 "fetched again", name)  # fmt: skip
        if old is None or note.key not in _keys(old):
            self._delete_keys([note.key])
        self._forget_notes(item.id)
        return None

    def _forget_notes(self, product_id: uuid.UUID) -> None:
        if self.sync.definition.mode is SyncMode.COPY:
            self.downloads.forget_notes(product_id)

    def _note_key(self, product_id: uuid.UUID, key: str) -> None:
        """List ``key`` as stored for the product before it is (copy synchronisers: their
        download folder is theirs alone while they run)."""
        if self.sync.definition.mode is SyncMode.COPY:
            self.downloads.note_key(product_id, key)

    def _archive_file(self, key: str, path: Path, size: int, md5: str, blake3: str) -> StoredObject:
        """The verified file as the object ``key``: renamed into a local archive on the same
        file system (the bytes are written once), else copied by ``put``."""
        if isinstance(self.archive, FileAdopter):
            adopted = self.archive.adopt(key, path, size, md5, blake3)
            if adopted is not None:
                return adopted
        with path.open("rb") as stream:
            stored = self.archive.put(key, stream, expected_size=size)
        if (stored.md5, stored.blake3) != (md5, blake3):
            self._delete_keys([key])
            if stored.blake3 == blake3:  # --verify blake3 took the source's word for its MD5
                raise ChecksumMismatch(
                    f"MD5 of the received bytes is {stored.md5}, the remote says {md5}"
                )
            raise ChecksumMismatch(f"the downloaded file of {key} changed before it was archived")
        return stored

    def _previews(self, item: RemoteProduct, folder: str, stored: list[str]) -> dict[str, str]:
        keys: dict[str, str] = {}
        if item.children <= 0:
            return keys
        if item.quicklook_url:  # a CDSE-style source: the quicklook asset
            data = self.remote.fetch_bytes(item.quicklook_url, f"quicklook of {item.id}")
            if data is not None:
                key = f"{folder}/quicklook.jpg"
                self._note_key(item.id, key)
                self.archive.put(key, io.BytesIO(data), expected_size=len(data))
                stored.append(key)
                keys["quicklook_key"] = key
            return keys
        for kind, field_name in (("Quicklook", "quicklook_key"), ("Thumbnail", "thumbnail_key")):
            data = self.remote.derived(item.id, kind)
            if data is None:
                continue
            key = f"{folder}/{kind.lower()}.jpg"
            self._note_key(item.id, key)
            self.archive.put(key, io.BytesIO(data), expected_size=len(data))
            stored.append(key)
            keys[field_name] = key
        return keys

    def _record(
        self,
        item: RemoteProduct,
        old: Product | None,
        data: tuple[str, int, str, str] | None,
        previews: dict[str, str],
    ) -> Product:
        now = self.clock()
        # Published here now (a hub mirroring this one reads this hub's publication dates);
        # the first hub's ingestion date is kept.
        changes: dict[str, object] = {
            "publication_date": old.publication_date if old else now,
            "modification_date": now,
            "quicklook_key": previews.get("quicklook_key"),
            "thumbnail_key": previews.get("thumbnail_key"),
        }
        if data is None:  # one copy, not two: this runs for every product of a page
            return item.product.evolve(**changes, online=False, archive_key=None)
        key, size, md5, blake3 = data
        return item.product.evolve(
            **changes,
            online=True,
            archive_key=key,
            size=size,
            checksums=(Checksum("MD5", md5, now), Checksum("BLAKE3", blake3, now)),
        )

    def _delete_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.archive.delete(key)
            except StorageError as exc:  # fsck reports what is left behind
                log.warning("could not remove %s from the archive: %s", key, exc)

    # -- products taken off the skip list --------------------------------------------------------
    @property
    def has_retries(self) -> bool:
        """Products taken off the skip list wait for this run."""
        return FailureState.RETRY in self._failing.values()

    def retries_page(self) -> PageReport:
        """Try again every product taken off the skip list, found on the source by Id; the
        cursor stays where it is. One that fails again is counted (and back on the skip list
        after ``max_failures`` runs) but does not hold the synchroniser back."""
        d = self.sync.definition
        report = PageReport()
        started = self.clock()
        queued = self.store.failed_products(self.sync.id, FailureState.RETRY, limit=1000)
        for at in range(0, len(queued), d.page_size):
            items: list[RemoteProduct] = []
            for failed in queued[at : at + d.page_size]:
                try:
                    item = self._lookup(failed.product_id)
                except BadEntry as exc:
                    self._failed(failed.product_id, failed.name, exc.user_message, report,
                                 behind=True)  # fmt: skip
                    continue
                except HubError as exc:
                    report.failures.append(exc.user_message)
                    report.source_failed = True
                    self._save(report, started, cursor=None)
                    return report
                if item is None:  # no longer on the source (deleted there): nothing to fetch
                    log.warning("%s: %s is no longer on the source", d.label, failed.name)
                    self._settle([failed.product_id])
                else:
                    items.append(item)
            report.fetched += len(items)
            self._catalogue(items, report, behind=True)
        self._save(report, started, cursor=None)
        return report

    def _lookup(self, product_id: uuid.UUID) -> RemoteProduct | None:
        """The source's entry of one product, None when it has none."""
        if isinstance(self.remote, CdseHub):
            entries, _ = self.remote.product_page(filter=f"Id eq {product_id}", top=1)
            return decode_cdse_product(entries[0]) if entries else None
        entries = self.remote.products(
            filter=f"Id eq '{product_id}'", orderby="Id asc", top=1,
            collection=self.sync.definition.collection,
        )  # fmt: skip
        return decode_product(entries[0]) if entries else None

    # -- deletions -----------------------------------------------------------------------------
    def deletions_page(self) -> PageReport:
        """Apply the next page of the remote's DeletedProducts here; persist the progress."""
        if self.cdse:
            return self._cdse_deletions_page()
        d = self.sync.definition
        cursor = self.sync.deleted_cursor
        flt = None
        if cursor.time_ms is not None:
            flt = f"DeletionDate ge {datetime_literal(from_ms(cursor.time_ms))}"
        report = PageReport()
        started = self.clock()
        try:
            entries = [
                deleted_entry(e)
                for e in self.remote.deleted(filter=flt, top=d.page_size, skip=cursor.skip)
            ]
        except HubError as exc:
            report.failures.append(exc.user_message)
            report.source_failed = True
            self._save(report, started, cursor=None)
            return report
        report.fetched = len(entries)
        report.more = len(entries) >= d.page_size
        self._apply_deletions([pid for pid, _ in entries], report)
        deleted = advance_deleted(cursor, [ms for _, ms in entries])
        self._save(report, started, cursor=None, deleted=deleted)
        return report

    def _apply_deletions(self, ids: list[uuid.UUID], report: PageReport) -> None:
        label = self.sync.definition.label
        local = {p.id: p for p in self.catalogue.get_many(ids)}
        for pid in ids:
            if pid in local:
                removed = self.catalogue.delete(pid, cause=f"deleted upstream ({label})")
                if removed is not None:
                    self._delete_keys(_keys(removed.product))
                    report.deleted += 1
        if self.sync.definition.mode is SyncMode.COPY:
            for pid in ids:  # deleted upstream: its partial download is of no use
                self._delete_keys(self.downloads.noted_keys(pid))  # a stopped run stored
                self.downloads.discard(pid)
        self._settle(ids)

    def _cdse_deletions_page(self) -> PageReport:
        d = self.sync.definition
        cursor = self.sync.deleted_cursor
        report = PageReport()
        started = self.clock()
        assert isinstance(self.remote, CdseHub)
        flt = None
        if cursor.time_us is not None:
            flt = f"DeletionDate ge {cdse_datetime(from_us(cursor.time_us))}"
        try:
            page, link = self.remote.deleted_page(
                filter=flt, top=d.page_size, link=self._deleted_link
            )
            entries = [deleted_cdse(e) for e in page]
        except HubError as exc:
            report.failures.append(exc.user_message)
            report.source_failed = True
            self._save(report, started, cursor=None)
            return report
        self._deleted_link = link
        report.fetched = len(entries)
        report.more = link is not None
        seen = (cursor.time_us, cursor.after_id or "") if cursor.time_us is not None else None
        fresh = [(pid, us) for pid, us in entries if seen is None or (us, str(pid)) > seen]
        self._apply_deletions([pid for pid, _ in fresh], report)
        moved = cursor
        if entries:
            moved = replace(cursor, time_us=entries[-1][1], after_id=str(entries[-1][0]))
        self._save(report, started, cursor=None, deleted=moved)
        return report

    # -- progress ------------------------------------------------------------------------------
    def _save(
        self,
        report: PageReport,
        started: datetime,
        *,
        cursor: Cursor | None,
        deleted: DeletedCursor | None = None,
        newest: int | None = None,
    ) -> None:
        s = self.sync
        c = s.counters
        counters = SyncCounters(
            products=c.products + report.catalogued,
            bytes=c.bytes + report.bytes,
            deleted=c.deleted + report.deleted,
            failures=c.failures
            + len(report.failures)
            + report.skipped
            + len(report.retry_failures),
        )
        last_remote = s.last_remote_date
        if newest is not None and cursor is not None:
            newest_date = from_ms(newest)
            last_remote = max(last_remote, newest_date) if last_remote else newest_date
        error = "; ".join(report.failures[:3])[:2000] if report.failures else None
        cursor = cursor or s.cursor
        deleted = deleted or s.deleted_cursor
        url = s.source or s.definition.url
        state = s.source_state(url)
        state = replace(
            state,
            cursor=cursor,
            deleted_cursor=deleted,
            successes=state.successes + (0 if report.source_failed else 1),
            last_error=error if report.source_failed else state.last_error,
        )
        self.sync = s.evolve(
            cursor=cursor,
            deleted_cursor=deleted,
            counters=counters,
            last_run=started,
            last_success=started if report.ok else s.last_success,
            last_error=error,
            last_remote_date=last_remote,
            sources=with_state(s.sources, state),
        )
        self.store.save_progress(self.sync)


def with_state(states: tuple[SourceState, ...], state: SourceState) -> tuple[SourceState, ...]:
    """``states`` with the one of ``state.url`` replaced (or added at the end)."""
    if any(s.url == state.url for s in states):
        return tuple(state if s.url == state.url else s for s in states)
    return (*states, state)


def _keys(product: Product) -> list[str]:
    return [k for k in (product.archive_key, product.quicklook_key, product.thumbnail_key) if k]


def run_job(
    job: SyncJob,
    *,
    max_pages: int = 100_000,
    deadline: float | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> RunReport:
    """Pages of products until caught up, then of deletions; stops at the first failure, at
    ``max_pages`` pages, at ``deadline`` (``time.monotonic``), when the synchroniser is
    paused meanwhile, or when ``keep_going`` (asked before each page: a serving hub renews
    its run lease there) says no."""
    report = RunReport(job.sync.definition.label, source=job.sync.source)
    started = time.monotonic()
    steps: list[Callable[[], PageReport]] = [job.products_page]
    if job.has_retries:
        steps.insert(0, job.retries_page)
    if job.sync.definition.deletions:
        steps.append(job.deletions_page)
    for step in steps:
        while report.pages < max_pages:
            if deadline is not None and time.monotonic() > deadline:
                break
            if job.store.get(job.sync.id).status != "running":
                report.error = "paused"
                break
            if keep_going is not None and not keep_going():
                report.error = "stopped"
                break
            page = step()
            report.add(page)
            if not page.ok:
                report.error = "; ".join(page.failures[:3])
                break
            if not page.more:
                break
        if report.error:
            break
    report.seconds = time.monotonic() - started
    return report
