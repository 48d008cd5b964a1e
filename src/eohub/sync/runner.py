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
2. for each product not already here: store its bytes (copy mode: streamed into the archive,
   checked against the remote's size and MD5, resumed with Range, retried with backoff),
   quicklook and thumbnail;
3. write the catalogue rows in one upsert;
4. only then persist the cursor, and only if every product of the page passed: a product
   that failed holds the cursor back, so the next run tries it again.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError
from eohub.model.product import Checksum, Product
from eohub.query.evaluate import matches
from eohub.query.tree import Node
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore, product_key
from eohub.sync.dhus_entry import BadEntry, RemoteProduct, decode_product, deleted_entry, from_ms
from eohub.sync.filters import datetime_literal, local_filter, remote_filter
from eohub.sync.model import Cursor, DeletedCursor, SyncCounters, Synchroniser, SyncMode
from eohub.sync.remote import RemoteError, RemoteHub
from eohub.sync.store import SqlSyncStore
from eohub.sync.transfer import ResumingReader

log = logging.getLogger("eohub.sync")

RemoteFactory = Callable[[Synchroniser], RemoteHub]


def _now() -> datetime:
    return datetime.now(UTC)


def default_remote(sync: Synchroniser) -> RemoteHub:
    """A client of the synchroniser's remote with its credentials."""
    d = sync.definition
    auth = (d.username, d.password or "") if d.username else None
    return RemoteHub(d.url, auth=auth, token=d.token, connections=max(4, d.streams + 2))


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
    more: bool = False  # a full page: more may wait

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
    seconds: float = 0.0
    error: str | None = None

    def add(self, page: PageReport) -> None:
        """Count one page."""
        self.pages += 1
        self.catalogued += page.catalogued
        self.deleted += page.deleted
        self.bytes += page.bytes
        self.resumes += page.resumes


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
        clock: Callable[[], datetime] = _now,
        product_attempts: int = 3,
    ) -> None:
        self.sync = sync
        self.remote = remote
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.clock = clock
        self.product_attempts = product_attempts
        self.filter: Node = local_filter(sync.definition, clock())
        self.remote_filter = remote_filter(self.filter)

    # -- products ------------------------------------------------------------------------------
    def products_page(self) -> PageReport:
        """Fetch, store and catalogue the next page of products; persist the progress."""
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
                report.failures.append(exc.user_message)
                continue
            decoded.append(item)
            last = (item.creation_ms, item.id)
        self._catalogue(decoded, report)
        full = len(entries) >= d.page_size
        cursor = advance(self.sync.cursor, last, full) if report.ok else None
        newest = max((p.creation_ms for p in decoded), default=None)
        self._save(report, started, cursor=cursor, newest=newest)
        return report

    def _catalogue(self, items: list[RemoteProduct], report: PageReport) -> None:
        wanted = [i for i in items if matches(self.filter, i.product)]
        report.filtered = len(items) - len(wanted)
        local = {p.id: p for p in self.catalogue.get_many([i.id for i in wanted])}
        todo: list[RemoteProduct] = []
        for item in wanted:
            if self._up_to_date(local.get(item.id), item):
                report.unchanged += 1
            else:
                todo.append(item)
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
                    report.failures.append(f"{item.product.name}: {result}")
                else:
                    product, resumes = result
                    report.resumes += resumes
                    done.append((product, local.get(item.id)))
        if not done:
            return
        try:
            self.catalogue.upsert([product for product, _ in done])
        except BaseException:
            for product, _ in done:  # the rows were not written: their bytes must not linger
                self._delete_keys(_keys(product))
            raise
        for product, old in done:
            if old is not None:
                self._delete_keys(set(_keys(old)) - set(_keys(product)))
        report.catalogued = len(done)
        report.bytes = sum(p.size for p, _ in done if p.archive_key)

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
                    data, resumes = self._copy(item, f"{folder}/{archive_name(item.product)}")
                    stored_keys.append(data[0])
                previews = self._previews(item, folder, stored_keys) if d.quicklooks else {}
                return self._record(item, old, data, previews), resumes
            except (RemoteError, StorageError) as exc:
                self._delete_keys(stored_keys)
                error = exc.user_message
                if isinstance(exc, RemoteError) and not exc.transient:
                    break
                if attempt + 1 < self.product_attempts:
                    wait = self.remote.backoff.delay(attempt)
                    log.warning("%s: %s; trying again in %.1fs", item.product.name, error, wait)
                    self.remote.sleep(wait)
        log.error("%s: not synchronised: %s", item.product.name, error)
        return error

    def _copy(self, item: RemoteProduct, key: str) -> tuple[tuple[str, int, str, str], int]:
        size = item.product.size
        with ResumingReader(self.remote, item.id, size) as reader:
            stored = self.archive.put(key, reader, expected_size=size)  # type: ignore[arg-type]
            resumes = reader.resumes
        for algorithm, value in (("MD5", stored.md5), ("BLAKE3", stored.blake3)):
            expected = item.product.checksum(algorithm)
            if expected is not None and expected != value:
                self._delete_keys([key])
                raise ChecksumMismatch(
                    f"{algorithm} of the received bytes is {value}, the remote says {expected}"
                )
        return (key, stored.size, stored.md5, stored.blake3), resumes

    def _previews(self, item: RemoteProduct, folder: str, stored: list[str]) -> dict[str, str]:
        keys: dict[str, str] = {}
        if item.children <= 0:
            return keys
        for kind, field_name in (("Quicklook", "quicklook_key"), ("Thumbnail", "thumbnail_key")):
            data = self.remote.derived(item.id, kind)
            if data is None:
                continue
            key = f"{folder}/{kind.lower()}.jpg"
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
        base = item.product.evolve(
            publication_date=old.publication_date if old else now,
            modification_date=now,
            quicklook_key=previews.get("quicklook_key"),
            thumbnail_key=previews.get("thumbnail_key"),
        )
        if data is None:
            return base.evolve(online=False, archive_key=None)
        key, size, md5, blake3 = data
        return base.evolve(
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

    # -- deletions -----------------------------------------------------------------------------
    def deletions_page(self) -> PageReport:
        """Apply the next page of the remote's DeletedProducts here; persist the progress."""
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
            self._save(report, started, cursor=None)
            return report
        report.fetched = len(entries)
        report.more = len(entries) >= d.page_size
        local = {p.id: p for p in self.catalogue.get_many([pid for pid, _ in entries])}
        for pid, _ in entries:
            if pid in local:
                removed = self.catalogue.delete(pid, cause=f"deleted upstream ({d.label})")
                if removed is not None:
                    self._delete_keys(_keys(removed.product))
                    report.deleted += 1
        deleted = advance_deleted(cursor, [ms for _, ms in entries])
        self._save(report, started, cursor=None, deleted=deleted)
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
            failures=c.failures + len(report.failures),
        )
        last_remote = s.last_remote_date
        if newest is not None and cursor is not None:
            newest_date = from_ms(newest)
            last_remote = max(last_remote, newest_date) if last_remote else newest_date
        self.sync = s.evolve(
            cursor=cursor or s.cursor,
            deleted_cursor=deleted or s.deleted_cursor,
            counters=counters,
            last_run=started,
            last_success=started if report.ok else s.last_success,
            last_error="; ".join(report.failures[:3])[:2000] if report.failures else None,
            last_remote_date=last_remote,
        )
        self.store.save_progress(self.sync)


def _keys(product: Product) -> list[str]:
    return [k for k in (product.archive_key, product.quicklook_key, product.thumbnail_key) if k]


def run_job(job: SyncJob, *, max_pages: int = 100_000, deadline: float | None = None) -> RunReport:
    """Pages of products until caught up, then of deletions; stops at the first failure, at
    ``max_pages`` pages, at ``deadline`` (``time.monotonic``) or when the synchroniser is
    paused meanwhile."""
    report = RunReport(job.sync.definition.label)
    started = time.monotonic()
    steps: list[Callable[[], PageReport]] = [job.products_page]
    if job.sync.definition.deletions:
        steps.append(job.deletions_page)
    for step in steps:
        while report.pages < max_pages:
            if deadline is not None and time.monotonic() > deadline:
                break
            if job.store.get(job.sync.id).status != "running":
                report.error = "paused"
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
