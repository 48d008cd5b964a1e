"""Stored file checksums (``eohub.model.files``): the row body both backends keep.

Why the catalogue and not a sidecar object next to the product in the archive: the manifest is
written in one small transaction keyed by the product Id and is removed with the product
(PostGIS: ON DELETE CASCADE; SQLite: in the delete's transaction), so every path that deletes,
evicts or replaces a product (sync, eviction, OData deletion, reprocessing) needs no change and
leaves nothing behind for ``fsck`` to call an orphan; a product page reads it with one lookup
by primary key instead of one more object GET. The row also names the archive object it
describes, and the catalogue serves it only while the product still points to that object.

The body is the list of ``[path, size, md5, blake3]`` as JSON, zlib-compressed (member paths
repeat their folders and compress well; a Sentinel-2 product of ~150 files takes ~8 KB).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import orjson

from eohub.model.files import FileDigest

FORMAT_VERSION = 1


def encode_files(files: Sequence[FileDigest]) -> bytes:
    """The stored body of a manifest's files."""
    rows = [[f.path, f.size, f.md5, f.blake3] for f in files]
    return zlib.compress(orjson.dumps({"v": FORMAT_VERSION, "f": rows}), 6)


def decode_files(body: bytes) -> tuple[FileDigest, ...]:
    """The files of a body made by :func:`encode_files`."""
    doc = orjson.loads(zlib.decompress(body))
    return tuple(FileDigest(str(p), int(s), str(m), str(b)) for p, s, m, b in doc["f"])
