"""The contract of the archive (``ObjectStore``), its value types and the key rules.

Keys are ``/``-separated relative names such as ``ab/cd/<uuid>/<filename>``. Every store
validates them the same way (``validate_key``) before touching its backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from eohub.storage.errors import (
    IncompleteWrite,
    InvalidKey,
    ObjectNotFound,
    StorageBackendError,
    StorageError,
    StorageFull,
)

__all__ = [
    "MAX_KEY_BYTES",
    "RESERVED_PREFIX",
    "ByteRange",
    "FileAdopter",
    "IncompleteWrite",
    "InvalidKey",
    "ObjectNotFound",
    "ObjectStore",
    "StorageBackendError",
    "StorageError",
    "StorageFull",
    "StoredObject",
    "product_key",
    "validate_key",
]

#: S3 limits keys to 1024 bytes of UTF-8; the local store keeps the same limit.
MAX_KEY_BYTES = 1024
#: First key segments starting with this are the stores' own (temporary files, checksums).
RESERVED_PREFIX = ".eohub"


@dataclass(frozen=True)
class StoredObject:
    """What the archive knows about one stored object; checksums are lower-case hex."""

    key: str
    size: int
    md5: str
    blake3: str
    modified: datetime


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range, already resolved against the object's size."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise StorageError(
                f"invalid byte range {self.start}-{self.end}: need 0 <= start <= end"
            )

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1


class ObjectStore(Protocol):
    """Streams bytes in and out of the archive (a local directory or an S3 bucket).

    Every method validates its key and raises ``StorageError`` subclasses only: ``InvalidKey``,
    ``ObjectNotFound``, ``StorageFull``, ``IncompleteWrite`` or ``StorageBackendError``.
    An exception raised by the caller's own input stream during ``put`` propagates unchanged,
    after everything written so far has been removed.
    """

    def put(self, key: str, stream: BinaryIO, *, expected_size: int | None = None) -> StoredObject:
        """Store the stream under ``key``, computing MD5 and BLAKE3 while writing.

        Atomic: the key shows either the previous object or the complete new one, never a
        partial one. With ``expected_size`` a stream of another length stores nothing.
        """

    def open(
        self, key: str, byte_range: ByteRange | None = None, *, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Stream the object (or an inclusive range of it) in chunks of ``chunk_size``.

        The object is opened at once (a missing key raises here, not while iterating); close
        or exhaust the iterator to release it. A range past the end raises ``StorageError``.
        """

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer at the end, empty past the end)."""

    def stat(self, key: str) -> StoredObject | None:
        """Size, checksums and time of one object, or None when the key is not stored."""

    def delete(self, key: str) -> bool:
        """Remove an object; False when it was not there."""

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key starting with ``prefix`` (string prefix, not only folders)."""

    def open_file(self, key: str) -> BinaryIO:
        """A seekable, read-only file object (``zipfile.ZipFile`` can read members from it)."""


@runtime_checkable
class FileAdopter(Protocol):
    """A store that can take a complete local file as an object by renaming it (no copy)."""

    def adopt(self, key: str, path: Path, size: int, md5: str, blake3: str) -> StoredObject | None:
        """Move the file at ``path`` to ``key`` atomically, recording the checksums the caller
        computed while writing it; None (the file left where it is) when it cannot be moved
        without a copy (another file system)."""


def validate_key(key: object) -> str:
    """Return ``key`` if it is a valid relative object key, else raise ``InvalidKey``."""
    if not isinstance(key, str):
        raise InvalidKey(f"object key must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidKey("object key is empty")
    if "\x00" in key:
        raise InvalidKey(f"object key {key!r} contains a NUL character")
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise InvalidKey(f"object key {key!r} contains a control character")
    if "\\" in key:
        raise InvalidKey(f"object key {key!r} contains a backslash; use '/' between folders")
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute; keys are relative")
    try:
        encoded = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKey(f"object key {key!r} is not valid UTF-8 text") from exc
    if encoded > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is {encoded} bytes long; the limit is {MAX_KEY_BYTES}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(
                f"object key {key!r} has an empty, '.' or '..' segment; "
                "keys are relative names like 'ab/cd/name.zip'"
            )
    if key.split("/", 1)[0].startswith(RESERVED_PREFIX):
        raise InvalidKey(f"object key {key!r} starts with the reserved {RESERVED_PREFIX!r}")
    return key


def validate_prefix(prefix: object) -> str:
    """Return a listing prefix if it could start a valid key (empty is allowed)."""
    if not isinstance(prefix, str):
        raise InvalidKey(f"key prefix must be a string, not {type(prefix).__name__}")
    if prefix:
        # A prefix ending in "/" or in a partial segment is checked as the key it starts.
        validate_key(prefix.rstrip("/") + "/x" if prefix.endswith("/") else prefix)
    return prefix


def product_key(product_id: uuid.UUID, filename: str) -> str:
    """The archive key of a product file: ``ab/cd/<uuid>/<filename>``.

    The two levels of two hex digits spread products over 65,536 folders, so no folder
    holds millions of entries.
    """
    if not isinstance(product_id, uuid.UUID):
        raise InvalidKey(f"product id must be a UUID, not {type(product_id).__name__}")
    if not filename or "/" in filename or filename in (".", ".."):
        raise InvalidKey(f"product file name {filename!r} must be a plain file name")
    digits = product_id.hex
    return validate_key(f"{digits[0:2]}/{digits[2:4]}/{product_id}/{filename}")
