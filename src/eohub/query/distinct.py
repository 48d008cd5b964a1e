"""Distinct values of an indexed field, read with a skip scan through any catalogue's search.

One ``limit 1`` search per value, sorted on the field then ``sensing_start`` as both
backends' indexes are, so each search reads a few index entries. (Sorted on the field alone,
the product id that breaks ties made SQLite sort every product of a value: 12 s for the
portal's lists at 1M products.) The search function is the caller's: this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from eohub.model.product import Product
from eohub.query.fields import FIELDS
from eohub.query.query import Page, Query, SortKey
from eohub.query.tree import MATCH_ALL, Compare, CompareOp, Node, and_

Search = Callable[[Query], Page[Product]]


def first_of_each(
    search: Search, name: str, base: Node = MATCH_ALL, most: int = 60
) -> list[Product]:
    """The first product of each distinct value of ``name`` among the products matching
    ``base`` (NULL values aside), smallest value first, at most ``most`` of them."""
    getter = FIELDS.get(name).get
    found: list[Product] = []
    sort = (SortKey(name), SortKey("sensing_start"))  # the (field, sensing_start) indexes
    while len(found) < most:
        last = getter(found[-1]) if found else None
        where = base if last is None else and_(base, Compare(name, CompareOp.GT, last))
        page = search(Query(filter=where, sort=sort, limit=1))
        if not page.items or getter(page.items[0]) is None:
            break
        found.append(page.items[0])
    return found


def distinct(search: Search, name: str, base: Node = MATCH_ALL, most: int = 60) -> tuple[str, ...]:
    """The distinct values of an indexed field as text, smallest first."""
    getter = FIELDS.get(name).get
    return tuple(str(getter(p)) for p in first_of_each(search, name, base, most))


__all__ = ["Search", "distinct", "first_of_each"]
