"""Write-behind of large local writes: the disk flushes while the caller goes on writing.

Without it a 1 GB put leaves 1 GB of dirty pages to its final fsync, which then waits for all
of them, and the page cache grows into memory that was never touched before (on a virtual
machine the first touch of a page costs several times the copy into it: the archive benchmark
measured 0.8-2.3 CPU s/GB for the writes alone). Every ``step`` bytes a helper thread runs
``fdatasync`` on what was written so far and then drops those pages, now clean, from the page
cache (``POSIX_FADV_DONTNEED``), so that:

- the disk writes while the caller reads and hashes; the final fsync has at most two steps left;
- the next chunks land in the pages just released (0.3-0.5 CPU s/GB instead);
- an ingest of many products does not push the catalogue's hot pages out of memory.

At most one flush is in flight: a writer faster than the disk waits for it, so the dirty pages
of one object stay under two steps. Objects smaller than a step are flushed only at the end
and stay cached (quicklooks and thumbnails are read again soon). A download right after the
put of a large object reads it from the disk.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from types import TracebackType

#: Bytes written between two flushes.
STEP = 32 << 20
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    """The flush threads of the process, shared by every put (each has one flush at a time)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max(4, os.cpu_count() or 4), thread_name_prefix="eohub-flush"
            )
        return _pool


class WriteBehind:
    """Flushes the file ``fd`` in steps while it is written.

    ``durable=False`` (a store without fsync) waits for no disk: each step only starts the
    writeback of its pages and releases those of the step before, clean by then (Linux starts
    the writeback of dirty pages it is advised to drop, and keeps them until written).

    Call ``advance`` after each write, ``finish`` once everything is written (the final
    fsync), and leave the context (or ``close``) before closing ``fd``: a flush in flight
    still uses it. Errors of a flush (``EIO``, ``ENOSPC``...) are raised as ``OSError`` by the
    next ``advance`` or by ``finish``.
    """

    def __init__(self, fd: int, *, durable: bool = True, step: int | None = None) -> None:
        step = STEP if step is None else step
        if step <= 0:
            raise ValueError(f"write-behind step must be positive, not {step}")
        self._fd = fd
        self._durable = durable
        self._step = step
        self._written = 0
        self._submitted = 0
        self._released = 0  # without fsync: pages before this were advised away already
        self._pending: Future[None] | None = None

    def advance(self, count: int) -> None:
        """``count`` more bytes were written; start a flush when a step is complete."""
        self._written += count
        if self._written - self._submitted >= self._step:
            self._wait()
            start, self._submitted = self._submitted, self._written
            if not self._durable:
                start, self._released = self._released, start
            self._pending = _shared_pool().submit(self._flush, start, self._written)

    def finish(self) -> None:
        """Wait for the flush in flight, then fsync the file (data and metadata) if durable."""
        self._wait()
        if not self._durable:
            return
        os.fsync(self._fd)
        if self._submitted:  # a large object: release the rest of its pages too
            self._drop(self._submitted, self._written)

    def close(self) -> None:
        """Wait for a flush in flight, ignoring its error (idempotent)."""
        with suppress(OSError):
            self._wait()
        self._pending = None

    def _flush(self, start: int, end: int) -> None:
        if self._durable:
            os.fdatasync(self._fd)
        self._drop(start, end)

    def _drop(self, start: int, end: int) -> None:
        with suppress(OSError):  # only advice: a file system without it keeps its pages
            os.posix_fadvise(self._fd, start, end - start, os.POSIX_FADV_DONTNEED)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
