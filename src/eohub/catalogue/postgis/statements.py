"""Whole statements: a page (ORDER BY, keyset cursor, LIMIT/OFFSET) and an exact count.

Keyset pagination: a cursor holds the last row's sort values (ending with ``id``); the next page
is every row strictly after it. When every key shares one direction and is NOT NULL this is a
row-value comparison (one index range); otherwise the predicate is expanded key by key, NULL
aware (NULL is the largest value), plus a redundant bound on the first key so an index range
scan still starts at the cursor. NULL sorts last ascending and first descending (PostgreSQL's
default), as in the evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from eohub.catalogue.postgis import codec, spacetime
from eohub.catalogue.postgis.compiler import (
    FALSE,
    INT64_MAX,
    INT64_MIN,
    Context,
    Frag,
    and_all,
    column,
    compare_value,
    compile_filter,
    field_of,
    or_any,
    storable_text,
)
from eohub.query.query import Cursor, Query, SortKey
from eohub.query.tree import CompareOp, Node, Value

# -- order and keyset ---------------------------------------------------------------------------


def order_by(sort: Sequence[SortKey], alias: str = "p") -> sql.Composed:
    """ORDER BY list: NULLs come last ascending and first descending (PostgreSQL default)."""
    keys = [
        sql.SQL("{} {}").format(column(k.field, alias), sql.SQL("DESC" if k.descending else "ASC"))
        for k in sort
    ]
    return sql.SQL(", ").join(keys)


def _key_equal(key: SortKey, value: Value | None) -> Frag:
    if value is None:
        return Frag(sql.SQL("{} IS NULL").format(column(key.field)))
    return compare_value(column(key.field), CompareOp.EQ, value)


def _key_after(key: SortKey, value: Value | None) -> Frag:
    nullable = field_of(key.field).nullable
    col = column(key.field)
    if value is None:  # NULL is the largest value
        return Frag(sql.SQL("{} IS NOT NULL").format(col)) if key.descending else FALSE
    strict = compare_value(col, CompareOp.LT if key.descending else CompareOp.GT, value)
    if nullable and not key.descending:
        return or_any([strict, Frag(sql.SQL("{} IS NULL").format(col))])
    return strict


def _storable(value: Value | None) -> bool:
    """Whether a column could hold ``value`` as it is (not NULL, no NUL, within bigint)."""
    if value is None:
        return False
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return INT64_MIN <= value <= INT64_MAX
    return True


def keyset(cursor: Cursor) -> Frag:
    """Rows strictly after the cursor's row in the cursor's sort order."""
    sort, values = cursor.sort, cursor.values
    plain = all(
        _storable(v) and not field_of(k.field).nullable for k, v in zip(sort, values, strict=True)
    )
    if plain and len({k.descending for k in sort}) == 1:
        # Row-value comparison: one index range when every key shares a direction.
        cols = sql.SQL(", ").join(column(k.field) for k in sort)
        marks = sql.SQL(", ").join([sql.Placeholder()] * len(sort))
        op = "<" if sort[0].descending else ">"
        return Frag(sql.SQL("({}) " + op + " ({})").format(cols, marks), tuple(values))  # type: ignore[arg-type]
    terms: list[Frag] = []
    for i, key in enumerate(sort):
        equal = [_key_equal(k, v) for k, v in zip(sort[:i], values[:i], strict=True)]
        terms.append(and_all([*equal, _key_after(key, values[i])]))
    result = or_any(terms)
    first, value = sort[0], values[0]
    if value is not None and not field_of(first.field).nullable and len(terms) > 1:
        # Redundant bound on the first key so an index range scan can start at the cursor.
        bound = compare_value(
            column(first.field), CompareOp.LE if first.descending else CompareOp.GE, value
        )
        result = and_all([bound, result])
    return result


# -- statements --------------------------------------------------------------------------------


def space_time_prefilter(node: Node) -> Frag | None:
    """``space_time &&& window`` for each top-level spatial test, or None (see spacetime)."""
    windows = spacetime.query_windows(node)
    if windows is None:
        return None
    tests = sql.SQL("p.space_time &&& ST_GeomFromWKB(%s)")
    return and_all([Frag(tests, (w,)) for w in windows]) if windows else FALSE


Prefixes = Mapping[str, Sequence[str] | None]


def _where(query: Query, prefixes: Prefixes | None, *, keyset_too: bool) -> Frag:
    prefilter = space_time_prefilter(query.filter)
    ctx = Context(prefixes=prefixes or {}, spatial_unindexed=prefilter is not None)
    parts = [compile_filter(query.filter, ctx)]
    if prefilter is not None:
        parts.append(prefilter)
    if keyset_too and query.after is not None:
        parts.append(keyset(query.after))
    return and_all(parts)


Statement = tuple[sql.Composed, tuple[Any, ...]]
_SELECT_Q = codec.read_select("q")  # composed once: the same for every page
_ATTRIBUTES_Q = codec.attributes_lateral("q")


def page_statement(query: Query, prefixes: Prefixes | None = None) -> Statement:
    """SELECT of one page (``limit + 1`` rows, to tell whether more follow) with attributes.

    The inner query filters, sorts and cuts the page; only its rows get their attributes.
    ``prefixes``: vocabulary expansions of the Text prefixes (see ``compiler.Context``).
    """
    where = _where(query, prefixes, keyset_too=True)
    statement = sql.SQL(
        "SELECT {select} FROM (SELECT p.* FROM products p WHERE {where} ORDER BY {order} "
        "LIMIT %s OFFSET %s) q {attrs} ORDER BY {outer}"
    ).format(
        select=_SELECT_Q,
        where=where.sql,
        order=order_by(query.sort, "p"),
        attrs=_ATTRIBUTES_Q,
        outer=order_by(query.sort, "q"),
    )
    return statement, (*where.params, query.limit + 1, query.offset)


def page_ids_statement(query: Query, prefixes: Prefixes | None = None) -> Statement:
    """SELECT of one page's Ids only (``limit + 1``, in the page's order): for pages whose rows
    are read from stored documents."""
    where = _where(query, prefixes, keyset_too=True)
    statement = sql.SQL(
        "SELECT p.id FROM products p WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
    ).format(where=where.sql, order=order_by(query.sort, "p"))
    return statement, (*where.params, query.limit + 1, query.offset)


def count_statement(query: Query, prefixes: Prefixes | None = None) -> Statement:
    """SELECT count(*) of the query's filter (cursor and window do not apply)."""
    where = _where(query, prefixes, keyset_too=False)
    statement = sql.SQL("SELECT count(*) FROM products p WHERE {}").format(where.sql)
    return statement, where.params
