"""Products as distributed: a folder (SAFE, SEN3), a zip of one, or a single file (netCDF).

``ProductSource.open(path)`` gives one interface over the three: member names relative to the
product root, bounded reads of metadata members and streaming reads of any member. Members of a
zip are read in place, never extracted. Hostile input (corrupt or truncated zips, path traversal,
zip bombs, links out of the folder, unreadable files) raises :class:`RejectedProduct` with one
clear reason.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import stat
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Literal

from eohub.ingest.errors import RejectedProduct

MAX_METADATA_BYTES = 64 * 1024 * 1024
"""Largest member :meth:`ProductSource.read` loads into memory (metadata, previews)."""

MAX_COMPRESSION_RATIO = 200
"""Largest uncompressed/compressed ratio accepted for a zip member (or the whole zip)."""

RATIO_CHECK_MIN_BYTES = 1024 * 1024
"""Members (and zips) smaller than this uncompressed are not held to the ratio."""

MAX_MEMBER_BYTES = 256 * 1024**3
"""Largest declared uncompressed size of one member, and of all members together."""

MAX_MEMBERS = 100_000
"""Most members a product may have."""

_PRODUCT_SUFFIXES = (".SAFE", ".SEN3", ".nc", ".NC")
_DRIVE = re.compile(r"^[A-Za-z]:")
_READ_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)

Kind = Literal["folder", "zip", "file"]


class _GuardedRaw(io.RawIOBase):
    """A raw stream that turns read failures of the wrapped stream into RejectedProduct."""

    def __init__(self, inner: IO[bytes], fail: Callable[[BaseException], RejectedProduct]) -> None:
        super().__init__()
        self._inner = inner
        self._fail = fail

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self._inner.seekable())

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _READ_ERRORS as exc:
            raise self._fail(exc) from None
        n = len(data)
        memoryview(buffer)[:n] = data
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return int(self._inner.seek(offset, whence))
        except _READ_ERRORS as exc:
            raise self._fail(exc) from None

    def tell(self) -> int:
        return int(self._inner.tell())

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class ProductSource(ABC):
    """One product as distributed; use :meth:`open` and close it (it is a context manager)."""

    kind: Kind

    def __init__(self, path: Path, root_name: str) -> None:
        self.path = path
        self.root_name = root_name
        self._names_cache: frozenset[str] | None = None

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def open(path: str | os.PathLike[str]) -> ProductSource:
        """Open a product folder, a zip of one, or a single-file product.

        Raises RejectedProduct when the path is missing, unreadable or not a sound product.
        """
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise RejectedProduct(p, "no such file or folder") from None
        except OSError as exc:
            raise RejectedProduct(p, f"cannot access it: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            return _FolderSource(p)
        if not stat.S_ISREG(st.st_mode):
            raise RejectedProduct(p, "not a regular file or folder")
        if p.suffix.lower() == ".zip" or _is_zip(p):
            return _ZipSource(p)
        return _FileSource(p)

    def __enter__(self) -> ProductSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, folders and files hold nothing open
        """Release what the source holds open."""

    # -- members ------------------------------------------------------------------------------
    @abstractmethod
    def names(self) -> list[str]:
        """Member paths relative to the product root ('/'-separated, files only, sorted)."""

    def has(self, name: str) -> bool:
        """True when the product has this member."""
        return name in self._name_set()

    def glob(self, pattern: str) -> list[str]:
        """Members whose path matches a shell pattern (``*`` does not stop at '/')."""
        return [n for n in self.names() if fnmatch.fnmatchcase(n, pattern)]

    @abstractmethod
    def size_of(self, name: str) -> int:
        """Uncompressed size in bytes of one member."""

    def read(self, name: str, *, limit: int = MAX_METADATA_BYTES) -> bytes:
        """The whole content of one member, refusing members larger than ``limit`` bytes."""
        size = self.size_of(name)
        if size > limit:
            raise self.reject(f"{name} is {size} bytes, more than the {limit} read as metadata")
        with self.open_member(name) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise self.reject(f"{name} holds more than the {limit} bytes read as metadata")
        return data

    @abstractmethod
    def open_member(self, name: str) -> BinaryIO:
        """A binary stream over one member (streaming; seekable)."""

    # -- helpers ------------------------------------------------------------------------------
    def reject(self, reason: str) -> RejectedProduct:
        """A RejectedProduct naming this source."""
        return RejectedProduct(self.path, reason)

    def _name_set(self) -> frozenset[str]:
        if self._names_cache is None:
            self._names_cache = frozenset(self.names())
        return self._names_cache

    def _check_member(self, name: str) -> None:
        if name not in self._name_set():
            raise self.reject(f"missing member {name}")

    def _guard(self, name: str, stream: IO[bytes]) -> BinaryIO:
        def fail(exc: BaseException) -> RejectedProduct:
            return self.reject(f"cannot read {name}: {_describe(exc)}")

        return io.BufferedReader(_GuardedRaw(stream, fail))


class _FolderSource(ProductSource):
    kind: Kind = "folder"

    def __init__(self, path: Path) -> None:
        super().__init__(path, path.resolve().name)
        self._root = path.resolve()
        self._files = self._scan()

    def _scan(self) -> list[str]:
        found: list[str] = []
        for dirpath, _dirs, files in os.walk(self._root, onerror=self._walk_error):
            for fname in files:
                full = Path(dirpath) / fname
                rel = full.relative_to(self._root).as_posix()
                try:
                    mode = full.stat().st_mode
                except OSError:
                    mode = stat.S_IFREG  # dangling link: reading it reports the reason
                if not stat.S_ISREG(mode):
                    raise self.reject(f"{rel} is not a regular file")
                if full.is_symlink():
                    target = full.resolve()
                    if not target.is_relative_to(self._root):
                        raise self.reject(f"{rel} is a link that points outside the product")
                found.append(rel)
                if len(found) > MAX_MEMBERS:
                    raise self.reject(f"more than {MAX_MEMBERS} files")
        return sorted(found)

    def _walk_error(self, exc: OSError) -> None:
        raise self.reject(f"cannot list {exc.filename}: {exc.strerror or exc}")

    def names(self) -> list[str]:
        return list(self._files)

    def size_of(self, name: str) -> int:
        self._check_member(name)
        try:
            return (self._root / name).stat().st_size
        except OSError as exc:
            raise self.reject(f"cannot read {name}: {_describe(exc)}") from None

    def open_member(self, name: str) -> BinaryIO:
        self._check_member(name)
        try:
            stream = (self._root / name).open("rb")
        except OSError as exc:
            raise self.reject(f"cannot read {name}: {_describe(exc)}") from None
        return self._guard(name, stream)


class _FileSource(ProductSource):
    kind: Kind = "file"

    def __init__(self, path: Path) -> None:
        super().__init__(path, path.name)

    def names(self) -> list[str]:
        return [self.root_name]

    def size_of(self, name: str) -> int:
        self._check_member(name)
        try:
            return self.path.stat().st_size
        except OSError as exc:
            raise self.reject(f"cannot read it: {_describe(exc)}") from None

    def open_member(self, name: str) -> BinaryIO:
        self._check_member(name)
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise self.reject(f"cannot read it: {_describe(exc)}") from None
        return self._guard(name, stream)


class _ZipSource(ProductSource):
    kind: Kind = "zip"

    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise RejectedProduct(path, f"corrupt or truncated zip ({exc})") from None
        except OSError as exc:
            raise RejectedProduct(path, f"cannot read the zip: {_describe(exc)}") from None
        try:
            prefix, members = self._members(path)
        except RejectedProduct:
            self._zip.close()
            raise
        self._members_by_name = members
        super().__init__(path, prefix or _flat_root_name(path, list(members)))

    def _members(self, path: Path) -> tuple[str, dict[str, zipfile.ZipInfo]]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise RejectedProduct(path, f"more than {MAX_MEMBERS} members")
        files: dict[str, zipfile.ZipInfo] = {}
        tops: set[str] = set()
        total = 0
        for info in infos:
            name = _safe_member_name(path, info.filename)
            if not name:
                continue
            tops.add(name.split("/", 1)[0])
            if info.is_dir():
                continue
            _check_sizes(path, name, info)
            if name in files:
                raise RejectedProduct(path, f"duplicate member {name}")
            files[name] = info
            total += info.file_size
        archive = max(path.stat().st_size, 1)
        if total > MAX_MEMBER_BYTES:
            raise RejectedProduct(path, f"declares {total} bytes in all: a zip bomb")
        if total > RATIO_CHECK_MIN_BYTES and total > MAX_COMPRESSION_RATIO * archive:
            raise RejectedProduct(
                path, f"declares {total} bytes in a {archive}-byte zip: a zip bomb"
            )
        if not files:
            raise RejectedProduct(path, "the zip holds no file")
        # A zip of a product folder has that folder as its only top-level entry.
        if len(tops) == 1:
            top = next(iter(tops))
            if all(n.startswith(top + "/") for n in files):
                cut = len(top) + 1
                return top, {n[cut:]: i for n, i in files.items()}
        return "", files

    def close(self) -> None:
        self._zip.close()

    def names(self) -> list[str]:
        return sorted(self._members_by_name)

    def size_of(self, name: str) -> int:
        self._check_member(name)
        return self._members_by_name[name].file_size

    def open_member(self, name: str) -> BinaryIO:
        self._check_member(name)
        try:
            stream = self._zip.open(self._members_by_name[name])
        except _READ_ERRORS as exc:
            raise self.reject(f"cannot read {name}: {_describe(exc)}") from None
        return self._guard(name, stream)


def _is_zip(path: Path) -> bool:
    """A zip by its first bytes (``zipfile.is_zipfile`` also matches files that merely
    contain an end-of-archive record somewhere in their last 64 KiB, e.g. some netCDF)."""
    try:
        with path.open("rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def _safe_member_name(path: Path, raw: str) -> str:
    """The normalised member name, or RejectedProduct for absolute or escaping names."""
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise RejectedProduct(path, f"member name with a NUL byte: {raw!r}")
    if name.startswith("/") or _DRIVE.match(name):
        raise RejectedProduct(path, f"absolute member path {raw!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise RejectedProduct(path, f"member path {raw!r} escapes the product (path traversal)")
    return "/".join(parts)


def _check_sizes(path: Path, name: str, info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise RejectedProduct(path, f"member {name} is encrypted")
    if info.file_size > MAX_MEMBER_BYTES:
        raise RejectedProduct(path, f"member {name} declares {info.file_size} bytes: a zip bomb")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise RejectedProduct(path, f"member {name} declares inconsistent sizes")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
        raise RejectedProduct(
            path,
            f"member {name} expands {ratio:.0f} times (more than {MAX_COMPRESSION_RATIO}): "
            "a zip bomb",
        )


def _flat_root_name(path: Path, members: list[str]) -> str:
    """Root name of a zip whose root is the product folder itself (or a single-file product)."""
    if len(members) == 1 and "/" not in members[0] and members[0].endswith(_PRODUCT_SUFFIXES):
        return members[0]
    stem = path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name
    if stem.endswith(_PRODUCT_SUFFIXES):
        return stem
    if "manifest.safe" in members:
        return stem + ".SAFE"
    if "xfdumanifest.xml" in members:
        return stem + ".SEN3"
    return stem


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, zipfile.BadZipFile | zlib.error | EOFError):
        return f"corrupt or truncated data ({exc})"
    return str(exc) or type(exc).__name__
