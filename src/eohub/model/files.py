"""Checksums of the files inside a stored product (its zip members): frozen values, no I/O.

A :class:`FileManifest` belongs to one archive object (``archive_key``), not to the product
alone: a product ingested again, retrieved or mirrored gets a new object, and a manifest of
the old one is then simply not used (a product shows no file checksums rather than wrong ones).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from eohub.model.product import utc


@dataclass(frozen=True)
class FileDigest:
    """One file of a zipped product: its member path, size and checksums (lower-case hex).

    ``path`` is the member name inside the stored zip, ``/``-separated, without a leading or
    trailing ``/`` (``NAME.SAFE/GRANULE/.../B02.jp2``): the chain of OData node names.
    """

    path: str
    size: int
    md5: str
    blake3: str


@dataclass(frozen=True)
class FileManifest:
    """The checksums of every file of one stored product object, computed at ``computed_at``."""

    product_id: uuid.UUID
    archive_key: str
    computed_at: datetime
    files: tuple[FileDigest, ...]
    _by_path: Mapping[str, FileDigest] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "computed_at", utc(self.computed_at))
        object.__setattr__(self, "_by_path", MappingProxyType({f.path: f for f in self.files}))

    def get(self, path: str) -> FileDigest | None:
        """The digest of one file by its member path, if the manifest has it."""
        return self._by_path.get(path)

    def describes(self, archive_key: str | None) -> bool:
        """True when this manifest is the one of the object stored under ``archive_key``."""
        return archive_key is not None and archive_key == self.archive_key
