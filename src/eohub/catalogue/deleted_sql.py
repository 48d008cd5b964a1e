"""SQL of the ``deleted_products`` table, shared by both backends through a small dialect.

The table: ``id`` (unique), ``name``, ``deletion_date``, ``deletion_cause``, ``product`` (the
whole product as :mod:`eohub.catalogue.document` bytes) and ``search`` (its searchable values,
see :mod:`eohub.catalogue.deleted_values`). Statements bind every value; the dialect gives the
placeholder, the text functions and how Ids, times and searchable values are read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eohub.catalogue import deleted_values
from eohub.catalogue.document import decode_product, encode_product
from eohub.model.deleted import DeletedProduct
from eohub.query.deleted import DeletedFilter, DeletedQuery, NameMode
from eohub.query.query import CountMode, Page
from eohub.query.tree import MATCH_ALL

COLUMNS = "id, name, deletion_date, deletion_cause, product"
_WRITTEN = f"{COLUMNS}, search"
_SORT_COLUMNS = {"deletion_date": "deletion_date", "name": "name", "id": "id"}


@dataclass(frozen=True)
class Dialect:
    """How one database spells the statements.

    ``modes`` maps each name match to a condition template on ``{col}`` and ``{p}`` (each
    ``{p}`` is one more bound copy of the text). ``collection`` is the expression of the
    product's collection, read from the stored product document (the table has no column of
    its own for it, so such a condition scans the rows the other conditions leave); ``values``
    reads the ``search`` column for conditions on the product as it was.
    """

    mark: str
    false: str
    modes: dict[NameMode, str]
    bind_id: Callable[[uuid.UUID], Any]
    bind_time: Callable[[datetime], Any]
    load_time: Callable[[Any], datetime]
    collection: str
    values: deleted_values.ValueDialect
    bind_search: Callable[[bytes], Any]


@dataclass(frozen=True)
class Statement:
    """SQL text and its parameters."""

    text: str
    params: list[Any]


def insert(dialect: Dialect, deleted: DeletedProduct, *, upsert: str) -> Statement:
    """Record a deletion; ``upsert`` is the dialect's clause replacing an earlier row."""
    marks = ", ".join([dialect.mark] * 6)
    return Statement(
        f"INSERT INTO deleted_products ({_WRITTEN}) VALUES ({marks}) {upsert}",
        [
            dialect.bind_id(deleted.id),
            deleted.name,
            dialect.bind_time(deleted.deletion_date),
            deleted.deletion_cause,
            encode_product(deleted.product),
            dialect.bind_search(deleted_values.search_values(deleted.product)),
        ],
    )


def where(dialect: Dialect, flt: DeletedFilter) -> Statement:
    """The WHERE condition of a filter."""
    if flt.impossible:
        return Statement(dialect.false, [])
    conds: list[str] = []
    params: list[Any] = []
    if flt.ids is not None:
        conds.append(f"id IN ({', '.join([dialect.mark] * len(flt.ids))})")
        params += [dialect.bind_id(i) for i in sorted(flt.ids)]
    if flt.deleted_from is not None:
        conds.append(f"deletion_date >= {dialect.mark}")
        params.append(dialect.bind_time(flt.deleted_from))
    if flt.deleted_until is not None:
        conds.append(f"deletion_date < {dialect.mark}")
        params.append(dialect.bind_time(flt.deleted_until))
    if flt.collections is not None:
        conds.append(
            f"{dialect.collection} IN ({', '.join([dialect.mark] * len(flt.collections))})"
        )
        params += sorted(flt.collections)
    if flt.product != MATCH_ALL:
        text, more = deleted_values.condition(flt.product, dialect.values)
        conds.append(text)
        params += more
    for column, matches in (("name", flt.names), ("deletion_cause", flt.causes)):
        for match in matches:
            if column == "deletion_cause":
                conds.append("deletion_cause IS NOT NULL")  # no cause matches no condition
            if match.mode is not NameMode.EQ and not match.text:
                continue  # every text contains, starts and ends with the empty text
            template = dialect.modes[match.mode]
            target = f"lower({column})" if match.ignore_case else column
            conds.append(template.format(col=target, p=dialect.mark))
            params += [match.needle] * template.count("{p}")
    return Statement(" AND ".join(conds) or "1 = 1", params)


def _bind_sort(dialect: Dialect, field: str, value: Any) -> Any:
    if field == "id":
        return dialect.bind_id(value)
    if field == "deletion_date":
        return dialect.bind_time(value)
    return value


def page(dialect: Dialect, query: DeletedQuery) -> Statement:
    """One page: filter, keyset position, order, ``LIMIT limit + 1 OFFSET offset``."""
    cond = where(dialect, query.filter)
    text, params = cond.text, list(cond.params)
    sort = query.full_sort
    if query.after is not None:
        branches: list[str] = []
        for i, key in enumerate(sort):
            parts = [f"{_SORT_COLUMNS[k.field]} = {dialect.mark}" for k in sort[:i]]
            op = "<" if key.descending else ">"
            parts.append(f"{_SORT_COLUMNS[key.field]} {op} {dialect.mark}")
            branches.append("(" + " AND ".join(parts) + ")")
            params += [
                _bind_sort(dialect, k.field, v)
                for k, v in zip(sort[: i + 1], query.after.values, strict=False)
            ]
        text = f"({text}) AND ({' OR '.join(branches)})"
    order = ", ".join(f"{_SORT_COLUMNS[k.field]} {'DESC' if k.descending else 'ASC'}" for k in sort)
    return Statement(
        f"SELECT {COLUMNS} FROM deleted_products WHERE {text} ORDER BY {order} "
        f"LIMIT {dialect.mark} OFFSET {dialect.mark}",
        [*params, query.limit + 1, query.offset],
    )


def count(dialect: Dialect, query: DeletedQuery) -> Statement:
    """The number of deleted products matching the query's filter."""
    cond = where(dialect, query.filter)
    return Statement(f"SELECT count(*) FROM deleted_products WHERE {cond.text}", cond.params)


def by_id(dialect: Dialect, deleted_id: uuid.UUID) -> Statement:
    """The row of one Id."""
    return Statement(
        f"SELECT {COLUMNS} FROM deleted_products WHERE id = {dialect.mark}",
        [dialect.bind_id(deleted_id)],
    )


def decode(dialect: Dialect, row: Sequence[Any]) -> DeletedProduct:
    """A deleted product from a row of :data:`COLUMNS`."""
    return DeletedProduct(
        product=decode_product(bytes(row[4])),
        deletion_date=dialect.load_time(row[2]),
        deletion_cause=row[3],
    )


def to_page(
    query: DeletedQuery, rows: Sequence[Sequence[Any]], total: int | None, dialect: Dialect
) -> Page[DeletedProduct]:
    """The page of the rows read with :func:`page` (``limit + 1`` of them at most)."""
    items = [decode(dialect, row) for row in rows[: query.limit]]
    more = len(rows) > query.limit and bool(items)
    next_cursor = query.cursor_after(items[-1]) if more else None
    if query.count is not CountMode.EXACT:
        total = None
    return Page(items=items, total=total, next=next_cursor, sort=query.full_sort)
