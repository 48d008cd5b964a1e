"""Stored product documents of the PostGIS catalogue (see ``eohub.model.documents``).

One table per kind, ``documents_<kind>(id, version, body)``, keyed by the product Id and
deleted with the product (ON DELETE CASCADE); written by the upsert in the same transaction.
A page of documents runs the product page's statement for the page's Ids and sort order, then
reads their current documents; products without one are rendered from their rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from psycopg import sql

from eohub.catalogue.postgis.connection import Conn
from eohub.model.documents import DocumentKind
from eohub.model.product import Product

_LOCK_KEY = 0x656F687562646F63  # "eohubdoc": serialises table creation by several workers


def table(kind: DocumentKind) -> sql.Identifier:
    """The table of one kind (its name is checked by DocumentKind)."""
    return sql.Identifier(f"documents_{kind.name}")


def create(conn: Conn, kinds: Iterable[DocumentKind]) -> None:
    """Create the tables of ``kinds`` that do not exist yet."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for kind in kinds:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id uuid PRIMARY KEY REFERENCES products(id) "
                    "ON DELETE CASCADE, version integer NOT NULL, body bytea NOT NULL)"
                ).format(table(kind))
            )


def forget(conn: Conn, kind: DocumentKind, ids: Sequence[uuid.UUID]) -> None:
    """Drop the documents of products replaced by an upsert (a kind not written with them)."""
    conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s::uuid[])").format(table(kind)), (ids,))


def write(conn: Conn, kind: DocumentKind, rows: Sequence[tuple[uuid.UUID, bytes]]) -> None:
    """Store (id, body) documents of the current version, replacing older ones."""
    if not rows:
        return
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE id = ANY(%s::uuid[])").format(table(kind)),
        ([pid for pid, _ in rows],),
    )
    with (
        conn.cursor() as cur,
        cur.copy(sql.SQL("COPY {} (id, version, body) FROM STDIN").format(table(kind))) as copy,
    ):
        for pid, body in rows:
            copy.write_row((pid, kind.version, body))


def current(conn: Conn, kind: DocumentKind, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    """The current documents of ``ids`` that are stored."""
    if not ids:
        return {}
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(
            sql.SQL("SELECT id, body FROM {} WHERE id = ANY(%s::uuid[]) AND version = %s").format(
                table(kind)
            ),
            (list(ids), kind.version),
        ).fetchall()
    return {uuid.UUID(str(row[0])): bytes(row[1]) for row in rows}  # type: ignore[call-overload]


def missing(conn: Conn, kind: DocumentKind, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` product Ids above ``after``, in order, without a current document."""
    rows = conn.execute(
        sql.SQL(
            "SELECT p.id FROM products p LEFT JOIN {} d ON d.id = p.id AND d.version = %s "
            "WHERE d.id IS NULL AND (%s::uuid IS NULL OR p.id > %s::uuid) ORDER BY p.id LIMIT %s"
        ).format(table(kind)),
        (kind.version, after, after, limit),
    ).fetchall()
    return [row[0] for row in rows]  # type: ignore[misc]


def fill(conn: Conn, kind: DocumentKind, products: Sequence[Product]) -> int:
    """Store documents rendered outside the write transaction where no current one is stored
    (an upsert meanwhile wrote a newer one); products deleted meanwhile get none."""
    rows = [(p.id, kind.version, kind.render(p)) for p in products]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {t} (id, version, body) SELECT %s, %s, %s "
                "WHERE EXISTS (SELECT 1 FROM products WHERE id = %s) "
                "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body "
                "WHERE {t}.version <> EXCLUDED.version"
            ).format(t=table(kind)),
            [(pid, version, body, pid) for pid, version, body in rows],
        )
    return len(rows)
