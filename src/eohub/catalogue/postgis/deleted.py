"""Deleted products in the PostGIS catalogue (table ``deleted_products``, migration 0003).

Times are timestamptz (microseconds), Ids uuid (bytewise, the UUID order), names ``COLLATE
"C"`` (code point order; ``lower()`` folds ASCII only).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eohub.catalogue import deleted_sql
from eohub.catalogue.postgis.connection import Conn
from eohub.model.deleted import DeletedProduct
from eohub.query.deleted import DeletedQuery, NameMode
from eohub.query.query import CountMode, Page


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
)
_REPLACE = (
    "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, deletion_date = EXCLUDED.deletion_date,"
    " deletion_cause = EXCLUDED.deletion_cause, product = EXCLUDED.product"
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
