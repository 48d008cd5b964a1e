"""A remote product's bytes as one readable stream that resumes broken transfers with Range.

``ObjectStore.put`` reads it like a file. When the connection breaks or the body ends early,
the reader asks the remote for the rest (``Range: bytes=<received>-``, answered 206 from that
offset) after a backoff pause, at most ``backoff.attempts`` times in a row without progress,
so one product is stored by one ``put`` however often its transfer was cut. The checksum is
verified by the caller on what the store computed while writing.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx

from eohub.sync.remote import RemoteError, RemoteHub

log = logging.getLogger("eohub.sync")

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_CHUNK = 1 << 20


class TransferError(RemoteError):
    """A product transfer that could not be completed."""

    code = "sync_transfer_error"


class ResumingReader:
    """A binary stream over a remote product's ``$value`` that resumes with Range."""

    def __init__(self, remote: RemoteHub, product_id: uuid.UUID, size: int) -> None:
        self.remote = remote
        self.product_id = product_id
        self.size = size
        self.offset = 0
        self.resumes = 0  # Range requests made after a broken transfer
        self._stack = ExitStack()
        self._chunks: Iterator[bytes] | None = None
        self._pending = b""
        self._failures = 0  # consecutive failures without progress

    # -- file protocol (what ObjectStore.put reads) ---------------------------------------------
    def readable(self) -> bool:
        """Always true."""
        return True

    def readinto(self, view: Any) -> int:
        """Fill ``view`` with the next bytes (all of it unless the product ends first); 0 at
        the end of the product."""
        # Filled whole, not one network read (~64 KiB) per call: the store hashes and writes
        # what it is given, and 1 MiB pieces cost far less per byte (MD5 then runs beside
        # BLAKE3, and there are 16 times fewer writes): copies ran at ~175 MB/s, now ~300.
        buffer = memoryview(view).cast("B")
        filled = 0
        while filled < len(buffer):
            if not self._pending:
                if self.offset >= self.size:
                    break
                self._pending = self._next_chunk()
            count = min(len(buffer) - filled, len(self._pending))
            buffer[filled : filled + count] = self._pending[:count]
            self._pending = self._pending[count:]
            self.offset += count
            filled += count
        return filled

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (a convenience; ``put`` uses ``readinto``)."""
        out = bytearray(n if n > 0 else _CHUNK)
        count = self.readinto(out)
        return bytes(out[:count])

    def close(self) -> None:
        """Close the current response."""
        self._chunks = None
        self._stack.close()

    def __enter__(self) -> ResumingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transfer ------------------------------------------------------------------------------
    def _open(self) -> None:
        self.close()
        self._stack = ExitStack()
        start = self.offset
        response = self._stack.enter_context(self.remote.open_value(self.product_id, start))
        if start:
            self._check_range(response, start)
        elif response.status_code != 200:
            raise TransferError(f"downloading {self.product_id}: HTTP {response.status_code}")
        # No chunk size: bytes are handed on as they arrive, so a transfer cut mid-chunk
        # still counts what it delivered and resumes after it.
        self._chunks = response.iter_raw()

    def _check_range(self, response: httpx.Response, start: int) -> None:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if response.status_code != 206 or found is None or int(found.group(1)) != start:
            # A remote that ignores Range would send the product from its first byte: the
            # stream cannot rewind inside one put, so the whole product is tried again.
            raise TransferError(
                f"downloading {self.product_id}: the remote did not resume at byte {start} "
                f"(HTTP {response.status_code})",
                transient=True,
            )
        self.resumes += 1

    def _next_chunk(self) -> bytes:
        while True:
            try:
                if self._chunks is None:
                    self._open()
                assert self._chunks is not None
                chunk = next(self._chunks, b"")
                if chunk:
                    if self.offset + len(self._pending) + len(chunk) > self.size:
                        raise TransferError(
                            f"downloading {self.product_id}: the remote sent more than the "
                            f"{self.size} bytes it announced",
                            transient=False,
                        )
                    self._failures = 0
                    return chunk
                # The body ended before the announced size: ask for the rest.
                raise TransferError(
                    f"downloading {self.product_id}: the body ended at byte {self.offset} "
                    f"of {self.size}"
                )
            except httpx.TransportError as exc:
                error: RemoteError = TransferError(
                    f"downloading {self.product_id}: {type(exc).__name__} at byte {self.offset}"
                )
                self._failed(error)
            except RemoteError as exc:
                if not exc.transient:
                    raise
                self._failed(exc)

    def _failed(self, error: RemoteError) -> None:
        self.close()
        self._failures += 1
        if self._failures >= self.remote.backoff.attempts:
            raise TransferError(f"{error.user_message} (gave up after {self._failures} tries)")
        wait = self.remote.backoff.delay(self._failures - 1, getattr(error, "retry_after", None))
        log.warning("%s; resuming in %.1fs", error.user_message, wait)
        self.remote.sleep(wait)
