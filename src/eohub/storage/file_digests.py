"""Checksums of the files inside a zipped product, in one sequential pass over the zip.

Members are read in the order of their data in the zip (their local header offsets), each
decompressed and hashed chunk by chunk, so the zip is read front to back once and no member is
ever held in memory whole. ``zipfile`` checks each member's CRC-32 at its end: a corrupt member
is a ``ZipDigestError`` naming it, never a checksum of damaged bytes.

Works on any seekable binary file: a local zip being ingested, or an archive object opened
with ``ObjectStore.open_file`` (ranged reads on S3) by ``eohub fsck --repair``.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import BinaryIO

from eohub.model.files import FileDigest
from eohub.storage.checksums import DualHasher

CHUNK = 1 << 20
MAX_FILES = 200_000  # as many entries as the OData Nodes list


class ZipDigestError(Exception):
    """The zip or one of its members cannot be read (corrupt, truncated, unsupported)."""


class MemberHasher:
    """MD5 and BLAKE3 of one file as it is written somewhere else (the ingest's zip writer);
    close it (or use it as a context manager) to release the MD5 helper."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._hasher = DualHasher()

    def update(self, data: bytes) -> None:
        """Add the next bytes of the file (not modified afterwards by the caller)."""
        self._hasher.update(data)

    def digest(self) -> FileDigest:
        """The digest of everything added so far."""
        sums = self._hasher.digests()
        return FileDigest(self.path, sums.size, sums.md5, sums.blake3)

    def close(self) -> None:
        """Wait for a pending MD5 update (idempotent)."""
        self._hasher.close()

    def __enter__(self) -> MemberHasher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def member_name(raw: str) -> str | None:
    """The node path of a zip entry (as the OData Nodes read it), None for a skipped entry."""
    name = raw.strip("/")
    if not name or ".." in name.split("/"):
        return None
    return name


def digest_zip(handle: BinaryIO, *, max_files: int = MAX_FILES) -> tuple[FileDigest, ...]:
    """The digests of every file of the zip read from ``handle``, sorted by path."""
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if len(infos) > max_files:
                raise ZipDigestError(f"the zip has more than {max_files} files")
            found: dict[str, FileDigest] = {}
            for info in sorted(infos, key=lambda i: i.header_offset):
                name = member_name(info.filename)
                if name is None or name in found:
                    continue
                found[name] = _digest_member(archive, info, name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        raise ZipDigestError(f"the zip cannot be read: {exc}") from None
    return tuple(found[name] for name in sorted(found))


def _digest_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> FileDigest:
    with MemberHasher(name) as hasher:
        try:
            with archive.open(info) as member:
                while chunk := member.read(CHUNK):  # a new bytes object each time
                    hasher.update(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ZipDigestError(f"member {name} is corrupt: {exc}") from None
        return hasher.digest()
