"""Stored product documents of the SQLite catalogue (see ``eohub.model.documents``).

One table per kind, ``documents_<kind>(pk, version, body)``, keyed by the product's ``pk``:
written with the product rows in the same transaction and deleted with them. A page of
documents reads the page's keys as a product page does (``paging.keys_sql``), then each
key's document by primary key; rows without a current document are rendered from the
product, so a catalogue written before a kind existed still answers every page correctly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from eohub.catalogue.sqlite.sqltext import Sql
from eohub.model.documents import DocumentKind


def table(kind: DocumentKind) -> str:
    """The table of one kind (its name is checked by DocumentKind)."""
    return f"documents_{kind.name}"


def create(conn: sqlite3.Connection, kinds: Iterable[DocumentKind]) -> None:
    """Create the tables of ``kinds`` that do not exist yet."""
    for kind in kinds:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table(kind)} ("
            "pk INTEGER PRIMARY KEY, version INTEGER NOT NULL, body BLOB NOT NULL) STRICT"
        )


def write(conn: sqlite3.Connection, kind: DocumentKind, rows: Sequence[tuple[int, bytes]]) -> None:
    """Store (pk, body) documents of the current version, replacing older ones."""
    version = int(kind.version)
    conn.executemany(
        f"INSERT OR REPLACE INTO {table(kind)} (pk, version, body) VALUES (?, {version}, ?)", rows
    )


def fill(conn: sqlite3.Connection, kind: DocumentKind, rows: Sequence[tuple[int, bytes]]) -> None:
    """Store (pk, body) documents rendered outside the write transaction, only where no
    current document is stored: one written meanwhile by an upsert of that product is newer."""
    version = int(kind.version)
    conn.executemany(
        f"INSERT INTO {table(kind)} (pk, version, body) VALUES (?, {version}, ?) "
        "ON CONFLICT (pk) DO UPDATE SET version = excluded.version, body = excluded.body "
        "WHERE version != excluded.version",
        rows,
    )


def delete(
    conn: sqlite3.Connection, kinds: Iterable[DocumentKind], pks: Sequence[tuple[int]]
) -> None:
    """Drop the documents of deleted products."""
    for kind in kinds:
        conn.executemany(f"DELETE FROM {table(kind)} WHERE pk = ?", pks)


def page_sql(keys: Sql, order: str | None, kind: DocumentKind, *, with_total: bool = False) -> Sql:
    """``pk``, current document (or NULL) and total of a keys SELECT, in the page's order.

    With keys in page order (``order`` None: their column ``at``), the documents are read
    alone; else the product row is joined for the ORDER BY terms (its sort columns), which the
    page's few keys reach by primary key. Every key names a product: the keys come from the
    same snapshot.
    """
    total = ", s.total" if with_total else ""
    document = f"CASE WHEN d.version = {int(kind.version)} THEN d.body END{total}"
    if order is None:
        return Sql(
            f"SELECT s.pk, {document} FROM ({keys.text}) AS s "
            f"LEFT JOIN {table(kind)} AS d ON d.pk = s.pk ORDER BY s.at",
            keys.params,
        )
    return Sql(
        f"SELECT p.pk, {document} "
        f"FROM ({keys.text}) AS s CROSS JOIN products AS p ON p.pk = s.pk "
        f"LEFT JOIN {table(kind)} AS d ON d.pk = p.pk ORDER BY {order}",
        keys.params,
    )


def missing(conn: sqlite3.Connection, kind: DocumentKind, after: int, limit: int) -> list[int]:
    """Up to ``limit`` product keys above ``after``, in order, without a current document."""
    rows = conn.execute(
        f"SELECT p.pk FROM products AS p LEFT JOIN {table(kind)} AS d ON d.pk = p.pk "
        f"WHERE p.pk > ? AND (d.pk IS NULL OR d.version != {int(kind.version)}) "
        "ORDER BY p.pk LIMIT ?",
        (after, limit),
    ).fetchall()
    return [int(row[0]) for row in rows]
