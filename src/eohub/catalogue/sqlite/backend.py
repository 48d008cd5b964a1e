"""SQLiteCatalogue: the embedded catalogue backend (one file, WAL, R*Tree, FTS5)."""

from __future__ import annotations

import fcntl
import queue
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from eohub.catalogue.sqlite import changes as change_feed
from eohub.catalogue.sqlite import codec, paging, rtree_page, schema, spatial_page
from eohub.catalogue.sqlite import deleted as deleted_table
from eohub.catalogue.sqlite import documents as stored_documents
from eohub.catalogue.sqlite import files as stored_files
from eohub.catalogue.sqlite.compiler import SORT_DRIVE_MIN, compile_filter
from eohub.catalogue.sqlite.connections import Connections, translate
from eohub.catalogue.sqlite.memory.index import MemoryIndex
from eohub.catalogue.sqlite.ordering import keyset, order_by
from eohub.catalogue.sqlite.sqltext import Filter, Sql, column, marks
from eohub.errors import Conflict, InvalidQuery
from eohub.model.change import Change, ChangeEvent
from eohub.model.deleted import DeletedProduct
from eohub.model.documents import DocumentKind
from eohub.model.product import Product
from eohub.query.deleted import DeletedQuery
from eohub.query.evaluate import sort_values
from eohub.query.query import CountMode, Cursor, Page, Query, SortKey
from eohub.query.tree import fields_of

