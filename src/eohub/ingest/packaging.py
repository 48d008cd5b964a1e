"""Products as distributed: a SAFE/SEN3 folder becomes a deterministic zip, streamed.

The zip is written by a thread into a pipe that the archive reads from, so a product is never
held in memory nor written twice to disk. Member order is sorted and timestamps are fixed, so
the same folder always gives the same bytes (and the same checksums).

The checksums of the files inside the product come from bytes that flow anyway: a folder's
files are hashed as the zip writer reads them; a zip is read once more, front to back, before
it is stored (:func:`input_file_digests`), which also refuses a zip with a corrupt member.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from eohub.ingest.source import ProductSource
from eohub.model.files import FileDigest
from eohub.storage.file_digests import MemberHasher, ZipDigestError, digest_zip, member_name

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20
# Imagery (jp2, tiff, nc) does not compress; metadata does. Stored members keep ranges cheap.
_STORED_SUFFIXES = (".jp2", ".tif", ".tiff", ".nc", ".png", ".jpg", ".jpeg", ".dat", ".zip")


def archive_filename(source: ProductSource, name: str) -> str:
    """The file name a product is stored and downloaded as (``NAME.zip`` or ``NAME.nc``)."""
    if source.kind == "file":
        return source.path.name
    return f"{name}.zip"


def _write_zip(source: ProductSource, out: BinaryIO, digests: list[FileDigest] | None) -> None:
    root = source.root_name
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for member in sorted(source.names()):
            info = zipfile.ZipInfo(f"{root}/{member}", date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            stored = member.lower().endswith(_STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with (
                source.open_member(member) as src,
                archive.open(info, "w", force_zip64=True) as dst,
            ):
                if digests is None:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                    continue
                with MemberHasher(member_name(info.filename) or member) as hasher:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        hasher.update(chunk)
                    digests.append(hasher.digest())


class _ZipPipe(io.RawIOBase):
    """The reading end of the zip pipe; at end of data it re-raises any zipping failure, so
    the archive never commits a truncated product."""

    def __init__(self, source: ProductSource, digests: list[FileDigest] | None) -> None:
        read_fd, write_fd = os.pipe()
        self._errors: list[BaseException] = []
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._thread = threading.Thread(
            target=self._produce,
            args=(source, write_fd, digests),
            name="eohub-zip",
            daemon=True,
        )
        self._thread.start()

    def _produce(
        self, source: ProductSource, write_fd: int, digests: list[FileDigest] | None
    ) -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=_CHUNK) as out:
                _write_zip(source, out, digests)
        except BaseException as exc:  # handed to the reading side
            self._errors.append(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._reader.readinto(buffer)
        if not n:
            self._thread.join()
            if self._errors:
                raise self._errors[0]
        return n or 0

    def close(self) -> None:
        if not self.closed:
            self._reader.close()  # unblocks the writer if the consumer stopped early
            self._thread.join()
        super().close()


@contextmanager
def product_stream(
    source: ProductSource, digests: list[FileDigest] | None = None
) -> Iterator[BinaryIO]:
    """A readable stream of the product as stored: the original file, or a zip of the folder.

    A failure while zipping is raised by the stream's ``read`` at the end of the data, before
    the consumer can take the stream as complete. A folder's files get their digests appended
    to ``digests`` as they are zipped: the list is complete once the stream was read to its end.
    """
    if source.kind in ("zip", "file"):
        with open(source.path, "rb") as fh:
            yield fh
        return
    pipe = _ZipPipe(source, digests)
    with io.BufferedReader(pipe, buffer_size=_CHUNK) as stream:
        yield stream  # type: ignore[misc]


def input_file_digests(source: ProductSource) -> list[FileDigest]:
    """The digests of the files of a zipped input, in one pass over it; empty for a folder
    (hashed while zipped, see :func:`product_stream`) and for a single-file product (its own
    checksums are the product's). A corrupt member rejects the product."""
    if source.kind != "zip":
        return []
    try:
        with open(source.path, "rb") as fh:
            return list(digest_zip(fh))
    except ZipDigestError as exc:
        raise source.reject(str(exc)) from None


def folder_is_product(path: Path) -> bool:
    """True for a SAFE/SEN3 product folder (as opposed to a folder of products)."""
    return path.is_dir() and path.suffix.upper() in (".SAFE", ".SEN3")
