"""When a serving hub runs a synchroniser: an interval (``90s``, ``5m``, ``1h``, ``1d``), or a
cron expression when the croniter library is installed (it is optional: intervals need no
library, and a cron text without it is refused with a clear message)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eohub.errors import InvalidQuery

_INTERVAL = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86400


@dataclass(frozen=True)
class Schedule:
    """An interval in seconds, or a cron expression."""

    interval_s: int | None = None
    cron: str | None = None

    def next_after(self, when: datetime) -> datetime:
        """The next run after ``when`` (aware UTC)."""
        if self.interval_s is not None:
            return when + timedelta(seconds=self.interval_s)
        assert self.cron is not None
        found: datetime = _croniter()(self.cron, when).get_next(datetime)
        return found


def _croniter() -> Any:
    try:
        return importlib.import_module("croniter").croniter
    except ImportError:
        return None


def parse_schedule(text: str) -> Schedule:
    """``5m`` and the like, or cron text (with croniter); InvalidQuery otherwise."""
    found = _INTERVAL.fullmatch(text.strip().lower())
    if found:
        seconds = int(found.group(1)) * _UNITS[found.group(2)]
        if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
            raise InvalidQuery("a schedule interval is 1s to 366d", field="schedule")
        return Schedule(interval_s=seconds)
    cron = _croniter()
    if cron is None:
        raise InvalidQuery(
            f"schedule '{text[:60]}' is not an interval such as 30s, 5m, 1h or 1d "
            "(cron expressions need the croniter package)",
            field="schedule",
        )
    if not cron.is_valid(text):
        raise InvalidQuery(
            f"schedule '{text[:60]}' is not a valid cron expression", field="schedule"
        )
    return Schedule(cron=text)
