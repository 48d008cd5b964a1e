"""Errors of the archive: every backend failure becomes one of these at the store's boundary."""

from __future__ import annotations

from eohub.errors import HubError, NotFound


class StorageError(HubError):
    """Something went wrong storing or reading bytes in the archive."""

    code = "storage_error"


class InvalidKey(StorageError):
    """A key that cannot name an object (empty, absolute, ``..``, NUL, reserved...)."""

    code = "invalid_key"


class ObjectNotFound(StorageError, NotFound):
    """No object is stored under the key."""

    code = "object_not_found"

    def __init__(self, key: str, *, where: str = "") -> None:
        place = f" in {where}" if where else ""
        super().__init__(f"no object stored under key {key!r}{place}")
        self.key = key


class StorageFull(StorageError):
    """The archive has no space left; nothing was stored."""

    code = "storage_full"


class IncompleteWrite(StorageError):
    """The stream did not deliver the announced number of bytes; nothing was stored."""

    code = "incomplete_write"


class StorageBackendError(StorageError):
    """The backend failed: server unreachable, no such bucket, access denied, I/O error."""

    code = "storage_backend_error"
