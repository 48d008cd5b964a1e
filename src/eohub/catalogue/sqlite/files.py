"""File checksums in the SQLite catalogue (table ``product_files``, schema version 5).

One row per product Id: the archive key the checksums describe, when they were computed
(microseconds) and the files as :mod:`eohub.catalogue.files` bytes. An upsert of the product
keeps the row (its archive key tells whether it still applies); ``delete`` removes it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from functools import partial

from eohub.catalogue.files import decode_files, encode_files
from eohub.catalogue.sqlite.codec import from_us, to_us
from eohub.catalogue.sqlite.connections import Connections
from eohub.catalogue.sqlite.sqltext import marks
from eohub.model.files import FileManifest

_CHUNK = 500


def put(conn: sqlite3.Connection, manifest: FileManifest) -> bool:
    """Store a manifest (inside the writer's transaction) if the product still points to its
    archive object."""
    row = conn.execute(
        "SELECT json_extract(CAST(extra AS TEXT), '$.k[0]') FROM products WHERE id = ?",
        (str(manifest.product_id),),
    ).fetchone()
    if row is None or row[0] != manifest.archive_key:
        return False
    conn.execute(
        "INSERT INTO product_files (id, archive_key, computed_at, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET archive_key = excluded.archive_key, "
        "computed_at = excluded.computed_at, body = excluded.body",
        (
            str(manifest.product_id),
            manifest.archive_key,
            to_us(manifest.computed_at),
            encode_files(manifest.files),
        ),
    )
    return True


def forget(conn: sqlite3.Connection, product_id: uuid.UUID) -> None:
    """Remove the manifest of a deleted product (inside the delete's transaction)."""
    conn.execute("DELETE FROM product_files WHERE id = ?", (str(product_id),))


class FileManifests:
    """The file-checksum methods of ``SQLiteCatalogue`` (see ``CatalogueBackend``)."""

    _db: Connections

    def put_files(self, manifest: FileManifest) -> bool:
        """Store the file checksums of a product's archive object while the product points
        to it; False otherwise."""
        return self._db.write(partial(put, manifest=manifest))

    def get_files(self, product_id: uuid.UUID) -> FileManifest | None:
        """The stored file checksums of a product."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT archive_key, computed_at, body FROM product_files WHERE id = ?",
                (str(product_id),),
            ).fetchone()
        if row is None:
            return None
        return FileManifest(product_id, row[0], from_us(row[1]), decode_files(bytes(row[2])))

    def files_keys(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The archive key of each stored manifest of ``product_ids``."""
        wanted = list(dict.fromkeys(str(i) for i in product_ids))
        found: dict[uuid.UUID, str] = {}
        with self._db.read() as conn:
            conn.execute("BEGIN")
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                sql = f"SELECT id, archive_key FROM product_files WHERE id IN ({marks(len(chunk))})"
                for pid, key in conn.execute(sql, chunk):
                    found[uuid.UUID(pid)] = str(key)
            conn.execute("COMMIT")
        return found
