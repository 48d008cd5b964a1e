"""ORDER BY and keyset-cursor predicates with the reference sort semantics.

NULL sorts as the largest value (last ascending, first descending); ``id`` ends every sort.
A cursor compiles to a flat, NULL-aware predicate over the sort keys behind a range on the
leading key, so an index on that key serves page 1,000 as fast as page 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from eohub.catalogue.sqlite.codec import bind
from eohub.catalogue.sqlite.sqltext import Filter, Sql, column, join
from eohub.query.query import Cursor, SortKey
from eohub.query.tree import Value


def order_by(sort: Sequence[SortKey], where: Filter) -> str:
    """ORDER BY terms: NULL is the largest value (last ascending, first descending).

    The NULLS clause is left out where the filter excludes NULL (an index then serves the
    order); with an R*Tree-driven plan the keys are written ``+p.col`` (see SMALL_BOX_DEG2).
    """
    terms: list[str] = []
    for key in sort:
        col, spec = column(key.field)
        if where.rtree_driven:
            col = f"+{col}"
        direction = "DESC" if key.descending else "ASC"
        nulls = ""
        if spec.nullable and spec.name not in where.not_null:
            nulls = " NULLS FIRST" if key.descending else " NULLS LAST"
        terms.append(f"{col} {direction}{nulls}")
    return ", ".join(terms)


def _after_key(col: str, nullable: bool, desc: bool, value: Value | None) -> Sql:
    """Rows strictly after ``value`` on one key."""
    if value is None:
        return Sql(f"{col} IS NOT NULL") if desc else Sql("0")
    if desc:
        return Sql(f"{col} < ?", [bind(value)])
    if nullable:
        return Sql(f"({col} > ? OR {col} IS NULL)", [bind(value)])
    return Sql(f"{col} > ?", [bind(value)])


def keyset(cursor: Cursor, not_null: frozenset[str] = frozenset()) -> Sql:
    """Rows strictly after the cursor's row in the cursor's sort order.

    Written flat, ``after1 OR eq1 AND after2 OR eq1 AND eq2 AND after3 ...`` (no nesting, see
    ``_Compiler.node``), behind a range on the leading key that an index can serve. Keys in
    ``not_null`` (the filter excludes NULL there) are treated as non-nullable.
    """
    keys = [(*column(k.field), k.descending) for k in cursor.sort]
    keys = [
        (col, replace(spec, nullable=spec.nullable and spec.name not in not_null), desc)
        for col, spec, desc in keys
    ]
    terms: list[Sql] = []
    equal: list[Sql] = []
    for (col, spec, desc), value in zip(keys, cursor.values, strict=True):
        after = _after_key(col, spec.nullable, desc, value)
        if after.text != "0":
            terms.append(join([*equal, after], " AND "))
        equal.append(Sql(f"{col} IS NULL") if value is None else Sql(f"{col} = ?", [bind(value)]))
    expr = join(terms, " OR ", wrap=True) if terms else Sql("0")
    col, spec, desc = keys[0]
    first = cursor.values[0]
    if first is not None and (desc or not spec.nullable):
        bound = Sql(f"{col} {'<=' if desc else '>='} ?", [bind(first)])
        return Sql(f"{bound.text} AND {expr.text}", bound.params + expr.params)
    return expr
