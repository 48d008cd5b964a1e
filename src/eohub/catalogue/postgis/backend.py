"""PostgisCatalogue: the scale-out catalogue on PostgreSQL + PostGIS.

Searches compile the normalised query tree to one SQL statement (``compiler``, ``statements``)
that reads ``limit + 1`` rows, so memory does not grow with the catalogue. Upserts stream
products through COPY, replacing stored Ids and their attribute rows, in one transaction per
call (``writer``).

After a bulk load, call :meth:`PostgisCatalogue.optimize` (``VACUUM (ANALYZE)``): fresh
statistics give good plans and an up-to-date visibility map lets exact counts use index-only
scans. Autovacuum gets there too, only later.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from psycopg import sql

from eohub.catalogue.postgis import changes as change_feed
from eohub.catalogue.postgis import codec, documents
from eohub.catalogue.postgis import deleted as deleted_table
from eohub.catalogue.postgis.compiler import MAX_EXPANSION, storable_text, text_prefixes
from eohub.catalogue.postgis.connection import Conn, Database
from eohub.catalogue.postgis.files import FileManifests
from eohub.catalogue.postgis.schema import apply_migrations
from eohub.catalogue.postgis.statements import (
    Statement,
    count_statement,
    page_ids_statement,
    page_statement,
)
from eohub.catalogue.postgis.writer import write_all
from eohub.model.change import Change, ChangeEvent
from eohub.model.deleted import DeletedProduct
from eohub.model.documents import DocumentKind
from eohub.model.product import Product
from eohub.query.deleted import DeletedQuery
from eohub.query.evaluate import sort_values
from eohub.query.query import CountMode, Cursor, Page, Query

_SELECT_P = sql.SQL("SELECT {} FROM products p {}").format(
    codec.read_select("p"), codec.attributes_lateral("p")
)


def _expand(conn: Conn, prefixes: set[str]) -> dict[str, list[str] | None]:
    """Vocabulary tokens starting with each prefix; None where there are too many."""
    out: dict[str, list[str] | None] = {}
    for prefix in sorted(prefixes):
        # Tokens hold letters and digits only: no LIKE wildcard or escape to neutralise.
        rows = conn.execute(
            "SELECT token FROM text_vocabulary WHERE token LIKE %s ORDER BY token LIMIT %s",
            (prefix + "%", MAX_EXPANSION + 1),
        ).fetchall()
        out[prefix] = [str(r[0]) for r in rows] if len(rows) <= MAX_EXPANSION else None
    return out


def _rows(conn: Conn, statement: Statement | None) -> list[Product]:
    if statement is None:
        return []
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(*statement).fetchall()
    return [codec.decode_row(r) for r in rows]


def _fill(conn: Conn, kind: DocumentKind, products: Sequence[Product]) -> int:
    with conn.transaction():
        return documents.fill(conn, kind, products)


def _count(conn: Conn, statement: Statement) -> int:
    row = conn.execute(*statement).fetchone()
    return int(str(row[0])) if row else 0


class PostgisCatalogue(FileManifests):
    """Catalogue backend on PostgreSQL + PostGIS (implements ``CatalogueBackend``).

    ``dsn`` is a libpq connection string or URI; ``pool_size`` caps the connections this
    instance opens; ``connect_timeout_s`` bounds connecting and waiting for a free connection.
    Nothing connects until the first call.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 8,
        connect_timeout_s: float = 5.0,
        documents: Sequence[DocumentKind] = (),
    ) -> None:
        self._db = Database(dsn, pool_size=pool_size, connect_timeout_s=connect_timeout_s)
        self._kinds = tuple(documents)

    # -- schema --------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply pending migrations (idempotent; safe when several workers start at once).

        After loading many products, also call :meth:`optimize`.
        """
        self._db.run(apply_migrations)
        deleted_table.backfill_all(self._db)
        if self._kinds:
            self._db.run(lambda conn: documents.create(conn, self._kinds))

    def optimize(self) -> None:
        """``VACUUM (ANALYZE)`` the catalogue tables: run it after a bulk load."""

        def work(conn: Conn) -> None:
            for table in ("products", "product_attributes", "text_vocabulary"):
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))

        self._db.run(work)

    # -- writes --------------------------------------------------------------------------------
    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products by Id in one transaction; returns how many were written.

        When the same Id appears twice, the later product wins. A product that cannot be stored
        raises ValueError naming it, and nothing of the call is written. The next chunk is
        encoded in a helper thread while the database writes the current one (see ``writer``).
        """
        replayable = isinstance(products, Sequence)
        return self._db.run(lambda conn: write_all(conn, products, self._kinds), retry=replayable)

    def delete(
        self,
        product_id: uuid.UUID,
        *,
        cause: str | None = None,
        purge: bool = False,
        deletion_date: datetime | None = None,
    ) -> DeletedProduct | None:
        """Remove a product and its attributes and, unless ``purge``, record it as deleted, in
        one transaction; returns what was removed, or None when it was not there."""
        when = deletion_date or datetime.now(UTC)
        locked = sql.SQL("{} WHERE p.id = %s FOR UPDATE OF p").format(_SELECT_P)

        def work(conn: Conn) -> DeletedProduct | None:
            with conn.transaction():
                with conn.cursor(binary=True) as cur:
                    row = cur.execute(locked, (product_id,)).fetchone()
                if row is None:
                    return None
                found = DeletedProduct(codec.decode_row(row), when, cause)
                if not purge:
                    deleted_table.record(conn, found)
                conn.execute("DELETE FROM product_attributes WHERE product_id = %s", (product_id,))
                conn.execute("DELETE FROM products WHERE id = %s", (product_id,))
                change_feed.record(conn, [(ChangeEvent.DELETED, product_id, found.name)], when)
                return found

        return self._db.run(work)

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products (keyset and/or offset), with their count when asked."""
        return self._db.run(lambda conn: deleted_table.page(conn, query), query=True)

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct | None:
        """The deletion record of one Id."""
        return self._db.run(lambda conn: deleted_table.get(conn, product_id), query=True)

    # -- change feed ---------------------------------------------------------------------------
    def changes(self, after: int, limit: int) -> list[Change]:
        """At most ``limit`` feed events with a sequence number above ``after``, in order."""
        return self._db.run(lambda conn: change_feed.after(conn, after, limit))

    def change_head(self) -> int:
        """The highest sequence number of the feed (0 when nothing was ever written)."""
        return self._db.run(change_feed.head)

    def prune_changes(self, before: datetime) -> int:
        """Drop feed events written before ``before`` (the newest one stays); how many."""
        return self._db.run(lambda conn: change_feed.prune(conn, before))

    # -- reads ---------------------------------------------------------------------------------
    def _fetch(self, where: sql.Composable, params: Sequence[Any]) -> list[Product]:
        statement = sql.SQL("{} WHERE {}").format(_SELECT_P, where)

        def work(conn: Conn) -> list[Product]:
            with conn.cursor(binary=True) as cur:
                rows = cur.execute(statement, params).fetchall()
            return [codec.decode_row(r) for r in rows]

        return self._db.run(work, query=True)

    def get(self, product_id: uuid.UUID) -> Product | None:
        """One product by Id."""
        found = self._fetch(sql.SQL("p.id = %s"), (product_id,))
        return found[0] if found else None

    def get_many(self, product_ids: Sequence[uuid.UUID]) -> list[Product]:
        """Products by Id, in the given order, skipping unknown Ids."""
        if not product_ids:
            return []
        found = self._fetch(sql.SQL("p.id = ANY(%s::uuid[])"), (list(set(product_ids)),))
        by_id = {p.id: p for p in found}
        return [by_id[i] for i in product_ids if i in by_id]

    def find_by_name(self, name: str) -> Product | None:
        """One product by identifier (name without extension)."""
        if not storable_text(name):
            return None  # no stored name holds a NUL or a lone surrogate
        found = self._fetch(sql.SQL("p.name = %s"), (name,))
        return found[0] if found else None

    def search(self, query: Query) -> Page[Product]:
        """One page of a normalised query (exact count when ``query.count`` asks for it)."""
        wanted = text_prefixes(query.filter)
        counting = query.count is CountMode.EXACT

        def work(conn: Conn) -> tuple[list[Product], int | None]:
            if not counting and not wanted:
                return _rows(conn, page_statement(query) if query.limit > 0 else None), None
            with conn.transaction():  # one snapshot for the vocabulary, the page and the count
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                prefixes = _expand(conn, wanted)
                page = page_statement(query, prefixes) if query.limit > 0 else None
                total = _count(conn, count_statement(query, prefixes)) if counting else None
                return _rows(conn, page), total

        rows, total = self._db.run(work, query=True)
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit and items:
            next_cursor = Cursor(query.sort, sort_values(items[-1], query.sort))
        return Page(items=items, total=total, next=next_cursor, sort=query.sort)

    def search_documents(self, query: Query, kind: str) -> Page[bytes]:
        """One page of a normalised query as stored documents of ``kind``, in the page's order
        with the same total and cursor as :meth:`search`; a product without a current document
        is rendered from its row."""
        found = next((k for k in self._kinds if k.name == kind), None)
        if found is None:
            raise ValueError(f"no document kind {kind!r} in this catalogue")
        wanted = text_prefixes(query.filter)
        counting = query.count is CountMode.EXACT

        def work(conn: Conn) -> tuple[list[uuid.UUID], dict[uuid.UUID, bytes], int | None]:
            with conn.transaction():  # one snapshot for the page, its documents and the count
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                prefixes = _expand(conn, wanted) if wanted else None
                ids: list[uuid.UUID] = []
                if query.limit > 0:
                    rows = conn.execute(*page_ids_statement(query, prefixes)).fetchall()
                    ids = [row[0] for row in rows]  # type: ignore[misc]
                docs = documents.current(conn, found, ids[: query.limit])
                total = _count(conn, count_statement(query, prefixes)) if counting else None
                return ids, docs, total

        ids, docs, total = self._db.run(work, query=True)
        page = ids[: query.limit]
        more = len(ids) > query.limit and bool(page)
        need = [pid for pid in page if pid not in docs]
        if more:
            need.append(page[-1])  # the cursor's values come from the product
        products = {p.id: p for p in self.get_many(need)}
        items = [docs[pid] if pid in docs else found.render(products[pid]) for pid in page]
        next_cursor = None
        if more:
            next_cursor = Cursor(query.sort, sort_values(products[page[-1]], query.sort))
        return Page(items=items, total=total, next=next_cursor, sort=query.sort)

    def refresh_documents(self, batch: int = 1000) -> int:
        """Render and store the missing or outdated documents of every kind; returns how many
        were written."""
        written = 0
        for kind in self._kinds:
            after: uuid.UUID | None = None
            while True:
                pids = self._db.run(partial(documents.missing, kind=kind, after=after, limit=batch))
                if not pids:
                    break
                after = pids[-1]
                written += self._db.run(partial(_fill, kind=kind, products=self.get_many(pids)))
                if len(pids) < batch:
                    break
        return written

    def count(self, query: Query) -> int:
        """Exact number of products matching a normalised query's filter."""
        wanted = text_prefixes(query.filter)

        def work(conn: Conn) -> int:
            if not wanted:
                return _count(conn, count_statement(query))
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return _count(conn, count_statement(query, _expand(conn, wanted)))

        return self._db.run(work, query=True)

    def prepare_search_index(self, wait_s: float = 0.0) -> str:
        """None kept: PostGIS's own indexes serve every search."""
        return "off"

    def close(self) -> None:
        """Release connections."""
        self._db.close()
