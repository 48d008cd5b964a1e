"""Browsing inside a stored product (``Products('id')/Nodes('X.SAFE')/Nodes('manifest.safe')``).

A zipped product is read through ``zipfile`` on a seekable file of the archive: only the
central directory and the asked member are read, never the whole product. Any other object (a
netCDF product) is a single node holding the whole object. The root node of a zip is its
top-level folder (``NAME.SAFE``, ``NAME.SEN3``), as DHuS skips the zip node itself.
"""

from __future__ import annotations

import mimetypes
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

from eohub.protocols.dhus.odata_v1.errors import ODataError

OpenFile = Callable[[], BinaryIO]
MAX_MEMBERS = 200_000  # a product with more entries is refused rather than listed
_TYPES = {".safe": "application/xml", ".xml": "application/xml", ".nc": "application/x-netcdf",
          ".jp2": "image/jp2", ".tif": "image/tiff", ".tiff": "image/tiff",
          ".jpg": "image/jpeg", ".png": "image/png", ".kml": "application/vnd.google-earth.kml+xml",
          ".html": "text/html", ".pdf": "application/pdf"}  # fmt: skip


@dataclass(frozen=True)
class NodeInfo:
    """One file or folder of a product; ``member`` is its zip member name (None: whole object)."""

    name: str
    member: str | None
    is_dir: bool
    size: int
    children: int
    crc: int = 0

    @property
    def content_type(self) -> str:
        """The media type of the file (folders: application/octet-stream)."""
        if self.is_dir:
            return "application/octet-stream"
        lower = self.name.lower()
        for suffix, kind in _TYPES.items():
            if lower.endswith(suffix):
                return kind
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


class ProductTree:
    """The files and folders of one stored product object."""

    def __init__(self, object_name: str, size: int, open_file: OpenFile) -> None:
        self.object_name = object_name
        self.size = size
        self._open_file = open_file
        self._zipped = object_name.lower().endswith(".zip")
        self._entries: dict[str, NodeInfo] | None = None
        self._children: dict[str, list[str]] = {}

    # -- listing --------------------------------------------------------------------------------
    def _load(self) -> dict[str, NodeInfo]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, NodeInfo] = {}
        if not self._zipped:
            entries[self.object_name] = NodeInfo(self.object_name, None, False, self.size, 0)
            self._children[""] = [self.object_name]
            self._entries = entries
            return entries
        files: dict[str, tuple[int, int]] = {}
        dirs: set[str] = set()
        with ExitStack() as stack:
            handle = stack.enter_context(self._open_file())
            try:
                archive = stack.enter_context(zipfile.ZipFile(handle))
            except (zipfile.BadZipFile, ValueError, OSError) as exc:
                raise ODataError(500, f"product archive cannot be read: {exc}") from None
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ODataError(500, f"product archive has more than {MAX_MEMBERS} entries")
            for info in infos:
                name = info.filename.strip("/")
                if not name or ".." in name.split("/"):
                    continue
                if info.is_dir():
                    dirs.add(name)
                else:
                    files[name] = (info.file_size, info.CRC)
                parts = name.split("/")
                dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
        children: dict[str, list[str]] = {}
        for path in sorted(dirs | set(files)):
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            children.setdefault(parent, []).append(path)
        for path in dirs - set(files):
            entries[path] = NodeInfo(path.rsplit("/", 1)[-1], path, True, 0,
                                     len(children.get(path, [])))  # fmt: skip
        for path, (size, crc) in files.items():
            entries[path] = NodeInfo(path.rsplit("/", 1)[-1], path, False, size, 0, crc)
        self._children = children
        self._entries = entries
        return entries

    def roots(self) -> list[NodeInfo]:
        """The top-level nodes (for a zipped product, its ``NAME.SAFE`` folder)."""
        entries = self._load()
        return [entries[p] for p in self._children.get("", [])]

    def children(self, node: NodeInfo) -> list[NodeInfo]:
        """The nodes inside a folder node."""
        entries = self._load()
        key = node.member if node.member is not None else ""
        if not node.is_dir:
            return []
        return [entries[p] for p in self._children.get(key, [])]

    def resolve(self, names: Sequence[str]) -> NodeInfo:
        """The node reached by a chain of names from the roots; 404 if there is none."""
        level = self.roots()
        node: NodeInfo | None = None
        for depth, name in enumerate(names):
            node = next((n for n in level if n.name == name), None)
            if node is None:
                where = "/".join(names[:depth]) or "the product"
                raise ODataError(
                    404, f"Invalid key ({name}) to access Nodes of {where}",
                    cause="InvalidKeyException",
                )  # fmt: skip
            level = self.children(node)
        assert node is not None
        return node

    # -- bytes ----------------------------------------------------------------------------------
    def iter_member(
        self, node: NodeInfo, start: int, length: int, chunk_size: int = 1 << 18
    ) -> Iterator[bytes]:
        """Stream ``length`` bytes from ``start`` of a file inside the zip (decompressed)."""
        assert node.member is not None and not node.is_dir
        with self._open_file() as handle, zipfile.ZipFile(handle) as archive:
            with archive.open(node.member) as member:
                if start:
                    member.seek(start)
                left = length
                while left > 0:
                    chunk = member.read(min(chunk_size, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk
