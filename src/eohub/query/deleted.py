"""Queries over deleted products: a small filter (Ids, name matches, deletion cause matches,
collections, a deletion time window, and conditions on the product as it was), an order on the
deletion date or the name with the Id as tie-break, and a page window.

Deleted products keep the fields of their own table (plus the collection, read from the stored
product), so they have this model rather than the product query tree; only ``product``, a tree
of comparisons, null tests and patterns on the product's own fields and attributes (sensing
times, CDSE attribute conditions) joined with and/or/not, is evaluated as the product query
tree is. :func:`select_deleted` is the reference semantics every backend keeps: names and
causes compare by code point, ``ignore_case`` folds ASCII letters only (as ``query.evaluate``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import total_ordering
from typing import Any

from eohub.errors import InvalidQuery
from eohub.model.deleted import DeletedProduct
from eohub.model.product import utc
from eohub.query.evaluate import fold, matches
from eohub.query.fields import FIELDS, FieldType
from eohub.query.query import ID_TIEBREAK, MAX_LIMIT, CountMode, Cursor, Page, SortKey
from eohub.query.tree import (
    MATCH_ALL,
    MATCH_NONE,
    And,
    Compare,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Value,
    and_,
)

DELETED_SORT_FIELDS = ("deletion_date", "name")
DEFAULT_DELETED_SORT = (SortKey("deletion_date"),)
MAX_IDS = 1000
MAX_NAME_MATCHES = 20
MAX_NAME_TEXT = 1000
MAX_DELETED_OFFSET = 2**62
MAX_PRODUCT_NODES = 1000


class NameMode(StrEnum):
    """How a name match compares."""

    EQ = "eq"
    CONTAINS = "contains"
    STARTS = "starts"
    ENDS = "ends"


@dataclass(frozen=True)
class NameMatch:
    """The product name equals, contains, starts or ends with ``text``."""

    mode: NameMode
    text: str
    ignore_case: bool = False

    def __post_init__(self) -> None:
        if len(self.text) > MAX_NAME_TEXT:
            raise InvalidQuery(f"a name to match has at most {MAX_NAME_TEXT} characters")
        if "\x00" in self.text:
            raise InvalidQuery("a name to match cannot contain a NUL character")
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidQuery("query text is not valid Unicode (lone surrogate)") from None

    @property
    def needle(self) -> str:
        """The text as the backends compare it (ASCII-folded when ignoring case)."""
        return fold(self.text) if self.ignore_case else self.text

    def matches(self, name: str) -> bool:
        """True when ``name`` meets this match."""
        value, needle = (fold(name), self.needle) if self.ignore_case else (name, self.text)
        if self.mode is NameMode.EQ:
            return value == needle
        if self.mode is NameMode.CONTAINS:
            return needle in value
        if self.mode is NameMode.STARTS:
            return value.startswith(needle)
        return value.endswith(needle)


@dataclass(frozen=True)
class DeletedFilter:
    """Conditions that all hold: Id among ``ids`` (None: any), every name match, every match
    of the deletion cause (a product deleted without a cause matches none), the collection
    among ``collections`` (None: any), ``deleted_from <= deletion date < deleted_until``
    (None: unbounded) and ``product`` on the product as it was (see
    :func:`check_product_condition`)."""

    ids: frozenset[uuid.UUID] | None = None
    names: tuple[NameMatch, ...] = ()
    deleted_from: datetime | None = None
    deleted_until: datetime | None = None
    causes: tuple[NameMatch, ...] = ()
    collections: frozenset[str] | None = None
    product: Node = MATCH_ALL

    def __post_init__(self) -> None:
        if self.product != MATCH_ALL:
            check_product_condition(self.product)
        if self.ids is not None and len(self.ids) > MAX_IDS:
            raise InvalidQuery(f"a query names at most {MAX_IDS} Ids")
        if self.collections is not None and len(self.collections) > MAX_IDS:
            raise InvalidQuery(f"a query names at most {MAX_IDS} collections")
        if len(self.names) + len(self.causes) > MAX_NAME_MATCHES:
            raise InvalidQuery(f"a query has at most {MAX_NAME_MATCHES} text conditions")
        for name in ("deleted_from", "deleted_until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value))

    @property
    def impossible(self) -> bool:
        """True when no deleted product can match (no Id allowed, or an empty window)."""
        if self.ids is not None and not self.ids:
            return True
        if self.collections is not None and not self.collections:
            return True
        if self.product == MATCH_NONE:
            return True
        low, high = self.deleted_from, self.deleted_until
        return low is not None and high is not None and low >= high

    def matches(self, deleted: DeletedProduct) -> bool:
        """True when ``deleted`` meets every condition."""
        if self.ids is not None and deleted.id not in self.ids:
            return False
        if self.deleted_from is not None and deleted.deletion_date < self.deleted_from:
            return False
        if self.deleted_until is not None and deleted.deletion_date >= self.deleted_until:
            return False
        if self.collections is not None and deleted.product.collection not in self.collections:
            return False
        cause = deleted.deletion_cause
        if self.causes and (cause is None or not all(m.matches(cause) for m in self.causes)):
            return False
        if not all(m.matches(deleted.name) for m in self.names):
            return False
        return self.product == MATCH_ALL or matches(self.product, deleted.product)

    def narrow(self, other: DeletedFilter) -> DeletedFilter:
        """The conjunction of this filter and ``other``."""
        ids = self.ids if other.ids is None else other.ids
        if self.ids is not None and other.ids is not None:
            ids = self.ids & other.ids
        collections = self.collections if other.collections is None else other.collections
        if self.collections is not None and other.collections is not None:
            collections = self.collections & other.collections
        lows = [v for v in (self.deleted_from, other.deleted_from) if v is not None]
        highs = [v for v in (self.deleted_until, other.deleted_until) if v is not None]
        return DeletedFilter(
            ids=ids,
            names=(*self.names, *other.names),
            deleted_from=max(lows) if lows else None,
            deleted_until=min(highs) if highs else None,
            causes=(*self.causes, *other.causes),
            collections=collections,
            product=and_(self.product, other.product),
        )


def check_product_condition(node: Node) -> None:
    """Refuse a product condition deleted products cannot answer (InvalidQuery): it may hold
    And, Or, Not, Compare, IsNull and Like on scalar fields and attributes, at most
    MAX_PRODUCT_NODES nodes."""
    stack = [node]
    seen = 0
    while stack:
        seen += 1
        if seen > MAX_PRODUCT_NODES:
            raise InvalidQuery(f"a deleted-products filter has at most {MAX_PRODUCT_NODES} terms")
        item = stack.pop()
        if isinstance(item, And | Or):
            stack.extend(item.items)
        elif isinstance(item, Not):
            stack.append(item.item)
        elif isinstance(item, Compare | IsNull | Like):
            if FIELDS.get(item.field).type in (FieldType.GEOMETRY, FieldType.UUID):
                raise InvalidQuery(f"deleted products cannot be searched by {item.field}")
            text = item.pattern if isinstance(item, Like) else getattr(item, "value", None)
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidQuery("query text is not valid Unicode (lone surrogate)") from None
        else:
            raise InvalidQuery(
                f"deleted products cannot be searched with {type(item).__name__} conditions"
            )


def sort_value(deleted: DeletedProduct, name: str) -> Value:
    """The value of a sort field (``deletion_date``, ``name`` or ``id``) of a deleted product."""
    if name == "deletion_date":
        return deleted.deletion_date
    if name == "name":
        return deleted.name
    return deleted.id


@dataclass(frozen=True)
class DeletedQuery:
    """Filter, order, page window (``offset`` and/or a keyset ``after`` cursor) and count.

    ``sort`` holds keys on ``deletion_date`` and ``name``; ``full_sort`` appends the ascending
    Id tie-break, and a cursor holds one value per key of ``full_sort``.
    """

    filter: DeletedFilter = field(default_factory=DeletedFilter)
    sort: tuple[SortKey, ...] = DEFAULT_DELETED_SORT
    limit: int = 10
    offset: int = 0
    after: Cursor | None = None
    count: CountMode = CountMode.NONE

    def __post_init__(self) -> None:
        fields = [k.field for k in self.sort]
        if any(f not in DELETED_SORT_FIELDS for f in fields) or len(set(fields)) != len(fields):
            shown = ", ".join(DELETED_SORT_FIELDS)
            raise InvalidQuery(
                f"deleted products sort on {shown} (each at most once)", field="sort"
            )
        if not 0 <= self.limit <= MAX_LIMIT:
            raise InvalidQuery(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
        if not 0 <= self.offset <= MAX_DELETED_OFFSET:
            raise InvalidQuery("offset out of range", field="offset")
        if self.after is not None:
            self._check_cursor(self.after)

    @property
    def full_sort(self) -> tuple[SortKey, ...]:
        """The sort keys with the Id tie-break last."""
        return (*self.sort, ID_TIEBREAK)

    def _check_cursor(self, cursor: Cursor) -> None:
        bad = InvalidQuery("page token (cursor) does not match the sort order", field="cursor")
        if cursor.sort != self.full_sort or len(cursor.values) != len(cursor.sort):
            raise bad
        for key, value in zip(cursor.sort, cursor.values, strict=True):
            kinds = {"deletion_date": datetime, "name": str, "id": uuid.UUID}
            if not isinstance(value, kinds[key.field]):
                raise bad

    def cursor_after(self, deleted: DeletedProduct) -> Cursor:
        """The cursor of the position just after ``deleted``."""
        return Cursor(self.full_sort, tuple(sort_value(deleted, k.field) for k in self.full_sort))

    def counting(self) -> DeletedQuery:
        """The same filter, asking for the count only (no rows)."""
        return replace(self, limit=0, offset=0, after=None, count=CountMode.EXACT)


def _key(deleted: DeletedProduct, sort: tuple[SortKey, ...]) -> list[Any]:
    out: list[Any] = []
    for key in sort:
        value = sort_value(deleted, key.field)
        out.append(_Desc(value) if key.descending else value)
    return out


@total_ordering
class _Desc:
    """Reverses the order of a value inside a sort key."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def select_deleted(query: DeletedQuery, items: Iterable[DeletedProduct]) -> Page[DeletedProduct]:
    """The reference page of ``query`` over ``items`` (the oracle of the backend tests)."""
    sort = query.full_sort
    found = sorted((d for d in items if query.filter.matches(d)), key=lambda d: _key(d, sort))
    total = len(found) if query.count is CountMode.EXACT else None
    if query.after is not None:
        position: list[Any] = [
            _Desc(v) if k.descending else v for k, v in zip(sort, query.after.values, strict=True)
        ]
        found = [d for d in found if _key(d, sort) > position]
    window = found[query.offset : query.offset + query.limit + 1]
    items_out = window[: query.limit]
    more = len(window) > query.limit and bool(items_out)
    next_cursor = query.cursor_after(items_out[-1]) if more else None
    return Page(items=items_out, total=total, next=next_cursor, sort=sort)
