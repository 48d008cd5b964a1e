"""Eviction policies of the rolling archive: plain values, parsed and checked, no I/O.

A policy (DHuS 2.x "customizable evictions") selects online products matching its filter and
either older than its keep period (counted from their publication or modification date), or
over its byte budget, first in, first out or least recently downloaded first; it evicts at
most ``max_products`` of them per run, softly (bytes removed, metadata and previews kept, the
product offline) or hard (the product removed and recorded in the deleted products). The server
runs it every ``interval_s`` seconds or at the times of its ``cron`` expression (UTC), or only
by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.odata_v1.filter_translate import parse as parse_odata
from eohub.query.tree import MATCH_ALL, Node
from eohub.sync.model import FilterLanguage
from eohub.sync.schedule import Schedule, looks_like_cron, parse_cron

MAX_PRODUCTS = 100_000
MAX_WINDOW_S = 100 * 366 * 86400


class Basis(StrEnum):
    """The date a keep period counts from."""

    PUBLICATION = "publication"  # when this hub published the product (DHuS creationDate)
    MODIFICATION = "modification"  # its last change (DHuS's default)


class Order(StrEnum):
    """Which products a byte budget evicts first."""

    FIFO = "fifo"  # the oldest by the policy's basis date
    LRU = "lru"  # the least recently downloaded (never downloaded: by basis date)


@dataclass(frozen=True)
class EvictionPolicy:
    """One named eviction policy (see the module docstring)."""

    name: str
    keep_s: float | None = None  # keep period in seconds; None: the byte budget alone decides
    basis: Basis = Basis.MODIFICATION
    filter: str | None = None
    filter_language: FilterLanguage = FilterLanguage.ODATA
    max_bytes: int | None = None  # budget of the products the filter selects
    order: Order = Order.FIFO
    max_products: int = 1000  # per run (DHuS maxEvictedProducts)
    soft: bool = True
    interval_s: float | None = None  # run every so many seconds by the server
    cron: str | None = None  # or at these times (UTC); neither: by hand

    @property
    def keep(self) -> timedelta | None:
        """The keep period."""
        return None if self.keep_s is None else timedelta(seconds=self.keep_s)

    @property
    def basis_field(self) -> str:
        """The canonical query field of the basis date."""
        return f"{self.basis.value}_date"

    @property
    def schedule(self) -> Schedule | None:
        """When the server runs it; None: only by hand."""
        if self.cron is not None:
            return Schedule(cron=self.cron)
        return None if self.interval_s is None else Schedule(interval_s=self.interval_s)

    def tree(self, now: datetime) -> Node:
        """The filter as a query tree (MATCH_ALL without one)."""
        if not self.filter:
            return MATCH_ALL
        if self.filter_language is FilterLanguage.OPENSEARCH:
            return parse_q(self.filter, now)
        return parse_odata(self.filter)


_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_DURATION = TypeAdapter(timedelta)
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


def parse_period(text: str, *, field: str = "keep") -> float:
    """Seconds of a period: ``30d``, ``12 hours``, ``90min``, ``2w``, or ISO 8601 ``P30D``.

    The short forms are read here (no library reads ``30d``); ISO 8601 durations by pydantic.
    """
    found = _PERIOD.match(text)
    if found and found.group(2).lower() in _UNITS:
        seconds = float(found.group(1)) * _UNITS[found.group(2).lower()]
    else:
        try:
            seconds = _DURATION.validate_python(text.strip()).total_seconds()
        except ValidationError:
            units = ", ".join(sorted({"s", "min", "h", "d", "w"}))
            raise InvalidQuery(
                f"'{text}' is not a period: write a number and a unit ({units}), or P30D",
                field=field,
            ) from None
    if seconds <= 0:
        raise InvalidQuery(f"the period '{text}' is not positive", field=field)
    return seconds


def parse_policy_schedule(text: str) -> tuple[float | None, str | None]:
    """``(interval_s, cron)`` of a policy's schedule: a period (``1h``, ``30min``, ``P1D``) or
    a cron expression in UTC (``0 3 * * *``, ``@daily``); InvalidQuery naming the text."""
    if looks_like_cron(text):
        return None, parse_cron(text)
    try:
        return parse_period(text, field="schedule"), None
    except InvalidQuery:
        raise InvalidQuery(
            f"the schedule '{text[:60]}' is neither a period (1h, 30min, 1d, P1D) nor a cron "
            "expression (five fields in UTC such as 0 3 * * *, or @hourly, @daily, @weekly)",
            field="schedule",
        ) from None


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration (``P30D``, ``PT12H``), as ``/api/hubs`` writes a rolling window."""
    text: str = _DURATION.dump_python(timedelta(seconds=seconds), mode="json")
    return text


def parse_window(text: str) -> str:
    """A rolling window written as a period (``30d``, ``12h``, ``P30D``), as an ISO 8601
    duration; InvalidQuery (field ``source_window``) naming the problem otherwise."""
    shape = "a rolling window is a period of at most 100 years, such as 30d or P30D"
    if len(text) > 40:
        raise InvalidQuery(shape, field="source_window")
    try:
        seconds = parse_period(text)
    except InvalidQuery as exc:
        raise InvalidQuery(f"rolling window: {exc.user_message}", field="source_window") from None
    if seconds > MAX_WINDOW_S:
        raise InvalidQuery(shape, field="source_window")
    return iso_duration(seconds)


def check_policy(policy: EvictionPolicy, now: datetime) -> None:
    """Refuse a policy that cannot run or would evict everything, naming why (InvalidQuery)."""
    if not policy.name.strip() or len(policy.name) > 200:
        raise InvalidQuery("a policy name has 1 to 200 characters", field="name")
    if policy.keep_s is None and policy.max_bytes is None:
        raise InvalidQuery("give a keep period, a byte budget, or both", field="keep")
    if policy.max_bytes is not None and policy.max_bytes < 0:
        raise InvalidQuery("the byte budget is not negative", field="max_bytes")
    if not 1 <= policy.max_products <= MAX_PRODUCTS:
        raise InvalidQuery(f"products per run are 1 to {MAX_PRODUCTS}", field="max_products")
    if policy.interval_s is not None and policy.interval_s < 1:
        raise InvalidQuery("the schedule is at least one second", field="schedule")
    if policy.cron is not None:
        if policy.interval_s is not None:
            raise InvalidQuery("give an interval or a cron expression, not both", field="schedule")
        parse_cron(policy.cron)
    policy.tree(now)  # the filter parses


def policy_json(policy: EvictionPolicy) -> str:
    """The policy as stored."""
    return json.dumps(asdict(policy), sort_keys=True)


def policy_from_json(text: str) -> EvictionPolicy:
    """A stored policy (unknown keys of a newer version are ignored)."""
    data: dict[str, Any] = json.loads(text)
    values = {k: v for k, v in data.items() if k in EvictionPolicy.__dataclass_fields__}
    values["basis"] = Basis(values.get("basis", Basis.MODIFICATION))
    values["order"] = Order(values.get("order", Order.FIFO))
    values["filter_language"] = FilterLanguage(values.get("filter_language", "odata"))
    return EvictionPolicy(**values)
