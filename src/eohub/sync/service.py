"""Synchronisers: add, list, change, pause, resume, remove and run them.

Each running synchroniser runs in its own thread, with its own remote client, so one slow or
broken remote never delays the others. A copy synchroniser keeps its partial downloads in a
folder of its own under ``downloads`` (:mod:`eohub.sync.partial`), held by one process at a
time; a run first removes those of products catalogued meanwhile, and the folders of removed
synchronisers go with them.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError, InvalidQuery
from eohub.model.product import Product
from eohub.query.evaluate import matches
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore
from eohub.sync.filters import local_filter
from eohub.sync.model import (
    FailedProduct,
    SourceLogin,
    SyncDefinition,
    Synchroniser,
    SyncMode,
    SyncStatus,
    ValueServing,
)
from eohub.sync.partial import DownloadFolder, DownloadsBusy
from eohub.sync.policy import parse_window
from eohub.sync.remote import Backoff, RemoteHub
from eohub.sync.runner import (
    RemoteFactory,
    RunReport,
    SyncJob,
    default_remote,
    run_job,
    with_state,
)
from eohub.sync.schedule import parse_schedule
from eohub.sync.store import SqlSyncStore

log = logging.getLogger("eohub.sync")

MAX_PAGE_SIZE = 1000  # the largest $top this hub's OData v1 answers
MAX_STREAMS = 64
MAX_FAILURES = 1000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceReport:
    """What an eohub source says of itself at ``/api/hubs``."""

    tier: int | None
    window: str | None  # its rolling window (ISO 8601), None when it keeps its archive


def _reported_window(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_window(value)
    except InvalidQuery:
        return None  # not a duration: the source's window stays unknown


def source_report(remote: RemoteHub) -> SourceReport | None:
    """The tier and rolling window an eohub source reports at ``/api/hubs`` (None for other
    hubs, and when it cannot be read)."""
    base = remote.root.removesuffix("/catalogue/odata/v1").removesuffix("/odata/v1")
    try:
        response = remote.client.get(f"{base}/api/hubs", timeout=5.0)
        if response.status_code != 200:
            return None
        hub = response.json()["hub"]
        tier, window = hub["tier"], hub.get("rolling_window")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(tier, int) or isinstance(tier, bool):
        return None
    return SourceReport(tier, _reported_window(window))


def _merge(first: RunReport, then: RunReport) -> RunReport:
    """One report of a run that moved from one source to the next."""
    return replace(
        then,
        pages=first.pages + then.pages,
        catalogued=first.catalogued + then.catalogued,
        deleted=first.deleted + then.deleted,
        bytes=first.bytes + then.bytes,
        resumes=first.resumes + then.resumes,
        skipped=first.skipped + then.skipped,
        retry_failures=first.retry_failures + then.retry_failures,
        seconds=first.seconds + then.seconds,
        failovers=first.failovers + then.failovers + 1,
    )


def check_definition(definition: SyncDefinition) -> None:
    """Refuse a definition that cannot run, naming the problem (InvalidQuery)."""
    url = urllib.parse.urlsplit(definition.url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise InvalidQuery(f"the source '{definition.url}' is not an http(s) URL", field="source")
    if not definition.label.strip() or len(definition.label) > 200:
        raise InvalidQuery("a synchroniser label has 1 to 200 characters", field="label")
    if not 1 <= definition.page_size <= MAX_PAGE_SIZE:
        raise InvalidQuery(f"the page size is 1 to {MAX_PAGE_SIZE}", field="page_size")
    if not 1 <= definition.streams <= MAX_STREAMS:
        raise InvalidQuery(f"parallel streams are 1 to {MAX_STREAMS}", field="streams")
    if not 0 <= definition.max_failures <= MAX_FAILURES:
        raise InvalidQuery(
            f"failures before a product is skipped are 0 (never skip) to {MAX_FAILURES}",
            field="max_failures",
        )
    _check_login(SourceLogin(definition.url, definition.username, definition.password,
                             definition.token, definition.token_url))  # fmt: skip
    seen: set[str] = set()
    for login in definition.source_logins:
        if login.url not in definition.urls:
            raise InvalidQuery(f"the login for '{login.url[:200]}' names no source of this "
                               "synchroniser", field="source_login")  # fmt: skip
        if login.url in seen:
            raise InvalidQuery(f"the source '{login.url[:200]}' has two logins",
                               field="source_login")  # fmt: skip
        seen.add(login.url)
        _check_login(login, what=f" of '{login.url[:200]}'")
    if not definition.client_id.strip() or len(definition.client_id) > 200:
        raise InvalidQuery("an OpenID Connect client id has 1 to 200 characters",
                           field="client_id")  # fmt: skip
    for source in definition.sources:
        parts = urllib.parse.urlsplit(source)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidQuery(f"the source '{source}' is not an http(s) URL", field="source")
    if definition.schedule is not None:
        parse_schedule(definition.schedule)
    if definition.value is not ValueServing.NONE and definition.mode is not SyncMode.METADATA:
        raise InvalidQuery("serving $value from the source is for metadata-only mirrors",
                           field="value")  # fmt: skip
    if definition.source_window is not None:
        parse_window(definition.source_window)
    local_filter(definition)  # the filter and geofilter parse


def _check_login(login: SourceLogin, what: str = "") -> None:
    """Refuse credentials that cannot be sent (InvalidQuery naming the source)."""
    if login.token and login.username:
        raise InvalidQuery(f"give a user name and password, or a token, not both{what}",
                           field="token")  # fmt: skip
    if login.password and not login.username:
        raise InvalidQuery(f"a password needs its user name{what}", field="username")
    if login.token_url is not None:
        parts = urllib.parse.urlsplit(login.token_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidQuery(f"the token URL '{login.token_url[:200]}'{what} is not an http(s) "
                               "URL", field="token_url")  # fmt: skip
        if not (login.username and login.password):
            raise InvalidQuery(f"a token URL{what} needs the user name and password to send it",
                               field="token_url")  # fmt: skip


def checked(definition: SyncDefinition) -> SyncDefinition:
    """``definition`` checked (see :func:`check_definition`), its rolling window written as
    an ISO 8601 duration and empty texts as None."""
    logins = tuple(replace(login, username=login.username or None, password=login.password or None,
                           token=login.token or None, token_url=login.token_url or None)
                   for login in definition.source_logins)  # fmt: skip
    definition = replace(definition, token_url=definition.token_url or None, source_logins=logins)
    check_definition(definition)
    window = definition.source_window
    return replace(
        definition,
        source_window=parse_window(window) if window else None,
        filter=definition.filter or None,
        geofilter=definition.geofilter or None,
        collection=definition.collection or None,
        schedule=definition.schedule or None,
    )


def with_credentials(
    definition: SyncDefinition,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
) -> SyncDefinition:
    """``definition`` with the credentials given changed and the others kept (None keeps a
    value, an empty text removes it). A new token replaces the user name and password, a new
    user name replaces the token, and removing the user name removes its password."""
    user = definition.username if username is None else (username or None)
    secret = definition.password if password is None else (password or None)
    bearer = definition.token if token is None else (token or None)
    if token and username is None:
        user, secret = None, None
    if username and token is None:
        bearer = None
    if username == "" and password is None:
        secret = None
    if secret and not user:
        raise InvalidQuery("a password needs its user name", field="username")
    token_url = definition.token_url if user else None  # a token URL serves a user name only
    return replace(definition, username=user, password=secret, token=bearer, token_url=token_url)


class SyncService:
    """The synchronisers of one hub."""

    def __init__(
        self,
        store: SqlSyncStore,
        catalogue: Catalogue,
        archive: ObjectStore,
        *,
        downloads: Path,
        remote_factory: RemoteFactory = default_remote,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.downloads = Path(downloads)  # a folder per synchroniser Id
        self.remote_factory = remote_factory
        self.backoff = backoff
        self.clock = clock

    def add(self, definition: SyncDefinition) -> Synchroniser:
        """Check and store a new synchroniser (running, from the remote's first product)."""
        return self.store.add(checked(definition), self.clock())

    def list_all(self) -> list[Synchroniser]:
        """Every synchroniser."""
        return self.store.list()

    def get(self, ref: int | str) -> Synchroniser:
        """One synchroniser by Id or label."""
        return self.store.get(ref)

    def pause(self, ref: int | str) -> Synchroniser:
        """Stop running it (a run in progress stops after its current page)."""
        self.store.set_status(self.get(ref).id, SyncStatus.PAUSED)
        return self.get(ref)

    def resume(self, ref: int | str) -> Synchroniser:
        """Run it again, from where it stopped."""
        self.store.set_status(self.get(ref).id, SyncStatus.RUNNING)
        return self.get(ref)

    def remove(self, ref: int | str) -> None:
        """Forget it and its partial downloads (products it catalogued stay)."""
        sync_id = self.get(ref).id
        self.store.remove(sync_id)
        self.folder(sync_id).remove()

    def folder(self, sync_id: int) -> DownloadFolder:
        """The partial downloads of one synchroniser."""
        return DownloadFolder(self.downloads / str(sync_id))

    def remove_stale_folders(self) -> int:
        """Remove the download folders of synchronisers that no longer exist (removed by a
        process that died before it removed the folder); how many."""
        try:
            names = [p.name for p in self.downloads.iterdir() if p.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return 0
        known = {str(s.id) for s in self.list_all()}
        stale = [n for n in names if n not in known]
        for name in stale:
            shutil.rmtree(self.downloads / name, ignore_errors=True)
        return len(stale)

    def failed_products(self, ref: int | str) -> tuple[FailedProduct, ...]:
        """A synchroniser's products that failed: on the skip list, queued for a retry, or
        failing (holding it back)."""
        return self.store.failed_products(self.get(ref).id)

    def retry(self, ref: int | str, product_id: uuid.UUID | None = None) -> tuple[int, RunReport]:
        """Take products off the skip list (all, or one) and try them at once when the
        synchroniser runs (else its next run does): (how many, the report of the try). One
        that fails again stays queued for the next runs, until it is skipped again after
        ``max_failures`` of them."""
        sync = self.get(ref)
        queued = self.store.retry(sync.id, product_id)
        report = RunReport(sync.definition.label)
        if not queued:
            return 0, report
        if sync.status is not SyncStatus.RUNNING:
            report.error = "paused"
            return queued, report
        try:
            with self._claimed(sync):
                job = self.job(self.get(sync.id), sync.ranked_sources()[0])
                try:
                    page = job.retries_page()
                    report.add(page)
                    if not page.ok:  # the source failed
                        report.error = "; ".join(page.failures[:3])
                finally:
                    job.close()
                    job.remote.close()
        except DownloadsBusy as exc:
            report.error = exc.user_message
        return queued, report

    @contextmanager
    def _claimed(self, sync: Synchroniser) -> Iterator[None]:
        """Hold a copy synchroniser's download folder, its partial downloads of products
        catalogued meanwhile removed (Conflict when another process runs it); a metadata-only
        one needs none (a left-over folder is removed)."""
        folder = self.folder(sync.id)
        if sync.definition.mode is not SyncMode.COPY:
            folder.remove()
            yield
            return
        with folder.claimed(sync.definition.label):
            ids = folder.product_ids()
            catalogued = {p.id: p for p in self.catalogue.get_many(ids)} if ids else {}
            for pid in ids:
                self._remove_leftovers(folder, pid, catalogued.get(pid))
            yield

    def _remove_leftovers(
        self, folder: DownloadFolder, product_id: uuid.UUID, product: Product | None
    ) -> None:
        """Delete the objects a killed run stored for a product and its catalogue row does
        not name (a quicklook stored before the kill, bytes replaced since), but the bytes
        its archived note offers for reuse; drop the partial download of a product here
        already. An archive that cannot delete now keeps the list for the next run."""
        keep = {k for k in (product.archive_key, product.quicklook_key,
                            product.thumbnail_key) if k} if product else set()  # fmt: skip
        note = folder.archived(product_id)
        if product is None and note is not None:
            keep.add(note.key)  # reused by the next transfer if it still holds the bytes
        try:
            for key in folder.noted_keys(product_id):
                if key not in keep:
                    self.archive.delete(key)
        except StorageError as exc:
            log.warning("objects left by a stopped run of product %s not removed yet: %s",
                        product_id, exc)  # fmt: skip
            return
        folder.forget_keys(product_id)
        if product is not None and product.online and product.archive_key:
            folder.discard(product_id)

    def update(self, ref: int | str, definition: SyncDefinition) -> Synchroniser:
        """Replace a synchroniser's definition (its cursors and records stay); a new schedule
        plans the next run afresh, from the last run. Nothing changes when the new definition
        is refused."""
        definition = checked(definition)
        sync = self.get(ref)
        self.store.update(sync.id, definition)
        if definition.schedule != sync.definition.schedule:
            self.store.set_next_run(sync.id, None)
        return self.get(sync.id)

    def value_source(self, product: Product) -> tuple[ValueServing, str] | None:
        """Where a metadata-only mirror sends a ``$value`` request for ``product``, which it
        has no bytes of: (redirect or proxy, the same product's ``$value`` URL on the best
        ranked source) of the first synchroniser serving values whose filter the product
        matches; None when none does (the usual offline answer then applies)."""
        found = self.value_client(product)
        if found is None:
            return None
        mode, url, client = found
        client.close()
        return mode, url

    def value_client(self, product: Product) -> tuple[ValueServing, str, httpx.Client] | None:
        """:meth:`value_source` with an open HTTP client that holds the source's credentials,
        for proxying (the caller closes it)."""
        if product.online and product.archive_key:
            return None
        for sync in self.list_all():
            d = sync.definition
            if d.value is ValueServing.NONE or not matches(local_filter(d), product):
                continue
            remote = self.remote_factory(sync.evolve(source=sync.ranked_sources()[0]))
            return d.value, remote.value_url(product.id), remote.client
        return None

    def job(self, sync: Synchroniser, url: str | None = None) -> SyncJob:
        """A job of one synchroniser on one of its sources (``url``, else the one it used
        last, else its first) with a fresh remote client (``job.close()``, then close
        ``job.remote``)."""
        sync = sync.evolve(source=url or sync.source or sync.definition.url)
        remote = self.remote_factory(sync)
        if self.backoff is not None:
            remote.backoff = self.backoff
        return SyncJob(
            sync, remote, self.store, self.catalogue, self.archive,
            downloads=self.folder(sync.id), clock=self.clock,
        )  # fmt: skip

    def run(
        self,
        ref: int | str,
        *,
        max_pages: int = 100_000,
        seconds: float | None = None,
        keep_going: Callable[[], bool] | None = None,
    ) -> RunReport:
        """Run one synchroniser until it has caught up (or ``max_pages``, or ``seconds``).

        Its sources are tried best first (see ``Synchroniser.ranked_sources``); when one
        fails (after its retries) the run goes on from the next one's own cursor, and
        products already here are recognised and left alone.
        """
        sync = self.get(ref)
        if sync.status is not SyncStatus.RUNNING:
            return RunReport(sync.definition.label, error="paused")
        try:
            with self._claimed(sync):
                return self._run(sync, max_pages, seconds, keep_going)
        except DownloadsBusy as exc:
            return RunReport(sync.definition.label, error=exc.user_message)

    def _run(
        self,
        sync: Synchroniser,
        max_pages: int,
        seconds: float | None,
        keep_going: Callable[[], bool] | None,
    ) -> RunReport:
        deadline = None if seconds is None else time.monotonic() + seconds
        total: RunReport | None = None
        for url in sync.ranked_sources():
            job = self.job(self.get(sync.id), url)
            try:
                report = run_job(job, max_pages=max_pages, deadline=deadline, keep_going=keep_going)
                self._record_run(job, report)
            finally:
                job.close()
                job.remote.close()
            total = report if total is None else _merge(total, report)
            if not report.source_failed:
                break
            log.warning(
                "synchroniser %s: source %s failed (%s); trying the next source",
                sync.definition.label, url, report.error,
            )  # fmt: skip
        assert total is not None
        return total

    def _record_run(self, job: SyncJob, report: RunReport) -> None:
        """After a run on one source: its failure or its throughput, and its newest product
        (the synchroniser's lag)."""
        sync = job.sync
        url = sync.source or sync.definition.url
        state = sync.source_state(url)
        if report.source_failed:
            state = replace(state, failures=state.failures + 1)
        else:
            try:
                state = replace(state, newest=job.remote.newest(job.remote_filter))
                found = source_report(job.remote)
                if found is not None:
                    state = replace(state, tier=found.tier, window=found.window)
            except HubError as exc:
                log.warning("synchroniser %s: no newest product: %s", url, exc.user_message)
        rate = sync.last_rate
        if report.catalogued and report.seconds > 0:
            rate = report.catalogued / report.seconds
            # Smoothed, so one short run does not rank a source alone.
            state = replace(state, rate=rate if not state.rate else 0.7 * state.rate + 0.3 * rate)
        job.sync = sync.evolve(sources=with_state(sync.sources, state), last_rate=rate)
        self.store.save_progress(job.sync)

    def run_all(self, *, max_pages: int = 100_000, seconds: float | None = None) -> list[RunReport]:
        """Run every running synchroniser, each in its own thread, until all have caught up."""
        self.remove_stale_folders()
        running = [s for s in self.list_all() if s.status is SyncStatus.RUNNING]
        reports: dict[int, RunReport] = {}

        def one(sync: Synchroniser) -> None:
            try:
                reports[sync.id] = self.run(sync.id, max_pages=max_pages, seconds=seconds)
            except Exception as exc:  # one broken synchroniser never stops the others
                log.exception("synchroniser %s failed", sync.definition.label)
                reports[sync.id] = RunReport(sync.definition.label, error=str(exc))

        threads = [
            threading.Thread(target=one, args=(s,), name=f"eohub-sync-{s.id}", daemon=True)
            for s in running
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [reports[s.id] for s in running if s.id in reports]
