"""The archive: where product bytes live (a local directory or an S3-compatible bucket).

Only ``ports`` (the ``ObjectStore`` contract), ``errors`` and ``checksums`` are for general use;
the concrete stores (``filesystem``, ``s3``) are chosen by the composition root.
"""

from eohub.storage.errors import (
    IncompleteWrite,
    InvalidKey,
    ObjectNotFound,
    StorageBackendError,
    StorageError,
    StorageFull,
)
from eohub.storage.ports import ByteRange, ObjectStore, StoredObject, product_key, validate_key

__all__ = [
    "ByteRange",
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
