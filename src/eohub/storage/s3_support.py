"""Helpers of the S3 store: botocore errors to StorageError, and a seekable ranged reader."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from eohub.storage.errors import (
    ObjectNotFound,
    StorageBackendError,
    StorageError,
    StorageFull,
)

MISSING = {"NoSuchKey", "NotFound", "404"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
_FULL = {"XMinioStorageFull", "InsufficientStorage", "QuotaExceeded", "EntityTooLarge"}


def translate_error(
    exc: Exception, action: str, key: str | None, where: str, endpoint: str
) -> StorageError:
    """A StorageError saying what failed and why, for a botocore exception.

    ``where`` names the bucket and server (``bucket 'x' at http://...``); ``endpoint`` the server.
    """
    what = f"{action} {key!r}" if key is not None else action
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code == "NoSuchBucket":
            return StorageBackendError(f"{what} failed: {where} does not exist")
        if code in MISSING and key is not None:
            return ObjectNotFound(key, where=where)
        if code in _DENIED:
            return StorageBackendError(
                f"{what} failed: access denied to {where} ({code}); "
                "check the access key, the secret key and the bucket's policy"
            )
        if code in ("PreconditionFailed", "412"):
            return StorageBackendError(f"{what} failed: the object changed while being read")
        if code in _FULL:
            return StorageFull(f"{what} failed: {where} is full ({message})")
        return StorageBackendError(f"{what} failed on {where}: {code}: {message}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return StorageBackendError(f"{what} failed: the S3 server at {endpoint} is unreachable")
    if isinstance(exc, NoCredentialsError):
        return StorageBackendError(f"{what} failed: no S3 credentials are configured")
    return StorageBackendError(f"{what} failed on {where}: {exc}")


class RangedReader(io.RawIOBase):
    """Raw, seekable reads of one object of known size; ``fetch(first, last)`` gets a range.

    Wrap it in ``io.BufferedReader`` for read-ahead: zipfile's many small reads then cost one
    ranged GET per buffer, not one per read.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence {whence}")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._position)
        if want <= 0:
            return 0
        data = self._fetch(self._position, self._position + want - 1)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)
