"""File checksums in the PostGIS catalogue (table ``product_files``, migration 0005).

One row per product Id (deleted with the product by ON DELETE CASCADE): the archive key the
checksums describe, when they were computed and the files as :mod:`eohub.catalogue.files`
bytes. The upsert's ``ON CONFLICT DO UPDATE`` keeps the product row, so the manifest stays;
its archive key tells whether it still applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from eohub.catalogue.files import decode_files, encode_files
from eohub.catalogue.postgis.connection import Conn, Database
from eohub.model.files import FileManifest

_PUT = (
    "INSERT INTO product_files (id, archive_key, computed_at, body) "
    "SELECT %(id)s, %(key)s, %(at)s, %(body)s "
    "WHERE EXISTS (SELECT 1 FROM products WHERE id = %(id)s AND archive_key = %(key)s) "
    "ON CONFLICT (id) DO UPDATE SET archive_key = EXCLUDED.archive_key, "
    "computed_at = EXCLUDED.computed_at, body = EXCLUDED.body"
)


def _put(conn: Conn, manifest: FileManifest) -> bool:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            _PUT,
            {
                "id": manifest.product_id,
                "key": manifest.archive_key,
                "at": manifest.computed_at,
                "body": encode_files(manifest.files),
            },
        )
        return cur.rowcount > 0


class FileManifests:
    """The file-checksum methods of ``PostgisCatalogue`` (see ``CatalogueBackend``)."""

    _db: Database

    def put_files(self, manifest: FileManifest) -> bool:
        """Store the file checksums of a product's archive object while the product points
        to it; False otherwise."""
        return self._db.run(lambda conn: _put(conn, manifest))

    def get_files(self, product_id: uuid.UUID) -> FileManifest | None:
        """The stored file checksums of a product."""

        def work(conn: Conn) -> tuple[object, ...] | None:
            with conn.cursor(binary=True) as cur:
                return cur.execute(
                    "SELECT archive_key, computed_at, body FROM product_files WHERE id = %s",
                    (product_id,),
                ).fetchone()

        row = self._db.run(work, query=True)
        if row is None:
            return None
        key, at, body = row
        if not isinstance(at, datetime) or not isinstance(body, bytes | memoryview):
            raise TypeError(f"unexpected product_files row types {type(at)}, {type(body)}")
        return FileManifest(product_id, str(key), at, decode_files(bytes(body)))

    def files_keys(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The archive key of each stored manifest of ``product_ids``."""
        wanted = list(dict.fromkeys(product_ids))

        def work(conn: Conn) -> list[tuple[object, ...]]:
            return conn.execute(
                "SELECT id, archive_key FROM product_files WHERE id = ANY(%s::uuid[])", (wanted,)
            ).fetchall()

        rows = self._db.run(work, query=True) if wanted else []
        return {uuid.UUID(str(pid)): str(key) for pid, key in rows}
