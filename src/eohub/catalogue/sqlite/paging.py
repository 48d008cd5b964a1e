"""Page statements of the SQLite catalogue: the page's keys first, then its rows.

A page query sorts every match of its filter unless an index walks the sort order. Sorting
whole rows moves each match's footprints and JSON extras through SQLite's sorter; so the keys
statement sorts only ``pk`` and the sort keys, and the rows statement then reads the full rows
of the at most ``limit + 1`` winners. Measured on 1 million generated products with typical
DHuS searches (a large area, one or two months, ~2,500 matches): 30 ms -> 23 ms a page.

When the plan sorts every match anyway, the same pass counts them with ``count(*) OVER ()``,
computed over all matches before LIMIT and OFFSET: the exact total then costs no second
evaluation of the filter (a separate count took 23 ms there). Where an index walks the sort
order and stops after one page, a separate count stays cheaper, and is kept; so it is where
a covering index alone answers the filter (a month of one collection: the window pass took
16 ms, a separate count 0.6 ms).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eohub.catalogue.sqlite.schema import PRODUCT_COLUMNS
from eohub.catalogue.sqlite.sqltext import Sql

_COLUMNS = ", ".join(f"p.{c}" for c in PRODUCT_COLUMNS)
_SORTS_ALL = "USE TEMP B-TREE FOR ORDER BY"  # not "... RIGHT PART OF ORDER BY": that stops early
_COVERING = "USING COVERING INDEX"
_PLANS_KEPT = 512


def keys_sql(conds: Sql, order: str, limit: int, offset: int, *, with_total: bool = False) -> Sql:
    """SELECT of one page's ``pk`` (and the count of every match when ``with_total``)."""
    columns = "p.pk AS pk, count(*) OVER () AS total" if with_total else "p.pk AS pk"
    return Sql(
        f"SELECT {columns} FROM products AS p WHERE {conds.text} ORDER BY {order} LIMIT ? OFFSET ?",
        [*conds.params, limit, offset],
    )


def rows_sql(keys: Sql, order: str | None, *, with_total: bool = False) -> Sql:
    """The full rows (PRODUCT_COLUMNS, then the total when ``with_total``) of a keys SELECT,
    ordered by ``order``, or by the keys' column ``at`` when None (keys in page order).

    CROSS JOIN keeps the page's few keys as the outer loop: each row is one primary-key seek.
    """
    total = ", s.total" if with_total else ""
    return Sql(
        f"SELECT {_COLUMNS}{total} FROM ({keys.text}) AS s "
        f"CROSS JOIN products AS p ON p.pk = s.pk ORDER BY {order or 's.at'}",
        keys.params,
    )


class SortPlans:
    """Remembers, per keys statement, whether SQLite's plan sorts every match.

    Without statistics the plan depends on the statement's text, not its values, so one
    EXPLAIN per distinct statement suffices. Shared by the read threads of one catalogue.
    """

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}
        self._lock = threading.Lock()

    def counts_in_pass(self, run: Callable[[Sql], Sequence[Any]], keys: Sql) -> bool:
        """True when the plan of ``keys`` feeds every match into a sort (no early stop) and
        reads the table for them (no covering index): counting in that pass is then cheaper
        than a second statement. ``run`` executes a statement on the search's connection."""
        known = self._known.get(keys.text)
        if known is None:
            plan = run(Sql(f"EXPLAIN QUERY PLAN {keys.text}", keys.params))
            sorts_all = any(row[1] == 0 and row[3] == _SORTS_ALL for row in plan)
            covered = any(_COVERING in str(row[3]) for row in plan)
            known = sorts_all and not covered
            with self._lock:
                if len(self._known) >= _PLANS_KEPT:
                    self._known.clear()
                self._known[keys.text] = known
        return known