_COLUMNS = ", ".join(f"p.{c}" for c in schema.PRODUCT_COLUMNS)
_SELECT = f"SELECT {_COLUMNS} FROM products AS p"
_INSERT_PRODUCT = (
    f"INSERT INTO products ({', '.join(schema.PRODUCT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(schema.PRODUCT_COLUMNS))})"
)
_INSERT_BOX = (
    "INSERT INTO products_rtree (id, minx, maxx, miny, maxy, mint, maxt)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FTS = "INSERT INTO products_fts (rowid, tokens) VALUES (?, ?)"
_INSERT_ATTR = "INSERT INTO product_attributes (product, name, type, value) VALUES (?, ?, ?, ?)"
_CHUNK = 500  # ids per IN (...) lookup
_UPSERT_CHUNK = 1000  # products encoded while the writer stores the previous chunk


# Sort keys with an index of their own (schema.py), which can drive a page query.
_SORT_INDEXED = frozenset({"sensing_start", "ingestion_date", "publication_date"})
# Time fields: a filter on one of them other than the sort key makes walking the sort key's
# index a scan of everything outside the window (the times are correlated): one month of
# sensing sorted by publication walked 500,000 rows to reach the month (1.5 s at 1M).
_TIMES = frozenset(
    {"sensing_start", "sensing_end", "ingestion_date", "publication_date", "modification_date"}
)


class _Aborted(Exception):
    """Raised in the writer to roll back a batch whose caller failed."""


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Abort:
    """Tells the writer to roll the batch back (the caller failed while encoding)."""


_Item = list[codec.Encoded] | _Abort | None  # None: the batch is complete


def _encode_chunk(
    products: Iterable[Product], kinds: Sequence[DocumentKind] = ()
) -> list[codec.Encoded]:
    """Encoded products of one chunk, with their documents of ``kinds``; within it the last
    version of an Id wins."""
    latest: dict[str, codec.Encoded] = {}
    for product in products:
        encoded = codec.Encoded(product)
        if kinds:
            encoded.documents = tuple(kind.render(product) for kind in kinds)
        latest.pop(encoded.id, None)
        latest[encoded.id] = encoded
    chunk = list(latest.values())
    names: dict[str, str] = {}
    for item in chunk:
        if names.setdefault(item.name, item.id) != item.id:
            message = f"two products in one batch are both named {item.name!r}"
            raise Conflict(message, detail=f"{message} (Ids {names[item.name]}, {item.id})")
    return chunk


class SQLiteCatalogue(stored_files.FileManifests):
    """The embedded catalogue: one SQLite file in WAL mode, a writer thread and a read pool.

    Implements :class:`eohub.catalogue.ports.CatalogueBackend`.
    """

    def __init__(
        self,
        path: Path,
        *,
        read_connections: int = 4,
        busy_timeout_s: float = 10.0,
        documents: Sequence[DocumentKind] = (),
        memory_index: bool = True,
    ) -> None:
        self.path = Path(path)
        self._db = Connections(
            self.path, read_connections=read_connections, busy_timeout_s=busy_timeout_s
        )
        self._sort_plans = paging.SortPlans()
        self._kinds = tuple(documents)
        self._on_write = tuple(k for k in self._kinds if k.on_write)
        self._memory = MemoryIndex(self._db.read) if memory_index else None

    # -- schema ----------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent).

        Migrations of one file are serialised across threads and processes by an advisory
        lock on a sibling file: catalogues creating the same new file at once could otherwise
        glimpse each other's half-initialised header.
        """

        def run() -> None:
            self._db.write(lambda conn: schema.migrate(conn, str(self.path)), transaction=False)
            deleted_table.backfill_all(self._db)
            if self._kinds:
                self._db.write(lambda conn: stored_documents.create(conn, self._kinds))

        lock_path = self.path.with_name(self.path.name + ".migrate-lock")
        try:
            lock = open(lock_path, "a")
        except OSError:
            run()  # an unreachable folder: the database itself reports it clearly
            return
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                run()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products by Id, all in one transaction; returns how many Ids.

        Products are encoded here in chunks while the writer thread stores the previous chunk
        (sqlite3 releases the GIL while SQLite works), so encoding and writing overlap. Any
        failure, here or in the writer, rolls the whole batch back.
        """
        source = iter(products)
        first = _encode_chunk(islice(source, _UPSERT_CHUNK), self._on_write)
        if not first:
            return 0
        chunks: queue.Queue[_Item] = queue.Queue(maxsize=2)
        chunks.put(first)
        future = self._db.submit(lambda conn: self._write_chunks(conn, chunks))

        def send(item: _Item) -> bool:
            while True:
                try:
                    chunks.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    if future.done():  # the writer failed: stop feeding it
                        return False

        try:
            while True:
                chunk = _encode_chunk(islice(source, _UPSERT_CHUNK), self._on_write)
                if not chunk or not send(chunk):
                    break
        except BaseException:
            send(_Abort())
            try:
                future.result()
            except Exception:
                pass
            raise
        send(None)
        try:
            return future.result()
        except sqlite3.IntegrityError as exc:  # prechecked; kept as a safety net
            message = "product conflicts with a stored product"
            raise Conflict(message, detail=f"{message} [{exc}]") from None

    def _write_chunks(self, conn: sqlite3.Connection, chunks: queue.Queue[_Item]) -> int:
        written: set[str] = set()
        while True:
            item = chunks.get()
            if item is None:
                return len(written)
            if isinstance(item, _Abort):
                raise _Aborted()
            self._write_chunk(conn, item)
            written.update(e.id for e in item)

    def _write_chunk(self, conn: sqlite3.Connection, batch: list[codec.Encoded]) -> None:
        ids = [item.id for item in batch]
        existing: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT id, pk, boxes FROM products WHERE id IN ({marks(len(chunk))})"
            for pid, pk, nboxes in conn.execute(sql, chunk):
                existing[pid] = (pk, nboxes)
        batch_ids = set(ids)
        names = [item.name for item in batch]
        for chunk in _chunks(names):
            sql = f"SELECT name, id FROM products WHERE name IN ({marks(len(chunk))})"
            for name, pid in conn.execute(sql, chunk):
                if pid not in batch_ids:
                    message = f"a product named {name!r} is already stored with another Id"
                    raise Conflict(message, detail=f"{message} ({pid})")
        top = conn.execute("SELECT coalesce(max(pk), 0) FROM products").fetchone()[0]
        if existing:
            _delete_rows(conn, list(existing.values()), self._kinds)
        rows: list[tuple[Any, ...]] = []
        boxes: list[tuple[Any, ...]] = []
        fts: list[tuple[Any, ...]] = []
        attrs: list[tuple[Any, ...]] = []
        terms: set[tuple[str, str, str]] = set()
        platforms: set[tuple[Any, ...]] = set()
        documents: list[list[tuple[int, bytes]]] = [[] for _ in self._on_write]
        for item in batch:
            found = existing.get(item.id)
            if found is None:
                top += 1
                pk = top
            else:
                pk = found[0]
            rows.append((pk, *item.row))
            boxes += [((pk << codec.BOX_SHIFT) | k, *box) for k, box in enumerate(item.boxes)]
            fts.append((pk, item.fts))
            attrs += [(pk, *a) for a in item.attributes]
            terms.update(item.terms)
            platforms.add(item.platform)
            for rendered, body in zip(documents, item.documents, strict=True):
                rendered.append((pk, body))
        conn.executemany(_INSERT_PRODUCT, rows)
        conn.executemany(_INSERT_BOX, boxes)
        conn.executemany(_INSERT_FTS, fts)
        conn.executemany(_INSERT_ATTR, attrs)
        conn.executemany("INSERT OR IGNORE INTO terms VALUES (?, ?, ?)", sorted(terms))
        conn.executemany("INSERT OR IGNORE INTO platforms VALUES (?, ?, ?, ?)", platforms)
        for kind, rendered in zip(self._on_write, documents, strict=True):
            stored_documents.write(conn, kind, rendered)
        events = [
            (
                ChangeEvent.MODIFIED if item.id in existing else ChangeEvent.CREATED,
                item.id,
                item.name,
            )
            for item in batch
        ]
        change_feed.record(conn, events, datetime.now(UTC))

    def delete(
        self,
        product_id: uuid.UUID,
        *,
        cause: str | None = None,
        purge: bool = False,
        deletion_date: datetime | None = None,
    ) -> DeletedProduct | None:
        """Remove a product and its index rows and, unless ``purge``, record it as deleted, in
        one transaction; returns what was removed, or None when it was not there."""
        when = deletion_date or datetime.now(UTC)

        def write(conn: sqlite3.Connection) -> DeletedProduct | None:
            row = conn.execute(f"{_SELECT} WHERE p.id = ?", (str(product_id),)).fetchone()
            if row is None:
                return None
            found = DeletedProduct(codec.decode(row), when, cause)
            if not purge:
                deleted_table.record(conn, found)
            pk, boxes = conn.execute(
                "SELECT pk, boxes FROM products WHERE id = ?", (str(product_id),)
            ).fetchone()
            _delete_rows(conn, [(pk, boxes)], self._kinds)
            stored_files.forget(conn, product_id)
            change_feed.record(conn, [(ChangeEvent.DELETED, str(product_id), found.name)], when)
            return found

        return self._db.write(write)

    def deleted(self, query: DeletedQuery) -> Page[DeletedProduct]:
        """One page of deleted products (keyset and/or offset), with their count when asked."""
        with self._db.read() as conn:
            return deleted_table.page(conn, query)

    def get_deleted(self, product_id: uuid.UUID) -> DeletedProduct | None:
        """The deletion record of one Id."""
        with self._db.read() as conn:
            return deleted_table.get(conn, product_id)

    # -- change feed -----------------------------------------------------------------------------
    def changes(self, after: int, limit: int) -> list[Change]:
        """At most ``limit`` feed events with a sequence number above ``after``, in order."""
        with self._db.read() as conn:
            return change_feed.after(conn, after, limit)

    def change_head(self) -> int:
        """The highest sequence number of the feed (0 when nothing was ever written)."""
        with self._db.read() as conn:
            return change_feed.head(conn)

    def prune_changes(self, before: datetime) -> int:
        """Drop feed events written before ``before`` (the newest one stays); how many."""
        return self._db.write(lambda conn: change_feed.prune(conn, before))

    # -- reads -----------------------------------------------------------------------------------
    def get(self, product_id: uuid.UUID) -> Product | None:
        """One product by Id."""
        with self._db.read() as conn:
            row = conn.execute(f"{_SELECT} WHERE p.id = ?", (str(product_id),)).fetchone()
        return None if row is None else codec.decode(row)

    def get_many(self, product_ids: Sequence[uuid.UUID]) -> list[Product]:
        """Products by Id, in the given order, skipping unknown Ids."""
        wanted = list(dict.fromkeys(str(i) for i in product_ids))
        found: dict[str, Product] = {}
        with self._db.read() as conn:
            conn.execute("BEGIN")
            for chunk in _chunks(wanted):
                sql = f"{_SELECT} WHERE p.id IN ({marks(len(chunk))})"
                for row in conn.execute(sql, chunk):
                    found[row[1]] = codec.decode(row)
            conn.execute("COMMIT")
        return [found[str(i)] for i in product_ids if str(i) in found]

    def find_by_name(self, name: str) -> Product | None:
        """One product by identifier (name without extension)."""
        with self._db.read() as conn:
            row = conn.execute(f"{_SELECT} WHERE p.name = ?", (name,)).fetchone()
        return None if row is None else codec.decode(row)

    def search(self, query: Query) -> Page[Product]:
        """One page of a normalised query (fetches at most limit + 1 rows).

        The page's keys are sorted before its full rows are read, and an exact total comes
        from the page's own pass when that pass sees every match anyway (see paging.py).
        """
        with self._db.read() as conn:
            conn.execute("BEGIN")  # one snapshot for the plan probe, the page and its count
            rows, total = self._page(conn, query, paging.rows_sql)
            conn.execute("COMMIT")
        items = codec.decode_many(rows[: query.limit])
        more = len(rows) > query.limit
        next_cursor = Cursor(query.sort, sort_values(items[-1], query.sort)) if more else None
        return Page(items=items, total=total, next=next_cursor, sort=query.sort)

    def search_documents(self, query: Query, kind: str) -> Page[bytes]:
        """One page of a normalised query as stored documents of ``kind``, in the page's order
        with the same total and cursor as :meth:`search`; a product without a current document
        is rendered from its row."""
        found = next((k for k in self._kinds if k.name == kind), None)
        if found is None:
            raise ValueError(f"no document kind {kind!r} in this catalogue")
        with self._db.read() as conn:
            conn.execute("BEGIN")
            rows, total = self._page(
                conn,
                query,
                lambda keys, order, with_total: stored_documents.page_sql(
                    keys, order, found, with_total=with_total
                ),
            )
            page = rows[: query.limit]
            wanted = [row[0] for row in page if row[1] is None]
            more = len(rows) > query.limit
            cursor_values = None
            if more and page:
                cursor_values = self._sort_values(conn, page[-1][0], query.sort)
                if cursor_values is None:
                    wanted.append(page[-1][0])  # the cursor's values come from the product
            products = self._by_pk(conn, wanted)
            conn.execute("COMMIT")
        items = [row[1] if row[1] is not None else found.render(products[row[0]]) for row in page]
        rendered = [(row[0], body) for row, body in zip(page, items, strict=True) if row[1] is None]
        if rendered and not found.on_write:  # stored for the next reads, after this answer
            self._db.submit(partial(_store_documents, kind=found, rendered=rendered))
        next_cursor = None
        if cursor_values is not None:
            next_cursor = Cursor(query.sort, cursor_values)
        elif more and page:
            next_cursor = Cursor(query.sort, sort_values(products[page[-1][0]], query.sort))
        return Page(items=items, total=total, next=next_cursor, sort=query.sort)

    def refresh_documents(self, batch: int = 1000) -> int:
        """Render and store the missing or outdated documents of every kind (products written
        before a kind existed, or by an older rendering); returns how many were written."""
        written = 0
        for kind in self._kinds:
            after = 0
            while True:
                with self._db.read() as conn:
                    conn.execute("BEGIN")
                    pks = stored_documents.missing(conn, kind, after, batch)
                    products = self._by_pk(conn, pks)
                    conn.execute("COMMIT")
                if not pks:
                    break
                after = pks[-1]
                rendered = [(pk, kind.render(product)) for pk, product in products.items()]
                self._db.write(partial(_store_documents, kind=kind, rendered=rendered))
                written += len(rendered)
                if len(pks) < batch:
                    break
        return written

    def _page(
        self,
        conn: sqlite3.Connection,
        query: Query,
        rows_sql: Callable[..., Sql],
    ) -> tuple[list[Any], int | None]:
        """The rows of one page (``rows_sql(keys, order, with_total=)`` picks the columns)
        and the exact total when the query asks for it, on the caller's snapshot."""
        rows: list[Any] = []
        total: int | None = None
        fast = self._fast_page(query, conn)
        if fast is not None:
            pks, total = fast
            if query.limit > 0 and pks:
                keys = spatial_page.keys_sql(pks, total)  # in page order
                rows = self._run(conn, rows_sql(keys, None, with_total=total is not None))
            return list(rows), total
        where = self._where(query, conn)
        if query.limit > 0:
            page_where = self._page_where(query, where, conn)
            keys = self._page_sql(query, page_where)
            counted = (
                query.count is CountMode.EXACT
                and query.after is None  # the total must not stop at the cursor
                and self._sort_plans.counts_in_pass(lambda sql: self._run(conn, sql), keys)
            )
            if counted:
                keys = self._page_sql(query, page_where, with_total=True)
            order = order_by(query.sort, page_where)
            rows = self._run(conn, rows_sql(keys, order, with_total=counted))
            if counted and rows:
                total = int(rows[0][-1])
            elif counted and query.offset == 0:
                total = 0  # past the last match (an offset) the page has no row to tell
        if query.count is CountMode.EXACT and total is None:
            total = int(self._run(conn, self._count_sql(where))[0][0])
        return list(rows), total

    def _by_pk(self, conn: sqlite3.Connection, pks: Sequence[int]) -> dict[int, Product]:
        found: dict[int, Product] = {}
        for chunk in _chunks(list(dict.fromkeys(pks))):
            sql = f"SELECT p.pk, {_COLUMNS} FROM products AS p WHERE p.pk IN ({marks(len(chunk))})"
            for row in conn.execute(sql, list(chunk)):
                found[int(row[0])] = codec.decode(row[1:])
        return found

    def _sort_values(
        self, conn: sqlite3.Connection, pk: int, sort: Sequence[SortKey]
    ) -> tuple[Any, ...] | None:
        """A row's values of the sort keys, as ``sort_values`` gives them from the product,
        read from their columns alone (decoding the whole product cost 5 % of a STAC search);
        None when a key is not a plain column."""
        try:
            columns = [column(key.field) for key in sort]
        except InvalidQuery:
            return None
        row = conn.execute(
            f"SELECT {', '.join(col for col, _ in columns)} FROM products AS p WHERE p.pk = ?",
            (pk,),
        ).fetchone()
        if row is None:
            return None
        return tuple(codec.field_value(spec, v) for (_, spec), v in zip(columns, row, strict=True))

    def count(self, query: Query) -> int:
        """Exact number of products matching a normalised query's filter."""
        whole = replace(query, limit=0, offset=0, after=None, count=CountMode.EXACT)
        by_boxes = rtree_page.plan(whole)
        with self._db.read() as conn:
            conn.execute("BEGIN")
            total = None  # counted in memory (see memory/index.py), else from the R*Tree's
            if self._memory is not None:  # boxes (see rtree_page.py), else by SQL
                total = self._memory.count(whole, conn)
            if total is None and by_boxes is not None:
                found = rtree_page.page(by_boxes, whole, lambda sql: self._run(conn, sql))
                total = None if found is None else found[1]
            if total is None:
                total = int(self._run(conn, self._count_sql(self._where(query, conn)))[0][0])
            conn.execute("COMMIT")
        return total

    def prepare_search_index(self, wait_s: float = 0.0) -> str:
        """Start building the in-memory search index in a thread (else the first search does),
        wait up to ``wait_s``; its state: "ready", "building", "failed" or "off"."""
        return "off" if self._memory is None else self._memory.prepare(wait_s)

    def explain(self, query: Query) -> list[str]:
        """SQLite's plan choosing one page's keys (for diagnosing slow searches)."""
        with self._db.read() as conn:
            page_sql = self._page_sql(query, self._where(query, conn))
            rows = conn.execute(f"EXPLAIN QUERY PLAN {page_sql.text}", page_sql.params).fetchall()
        return [str(row[3]) for row in rows]

    def close(self) -> None:
        """Finish queued writes and close every connection."""
        if self._memory is not None:
            self._memory.close()
        self._db.close()

    # -- helpers ---------------------------------------------------------------------------------
    def _where(self, query: Query, conn: sqlite3.Connection) -> Filter:
        def count_candidates(probe: Sql) -> int:
            return int(self._run(conn, probe)[0][0])

        try:
            return compile_filter(query.filter, count_candidates)
        except RecursionError:
            raise InvalidQuery("query is nested too deeply") from None

    def _fast_page(
        self, query: Query, conn: sqlite3.Connection
    ) -> tuple[list[int], int | None] | None:
        """The pks and total of a page by area and sensing window, counted from the R*Tree
        (rtree_page.py) or tested in bulk (spatial_page.py); None for the general path."""

        def run(sql: Sql) -> list[Any]:
            return self._run(conn, sql)

        if self._memory is not None:
            found = self._memory.page(query, conn)
            if found is not None:
                return found
        by_boxes = rtree_page.plan(query)
        if by_boxes is not None:
            found = rtree_page.page(by_boxes, query, run)
            if found is not None:
                return found
        bulk = self._spatial_plan(query, conn)
        return None if bulk is None else spatial_page.page(bulk, query, run)

    def _spatial_plan(self, query: Query, conn: sqlite3.Connection) -> spatial_page.Plan | None:
        """The plan of a page whose exact spatial test runs in bulk (see spatial_page.py)."""

        def count_candidates(probe: Sql) -> int:
            return int(self._run(conn, probe)[0][0])

        try:
            return spatial_page.plan(query, count_candidates)
        except RecursionError:
            raise InvalidQuery("query is nested too deeply") from None

    def _page_where(self, query: Query, where: Filter, conn: sqlite3.Connection) -> Filter:
        """The filter of the page query: the sort key's index drives when many rows match.

        Only for filters without a spatial term or a time window on another field than the
        sort key, sorted first on a column with its own index; a bounded probe counts up to
        SORT_DRIVE_MIN + 1 matches.
        """
        if where.rtree_driven or query.sort[0].field not in _SORT_INDEXED:
            return where
        filtered = fields_of(query.filter)
        if "footprint" in filtered or (filtered & _TIMES) - {query.sort[0].field}:
            return where
        probe = Sql(
            f"SELECT count(*) FROM (SELECT 1 FROM products AS p WHERE {where.sql.text} LIMIT ?)",
            [*where.sql.params, SORT_DRIVE_MIN + 1],
        )
        if int(self._run(conn, probe)[0][0]) <= SORT_DRIVE_MIN:
            return where
        return compile_filter(query.filter, sort_drives=True)

    @staticmethod
    def _page_sql(query: Query, where: Filter, *, with_total: bool = False) -> Sql:
        """The keys of one page: filter, cursor, order, LIMIT limit + 1 (see paging.py)."""
        conds, params = [where.sql.text], list(where.sql.params)
        if query.after is not None:
            after = keyset(query.after, where.not_null)
            conds.append(after.text)
            params += after.params
        return paging.keys_sql(
            Sql(" AND ".join(conds), params),
            order_by(query.sort, where),
            query.limit + 1,
            query.offset,
            with_total=with_total,
        )

    @staticmethod
    def _count_sql(where: Filter) -> Sql:
        return Sql(f"SELECT count(*) FROM products AS p WHERE {where.sql.text}", where.sql.params)

    def _run(self, conn: sqlite3.Connection, sql: Sql) -> list[Any]:
        try:
            return conn.execute(sql.text, sql.params).fetchall()
        except UnicodeEncodeError:
            raise InvalidQuery("query text is not valid Unicode (lone surrogate)") from None
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if translate(exc, self.path, self._db.busy_timeout_s) is not None:
                raise  # the read pool translates it
            # Limits of the engine (expression depth, variables, pattern complexity).
            raise InvalidQuery(f"the SQLite catalogue cannot run this query: {text}") from None


def _store_documents(
    conn: sqlite3.Connection, *, kind: DocumentKind, rendered: list[tuple[int, bytes]]
) -> None:
    """Store documents rendered outside the transaction, for products still present (one
    deleted meanwhile gets none) and without a current document (an upsert meanwhile wrote a
    newer one)."""
    present: set[int] = set()
    for chunk in _chunks([pk for pk, _ in rendered]):
        sql = f"SELECT pk FROM products WHERE pk IN ({marks(len(chunk))})"
        present.update(int(row[0]) for row in conn.execute(sql, list(chunk)))
    stored_documents.fill(conn, kind, [r for r in rendered if r[0] in present])


def _delete_rows(
    conn: sqlite3.Connection, found: list[tuple[int, int]], kinds: Sequence[DocumentKind] = ()
) -> None:
    """Delete products by pk with their R*Tree, FTS, attribute and document rows."""
    box_ids = [((pk << codec.BOX_SHIFT) | k,) for pk, n in found for k in range(n)]
    pks = [(pk,) for pk, _ in found]
    conn.executemany("DELETE FROM products_rtree WHERE id = ?", box_ids)
    conn.executemany("DELETE FROM products_fts WHERE rowid = ?", pks)
    conn.executemany("DELETE FROM product_attributes WHERE product = ?", pks)
    stored_documents.delete(conn, kinds, pks)
    conn.executemany("DELETE FROM products WHERE pk = ?", pks)
