"""Deleted products in the PostGIS catalogue (table ``deleted_products``, migrations 0003, 0006).

Times are timestamptz (microseconds), Ids uuid (bytewise, the UUID order), names ``COLLATE
"C"`` (code point order; ``lower()`` folds ASCII only). ``search`` is the jsonb of the
product's searchable values (``catalogue.deleted_values``); a value is cast only under a CASE
on its kind, so no row's value of another kind can make a cast fail.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from eohub.catalogue import deleted_sql
from eohub.catalogue.deleted_values import Condition, search_values
from eohub.catalogue.document import decode_product
from eohub.catalogue.postgis.compiler import like_pattern
from eohub.catalogue.postgis.connection import Conn, Database
from eohub.model.deleted import DeletedProduct
from eohub.query.deleted import DeletedQuery, NameMode
from eohub.query.query import CountMode, Page

BACKFILL_BATCH = 1000


class _Values:
    """``deleted_values.ValueDialect`` of PostgreSQL: ``->`` on the ``search`` jsonb."""

    true = "TRUE"
    false = "FALSE"

    def present(self, name: str) -> Condition:
        return "((search -> %s) IS NOT NULL)", [name]

    def compare(self, name: str, kind: str, op: str, value: Any, *, fold: bool) -> Condition:
        if kind == "s":
            shown = "lower(search -> %s ->> 1)" if fold else "(search -> %s ->> 1)"
            cast = f'{shown} COLLATE "C"'
        else:
            cast = "(search -> %s -> 1)::numeric"
        return (
            f"(CASE WHEN search -> %s ->> 0 = %s THEN {cast} END {op} %s)",
            [name, kind, name, value],
        )

    def like(self, name: str, pattern: str, *, fold: bool) -> Condition:
        if "\x00" in pattern:  # no stored text holds NUL
            return "FALSE", []
        shown = "lower(search -> %s ->> 1)" if fold else "(search -> %s ->> 1)"
        return (
            f"(CASE WHEN search -> %s ->> 0 = 's' THEN {shown} END LIKE %s ESCAPE '\\')",
            [name, name, like_pattern(pattern)],
        )


def _load_time(value: Any) -> datetime:
    stamp: datetime = value
    return stamp.astimezone(UTC)


DIALECT = deleted_sql.Dialect(
    mark="%s",
    false="FALSE",
    modes={
        NameMode.EQ: "{col} = {p}",
        NameMode.CONTAINS: "strpos({col}, {p}) > 0",
        NameMode.STARTS: "starts_with({col}, {p})",
        NameMode.ENDS: "right({col}, length({p})) = {p}",
    },
    bind_id=lambda value: value,
    bind_time=lambda value: value,
    load_time=_load_time,
    collection="(convert_from(product, 'UTF8')::jsonb ->> 'collection')",
    values=_Values(),
    bind_search=lambda data: Jsonb(data, dumps=bytes.decode),
)
_REPLACE = (
    "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, deletion_date = EXCLUDED.deletion_date,"
    " deletion_cause = EXCLUDED.deletion_cause, product = EXCLUDED.product,"
    " search = EXCLUDED.search"
)


def record(conn: Conn, deleted: DeletedProduct) -> None:
    """Write a deletion (inside the caller's transaction); replaces one of the same Id."""
    statement = deleted_sql.insert(DIALECT, deleted, upsert=_REPLACE)
    conn.execute(statement.text, statement.params)


def page(conn: Conn, query: DeletedQuery) -> Page[DeletedProduct]:
    """One page of deleted products (and their count when asked), from one snapshot."""
    rows: list[tuple[object, ...]] = []
    total = None
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if query.limit > 0:
            statement = deleted_sql.page(DIALECT, query)
            rows = conn.execute(statement.text, statement.params).fetchall()
        if query.count is CountMode.EXACT:
            statement = deleted_sql.count(DIALECT, query)
            found = conn.execute(statement.text, statement.params).fetchone()
            total = int(str(found[0])) if found else 0
    return deleted_sql.to_page(query, rows, total, DIALECT)


def get(conn: Conn, deleted_id: uuid.UUID) -> DeletedProduct | None:
    """The deletion record of one Id."""
    statement = deleted_sql.by_id(DIALECT, deleted_id)
    row = conn.execute(statement.text, statement.params).fetchone()
    return None if row is None else deleted_sql.decode(DIALECT, row)


def backfill_all(db: Database) -> int:
    """Give every deletion recorded before migration 0006 its searchable values, a batch per
    transaction; how many."""
    left = db.run(
        lambda conn: conn.execute(
            "SELECT count(*) FROM deleted_products WHERE search IS NULL"
        ).fetchone()
    )
    done = 0
    for _ in range(int(str(left[0] if left else 0)) // BACKFILL_BATCH + 1):
        filled = db.run(backfill)
        done += filled
        if filled < BACKFILL_BATCH:
            break
    return done


def backfill(conn: Conn) -> int:
    """Give up to BACKFILL_BATCH deletions recorded before migration 0006 their searchable
    values, from their stored product, in one transaction; how many."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, product FROM deleted_products WHERE search IS NULL LIMIT %s FOR UPDATE",
            (BACKFILL_BATCH,),
        ).fetchall()
        updates: list[tuple[Any, Any]] = []
        for pid, stored in rows:
            if not isinstance(stored, bytes | memoryview):
                raise TypeError(f"unexpected deleted_products.product type {type(stored)}")
            values = search_values(decode_product(bytes(stored)))
            updates.append((DIALECT.bind_search(values), pid))
        with conn.cursor() as cur:
            cur.executemany("UPDATE deleted_products SET search = %s WHERE id = %s", updates)
    return len(rows)
