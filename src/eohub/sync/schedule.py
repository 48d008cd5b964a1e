"""When a serving hub runs a synchroniser or an eviction policy: an interval (``90s``, ``5m``,
``1h``, ``1d``) counted from the end of the last run, or a cron expression read in UTC: five
fields (minute, hour, day of month, month, day of week) or an alias (``@hourly``, ``@daily``,
``@weekly``, ``@monthly``, ``@yearly``). A Quartz expression (six or seven fields, as DHuS
writes them) is read as the five-field expression it means (:mod:`eohub.sync.quartz`).

The next run is the first slot after the last run (for one that never ran: the first cron
slot after its creation; an interval schedule runs it at once). A hub that was down over
several slots runs a missed job once when it starts, then at the first slot after that run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadDateError, CroniterError, croniter

from eohub.errors import InvalidQuery
from eohub.sync.model import Synchroniser, SyncStatus
from eohub.sync.quartz import is_quartz, to_cron

_INTERVAL = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86400
MAX_CRON_CHARS = 200
ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-7 or SUN-SAT, 0 and 7 being Sunday"),
)
_CRON_HINT = "five fields: minute hour day-of-month month day-of-week, in UTC, e.g. */15 * * * *"
_PROBE_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # a leap year: 29 February comes


def _utc(when: datetime) -> datetime:
    """``when`` in UTC (a naive time is taken as UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Schedule:
    """An interval in seconds, or a cron expression (UTC)."""

    interval_s: float | None = None
    cron: str | None = None

    def next_after(self, when: datetime) -> datetime:
        """The first run strictly after ``when`` (aware UTC): ``when`` plus the interval, or
        the next cron slot."""
        if self.interval_s is not None:
            return _utc(when) + timedelta(seconds=self.interval_s)
        assert self.cron is not None
        try:
            found: datetime = croniter(self.cron, _utc(when)).get_next(datetime)
        except (CroniterError, ValueError):  # checked by parse_cron: only a stored bad text
            raise InvalidQuery(
                f"the cron expression '{_shown(self.cron)}' has no next run", field="schedule"
            ) from None
        return _utc(found)

    def due_at(self, last_run: datetime | None, created: datetime) -> datetime:
        """When the next run is due: the first slot after ``last_run``; for a job that never
        ran, the first cron slot after ``created``, or at once (``created``) for an
        interval."""
        if last_run is not None:
            return self.next_after(last_run)
        return _utc(created) if self.interval_s is not None else self.next_after(created)

    def describe(self) -> str:
        """For people: ``every 5m``, ``cron 0 3 * * * (UTC)``."""
        if self.interval_s is not None:
            return f"every {_period(self.interval_s)}"
        return f"cron {self.cron} (UTC)"


def _period(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length and seconds % length == 0:
            return f"{int(seconds // length)}{unit}"
    return f"{seconds:g}s"


def looks_like_cron(text: str) -> bool:
    """Whether ``text`` is meant as cron (an ``@`` alias, several fields, or cron signs)
    rather than as an interval or a period such as ``12 hours``."""
    stripped = text.strip()
    return stripped.startswith("@") or len(stripped.split()) >= 3 or "*" in stripped


def _bad_field(fields: list[str]) -> str | None:
    """The first field that is wrong on its own, named with its range."""
    for index, (name, valid) in enumerate(CRON_FIELDS):
        probe = ["*"] * 5
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe)):
            return f"the {name} field '{_shown(fields[index])}' is not valid ({valid})"
    return None


def parse_cron(text: str) -> str:
    """A checked cron expression, whitespace collapsed (aliases in lower case); InvalidQuery
    naming the expression and what is wrong with it otherwise."""
    stripped = " ".join(text.split())
    shown = _shown(stripped)
    if len(stripped) > MAX_CRON_CHARS:
        raise InvalidQuery(f"the cron expression '{shown}' is too long", field="schedule")
    if stripped.startswith("@"):
        if stripped.lower() not in ALIASES:
            raise InvalidQuery(
                f"'{shown}' is not a cron alias: use one of {', '.join(ALIASES)}",
                field="schedule",
            )
        return stripped.lower()
    fields = stripped.split(" ")
    named = f"the cron expression '{shown}'"
    if is_quartz(fields):  # DHuS's form: read as the five-field expression it means
        stripped = to_cron(fields, shown)
        fields = stripped.split(" ")
        named = f"the cron expression '{stripped}' (from the Quartz expression '{shown}')"
    if len(fields) != 5:
        raise InvalidQuery(
            f"{named} has {len(fields)} fields; write {_CRON_HINT}", field="schedule"
        )
    if not croniter.is_valid(stripped):
        why = _bad_field(fields) or "its fields do not fit together"
        raise InvalidQuery(f"{named} is not valid: {why}", field="schedule")
    try:
        croniter(stripped, _PROBE_FROM).get_next(datetime)
    except (CroniterBadDateError, CroniterError, ValueError):
        raise InvalidQuery(f"{named} never runs (no such date)", field="schedule") from None
    return stripped


def parse_schedule(text: str) -> Schedule:
    """An interval (``30s``, ``5m``, ``1h``, ``1d``) or a cron expression (see
    :func:`parse_cron`); InvalidQuery naming the text otherwise."""
    found = _INTERVAL.fullmatch(text.strip().lower())
    if found:
        seconds = int(found.group(1)) * _UNITS[found.group(2)]
        if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
            raise InvalidQuery("a schedule interval is 1s to 366d", field="schedule")
        return Schedule(interval_s=seconds)
    if looks_like_cron(text):
        return Schedule(cron=parse_cron(text))
    raise InvalidQuery(
        f"the schedule '{_shown(text.strip())}' is neither an interval (30s, 5m, 1h, 1d) nor a "
        f"cron expression ({_CRON_HINT}; or @hourly, @daily, @weekly, @monthly)",
        field="schedule",
    )


def describe_schedule(text: str | None) -> str:
    """A stored schedule for people: ``every 5m``, ``cron */15 * * * * (UTC)``, ``by hand``."""
    if not text:
        return "by hand"
    try:
        return parse_schedule(text).describe()
    except InvalidQuery:
        return text


def planned_run(sync: Synchroniser) -> datetime | None:
    """When a serving hub runs ``sync`` next: the time set after its last scheduled run (or
    brought forward by "run now"), else the first slot of its schedule after its last run
    (or its creation); None when it is paused or not scheduled."""
    if sync.status is not SyncStatus.RUNNING or not sync.definition.schedule:
        return None
    if sync.next_run is not None:
        return sync.next_run
    try:
        schedule = parse_schedule(sync.definition.schedule)
    except InvalidQuery:  # refused when stored: only a definition stored by an older version
        return None
    return schedule.due_at(sync.last_run, sync.created or _PROBE_FROM)
