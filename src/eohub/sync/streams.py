"""How many transfers of one synchroniser run go at once.

A run starts with the synchroniser's ``--streams``. A source that allows fewer concurrent
downloads per user answers the extra ones 429 (CDSE: "Max session number 4 exceeded") or 403
"... concurrent flows" (DHuS); each refused transfer waits with backoff and asks again. So
that it is not asked again and again, each refusal lowers the limit to one less than the
transfers going at that moment (one at least), for the rest of the run, and the refused
transfer gives its slot back and waits for one before it asks again: transfers wait for a
slot instead of being refused, and the run settles at what the source allows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("eohub.sync")


class StreamLimit:
    """Slots for concurrent transfers, lowered when the source refuses one for too many."""

    def __init__(self, streams: int, label: str = "") -> None:
        self.limit = max(1, streams)
        self.active = 0
        self.label = label
        self._changed = threading.Condition()
        self._holder = threading.local()  # whether this thread holds a slot

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot while the block runs (waits until one is free)."""
        with self._changed:
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1
        self._holder.held = True
        try:
            yield
        finally:
            self._holder.held = False
            with self._changed:
                self.active -= 1
                self._changed.notify_all()

    def throttled(self) -> None:
        """The source refused a request for too many at once: fewer transfers from now on;
        called by a transfer holding a slot, it waits for a slot again (its own given back)."""
        with self._changed:
            lowered = max(1, min(self.limit, self.active) - 1)
            if lowered < self.limit:
                self.limit = lowered
                log.warning("%s: the source refuses concurrent downloads; %d at a time from now "
                            "on in this run", self.label, lowered)  # fmt: skip
            if not getattr(self._holder, "held", False):
                return  # a listing, not a transfer: nothing to give back
            self.active -= 1
            self._changed.notify_all()
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1
