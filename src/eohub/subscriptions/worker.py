"""The server's background worker: one thread that, every ``interval_s``, runs each step
(push deliveries, saved-search mails, pruning the change feed). A failing step is logged and
the others still run; ``stop`` interrupts waits and backoffs at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from eohub.catalogue.service import Catalogue

log = logging.getLogger("eohub.worker")

Step = tuple[str, Callable[[], object]]


class FeedWorker:
    """Runs ``steps`` (name, callable) in order, once per ``interval_s``, on its own thread."""

    def __init__(self, steps: Sequence[Step] = (), *, interval_s: float = 2.0) -> None:
        self.steps = list(steps)
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the worker is stopping (for steps' backoffs)."""
        return self.stopping.wait(seconds)

    def run_once(self) -> None:
        """Every step once, in order (also how tests and the CLI drive it)."""
        for name, step in self.steps:
            if self.stopping.is_set():
                return
            try:
                step()
            except Exception:
                log.exception("background step %s failed (it runs again next round)", name)

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="eohub-feed-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (bounded)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.run_once()
            self.stopping.wait(self.interval_s)


class Pruner:
    """Drops change-feed events older than ``days`` (0: never), at most once per ``every_s``."""

    def __init__(self, catalogue: Catalogue, days: int, *, every_s: float = 3600.0) -> None:
        self.catalogue = catalogue
        self.days = days
        self.every_s = every_s
        self._last: float | None = None

    def __call__(self) -> int:
        """Prune when due; how many events were dropped."""
        now = time.monotonic()
        if self.days <= 0 or (self._last is not None and now - self._last < self.every_s):
            return 0
        self._last = now
        dropped = self.catalogue.prune_changes(datetime.now(UTC) - timedelta(days=self.days))
        if dropped:
            log.info("change feed: dropped %d events older than %d days", dropped, self.days)
        return dropped
