"""A copy synchroniser's partial downloads, kept on disk so a transfer survives a restart.

Each synchroniser has a folder of its own (``<data_dir>/sync-downloads/<synchroniser id>``)::

    <product id>.json   what the bytes are: the upstream's size, MD5, BLAKE3 and validator
    <product id>.part   the bytes received so far, from byte 0
    <product id>.archived   the archive key the verified bytes went to, until catalogued
    <product id>.keys   every archive key stored for the product (bytes, quicklook, thumbnail)
                        since it was last catalogued, each written before its object

A transfer writes the remote's bytes into the ``.part`` file while MD5 and BLAKE3 are computed
(two reused 1 MiB buffers: memory stays flat); a complete file is then handed to the archive,
which adopts it by renaming when it can (the local archive on the same file system: the bytes
are written once) or copies it. After a kill the next try hashes the bytes already there again
and asks the remote for the rest: ``Range: bytes=<have>-`` with ``If-Range``.

Crash safety, whatever step a kill -9 interrupts:

- the sidecar is renamed into place before the first byte is written, and again (after the
  ``.part`` file was emptied) before byte 0 of a product the remote sent again whole;
- a ``.part`` file without a readable sidecar, or whose sidecar describes other upstream bytes
  (another size or checksum in the remote's listing), is discarded and the product fetched from
  byte 0; bytes are only ever appended, so what is there is a prefix of one version;
- the complete file is verified against the upstream's checksums by the caller before the
  archive takes it; a mismatch discards both files (:meth:`DownloadFolder.discard`).
- the archived note is written before the archive takes the file and removed once the
  product is catalogued; a run killed in between leaves it, and the next run hashes the
  noted object again and catalogues it rather than download the product again.

One process at a time uses a folder (:meth:`DownloadFolder.claimed`, an ``flock`` released by
the kernel when the process dies), so two runs of one synchroniser never write the same file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

from eohub.errors import Conflict
from eohub.storage.checksums import Digests, DualHasher
from eohub.storage.errors import StorageBackendError, StorageFull
from eohub.storage.writeback import WriteBehind
from eohub.sync.remote import RemoteHub
from eohub.sync.transfer import ResumingReader, TransferError

log = logging.getLogger("eohub.sync")

_CHUNK = 1 << 20
_FLUSH_STEP = 8 << 20
_PART = ".part"
_SIDECAR = ".json"
_ARCHIVED = ".archived"
_KEYS = ".keys"


class DownloadsBusy(Conflict):
    """Another process holds the synchroniser's download folder (it runs the synchroniser)."""

    code = "sync_busy"


@dataclass(frozen=True)
class Expected:
    """What the remote's listing says of a product's bytes (checksums lower-case hex)."""

    size: int
    md5: str | None = None
    blake3: str | None = None


@dataclass(frozen=True)
class Received:
    """A complete download: its file and what was computed while it was written."""

    path: Path
    digests: Digests  # an empty MD5 when it was not computed (``fetch(md5=False)``)
    resumed_at: int  # bytes kept from an earlier try (0: from the first byte)
    resumes: int  # Range requests answered from their offset in this try
    restarts: int  # Range requests the remote answered with the whole product


@dataclass(frozen=True)
class _Sidecar:
    size: int
    md5: str | None
    blake3: str | None
    validator: str | None  # ETag or Last-Modified of the bytes in the .part file

    def describes(self, expected: Expected) -> bool:
        return (self.size, self.md5, self.blake3) == (expected.size, expected.md5, expected.blake3)


