"""Quartz cron expressions (what DHuS and its admin scripts write) read as five-field cron.

Quartz puts a seconds field first, may end with a year, numbers the days of the week 1-7 from
Sunday (cron: 0-6, or 7, from Sunday) and writes ``?`` for "no specific value" in the day of
month or the day of week. DHuS's own default, ``0 0/3 * * * ?``, is every three minutes.

An expression is read when its meaning fits five-field cron: a single seconds value (the run
starts at the minute: a synchroniser or eviction run is never timed to the second), any year
field that means "every year", and none of Quartz's ``L``/``W`` forms in the day of week or
the ``W`` (nearest weekday) forms in the day of month. The translation is written by hand:
croniter reads cron, not Quartz, and no maintained library converts one to the other.
"""

from __future__ import annotations

import re

from eohub.errors import InvalidQuery

_SECONDS = re.compile(r"[0-5]?\d")
_ANY_YEAR = ("*", "?", "")
_DOW_ITEM = re.compile(r"(?P<range>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>\d+))?")
_DOW_NTH = re.compile(r"(?P<day>\d)#(?P<nth>\d)")


def is_quartz(fields: list[str]) -> bool:
    """Whether ``fields`` (split on whitespace) are shaped as a Quartz expression: six or
    seven fields."""
    return len(fields) in (6, 7)


def to_cron(fields: list[str], shown: str) -> str:
    """The five-field cron expression of Quartz ``fields``; InvalidQuery naming ``shown`` and
    the part that has no five-field equivalent."""
    seconds, minute, hour, day, month, weekday, *year = fields
    if not _SECONDS.fullmatch(seconds) or int(seconds) > 59:
        raise _refused(shown, f"its seconds field '{seconds}' runs more than once a minute; "
                              "use an interval such as 30s")  # fmt: skip
    if year and year[0] not in _ANY_YEAR:
        raise _refused(shown, f"its year field '{year[0]}' has no cron equivalent")
    if "W" in day.upper():
        raise _refused(shown, f"its day-of-month field '{day}' (nearest weekday) has no cron "
                              "equivalent")  # fmt: skip
    day = "*" if day == "?" else day
    weekday = "*" if weekday == "?" else _weekday(weekday, shown)
    return f"{minute} {hour} {day} {month} {weekday}"


def _weekday(field: str, shown: str) -> str:
    """A Quartz day-of-week field (1-7 from Sunday) in cron's numbering (0-6 from Sunday)."""
    items = []
    for item in field.split(","):
        nth = _DOW_NTH.fullmatch(item)
        if nth:  # the n-th given weekday of the month: croniter reads it as cron's day#n
            items.append(f"{_day(nth.group('day'), field, shown)}#{nth.group('nth')}")
            continue
        found = _DOW_ITEM.fullmatch(item)
        if found is None or "L" in item.upper():
            raise _refused(shown, f"its day-of-week field '{field}' has no cron equivalent")
        bounds = found.group("range")
        if bounds != "*":
            bounds = "-".join(_day(part, field, shown) for part in bounds.split("-"))
            if found.group("step") and "-" not in bounds:
                bounds = f"{bounds}-6"  # Quartz's 2/2 runs from Monday to the end of the week
        items.append(bounds + (f"/{found.group('step')}" if found.group("step") else ""))
    return ",".join(items)


def _day(part: str, field: str, shown: str) -> str:
    """One day of the week: a Quartz number shifted to cron's, a name (SUN-SAT) as it is."""
    if not part.isdigit():
        return part
    if not 1 <= int(part) <= 7:
        raise _refused(shown, f"its day-of-week field '{field}' is not valid (1-7 or SUN-SAT, "
                              "1 being Sunday)")  # fmt: skip
    return str(int(part) - 1)


def _refused(shown: str, why: str) -> InvalidQuery:
    return InvalidQuery(
        f"the Quartz expression '{shown}' cannot be read as cron: {why}", field="schedule"
    )
