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
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.errors import InvalidQuery
from eohub.storage.ports import ObjectStore
from eohub.sync.filters import local_filter
from eohub.sync.model import SyncDefinition, Synchroniser, SyncStatus
from eohub.sync.remote import Backoff
from eohub.sync.runner import RemoteFactory, RunReport, SyncJob, default_remote, run_job
from eohub.sync.store import SqlSyncStore

log = logging.getLogger("eohub.sync")

MAX_PAGE_SIZE = 1000  # the largest $top this hub's OData v1 answers
MAX_STREAMS = 64


def _now() -> datetime:
    return datetime.now(UTC)


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

    def job(self, sync: Synchroniser) -> SyncJob:
        """A job of one synchroniser with a fresh remote client (close ``job.remote``)."""
        remote = self.remote_factory(sync)
        if self.backoff is not None:
            remote.backoff = self.backoff
        return SyncJob(sync, remote, self.store, self.catalogue, self.archive, clock=self.clock)

    def run(
        self, ref: int | str, *, max_pages: int = 100_000, seconds: float | None = None
    ) -> RunReport:
        """Run one synchroniser until it has caught up (or ``max_pages``, or ``seconds``)."""
        sync = self.get(ref)
        if sync.status is not SyncStatus.RUNNING:
            return RunReport(sync.definition.label, error="paused")
        job = self.job(sync)
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            return run_job(job, max_pages=max_pages, deadline=deadline)
        finally:
            job.remote.close()

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
