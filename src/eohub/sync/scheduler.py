"""Synchronisers in a serving hub: each scheduled synchroniser runs in a thread of its own when
it is due, so a slow or broken source never delays the others.

A run holds a lease in the store (renewed before every page), so two server processes (or a
server and ``eohub sync run``... which takes no lease: run that on a hub whose server does not
schedule the same synchroniser) never run one synchroniser at once. A process that dies leaves
its lease to lapse after ``lease_s``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from eohub.errors import HubError, NotFound
from eohub.sync.model import Synchroniser
from eohub.sync.schedule import parse_schedule, planned_run
from eohub.sync.service import SyncService

log = logging.getLogger("eohub.sync")


def _now() -> datetime:
    return datetime.now(UTC)


class SyncScheduler:
    """Looks every ``poll_s`` for due synchronisers and runs each in its own thread."""

    def __init__(
        self,
        service: SyncService,
        *,
        poll_s: float = 2.0,
        lease_s: float = 120.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.service = service
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self._runs: dict[int, threading.Thread] = {}
        self._thread: threading.Thread | None = None

    def due(self, sync: Synchroniser, now: datetime) -> bool:
        """Running, scheduled, and its next run has come (see :func:`planned_run`: a run
        missed while the hub was down is due once, however many slots it missed)."""
        planned = planned_run(sync)
        return planned is not None and planned <= now

    def poll(self) -> list[int]:
        """Start a thread for every due synchroniser not already running here; their Ids."""
        started: list[int] = []
        now = self.clock()
        for sync in self.service.list_all():
            thread = self._runs.get(sync.id)
            if thread is not None and thread.is_alive():
                continue
            if not self.due(sync, now):
                continue
            thread = threading.Thread(
                target=self.run_one, args=(sync,), name=f"eohub-sync-{sync.id}", daemon=True
            )
            self._runs[sync.id] = thread
            thread.start()
            started.append(sync.id)
        return started

    def run_one(self, sync: Synchroniser) -> None:
        """One run under the lease, then the next run's time (also on failure)."""
        store = self.service.store
        if not store.take_lease(sync.id, self.holder, self.clock(), self.lease_s):
            return  # another process runs it
        try:

            def keep_going() -> bool:
                if self.stopping.is_set():
                    return False
                return store.take_lease(sync.id, self.holder, self.clock(), self.lease_s)

            report = self.service.run(sync.id, keep_going=keep_going)
            if report.error and report.error not in ("paused", "stopped"):
                log.warning("synchroniser %s: %s", sync.definition.label, report.error)
        except Exception:  # one broken synchroniser never stops the others
            log.exception("synchroniser %s failed", sync.definition.label)
        finally:
            try:
                self._plan_next(sync.id)
            except NotFound:  # removed while it ran
                pass
            except HubError as exc:
                log.error("synchroniser %s: %s", sync.definition.label, exc.user_message)
            finally:
                store.release_lease(sync.id, self.holder)

    def _plan_next(self, sync_id: int) -> None:
        """After a run: the first slot of its schedule (as stored now) after this moment, so
        slots missed while it ran, or while the hub was down, are not run one by one."""
        text = self.service.get(sync_id).definition.schedule
        when = parse_schedule(text).next_after(self.clock()) if text else None
        self.service.store.set_next_run(sync_id, when)

    def start(self) -> None:
        """Start polling on a thread of its own (once)."""
        if self._thread is not None:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="eohub-sync-poll", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop polling; runs stop before their next page (bounded wait)."""
        self.stopping.set()
        for thread in [self._thread, *self._runs.values()]:
            if thread is not None:
                thread.join(timeout_s)
        self._thread = None
        self._runs.clear()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("looking for due synchronisers failed (tried again)")
            self.stopping.wait(self.poll_s)
