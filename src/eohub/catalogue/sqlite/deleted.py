"""Deleted products in the SQLite catalogue (table ``deleted_products``, schema versions 2, 6).

Times are integer microseconds since the epoch, Ids canonical lower-case text (their text order
is the UUID order), names compare with BINARY (code point) order; ``lower()`` folds ASCII only.
``search`` is the JSON text of the product's searchable values (``catalogue.deleted_values``),
read with ``json_extract``.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from typing import Any

from eohub.catalogue import deleted_sql
from eohub.catalogue.deleted_values import Condition, search_values
from eohub.catalogue.document import decode_product
from eohub.catalogue.sqlite.codec import from_us, to_us
from eohub.catalogue.sqlite.compiler import glob_pattern
from eohub.catalogue.sqlite.connections import Connections
from eohub.model.deleted import DeletedProduct
from eohub.query.deleted import DeletedQuery, NameMode
from eohub.query.query import CountMode, Page

# Names written as a JSON path; any other is looked up among the object's keys.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
BACKFILL_BATCH = 1000


class _Values:
    """``deleted_values.ValueDialect`` of SQLite: ``json_extract`` on the ``search`` text."""

    true = "1"
    false = "0"

    @staticmethod
    def _entry(name: str, part: str) -> Condition:
        """The entry (``part`` "") or its kind (``[0]``) or its value (``[1]``)."""
        if _PLAIN_NAME.fullmatch(name):
            return "json_extract(search, ?)", [f'$."{name}"{part}']
        return (
            "(SELECT json_extract(e.value, ?) FROM json_each(search) AS e WHERE e.key = ?)",
            [f"${part}", name],
        )

    def present(self, name: str) -> Condition:
        text, params = self._entry(name, "")
        return f"({text} IS NOT NULL)", params

    def compare(self, name: str, kind: str, op: str, value: Any, *, fold: bool) -> Condition:
        kind_text, kind_params = self._entry(name, "[0]")
        value_text, value_params = self._entry(name, "[1]")
        if fold:
            value_text = f"lower({value_text})"
        return (
            f"({kind_text} = ? AND {value_text} {op} ?)",
            [*kind_params, kind, *value_params, value],
        )

    def like(self, name: str, pattern: str, *, fold: bool) -> Condition:
        if "\x00" in pattern:  # no stored text holds NUL
            return "0", []
        kind_text, kind_params = self._entry(name, "[0]")
        value_text, value_params = self._entry(name, "[1]")
        if fold:
            value_text = f"lower({value_text})"
        return (
            f"({kind_text} = 's' AND {value_text} GLOB ?)",
            [*kind_params, *value_params, glob_pattern(pattern)],
        )


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
    values=_Values(),
    bind_search=lambda data: data.decode("utf-8"),
)
_REPLACE = (
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, deletion_date = excluded.deletion_date,"
    " deletion_cause = excluded.deletion_cause, product = excluded.product,"
    " search = excluded.search"
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


def backfill_all(db: Connections) -> int:
    """Give every deletion recorded before schema version 6 its searchable values, a batch per
    write transaction (readers and writers get their turn in between); how many."""
    with db.read() as conn:
        left = int(
            conn.execute("SELECT count(*) FROM deleted_products WHERE search IS NULL").fetchone()[0]
        )
    done = 0
    for _ in range(left // BACKFILL_BATCH + 1):
        filled = db.write(backfill)
        done += filled
        if filled < BACKFILL_BATCH:
            break
    return done


def backfill(conn: sqlite3.Connection) -> int:
    """Give up to BACKFILL_BATCH deletions recorded before schema version 6 their searchable
    values, from their stored product (inside the writer's transaction); how many."""
    rows = conn.execute(
        "SELECT id, product FROM deleted_products WHERE search IS NULL LIMIT ?", (BACKFILL_BATCH,)
    ).fetchall()
    conn.executemany(
        "UPDATE deleted_products SET search = ? WHERE id = ?",
        [(search_values(decode_product(bytes(p))).decode("utf-8"), pid) for pid, p in rows],
    )
    return len(rows)
