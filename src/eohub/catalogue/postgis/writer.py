"""The bulk write path of ``upsert``: encode in a helper thread, COPY, replace by Id.

Per chunk of products (sorted by Id, so concurrent batches lock rows in one order):
- Ids not stored yet are copied straight into ``products`` (the fast path of a bulk load);
- Ids already stored go through a temporary table and ``INSERT ... ON CONFLICT DO UPDATE``,
  and their old attribute rows are deleted;
- every attribute row is copied into ``product_attributes``;
- new text tokens join ``text_vocabulary`` (the lookup table of Text prefix searches);
- the products' documents of each registered kind replace their older ones.
The caller runs all chunks in one transaction, and at its end appends one change-feed event per
product (created or modified), under the feed's lock (see ``changes``). A concurrent writer that
inserts one of the "new" Ids first makes the copy fail on the primary key; the transaction is
then retried.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from eohub.catalogue.postgis import changes, codec, documents
from eohub.catalogue.postgis.connection import Conn
from eohub.model.change import ChangeEvent
from eohub.model.documents import DocumentKind
from eohub.model.product import Product

CHUNK = 2000  # products per COPY round
_NAME = codec.WRITE_COLUMNS.index("name")

_STAGING = sql.Identifier("eohub_upsert")
_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in codec.WRITE_COLUMNS)
_UPDATES = sql.SQL(", ").join(
    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
    for c in codec.WRITE_COLUMNS
    if c != "id"
)
_ATTR_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in codec.ATTRIBUTE_COLUMNS)


@dataclass(frozen=True)
class Encoded:
    """One chunk ready for COPY: product rows (sorted by Id) and their attribute rows."""

    ids: list[uuid.UUID]
    rows: list[tuple[Any, ...]]
    attributes: list[tuple[Any, ...]]
    vocabulary: list[str]
    documents: list[list[tuple[uuid.UUID, bytes]]]  # per document kind, (id, body)


def encode(chunk: list[Product], kinds: Sequence[DocumentKind] = ()) -> Encoded:
    """Rows of a chunk, and its documents of ``kinds``; the later of two products with one Id
    wins."""
    latest = {p.id: p for p in chunk}
    ordered = [latest[i] for i in sorted(latest)]
    rows, vocabulary = codec.product_rows(ordered)
    attributes = [row for p in ordered for row in codec.attribute_rows(p)]
    documents = [[(p.id, kind.render(p)) for p in ordered] for kind in kinds if kind.on_write]
    return Encoded([p.id for p in ordered], rows, attributes, vocabulary, documents)


def encoded_chunks(
    products: Iterable[Product], kinds: Sequence[DocumentKind] = ()
) -> Iterator[Encoded]:
    """Encoded chunks of ``products``; the next one is prepared while the caller writes."""
    iterator = iter(products)

    def next_encoded() -> Encoded | None:
        chunk = list(itertools.islice(iterator, CHUNK))
        return encode(chunk, kinds) if chunk else None

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eohub-upsert") as worker:
        pending = worker.submit(next_encoded)
        while (encoded := pending.result()) is not None:
            pending = worker.submit(next_encoded)
            yield encoded


def _copy(conn: Conn, statement: sql.Composed, rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


class ChunkWriter:
    """Writes encoded chunks inside the caller's transaction."""

    def __init__(self, conn: Conn, kinds: Sequence[DocumentKind] = ()) -> None:
        self._conn = conn
        self._kinds = tuple(k for k in kinds if k.on_write)
        self._on_read = tuple(k for k in kinds if not k.on_write)
        self._staging = False
        self.written = 0
        self.events: list[tuple[ChangeEvent, uuid.UUID, str]] = []

    def write(self, chunk: Encoded) -> None:
        """Insert or replace the chunk's products and their attributes."""
        conn = self._conn
        found = conn.execute("SELECT id FROM products WHERE id = ANY(%s::uuid[])", (chunk.ids,))
        stored = {row[0] for row in found}
        fresh = [row for row in chunk.rows if row[0] not in stored]
        if fresh:
            _copy(conn, sql.SQL("COPY products ({}) FROM STDIN").format(_COLUMNS), fresh)
        if stored:
            self._replace([row for row in chunk.rows if row[0] in stored])
            for kind in self._on_read:  # rendered afresh when next read
                documents.forget(conn, kind, [uuid.UUID(str(i)) for i in stored])
            conn.execute(
                "DELETE FROM product_attributes WHERE product_id = ANY(%s::uuid[])",
                (sorted(stored),),  # type: ignore[type-var]
            )
        if chunk.attributes:
            statement = sql.SQL("COPY product_attributes ({}) FROM STDIN").format(_ATTR_COLUMNS)
            _copy(conn, statement, chunk.attributes)
        if chunk.vocabulary:  # sorted: concurrent writers take the same locks in one order
            conn.execute(
                "INSERT INTO text_vocabulary (token) SELECT unnest(%s::text[]) "
                "ON CONFLICT DO NOTHING",
                (chunk.vocabulary,),
            )
        for kind, rendered in zip(self._kinds, chunk.documents, strict=True):
            documents.write(conn, kind, rendered)
        self.written += len(chunk.rows)
        self.events += [
            (ChangeEvent.MODIFIED if row[0] in stored else ChangeEvent.CREATED, row[0], row[_NAME])
            for row in chunk.rows
        ]

    def _replace(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._conn
        if self._staging:
            conn.execute(sql.SQL("TRUNCATE {}").format(_STAGING))
        else:
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} (LIKE products INCLUDING DEFAULTS) ON COMMIT DROP"
                ).format(_STAGING)
            )
            self._staging = True
        _copy(conn, sql.SQL("COPY {} ({}) FROM STDIN").format(_STAGING, _COLUMNS), rows)
        conn.execute(
            sql.SQL(
                "INSERT INTO products ({cols}) SELECT {cols} FROM {staging} ORDER BY id "
                "ON CONFLICT (id) DO UPDATE SET {updates}"
            ).format(cols=_COLUMNS, staging=_STAGING, updates=_UPDATES)
        )


def write_all(conn: Conn, products: Iterable[Product], kinds: Sequence[DocumentKind] = ()) -> int:
    """Upsert every product, with its documents of ``kinds``, in one transaction; returns how
    many distinct Ids were written."""
    with conn.transaction():
        writer = ChunkWriter(conn, kinds)
        for chunk in encoded_chunks(products, kinds):
            writer.write(chunk)
        changes.record(conn, writer.events, datetime.now(UTC))
    return writer.written
