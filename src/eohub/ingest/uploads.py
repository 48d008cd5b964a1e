"""Products uploaded over HTTP: received to disk, then ingested, then removed.

Layout under ``<data_dir>/uploads`` (the folder is private to the hub):

- ``<32 hex>/<file name>``: one ``/api/upload`` being received or ingested; the folder is
  removed once the request ends, whatever the outcome;
- ``ingests/.<32 hex>.part``: an OData ``Ingests`` body being received;
- ``ingests/<id>.bin``: a received body waiting for its file name (status PENDING);
- ``ingests/<id>/<file name>``: that body while it is ingested;
- ``ingests.sqlite``: the :class:`~eohub.ingest.upload_registry.IngestRegistry`.

Bytes are written as they arrive, with their MD5 computed on the way; nothing holds a whole
upload in memory. Leftovers of an interrupted server (a crash during an upload) are removed
by :meth:`Uploads.sweep` once they are a day old. Rejected uploads are never quarantined:
they are deleted, and the client is told why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.ingest.pipeline import Ingestor, IngestResult, Outcome
from eohub.ingest.upload_registry import IngestRecord, IngestRegistry, IngestStatus

log = logging.getLogger("eohub.ingest.uploads")

UPLOAD_SUFFIXES = (".zip", ".nc")
"""What an uploaded product file may be: a zipped SAFE/SEN3 product or a netCDF product."""

STALE_AFTER = timedelta(days=1)
"""Age after which the leftovers of an interrupted upload or ingestion are removed."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,250}$")
_FOLDER = re.compile(r"^[0-9a-f]{32}$")


class InvalidUpload(InvalidQuery):
    """An upload request that cannot be accepted (file name, missing part, body)."""

    code = "invalid_upload"


class RejectedUpload(InvalidUpload):
    """An uploaded product the ingest pipeline rejected (corrupt, unknown type...)."""

    code = "rejected_product"


def check_upload_name(name: str) -> str:
    """``name`` when it is the plain file name of a product, else :class:`InvalidUpload`.

    A product file name is letters, digits, ``.``, ``_`` and ``-``, ends with ``.zip`` or
    ``.nc`` and carries no folder (no ``/``, ``\\`` or ``..``).
    """
    if not name:
        raise InvalidUpload("the product file has no name")
    shown = name[:120]
    if "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise InvalidUpload(f"invalid file name {shown!r}: path separators and '..' are refused")
    if not _NAME.match(name) or not name.lower().endswith(UPLOAD_SUFFIXES):
        raise InvalidUpload(
            f"invalid file name {shown!r}: not a product file name (expected the product name "
            "followed by .zip or .nc, in letters, digits, '.', '_' and '-')"
        )
    return name


class UploadFile:
    """A file being received: written chunk by chunk, its MD5 computed while writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._out = open(path, "xb")  # closed by finish() or discard()

    def write(self, data: bytes | bytearray) -> None:
        """Append ``data``."""
        self._out.write(data)
        self._md5.update(data)
        self.size += len(data)

    def finish(self) -> str:
        """Flush the file to disk, close it and return its MD5 (hex)."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        return self._md5.hexdigest()

    def discard(self) -> None:
        """Close and delete the file."""
        self._out.close()
        self.path.unlink(missing_ok=True)