@dataclass(frozen=True)
class Archived:
    """A note that a product's verified bytes went into the archive as ``key``: kept until
    the product is catalogued, so a run killed in between reuses the stored object (after
    hashing it again) instead of downloading the product again."""

    key: str
    listed: Expected  # what the remote's listing said of the bytes when they were fetched


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """An OSError of the download folder as the archive's StorageError (a full disk is
    ``StorageFull``), so a product that cannot be written fails like a failed archive write."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"no space left in the download folder while {action}") from exc
        raise StorageBackendError(f"download folder I/O error while {action}: {exc}") from exc


class DownloadFolder:
    """The partial downloads of one synchroniser."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def part(self, product_id: uuid.UUID) -> Path:
        """The file of a product's bytes."""
        return self.root / f"{product_id}{_PART}"

    def _sidecar(self, product_id: uuid.UUID) -> Path:
        return self.root / f"{product_id}{_SIDECAR}"

    def _archived(self, product_id: uuid.UUID) -> Path:
        return self.root / f"{product_id}{_ARCHIVED}"

    def _keys(self, product_id: uuid.UUID) -> Path:
        return self.root / f"{product_id}{_KEYS}"

    def product_ids(self) -> list[uuid.UUID]:
        """The products with a partial file or a sidecar here."""
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found: set[uuid.UUID] = set()
        for name in names:
            stem, dot, _ = name.partition(".")
            if dot:
                with suppress(ValueError):
                    found.add(uuid.UUID(stem))
        return sorted(found)

    def have(self, product_id: uuid.UUID) -> int:
        """Bytes of the product received so far (0 when none)."""
        try:
            return self.part(product_id).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def discard(self, product_id: uuid.UUID) -> None:
        """Forget a product's partial download and its notes (the bytes first: a sidecar
        alone is inert)."""
        self.discard_partial(product_id)
        self.forget_notes(product_id)

    def discard_partial(self, product_id: uuid.UUID) -> None:
        """Forget a product's partial file and sidecar (an archived note stays)."""
        for path in (self.part(product_id), self._sidecar(product_id)):
            with suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()
        # A sidecar or note being written when the process was killed.
        for suffix in (_SIDECAR, _ARCHIVED):
            for path in self.root.glob(f"{product_id}{suffix}.*.tmp"):
                with suppress(FileNotFoundError):
                    path.unlink()

    def forget_notes(self, product_id: uuid.UUID) -> None:
        """Drop a product's archived note and list of keys (it is catalogued, or what they
        name is gone)."""
        for path in (self._archived(product_id), self._keys(product_id)):
            with suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()

    def forget_keys(self, product_id: uuid.UUID) -> None:
        """Drop a product's list of keys (its archived note stays)."""
        with suppress(FileNotFoundError, NotADirectoryError):
            self._keys(product_id).unlink()

    def note_key(self, product_id: uuid.UUID, key: str) -> None:
        """Add ``key`` to the product's list before its object is stored: a run killed
        before the product is catalogued leaves the list, and the next run removes what is
        not reused (see ``SyncService``), so a kill leaves no orphan."""
        with _translated(f"noting an archive key of {product_id}"):
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._keys(product_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, (json.dumps(key) + "\n").encode())
            finally:
                os.close(fd)

    def noted_keys(self, product_id: uuid.UUID) -> list[str]:
        """The keys in the product's list (a line cut by a kill is left out)."""
        try:
            lines = self._keys(product_id).read_bytes().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return []
        found: list[str] = []
        for line in lines:
            with suppress(ValueError):
                key = json.loads(line)
                if isinstance(key, str):
                    found.append(key)
        return found

    def note_archived(self, product_id: uuid.UUID, note: Archived) -> None:
        """Record, before the archive takes the bytes, where they go (atomically)."""
        listed = note.listed
        body = {"key": note.key, "size": listed.size, "md5": listed.md5, "blake3": listed.blake3}
        with _translated(f"noting where {product_id} is archived"):
            self._write_json(self._archived(product_id), body)

    def archived(self, product_id: uuid.UUID) -> Archived | None:
        """The archived note of a product, if a readable one is here."""
        try:
            data = json.loads(self._archived(product_id).read_bytes())
            key = data["key"]
            listed = Expected(int(data["size"]), data.get("md5"), data.get("blake3"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        sums = (listed.md5, listed.blake3)
        if not isinstance(key, str) or not all(t is None or isinstance(t, str) for t in sums):
            return None
        return Archived(key, listed)

    def remove(self) -> None:
        """Remove the folder and every partial download in it."""
        shutil.rmtree(self.root, ignore_errors=True)

    @contextmanager
    def claimed(self, label: str) -> Iterator[None]:
        """Hold the folder for this process (Conflict when another process holds it)."""
        with _translated(f"creating {self.root}"):
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DownloadsBusy(
                    f"synchroniser '{label}' is running in another process"
                ) from None
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- one download ------------------------------------------------------------------------
    def fetch(
        self, remote: RemoteHub, product_id: uuid.UUID, expected: Expected, *, md5: bool = True
    ) -> Received:
        """The product's complete bytes in :meth:`part`, resumed from what an earlier try left
        (the file stays for the next try when this one fails); their BLAKE3 computed, and
        their MD5 unless ``md5`` is false."""
        with _translated(f"preparing the download of {product_id}"):
            self.root.mkdir(parents=True, exist_ok=True)
            have, sidecar = self._resumable(product_id, expected)
            if sidecar is None:
                sidecar = _Sidecar(expected.size, expected.md5, expected.blake3, None)
                self._write_sidecar(product_id, sidecar)
            fd = os.open(self.part(product_id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            return self._fill(remote, product_id, expected, fd, have, sidecar, md5)
        finally:
            os.close(fd)

    def _resumable(self, product_id: uuid.UUID, expected: Expected) -> tuple[int, _Sidecar | None]:
        """(bytes to keep, sidecar) of an earlier try, or (0, None) once its files are gone."""
        sidecar = self._read_sidecar(product_id)
        have = self.have(product_id)
        if sidecar is not None and sidecar.describes(expected) and have <= expected.size:
            return have, sidecar
        if have or sidecar is not None:
            log.info("%s: the partial download is not of the listed bytes; discarded", product_id)
        self.discard(product_id)
        return 0, None

    def _fill(
        self,
        remote: RemoteHub,
        product_id: uuid.UUID,
        expected: Expected,
        fd: int,
        have: int,
        sidecar: _Sidecar,
        md5: bool,
    ) -> Received:
        hasher = DualHasher(md5=md5)
        # Two buffers alternate: MD5 may still be reading one while the next is filled.
        buffers = (bytearray(_CHUNK), bytearray(_CHUNK))
        turn, filled, written = 0, 0, have
        # Flushed and dropped from the page cache as it is written: the archive adopts the
        # file and nobody reads a mirrored product soon (see storage/writeback.py).
        behind = WriteBehind(fd, step=_FLUSH_STEP)
        try:
            with _translated(f"reading the partial download of {product_id}"):
                self._hash_prefix(fd, have, hasher)
                os.lseek(fd, have, os.SEEK_SET)
            reader = ResumingReader(
                remote, product_id, expected.size, start=have, validator=sidecar.validator,
                restart=True,
            )  # fmt: skip
            with reader:
                for at, piece in reader.pieces():
                    if at != written + filled:
                        if at != 0:
                            raise TransferError(f"downloading {product_id}: bytes out of order")
                        # The whole product again: its first byte must not follow old ones.
                        hasher.close()
                        hasher, filled, written = DualHasher(md5=md5), 0, 0
                        with _translated(f"emptying the partial download of {product_id}"):
                            os.ftruncate(fd, 0)
                            os.lseek(fd, 0, os.SEEK_SET)
                    if reader.validator != sidecar.validator:
                        sidecar = replace(sidecar, validator=reader.validator)
                        with _translated(f"recording the download of {product_id}"):
                            self._write_sidecar(product_id, sidecar)
                    view = memoryview(piece)
                    while view:
                        buffer = buffers[turn]
                        count = min(len(buffer) - filled, len(view))
                        buffer[filled : filled + count] = view[:count]
                        filled += count
                        view = view[count:]
                        if filled == len(buffer):
                            self._flush(fd, buffer, filled, hasher, product_id)
                            behind.advance(filled)
                            written, filled, turn = written + filled, 0, 1 - turn
            self._flush(fd, buffers[turn], filled, hasher, product_id)
            behind.advance(filled)
            with _translated(f"flushing the download of {product_id}"):
                behind.finish()
            written += filled
            if written != expected.size:
                raise TransferError(
                    f"downloading {product_id}: {written} bytes received of {expected.size}"
                )
            digests = hasher.digests()
        finally:
            behind.close()
            hasher.close()
        return Received(self.part(product_id), digests, have, reader.resumes, reader.restarts)

    @staticmethod
    def _flush(fd: int, buffer: bytearray, count: int, hasher: DualHasher, pid: uuid.UUID) -> None:
        if not count:
            return
        view = memoryview(buffer)[:count]
        hasher.update(view)
        with _translated(f"writing the download of {pid}"):
            while view:
                view = view[os.write(fd, view) :]

    @staticmethod
    def _hash_prefix(fd: int, have: int, hasher: DualHasher) -> None:
        """Hash the bytes an earlier try left (MD5 and BLAKE3 states cannot be saved)."""
        offset = 0
        while offset < have:
            chunk = os.pread(fd, min(_CHUNK, have - offset), offset)
            if not chunk:
                raise StorageBackendError("a partial download became shorter while read")
            hasher.update(chunk)
            offset += len(chunk)

    # -- sidecars ----------------------------------------------------------------------------
    def _read_sidecar(self, product_id: uuid.UUID) -> _Sidecar | None:
        try:
            data = json.loads(self._sidecar(product_id).read_bytes())
            sidecar = _Sidecar(
                int(data["size"]), data.get("md5"), data.get("blake3"), data.get("validator")
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        texts = (sidecar.md5, sidecar.blake3, sidecar.validator)
        return sidecar if all(t is None or isinstance(t, str) for t in texts) else None

    def _write_sidecar(self, product_id: uuid.UUID, sidecar: _Sidecar) -> None:
        self._write_json(self._sidecar(product_id), {
            "size": sidecar.size, "md5": sidecar.md5, "blake3": sidecar.blake3,
            "validator": sidecar.validator})  # fmt: skip

    @staticmethod
    def _write_json(path: Path, data: dict[str, object]) -> None:
        """Atomically: a kill leaves the previous file or this one, never half of one."""
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        body = json.dumps(data).encode()
        try:
            temporary.write_bytes(body)
            os.replace(temporary, path)
        finally:
            with suppress(FileNotFoundError):
                temporary.unlink()
