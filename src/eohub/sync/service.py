"""Synchronisers: add, list, pause, resume, remove and run them.

Each running synchroniser runs in its own thread, with its own remote client, so one slow or
broken remote never delays the others.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import httpx

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError, InvalidQuery
from eohub.model.product import Product
from eohub.query.evaluate import matches
from eohub.storage.ports import ObjectStore
from eohub.sync.filters import local_filter
from eohub.sync.model import SyncDefinition, Synchroniser, SyncMode, SyncStatus, ValueServing
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


def _now() -> datetime:
    return datetime.now(UTC)


def source_tier(remote: RemoteHub) -> int | None:
    """The tier an eohub source reports at ``/api/hubs`` (None for other hubs)."""
    base = remote.root.removesuffix("/catalogue/odata/v1").removesuffix("/odata/v1")
    try:
        response = remote.client.get(f"{base}/api/hubs", timeout=5.0)
        tier = response.json()["hub"]["tier"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return tier if isinstance(tier, int) and not isinstance(tier, bool) else None


def _merge(first: RunReport, then: RunReport) -> RunReport:
    """One report of a run that moved from one source to the next."""
    return replace(
        then,
        pages=first.pages + then.pages,
        catalogued=first.catalogued + then.catalogued,
        deleted=first.deleted + then.deleted,
        bytes=first.bytes + then.bytes,
        resumes=first.resumes + then.resumes,
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
    if definition.token and definition.username:
        raise InvalidQuery("give a user name and password, or a token, not both", field="token")
    for source in definition.sources:
        parts = urllib.parse.urlsplit(source)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidQuery(f"the source '{source}' is not an http(s) URL", field="source")
    if definition.schedule is not None:
        parse_schedule(definition.schedule)
    if definition.value is not ValueServing.NONE and definition.mode is not SyncMode.METADATA:
        raise InvalidQuery("serving $value from the source is for metadata-only mirrors")
    local_filter(definition)  # the filter and geofilter parse


class SyncService:
    """The synchronisers of one hub."""

    def __init__(
        self,
        store: SqlSyncStore,
        catalogue: Catalogue,
        archive: ObjectStore,
        *,
        remote_factory: RemoteFactory = default_remote,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.archive = archive
        self.remote_factory = remote_factory
        self.backoff = backoff
        self.clock = clock

    def add(self, definition: SyncDefinition) -> Synchroniser:
        """Check and store a new synchroniser (running, from the remote's first product)."""
        check_definition(definition)
        return self.store.add(definition, self.clock())

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
        """Forget it (products it catalogued stay)."""
        self.store.remove(self.get(ref).id)

    def update(self, ref: int | str, definition: SyncDefinition) -> Synchroniser:
        """Replace a synchroniser's definition (its cursors and records stay)."""
        check_definition(definition)
        sync = self.get(ref)
        self.store.update(sync.id, definition)
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
        return SyncJob(sync, remote, self.store, self.catalogue, self.archive, clock=self.clock)

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
                tier = source_tier(job.remote)
                state = replace(state, tier=state.tier if tier is None else tier)
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
