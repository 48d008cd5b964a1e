"""The archive in a local directory (the embedded default).

Layout under ``root``::

    <key>                          the object's bytes, e.g. ab/cd/<uuid>/S2A_....zip
    .eohub-meta/<key>.json         its size, inode, mtime, MD5 and BLAKE3 (a sidecar)
    .eohub-tmp/<random>.partial    an upload in progress, or left by a crash

An upload is written and hashed into ``.eohub-tmp``, fsynced, then renamed over the key, so the
key only ever shows a complete object. The sidecar is renamed into place just before the data;
a sidecar that does not match its file (a crash between the two renames, or a file put there by
hand) is detected by size, inode and mtime, and the checksums are computed again.
``adopt`` takes a complete file its caller wrote and hashed (a synchroniser's download) the same
way, by renaming it in place of writing it again: fsynced, sidecar, rename.
Sidecars rather than extended attributes, because NFS and older tmpfs have no user xattrs.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import stat as stat_module
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from eohub.storage.checksums import Digests, DualHasher, digest_stream, read_into
from eohub.storage.errors import (
    IncompleteWrite,
    ObjectNotFound,
    StorageBackendError,
    StorageError,
    StorageFull,
)
from eohub.storage.ports import ByteRange, StoredObject, validate_key, validate_prefix
from eohub.storage.writeback import WriteBehind

_TMP = ".eohub-tmp"
_META = ".eohub-meta"
_PARTIAL = ".partial"
_CHUNK = 1 << 20
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_THERE = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn an OSError of our own I/O into a StorageError that says what failed."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in _NO_SPACE:
            raise StorageFull(f"no space left in the archive while {action}") from exc
        raise StorageBackendError(f"archive I/O error while {action}: {reason}") from exc


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _modified(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


class FilesystemStore:
    """An ``ObjectStore`` in a local directory: atomic puts, constant memory, ranged reads."""

    def __init__(self, root: Path, *, fsync: bool = True, chunk_size: int = _CHUNK) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.chunk_size = chunk_size
        self._tmp = self.root / _TMP
        self._meta = self.root / _META
        with _translated(f"creating the archive folder {self.root}"):
            self._tmp.mkdir(parents=True, exist_ok=True)
            self._meta.mkdir(exist_ok=True)

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r})"

    # -- writing ---------------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, expected_size: int | None = None) -> StoredObject:
        """Store the stream under ``key`` atomically, with MD5 and BLAKE3 computed on the way."""
        key = validate_key(key)
        target, meta = self._path(key), self._meta_path(key)
        partial = self._tmp / f"{uuid.uuid4().hex}{_PARTIAL}"
        meta_partial = partial.with_suffix(".json" + _PARTIAL)
        try:
            with _translated(f"creating a temporary file for {key!r}"):
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                try:
                    fd = os.open(partial, flags, 0o644)
                except FileNotFoundError:  # the temporary folder was removed behind our back
                    self._tmp.mkdir(parents=True, exist_ok=True)
                    fd = os.open(partial, flags, 0o644)
            try:
                with WriteBehind(fd, durable=self.fsync) as behind:
                    digests = self._write(fd, key, stream, expected_size, behind)
                    with _translated(f"flushing {key!r} to disk"):
                        behind.finish()
                        st = os.fstat(fd)
            finally:
                os.close(fd)
            with _translated(f"writing the checksums of {key!r}"):
                self._write_meta(meta_partial, digests, st)
            with _translated(f"moving {key!r} into place"):
                # The object first: a crash between the two renames leaves an object whose
                # sidecar is missing or stale (recomputed on stat), never a sidecar alone.
                self._move_into_place(partial, target)
                self._move_into_place(meta_partial, meta)
                if self.fsync:
                    _fsync_dir(target.parent)
        except BaseException:
            for leftover in (partial, meta_partial):
                with suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise
        return StoredObject(key, digests.size, digests.md5, digests.blake3, _modified(st))

    def adopt(self, key: str, path: Path, size: int, md5: str, blake3: str) -> StoredObject | None:
        """Take the complete file at ``path`` as the object ``key`` by renaming it: no copy.

        The caller vouches for ``md5`` and ``blake3`` (computed while it wrote the file); the
        size is checked. Atomic as ``put``: the file is fsynced, its sidecar written, then both
        are renamed into place. None, with nothing moved, when ``path`` is on another file
        system than the archive.
        """
        key = validate_key(key)
        target, meta = self._path(key), self._meta_path(key)
        meta_partial = self._tmp / f"{uuid.uuid4().hex}.json{_PARTIAL}"
        try:
            with _translated(f"flushing {key!r} to disk"):
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if self.fsync:
                        os.fsync(fd)
                    st = os.fstat(fd)
                finally:
                    os.close(fd)
            if st.st_size != size:
                raise IncompleteWrite(
                    f"{path} has {st.st_size} bytes, not the expected {size}; nothing stored"
                )
            with _translated(f"writing the checksums of {key!r}"):
                self._write_meta(meta_partial, Digests(size, md5, blake3), st)
            with _translated(f"moving {key!r} into place"):
                try:
                    self._move_into_place(path, target)
                except OSError as exc:
                    if exc.errno == errno.EXDEV:
                        return None
                    raise
                self._move_into_place(meta_partial, meta)
                if self.fsync:
                    _fsync_dir(target.parent)
        finally:
            with suppress(OSError):
                meta_partial.unlink(missing_ok=True)
        return StoredObject(key, size, md5, blake3, _modified(st))

    def _write(
        self, fd: int, key: str, stream: BinaryIO, expected: int | None, behind: WriteBehind
    ) -> Digests:
        """Copy the stream into ``fd`` while hashing it; memory stays two reused chunks.

        Two buffers alternate because MD5 may still be reading one while the next is filled.
        ``behind`` flushes what is written in steps (``writeback``) when the store fsyncs.
        """
        # A small object of known size needs no full-size buffers (zero-filling two chunks
        # costs more than storing a thumbnail); one spare byte still detects a longer stream.
        size_hint = self.chunk_size if expected is None else min(self.chunk_size, expected + 1)
        buffers = (memoryview(bytearray(size_hint)), memoryview(bytearray(size_hint)))
        with DualHasher() as hasher:
            size = 0
            for turn in itertools.count():
                buffer = buffers[turn % 2]
                count = read_into(stream, buffer, repr(key))
                if not count:
                    break
                size += count
                if expected is not None and size > expected:
                    raise IncompleteWrite(
                        f"stream for {key!r} is longer than the expected {expected} bytes; "
                        "nothing stored"
                    )
                chunk = buffer[:count]
                hasher.update(chunk)
                with _translated(f"writing {key!r}"):
                    _write_all(fd, chunk)
                    behind.advance(count)
            if expected is not None and size != expected:
                raise IncompleteWrite(
                    f"stream for {key!r} ended after {size} of the expected {expected} bytes; "
                    "nothing stored"
                )
            return hasher.digests()

    def _move_into_place(self, source: Path, destination: Path) -> None:
        # Rename first and create the folders only when missing: most renames land in an
        # existing folder, and folder creation is a slow metadata operation on many disks.
        # A concurrent delete may prune the (empty) parent between mkdir and rename: retry.
        for attempt in range(4):
            try:
                os.replace(source, destination)
                return
            except FileNotFoundError:
                if attempt == 3 or not source.exists():
                    raise
                destination.parent.mkdir(parents=True, exist_ok=True)
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                raise StorageError(
                    f"key {self._key_of(destination)!r} clashes with an existing folder or "
                    "object of the local archive (one key cannot be both an object and a folder)"
                ) from exc

    def _write_meta(self, path: Path, digests: Digests, st: os.stat_result) -> None:
        record = {
            "size": digests.size,
            "ino": st.st_ino,
            "mtime_ns": st.st_mtime_ns,
            "md5": digests.md5,
            "blake3": digests.blake3,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            # No fsync: a sidecar lost or stale after a power cut no longer matches the file's
            # identity (size, inode, mtime) and the checksums are recomputed (_rehash).
            _write_all(fd, json.dumps(record).encode())
        finally:
            os.close(fd)

    # -- reading ---------------------------------------------------------------------------

    def open(
        self, key: str, byte_range: ByteRange | None = None, *, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Stream the object or an inclusive byte range of it."""
        if chunk_size <= 0:
            raise StorageError(f"chunk size must be positive, not {chunk_size}")
        handle = self._open_raw(key)
        try:
            with _translated(f"reading {key!r}"):
                size = os.fstat(handle.fileno()).st_size
                start, length = 0, size
                if byte_range is not None:
                    if byte_range.end >= size:
                        raise StorageError(
                            f"byte range {byte_range.start}-{byte_range.end} is past the end "
                            f"of {key!r} ({size} bytes)"
                        )
                    start, length = byte_range.start, byte_range.length
                    handle.seek(start)
                os.posix_fadvise(handle.fileno(), start, length, os.POSIX_FADV_SEQUENTIAL)
        except BaseException:
            handle.close()
            raise
        return self._chunks(handle, key, length, chunk_size)

    @staticmethod
    def _chunks(handle: BinaryIO, key: str, length: int, chunk_size: int) -> Iterator[bytes]:
        with handle:
            while length > 0:
                with _translated(f"reading {key!r}"):
                    chunk = handle.read(min(chunk_size, length))
                if not chunk:
                    raise StorageBackendError(f"{key!r} became shorter while being read")
                length -= len(chunk)
                yield chunk

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start``; empty past the end."""
        if start < 0 or length < 0:
            raise StorageError(f"invalid read of {length} bytes at {start}: both must be >= 0")
        with self._open_raw(key) as handle, _translated(f"reading {key!r}"):
            parts: list[bytes] = []
            while length > 0:
                part = os.pread(handle.fileno(), length, start)
                if not part:
                    break
                parts.append(part)
                start += len(part)
                length -= len(part)
            return b"".join(parts)

    def open_file(self, key: str) -> BinaryIO:
        """The object as a seekable read-only binary file."""
        return self._open_raw(key)

    def _open_raw(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except _NOT_THERE as exc:
            raise ObjectNotFound(key, where=str(self.root)) from exc
        except OSError as exc:
            raise StorageBackendError(f"cannot open {key!r}: {exc.strerror or exc}") from exc
        if not stat_module.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise ObjectNotFound(key, where=str(self.root))
        return handle

    def stat(self, key: str) -> StoredObject | None:
        """Size, checksums and time, or None when nothing is stored under ``key``."""
        path = self._path(key)
        try:
            st = path.stat()
        except _NOT_THERE:
            return None
        except OSError as exc:
            raise StorageBackendError(f"cannot stat {key!r}: {exc.strerror or exc}") from exc
        if not stat_module.S_ISREG(st.st_mode):
            return None
        checksums = self._read_meta(key, st)
        if checksums is None:
            return self._rehash(key, st)
        return StoredObject(key, st.st_size, checksums[0], checksums[1], _modified(st))

    def _read_meta(self, key: str, st: os.stat_result) -> tuple[str, str] | None:
        """(md5, blake3) from the sidecar if it describes this very file, else None."""
        try:
            record = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        identity = (record.get("size"), record.get("ino"), record.get("mtime_ns"))
        md5, blake3 = record.get("md5"), record.get("blake3")
        if identity != (st.st_size, st.st_ino, st.st_mtime_ns):
            return None
        if not isinstance(md5, str) or not isinstance(blake3, str):
            return None
        return md5, blake3

    def _rehash(self, key: str, st: os.stat_result) -> StoredObject | None:
        """Compute the checksums of a file with no matching sidecar, and record them."""
        try:
            with self._open_raw(key) as handle, _translated(f"hashing {key!r}"):
                digests = digest_stream(handle, self.chunk_size)
                now = os.fstat(handle.fileno())
        except ObjectNotFound:
            return None
        if (now.st_size, now.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            raise StorageBackendError(f"{key!r} changed while its checksums were computed")
        partial = self._tmp / f"{uuid.uuid4().hex}.json{_PARTIAL}"
        with suppress(OSError):  # recording is an optimisation; the answer is right anyway
            self._write_meta(partial, digests, now)
            self._move_into_place(partial, self._meta_path(key))
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        return StoredObject(key, digests.size, digests.md5, digests.blake3, _modified(now))

    # -- removing and listing --------------------------------------------------------------

    def delete(self, key: str) -> bool:
        """Remove the object and its sidecar, and the folders this leaves empty.

        The sidecar goes first: a crash in between leaves an object without a sidecar (its
        checksums are recomputed on stat), never a sidecar describing nothing.
        """
        path, meta = self._path(key), self._meta_path(key)
        try:
            if not stat_module.S_ISREG(path.stat().st_mode):
                return False
        except _NOT_THERE:
            return False
        except OSError as exc:
            raise StorageBackendError(f"cannot delete {key!r}: {exc.strerror or exc}") from exc
        with suppress(OSError):
            meta.unlink(missing_ok=True)
        try:
            path.unlink()
        except _NOT_THERE:
            return False
        except OSError as exc:
            raise StorageBackendError(f"cannot delete {key!r}: {exc.strerror or exc}") from exc
        self._prune(path.parent, self.root)
        self._prune(meta.parent, self._meta)
        return True

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        while folder != stop and stop in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key starting with ``prefix``, walking only the folders that can match."""
        prefix = validate_prefix(prefix)
        folders = prefix.split("/")[:-1]
        start = self.root.joinpath(*folders)
        base = "/".join(folders) + "/" if folders else ""
        yield from self._walk(start, base, prefix)

    def _walk(self, folder: Path, base: str, prefix: str) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except _NOT_THERE:
            return
        except OSError as exc:
            raise StorageBackendError(f"cannot list {folder}: {exc.strerror or exc}") from exc
        for entry in entries:
            name = base + entry.name
            if not base and entry.name in (_TMP, _META):
                continue
            if entry.is_dir(follow_symlinks=False):
                if (name + "/").startswith(prefix) or prefix.startswith(name + "/"):
                    yield from self._walk(Path(entry.path), name + "/", prefix)
            elif entry.is_file() and name.startswith(prefix):
                yield name

    def cleanup_partials(self, min_age_seconds: float = 0.0) -> int:
        """Remove uploads left in ``.eohub-tmp`` by a crash; returns how many were removed.

        Give ``min_age_seconds`` when other processes may be uploading at the same time.
        """
        removed = 0
        limit = time.time() - min_age_seconds
        with _translated("listing partial uploads"):
            entries = list(os.scandir(self._tmp))
        for entry in entries:
            if not entry.name.endswith(_PARTIAL):
                continue
            with suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime <= limit:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    # -- paths -----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _meta_path(self, key: str) -> Path:
        return self._meta.joinpath(*key.split("/")).with_name(key.rsplit("/", 1)[-1] + ".json")

    def _key_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
