"""The SQLite catalogue schema and its versioned migrations (``PRAGMA user_version``).

Layout:
- ``products``: one row per product; the common search fields are typed columns. Datetimes are
  integer microseconds since the epoch (UTC), UUIDs canonical lower-case text, booleans 0/1.
  ``footprint_search`` is NULL when it equals ``footprint_original`` (read
  ``coalesce(footprint_search, footprint_original)``). Checksums, the typed attributes and
  the archive keys travel in ``extra`` (JSON) so a row alone restores the whole Product.
- ``product_attributes``: every metadata attribute once more, typed, for ``attributes.<name>``
  filters (``type``: s string, i int, f float, b bool, t aware and T naive datetime in
  microseconds). Keyed by (product, name) only: a filter probes it for each candidate
  product. An index on the values would cost seven random B-tree inserts per product, and
  generic attribute filters nearly always come with a selective time, mission or area filter.
- ``products_rtree``: one box per part of the search footprint (a footprint split at the
  antimeridian gets a box on each side) times the sensing interval in days (see
  ``codec.rtree_days``); the box id is ``pk << BOX_SHIFT | part`` (the product is
  ``id >> BOX_SHIFT``: reading an auxiliary column costs one more B-tree lookup per
  candidate, three times the R*Tree search itself).
- ``products_fts``: FTS5 over the product's text tokens (see ``codec.fts_document``).
- ``terms``: the distinct values of the indexed category columns with their ASCII-folded form,
  so a case-insensitive match becomes ``col IN (values)`` on the column's ordinary index.
- ``platforms``: each platform's derived names (mission, short name, serial); filters on those
  become ``platform IN (...)``. Both tables only grow; a stale value matches no product.
- ``deleted_products``: products deleted without purge, with the deletion date and cause
  (see ``deleted.py``).
- ``changes``: the change feed, one row per product created, modified or deleted (see
  ``changes.py``).
- ``product_files``: the checksums of the files inside each product's archive object (see
  ``files.py``), kept across upserts and removed when the product is deleted.

All indexes are BINARY (code point order, the reference semantics): a NOCASE index would cost
several microseconds more per insert for each indexed column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from eohub.errors import CatalogueUnavailable

# "EOHB": marks a file as an eohub catalogue so another application's database is refused.
APPLICATION_ID = 0x454F4842

# Columns of ``products`` in the order the codec reads and writes them (``pk`` first).
PRODUCT_COLUMNS: tuple[str, ...] = (
    "pk",
    "id",
    "name",
    "filename",
    "collection",
    "mission",
    "platform",
    "platform_short_name",
    "platform_serial",
    "instrument",
    "product_type",
    "processing_level",
    "processing_baseline",
    "sensing_start",
    "sensing_end",
    "publication_date",
    "ingestion_date",
    "modification_date",
    "size",
    "online",
    "orbit_number",
    "relative_orbit",
    "orbit_direction",
    "cloud_cover",
    "tile_id",
    "polarisation",
    "sensor_mode",
    "swath",
    "timeliness",
    "product_class",
    "footprint_original",
    "footprint_search",
    "boxes",
    "extra",
)

# Indexed category columns whose distinct values are kept in ``terms``.
TERM_FIELDS: tuple[str, ...] = ("collection", "platform", "product_type", "tile_id")
# Fields derived from ``platform`` (columns of ``platforms``).
PLATFORM_FIELDS: tuple[str, ...] = ("mission", "platform_short_name", "platform_serial")

_V1: tuple[str, ...] = (
    """
    CREATE TABLE products (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        filename TEXT NOT NULL,
        collection TEXT NOT NULL,
        mission TEXT NOT NULL,
        platform TEXT NOT NULL,
        platform_short_name TEXT NOT NULL,
        platform_serial TEXT,
        instrument TEXT,
        product_type TEXT NOT NULL,
        processing_level TEXT,
        processing_baseline TEXT,
        sensing_start INTEGER NOT NULL,
        sensing_end INTEGER NOT NULL,
        publication_date INTEGER NOT NULL,
        ingestion_date INTEGER NOT NULL,
        modification_date INTEGER NOT NULL,
        size INTEGER NOT NULL,
        online INTEGER NOT NULL,
        orbit_number INTEGER,
        relative_orbit INTEGER,
        orbit_direction TEXT,
        cloud_cover REAL,
        tile_id TEXT,
        polarisation TEXT,
        sensor_mode TEXT,
        swath TEXT,
        timeliness TEXT,
        product_class TEXT,
        footprint_original BLOB,
        footprint_search BLOB,
        boxes INTEGER NOT NULL,
        extra BLOB NOT NULL
    ) STRICT
    """,
    "CREATE UNIQUE INDEX products_id ON products(id)",
    "CREATE UNIQUE INDEX products_name ON products(name)",
    # Case-insensitive identifier lookups (DHuS identifier:...) and prefix patterns.
    "CREATE INDEX products_name_folded ON products(lower(name))",
    # The typical searches: a collection/platform/type equality, a time window, sorted by time.
    "CREATE INDEX products_collection ON products(collection, sensing_start)",
    "CREATE INDEX products_platform ON products(platform, sensing_start)",
    "CREATE INDEX products_type ON products(product_type, sensing_start)",
    "CREATE INDEX products_tile ON products(tile_id, sensing_start) WHERE tile_id IS NOT NULL",
    "CREATE INDEX products_sensing_start ON products(sensing_start)",
    "CREATE INDEX products_ingestion_date ON products(ingestion_date)",
    "CREATE INDEX products_publication_date ON products(publication_date)",
    "CREATE INDEX products_cloud_cover ON products(cloud_cover) WHERE cloud_cover IS NOT NULL",
    """
    CREATE TABLE product_attributes (
        product INTEGER NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        value ANY,
        PRIMARY KEY (product, name)
    ) STRICT, WITHOUT ROWID
    """,
    # Space and sensing time: the typical search (an area and a month) is answered by the
    # R*Tree alone; float32 boxes are rounded outwards, so it is a safe prefilter.
    "CREATE VIRTUAL TABLE products_rtree USING rtree(id, minx, maxx, miny, maxy, mint, maxt)",
    """
    CREATE TABLE terms (
        field TEXT NOT NULL,
        folded TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (field, folded, value)
    ) STRICT, WITHOUT ROWID
    """,
    """
    CREATE TABLE platforms (
        platform TEXT PRIMARY KEY,
        mission TEXT NOT NULL,
        platform_short_name TEXT NOT NULL,
        platform_serial TEXT
    ) STRICT, WITHOUT ROWID
    """,
    """
    CREATE VIRTUAL TABLE products_fts USING fts5(
        tokens, tokenize = 'unicode61 remove_diacritics 0', detail = none, columnsize = 0
    )
    """,
)

# Version 2: products deleted without purge (DHuS DeletedProducts), one row per Id. ``product``
# is the whole product as ``eohub.catalogue.document`` bytes; pages run in (deletion date, id)
# or (name, id) order on their own index.
_V2: tuple[str, ...] = (
    """
    CREATE TABLE deleted_products (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        deletion_date INTEGER NOT NULL,
        deletion_cause TEXT,
        product BLOB NOT NULL
    ) STRICT
    """,
    "CREATE INDEX deleted_products_date ON deleted_products(deletion_date, id)",
    "CREATE INDEX deleted_products_name ON deleted_products(name, id)",
)

# Version 3: the change feed (see ``changes.py``): one row per product created, modified or
# deleted, in commit order; ``at`` in microseconds, ``event`` the CDSE event name.
_V3: tuple[str, ...] = (
    """
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event TEXT NOT NULL CHECK (event IN ('created', 'modified', 'deleted')),
        product_id TEXT NOT NULL,
        name TEXT NOT NULL,
        at INTEGER NOT NULL
    ) STRICT
    """,
)

# Version 4: the collection index also holds the sort keys and the most searched columns, so
# a page of "one collection, one time window" sorts and counts its matches from the index
# alone: each row lookup in the table costs microseconds (1M products: a month of one
# collection, ~9,000 matches, counted and sorted by publication in 1.4 ms instead of 157 ms).
_V4: tuple[str, ...] = (
    "DROP INDEX products_collection",
    "CREATE INDEX products_collection ON products(collection, sensing_start, publication_date, "
    "ingestion_date, id, product_type, cloud_cover, sensing_end, online)",
)

# Version 5: the checksums of the files inside each product (see ``files.py``): one row per
# product Id naming the archive object it describes, the files as ``catalogue.files`` bytes.
_V5: tuple[str, ...] = (
    """
    CREATE TABLE product_files (
        id TEXT PRIMARY KEY NOT NULL,
        archive_key TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        body BLOB NOT NULL
    ) STRICT
    """,
)

# Version 6: deleted products keep their searchable values (``search``, JSON, see
# ``catalogue/deleted_values.py``) for ContentDate and attribute filters. Rows recorded before
# get theirs from the stored product when the catalogue opens (the partial index finds them).
_V6: tuple[str, ...] = (
    "ALTER TABLE deleted_products ADD COLUMN search TEXT",
    "CREATE INDEX deleted_products_unsearchable ON deleted_products(id) WHERE search IS NULL",
)

# Each entry upgrades the schema by one version; append, never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6)
LATEST_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file (0 for a new file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check_identity(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a database that belongs to another application or to a newer eohub."""
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    version = current_version(conn)
    foreign = app_id == 0 and (
        version != 0 or conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
    )
    if app_id not in (0, APPLICATION_ID) or foreign:
        message = f"catalogue database {path} belongs to another application"
        raise CatalogueUnavailable(
            message, detail=f"{message} [application_id={app_id:#x} user_version={version}]"
        )
    if version > LATEST_VERSION:
        raise CatalogueUnavailable(
            f"catalogue database {path} has schema version {version}, newer than this eohub "
            f"supports ({LATEST_VERSION}); upgrade eohub"
        )


def pending(version: int) -> Sequence[tuple[int, tuple[str, ...]]]:
    """Migrations to run on a database at ``version``: (target version, statements)."""
    return [(v + 1, MIGRATIONS[v]) for v in range(version, LATEST_VERSION)]


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the schema up to date inside one write transaction; returns the final version.

    ``conn`` is in autocommit mode; the transaction is opened here so that two processes
    migrating the same file at once serialise on the write lock and the second one finds
    nothing left to do.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        check_identity(conn, path)
        steps = pending(current_version(conn))
        if steps:  # marked ours first, so no reader can see a versioned file without the mark
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for target, statements in steps:
            for statement in statements:
                conn.execute(statement)
            # PRAGMA takes no bound parameters; ``target`` is an int from this module.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current_version(conn)
