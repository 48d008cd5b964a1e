"""Date parts (``year()`` ... ``second()``) of OData filters as unions of date ranges.

No catalogue backend extracts date parts, so ``month(ContentDate/Start) eq 3`` becomes the
March of every year in the period the matching products cover, as ``[start, end)`` ranges.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from eohub.errors import InvalidQuery
from eohub.query.tree import MATCH_ALL, MATCH_NONE, Node, Not, Range

MAX_INTERVALS = 400  # date ranges one month()/day()/... comparison may expand into (SQLite's
# expression depth limit is 1000)


def _error(message: str) -> InvalidQuery:
    return InvalidQuery(f"invalid $filter: {message}", field="$filter")


def _before_year(field: str, year: int) -> Node:
    """Dates before 1 January of ``year``."""
    if year <= 1:
        return MATCH_NONE
    if year > 9999:
        return MATCH_ALL
    return Range(field, high=datetime(year, 1, 1, tzinfo=UTC), high_inclusive=False)


def year_node(op: str, field: str, year: int) -> Node:
    if op in ("eq", "ne"):
        found: Node = MATCH_NONE
        if 1 <= year <= 9999:
            high = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else None
            found = Range(field, datetime(year, 1, 1, tzinfo=UTC), high, high_inclusive=False)
        return found if op == "eq" else Not(found)
    if op == "lt":
        return _before_year(field, year)
    if op == "le":
        return _before_year(field, year + 1)
    if op == "gt":
        return Not(_before_year(field, year + 1))
    return Not(_before_year(field, year))


PART_DOMAINS: dict[str, range] = {
    "month": range(1, 13),
    "day": range(1, 32),
    "hour": range(0, 24),
    "minute": range(0, 60),
    "second": range(0, 60),
}


def _parents(part: str, first: datetime, last: datetime) -> Iterator[datetime]:
    """Start of each period (year, month, day, hour, minute) holding values of ``part``."""
    if part == "month":
        for year in range(first.year, last.year + 1):
            yield datetime(year, 1, 1, tzinfo=UTC)
        return
    if part == "day":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            yield datetime(year, month, 1, tzinfo=UTC)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return
    step = {"hour": timedelta(days=1), "minute": timedelta(hours=1), "second": timedelta(minutes=1)}
    unit = step[part]
    trim = {"hour": dict(hour=0, minute=0), "minute": dict(minute=0), "second": {}}[part]
    current = first.replace(second=0, microsecond=0, **trim)  # type: ignore[arg-type]
    while current <= last:
        yield current
        current += unit


def _child(part: str, parent: datetime, value: int) -> tuple[datetime, datetime] | None:
    if part == "month":
        start = parent.replace(month=value)
        nxt = (
            start.replace(year=start.year + 1, month=1)
            if value == 12
            else start.replace(month=value + 1)
        )
        return start, nxt
    if part == "day":
        if value > calendar.monthrange(parent.year, parent.month)[1]:
            return None
        start = parent.replace(day=value)
        return start, start + timedelta(days=1)
    unit = {"hour": timedelta(hours=1), "minute": timedelta(minutes=1),
            "second": timedelta(seconds=1)}[part]  # fmt: skip
    start = parent + unit * value
    return start, start + unit


def part_intervals(
    part: str, wanted: set[int], first: datetime, last: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Merged [start, end) intervals inside [first, last] where ``part`` takes a wanted value."""
    current: tuple[datetime, datetime] | None = None
    count = 0
    for parent in _parents(part, first, last):
        for value in sorted(wanted):
            piece = _child(part, parent, value)
            if piece is None or piece[1] <= first or piece[0] > last:
                continue
            if current is not None and current[1] == piece[0]:
                current = (current[0], piece[1])
                continue
            if current is not None:
                yield current
                count += 1
                if count >= MAX_INTERVALS:
                    raise _error(
                        f"{part}() matches too many separate periods (more than "
                        f"{MAX_INTERVALS}) in the catalogue; narrow it with year() or a date range"
                    )
            current = piece
    if current is not None:
        yield current
