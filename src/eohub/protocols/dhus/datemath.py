"""Solr dates and date math as DHuS accepts them: ``2019-01-01T00:00:00.000Z``, ``NOW``,
``NOW-1DAY``, ``NOW/DAY+6HOURS``, ``2016-12-01T00:00:00Z-1DAY``...

Written by hand: no maintained Python library speaks Solr's date-math dialect (the ``datemath``
package implements Elasticsearch's ``now-1d`` syntax, whose units and rounding differ).
``NOW`` is the injected clock's time, so results are reproducible.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from eohub.errors import InvalidQuery

_DATE = re.compile(
    r"(?P<date>NOW|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?Z?)",
    re.IGNORECASE,
)
_STEP = re.compile(r"(?P<op>[+-])(?P<n>\d{1,9})(?P<unit>[A-Z]+)|/(?P<round>[A-Z]+)", re.IGNORECASE)

_UNITS = {
    "YEAR": "year", "YEARS": "year", "MONTH": "month", "MONTHS": "month",
    "DAY": "day", "DAYS": "day", "DATE": "day", "HOUR": "hour", "HOURS": "hour",
    "MINUTE": "minute", "MINUTES": "minute", "SECOND": "second", "SECONDS": "second",
    "MILLI": "milli", "MILLIS": "milli", "MILLISECOND": "milli", "MILLISECONDS": "milli",
}  # fmt: skip
_FIXED = {
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
    "milli": timedelta(milliseconds=1),
}


def _unit(name: str, text: str) -> str:
    unit = _UNITS.get(name.upper())
    if unit is None:
        raise InvalidQuery(
            f"Invalid Date Math String: '{text}' (unknown unit '{name}')",
            field="date",
            choices=sorted(set(_UNITS)),
        )
    return unit


def _base(text: str, now: datetime) -> datetime:
    if text.upper() == "NOW":
        return now.astimezone(UTC)
    iso = text[:-1] if text[-1:] in "Zz" else text
    if "." in iso:  # Solr keeps milliseconds; Python reads at most microseconds
        head, frac = iso.split(".", 1)
        iso = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


def _add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _round(when: datetime, unit: str) -> datetime:
    if unit == "year":
        return when.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "month":
        return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return when.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    if unit == "minute":
        return when.replace(second=0, microsecond=0)
    if unit == "second":
        return when.replace(microsecond=0)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _shift(when: datetime, unit: str, n: int) -> datetime:
    if unit == "year":
        return _add_months(when, 12 * n)
    if unit == "month":
        return _add_months(when, n)
    return when + _FIXED[unit] * n


def parse_date(text: str, now: datetime) -> datetime:
    """A UTC datetime from a Solr date or date-math expression; InvalidQuery when malformed."""
    value = text.strip()
    match = _DATE.match(value)
    if match is None:
        raise InvalidQuery(f"Invalid Date String: '{text}'", field="date")
    try:
        when = _base(match["date"], now)
        pos = match.end()
        while pos < len(value):
            step = _STEP.match(value, pos)
            if step is None:
                raise InvalidQuery(f"Invalid Date Math String: '{text}'", field="date")
            if step["round"]:
                when = _round(when, _unit(step["round"], text))
            else:
                n = int(step["n"]) * (-1 if step["op"] == "-" else 1)
                when = _shift(when, _unit(step["unit"], text), n)
            pos = step.end()
    except (ValueError, OverflowError):
        raise InvalidQuery(f"Invalid Date String: '{text}' (out of range)", field="date") from None
    return when
