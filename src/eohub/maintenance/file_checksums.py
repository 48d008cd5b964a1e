"""``eohub fsck``'s part for file checksums: zipped products that have none get them computed.

Products ingested before file checksums existed, mirrored or retrieved from another hub, or
whose checksums could not be stored after ingest have none. With repair, each one's archive
object is read once, front to back (``ObjectStore.open_file``: ranged reads on S3), and the
checksums of its members are stored for that object.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eohub.catalogue.service import Catalogue
from eohub.errors import HubError
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.storage.errors import StorageError
from eohub.storage.file_digests import ZipDigestError, digest_zip
from eohub.storage.ports import ObjectStore

log = logging.getLogger("eohub.fsck")


@dataclass
class FileChecksumsReport:
    """Zipped products found without file checksums, and what repair did about them."""

    missing: int = 0
    stored: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)  # unreadable archive objects


def needs_files(product: Product) -> bool:
    """True for a product whose bytes here are a zip (the products that have file nodes)."""
    key = product.archive_key
    return product.online and key is not None and key.lower().endswith(".zip")


def fill_files(
    catalogue: Catalogue,
    store: ObjectStore,
    batch: list[Product],
    report: FileChecksumsReport,
    *,
    repair: bool,
) -> None:
    """Count (and with ``repair`` compute and store) the file checksums ``batch`` lacks."""
    stored = catalogue.backend.files_keys([p.id for p in batch])
    for product in batch:
        key = product.archive_key
        if key is None or stored.get(product.id) == key:
            continue
        report.missing += 1
        if not repair:
            continue
        try:
            with store.open_file(key) as handle:
                digests = digest_zip(handle)
            manifest = FileManifest(product.id, key, datetime.now(UTC), digests)
            if catalogue.store_files(manifest):
                report.stored += 1
        except (ZipDigestError, StorageError, HubError, OSError) as exc:
            report.failed.append(product.id)
            log.warning("file checksums of product %s not computed: %s", product.id, exc)