class Uploads:
    """Receives uploaded products and ingests them; keeps the OData ``Ingests`` records."""

    def __init__(self, root: Path, ingestor: Ingestor) -> None:
        self.root = root
        self.ingests_dir = root / "ingests"
        self.ingests_dir.mkdir(parents=True, exist_ok=True)
        self.registry = IngestRegistry(root / "ingests.sqlite", clock=ingestor.clock)
        self._ingestor = ingestor
        self.sweep()

    # -- POST /api/upload --------------------------------------------------------------------
    def new_file(self, filename: str) -> UploadFile:
        """A fresh file ``<root>/<random>/<filename>`` to receive one product."""
        name = check_upload_name(filename)
        folder = self.root / secrets.token_hex(16)
        folder.mkdir()
        try:
            return UploadFile(folder / name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def remove(self, upload: UploadFile) -> None:
        """Delete an upload received by :meth:`new_file`, with its folder."""
        upload.discard()
        shutil.rmtree(upload.path.parent, ignore_errors=True)

    def ingest_file(self, upload: UploadFile) -> IngestResult:
        """Ingest a received (finished) upload, then delete it whatever the outcome."""
        try:
            return self._ingestor.ingest(upload.path)
        finally:
            self.remove(upload)

    # -- OData Ingests -----------------------------------------------------------------------
    def new_body(self) -> UploadFile:
        """A fresh file to receive the body of ``POST Ingests``."""
        return UploadFile(self.ingests_dir / f".{secrets.token_hex(16)}.part")

    def register(self, upload: UploadFile, md5: str, uploader: str) -> IngestRecord:
        """Record a received (finished) body as a PENDING ingest, kept as ``<id>.bin``."""
        record = self.registry.add(uploader, md5, upload.size)
        try:
            os.replace(upload.path, self._bin(record.id))
        except BaseException:
            self.registry.remove(record.id)
            upload.path.unlink(missing_ok=True)
            raise
        return record

    def get(self, ingest_id: int, owner: str | None) -> IngestRecord:
        """One ingest of ``owner`` (any when None); NotFound for another user's."""
        record = self.registry.get(ingest_id)
        if record is None or (owner is not None and record.uploader != owner):
            raise NotFound(f"no ingest with Id {ingest_id}")
        return record

    def records(
        self, owner: str | None, *, limit: int | None = None, offset: int = 0
    ) -> list[IngestRecord]:
        """The ingests of ``owner`` (everyone's when None), by id."""
        return self.registry.records(owner, limit=limit, offset=offset)

    def start(
        self, ingest_id: int, owner: str | None, filename: str, collections: Sequence[str]
    ) -> IngestRecord:
        """Name a PENDING ingest and ingest it; the record ends INGESTED or ERROR.

        A refused file name leaves it PENDING (InvalidUpload); an ingest that is not PENDING
        is a Conflict.
        """
        name = check_upload_name(filename)
        record = self.get(ingest_id, owner)
        if not self.registry.claim(record.id, name, collections):
            raise Conflict(f"ingest {ingest_id} is {self.get(ingest_id, owner).status.value}, "
                           "not PENDING: only a pending ingest can be started")  # fmt: skip
        folder = self.ingests_dir / str(record.id)
        status, message = IngestStatus.ERROR, "ingestion interrupted"
        try:
            folder.mkdir(exist_ok=True)
            target = folder / name
            os.replace(self._bin(record.id), target)
            result = self._ingestor.ingest(target)
            status, message = _status_of(result)
            if result.retryable:  # not the product's fault: keep it for another PUT
                os.replace(target, self._bin(record.id))
                status, message = IngestStatus.PENDING, f"not ingested, try again: {result.reason}"
        except FileNotFoundError:
            message = "the uploaded data is missing"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self.registry.finish(record.id, status, message)
        return self.get(record.id, owner)

    def delete(self, ingest_id: int, owner: str | None) -> None:
        """Forget an ingest and its data; a Conflict while it is being ingested."""
        record = self.get(ingest_id, owner)
        if not self.registry.remove(record.id):
            raise Conflict(f"ingest {ingest_id} is being ingested and cannot be deleted now")
        self._bin(record.id).unlink(missing_ok=True)

    def _bin(self, ingest_id: int) -> Path:
        return self.ingests_dir / f"{ingest_id}.bin"

    # -- housekeeping ------------------------------------------------------------------------
    def sweep(self) -> None:
        """Remove what interrupted uploads and ingestions left behind a day ago or more."""
        limit = time.time() - STALE_AFTER.total_seconds()
        for child in self.root.iterdir():
            if child.is_dir() and _FOLDER.match(child.name) and _latest_change(child) < limit:
                shutil.rmtree(child, ignore_errors=True)
        for part in self.ingests_dir.glob(".*.part"):
            if _latest_change(part) < limit:
                part.unlink(missing_ok=True)
        for record in self.registry.stale(self._ingestor.clock() - STALE_AFTER):
            log.warning("ingest %s was interrupted; marked as failed", record.id)
            shutil.rmtree(self.ingests_dir / str(record.id), ignore_errors=True)
            self.registry.finish(record.id, IngestStatus.ERROR, "ingestion interrupted")


def _latest_change(path: Path) -> float:
    """The latest modification time of ``path`` and, for a folder, of what it holds."""
    try:
        latest = path.stat().st_mtime
        if path.is_dir():
            for child in path.iterdir():
                latest = max(latest, child.stat().st_mtime)
    except OSError:
        return time.time()  # vanishing right now: in use
    return latest


def _status_of(result: IngestResult) -> tuple[IngestStatus, str]:
    """The final status of an ingest and its message, from the pipeline's result."""
    product = result.product
    if result.outcome in (Outcome.INGESTED, Outcome.REPLACED):
        assert product is not None
        verb = "ingested" if result.outcome is Outcome.INGESTED else "replaced the catalogued"
        return IngestStatus.INGESTED, f"{verb} product {product.name} (Id {product.id})"
    if result.outcome is Outcome.DUPLICATE:
        assert product is not None
        return IngestStatus.ERROR, (
            f"product {product.name} is already in the catalogue (Id {product.id})"
        )
    return IngestStatus.ERROR, f"product rejected: {result.reason}"
