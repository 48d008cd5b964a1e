"""Deleted products in the SQLite catalogue (table ``deleted_products``, schema version 2).

Times are integer microseconds since the epoch, Ids canonical lower-case text (their text order
is the UUID order), names compare with BINARY (code point) order; ``lower()`` folds ASCII only.
"""

from __future__ import annotations

import sqlite3
import uuid

from eohub.catalogue import deleted_sql
from eohub.catalogue.sqlite.codec import from_us, to_us
from eohub.model.deleted import DeletedProduct
from eohub.query.deleted import DeletedQuery, NameMode
from eohub.query.query import CountMode, Page

DIALECT = deleted_sql.Dialect(
    mark="?",
    false="0",
    modes={
        NameMode.EQ: "{col} = {p}",
        NameMode.CONTAINS: "instr({col}, {p}) > 0",
        NameMode.STARTS: "instr({col}, {p}) = 1",
        NameMode.ENDS: "substr({col}, -length({p})) = {p}",
    },
    bind_id=str,
    bind_time=to_us,
    load_time=from_us,
    collection="json_extract(CAST(product AS TEXT), '$.collection')",
)
_REPLACE = (
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, deletion_date = excluded.deletion_date,"
    " deletion_cause = excluded.deletion_cause, product = excluded.product"
)


def record(conn: sqlite3.Connection, deleted: DeletedProduct) -> None:
    """Write a deletion (inside the caller's write transaction); replaces one of the same Id."""
    statement = deleted_sql.insert(DIALECT, deleted, upsert=_REPLACE)
    conn.execute(statement.text, statement.params)


def page(conn: sqlite3.Connection, query: DeletedQuery) -> Page[DeletedProduct]:
    """One page of deleted products (and their count when asked), from one snapshot."""
    conn.execute("BEGIN")
    rows: list[tuple[object, ...]] = []
    if query.limit > 0:
        statement = deleted_sql.page(DIALECT, query)
        rows = conn.execute(statement.text, statement.params).fetchall()
    total = None
    if query.count is CountMode.EXACT:
        statement = deleted_sql.count(DIALECT, query)
        total = int(conn.execute(statement.text, statement.params).fetchone()[0])
    conn.execute("COMMIT")
    return deleted_sql.to_page(query, rows, total, DIALECT)


def get(conn: sqlite3.Connection, deleted_id: uuid.UUID) -> DeletedProduct | None:
    """The deletion record of one Id."""
    statement = deleted_sql.by_id(DIALECT, deleted_id)
    row = conn.execute(statement.text, statement.params).fetchone()
    return None if row is None else deleted_sql.decode(DIALECT, row)
