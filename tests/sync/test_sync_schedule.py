"""Schedules of synchronisers and eviction policies: intervals and cron expressions (UTC),
checked when written, and run by the real scheduler and evictor over a real SQLite hub with an
injected clock: at their slots, and once (not once per missed slot) after the hub was down."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from api.odata_support import live_server
from eohub.api.portal.figures import when
from eohub.config import Settings
from eohub.errors import InvalidQuery
from eohub.model.user import Role
from eohub.sync import SyncDefinition, SyncService
from eohub.sync.policy import (
    EvictionPolicy,
    check_policy,
    parse_policy_schedule,
    policy_from_json,
    policy_json,
)
from eohub.sync.remote import Backoff
from eohub.sync.schedule import Schedule, describe_schedule, parse_schedule, planned_run
from eohub.sync.scheduler import SyncScheduler
from eohub.wiring import Hub, build_hub, build_sync
from portal.accounts_support import GOOD_PASSWORD, Browser

UNREACHABLE = "http://127.0.0.1:9/odata/v1"  # refused at once: a run fails fast, and is over
MANAGER = ("manager", "manager-password")


def at(day: str, hhmm: str = "00:00") -> datetime:
    """An aware UTC time: ``at("2026-01-31", "23:00")``."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "cron"),
    [("*/15 * * * *", "*/15 * * * *"), ("0  3 * * *", "0 3 * * *"), ("0 0 * * MON-FRI", None),
     ("30 2 1,15 * *", None), ("0 0 L * *", None), ("@hourly", None), ("@Daily", "@daily"),
     ("@weekly", None), ("@monthly", None), ("@yearly", None), (" 0 0 29 2 * ", "0 0 29 2 *")],
)  # fmt: skip
def test_cron_expressions_and_aliases_are_accepted(text: str, cron: str | None) -> None:
    assert parse_schedule(text) == Schedule(cron=cron or text.strip())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("61 * * * *", "the minute field '61' is not valid (0-59)"),
        ("0 24 * * *", "the hour field '24' is not valid (0-23)"),
        ("0 0 0 * *", "the day of month field '0' is not valid (1-31)"),
        ("0 0 * 13 *", "the month field '13' is not valid"),
        ("0 0 * * 8", "the day of week field '8' is not valid"),
        ("*/0 * * * *", "the minute field '*/0' is not valid"),
        ("* * * *", "has 4 fields; write five fields: minute hour"),
        (
            "0 61 * * * ?",
            "'61 * * * *' (from the Quartz expression '0 61 * * * ?') is not "
            "valid: the minute field '61' is not valid (0-59)",
        ),
        (
            "*/10 * * * * ?",
            "the Quartz expression '*/10 * * * * ?' cannot be read as cron: its "
            "seconds field '*/10' runs more than once a minute",
        ),
        ("0 0 12 ? * 6L", "its day-of-week field '6L' has no cron equivalent"),
        ("0 0 12 15W * ?", "its day-of-month field '15W' (nearest weekday)"),
        ("0 0 12 ? * 8", "its day-of-week field '8' is not valid (1-7 or SUN-SAT"),
        ("0 0 12 * * ? 2030", "its year field '2030' has no cron equivalent"),
        ("0 0 12 * * ? * 1", "has 8 fields; write five fields"),
        ("0 0 31 2 *", "never runs"),
        ("@reboot", "'@reboot' is not a cron alias: use one of @hourly, @daily"),
        ("sometimes", "neither an interval (30s, 5m, 1h, 1d) nor a cron expression"),
        ("0s", "1s to 366d"),
    ],
)
def test_bad_schedules_are_refused_naming_the_expression(text: str, words: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_schedule(text)
    assert words in caught.value.user_message
    assert caught.value.field == "schedule"
    if text.strip() not in ("0s",):
        assert f"'{text.strip()}'" in caught.value.user_message


@pytest.mark.parametrize(
    ("quartz", "cron"),
    [("0 0/3 * * * ?", "0/3 * * * *"),  # DHuS's default: every three minutes
     ("0 0 3 * * ?", "0 3 * * *"), ("30 15 10 ? * MON-FRI", "15 10 * * MON-FRI"),
     ("0 0 12 ? * 2-6", "0 12 * * 1-5"), ("0 0 12 ? * 1,7", "0 12 * * 0,6"),
     ("0 0 12 ? * 6#3", "0 12 * * 5#3"), ("0 0 12 ? * 2/2", "0 12 * * 1-6/2"),
     ("0 0 6 L * ?", "0 6 L * *"), ("0 0 0 1 1/3 ? *", "0 0 1 1/3 *"),
     ("0  0 0 ?  * SUN", "0 0 * * SUN")],
)  # fmt: skip
def test_quartz_expressions_from_dhus_are_read_as_the_cron_they_mean(
    quartz: str, cron: str
) -> None:
    assert parse_schedule(quartz) == Schedule(cron=cron)


def test_a_quartz_weekday_is_counted_from_sunday_as_one() -> None:
    # 2026-01-05 is a Monday: Quartz's 2 is Monday, cron's 1.
    assert parse_schedule("0 0 9 ? * 2").next_after(at("2026-01-02", "09:00")) == at(
        "2026-01-05", "09:00"
    )


def test_intervals_are_read_as_before() -> None:
    assert parse_schedule("90s") == Schedule(interval_s=90)
    assert parse_schedule("5m") == Schedule(interval_s=300)
    assert parse_schedule("1h") == Schedule(interval_s=3600)
    assert parse_schedule("1d") == Schedule(interval_s=86400)
    assert describe_schedule("5m") == "every 5m"
    assert describe_schedule("*/15  * * * *") == "cron */15 * * * * (UTC)"
    assert describe_schedule(None) == "by hand"


# -- next runs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("*/15 * * * *", at("2026-12-31", "23:50"), at("2027-01-01", "00:00")),  # a new year
        ("*/15 * * * *", at("2026-03-01", "10:15"), at("2026-03-01", "10:30")),  # strictly after
        ("0 3 * * *", at("2026-01-31", "03:01"), at("2026-02-01", "03:00")),  # a new month
        ("0 0 1 * *", at("2026-01-31", "23:59"), at("2026-02-01", "00:00")),
        ("@monthly", at("2026-02-28", "12:00"), at("2026-03-01", "00:00")),
        ("0 0 31 * *", at("2026-01-31", "00:00"), at("2026-03-31", "00:00")),  # no 31 Feb
        ("0 12 29 2 *", at("2026-03-01", "00:00"), at("2028-02-29", "12:00")),  # leap day
        ("@weekly", at("2026-01-01", "00:00"), at("2026-01-04", "00:00")),  # a Sunday
        ("0 9 * * 1-5", at("2026-01-02", "09:00"), at("2026-01-05", "09:00")),  # Fri -> Mon
    ],
)
def test_the_next_cron_run_crosses_days_months_and_years(
    cron: str, after: datetime, expected: datetime
) -> None:
    found = parse_schedule(cron).next_after(after)
    assert found == expected and found.utcoffset() == timedelta(0)


def test_cron_times_are_utc_whatever_the_zone_of_the_time_given() -> None:
    daily = parse_schedule("0 0 * * *")
    paris = timezone(timedelta(hours=2))
    # 23:30 at UTC+2 is 21:30 UTC: the next UTC midnight is that of the 2nd, not of the 3rd.
    assert daily.next_after(datetime(2026, 1, 1, 23, 30, tzinfo=paris)) == at("2026-01-02")
    assert daily.next_after(datetime(2026, 1, 1, 23, 30)) == at("2026-01-02")  # naive: UTC


def test_a_first_run_is_the_first_slot_after_creation_for_cron_at_once_for_an_interval() -> None:
    created = at("2026-01-31", "22:50")
    assert parse_schedule("0 * * * *").due_at(None, created) == at("2026-01-31", "23:00")
    assert parse_schedule("10m").due_at(None, created) == created
    last = at("2026-02-01", "04:30")
    assert parse_schedule("0 * * * *").due_at(last, created) == at("2026-02-01", "05:00")
    assert parse_schedule("10m").due_at(last, created) == at("2026-02-01", "04:40")


# -- the synchroniser scheduler -----------------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    built = build_hub(Settings(data_dir=tmp_path / "hub"))  # type: ignore[call-arg]
    try:
        yield built
    finally:
        built.close()


def _wait_for_runs() -> None:
    """Join the scheduler's run threads (bounded)."""
    for thread in threading.enumerate():
        if thread.name.startswith("eohub-sync-") and thread.name != "eohub-sync-poll":
            thread.join(30)
            assert not thread.is_alive()


def test_a_cron_synchroniser_runs_at_its_slots_and_once_after_the_hub_was_down(hub: Hub) -> None:
    clock = Clock(at("2026-01-31", "22:50"))
    service: SyncService = build_sync(hub)
    service.clock = clock
    service.backoff = Backoff(attempts=1, base=0.01, cap=0.01)
    scheduler = SyncScheduler(service, clock=clock)
    added = service.add(SyncDefinition(label="hourly", url=UNREACHABLE, schedule="0 * * * *"))
    assert added.created == clock.now and planned_run(added) == at("2026-01-31", "23:00")
    assert not scheduler.due(added, at("2026-01-31", "22:59"))
    assert scheduler.due(added, at("2026-01-31", "23:00"))
    assert scheduler.poll() == []  # 22:50: not yet

    # The hub was down from 22:50 until 04:30 on the next day (and month): six slots missed.
    clock.now = at("2026-02-01", "04:30")
    assert scheduler.poll() == [added.id]
    _wait_for_runs()
    ran = service.get(added.id)
    assert ran.last_run == clock.now and ran.last_error  # it ran (its source refuses)
    assert ran.next_run == at("2026-02-01", "05:00")  # the next slot after the run
    assert scheduler.poll() == []  # once, not once per missed slot
    clock.now = at("2026-02-01", "04:59")
    assert scheduler.poll() == []
    clock.now = at("2026-02-01", "05:00")
    assert scheduler.poll() == [added.id]
    _wait_for_runs()
    assert service.get(added.id).next_run == at("2026-02-01", "06:00")

    # A new schedule plans afresh from the last run (05:00), not from the old next run.
    changed = service.update(added.id, replace(added.definition, schedule="30 2 * * *"))
    assert changed.next_run is None and planned_run(changed) == at("2026-02-02", "02:30")
    assert service.pause(added.id) and planned_run(service.get(added.id)) is None
    clock.now = at("2026-02-03")
    assert scheduler.poll() == []  # paused: never due


def test_an_interval_synchroniser_still_runs_at_once_then_every_interval(hub: Hub) -> None:
    clock = Clock(at("2026-05-31", "23:55"))
    service = build_sync(hub)
    service.clock = clock
    service.backoff = Backoff(attempts=1, base=0.01, cap=0.01)
    scheduler = SyncScheduler(service, clock=clock)
    added = service.add(SyncDefinition(label="often", url=UNREACHABLE, schedule="10m"))
    assert scheduler.poll() == [added.id]
    _wait_for_runs()
    assert service.get(added.id).next_run == at("2026-06-01", "00:05")
    assert scheduler.poll() == []


# -- eviction policies --------------------------------------------------------------------------
def test_policy_schedules_are_periods_or_cron() -> None:
    assert parse_policy_schedule("12 hours") == (43200, None)
    assert parse_policy_schedule("P1D") == (86400, None)
    assert parse_policy_schedule("0  3 * * *") == (None, "0 3 * * *")
    assert parse_policy_schedule("@Daily") == (None, "@daily")
    with pytest.raises(InvalidQuery, match="hour field '25'"):
        parse_policy_schedule("0 25 * * *")
    with pytest.raises(InvalidQuery, match="neither a period .* nor a cron expression"):
        parse_policy_schedule("soon")
    now = at("2026-01-02")
    with pytest.raises(InvalidQuery, match="not both"):
        check_policy(EvictionPolicy("x", keep_s=60, interval_s=60, cron="@daily"), now)
    with pytest.raises(InvalidQuery, match="minute field '99'"):
        check_policy(EvictionPolicy("x", keep_s=60, cron="99 * * * *"), now)
    policy = EvictionPolicy("x", keep_s=60, cron="0 3 * * *")
    assert policy_from_json(policy_json(policy)) == policy
    older = json.loads(policy_json(policy))
    del older["cron"]  # stored by a version without cron schedules
    assert policy_from_json(json.dumps(older)).schedule is None


def test_a_cron_eviction_policy_runs_at_its_slots_and_once_after_the_hub_was_down(
    hub: Hub,
) -> None:
    evictor = hub.evictor
    assert evictor is not None
    clock = Clock(at("2026-01-30", "10:00"))
    evictor.clock = clock
    evictor.add(EvictionPolicy("nightly", keep_s=30 * 86400, cron="0 3 * * *"))
    evictor.add(EvictionPolicy("by-hand", keep_s=86400))
    evictor.add(EvictionPolicy("hourly", keep_s=86400, interval_s=3600))
    assert evictor.planned_runs() == {
        "by-hand": None, "hourly": at("2026-01-30", "10:00"), "nightly": at("2026-01-31", "03:00"),
    }  # fmt: skip

    clock.now = at("2026-01-31", "02:59")
    assert [r.policy for r in evictor.run_due()] == ["hourly"]  # never ran: at once
    # Down from 02:59 on the 31st to noon on 2 February: three nightly slots missed.
    clock.now = at("2026-02-02", "12:00")
    assert [r.policy for r in evictor.run_due()] == ["hourly", "nightly"]
    assert evictor.run_due() == []  # once, not once per missed slot
    planned = evictor.planned_runs()
    assert planned["nightly"] == at("2026-02-03", "03:00")
    assert planned["hourly"] == at("2026-02-02", "13:00")
    clock.now = at("2026-02-03", "03:00")
    assert [r.policy for r in evictor.run_due()] == ["hourly", "nightly"]


# -- the command line ---------------------------------------------------------------------------
def _eohub(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_sync_add_takes_a_cron_schedule_and_refuses_a_bad_one(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    added = _eohub(tmp_path, "sync", "add", "q", "--source", UNREACHABLE,
                   "--schedule", "*/15 * * * *")  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = json.loads(_eohub(tmp_path, "sync", "show", "q").stdout)
    assert shown["schedule"] == "*/15 * * * *"
    planned = datetime.fromisoformat(shown["next_run"])
    assert planned.minute % 15 == 0 and planned.second == 0 and planned.utcoffset() == timedelta(0)
    assert before < planned <= datetime.now(UTC) + timedelta(minutes=15)
    assert f"next {planned:%Y-%m-%dT%H:%M:%SZ}" in _eohub(tmp_path, "sync", "list").stdout

    bad = _eohub(tmp_path, "sync", "add", "r", "--source", UNREACHABLE, "--schedule", "61 * * * *")
    assert bad.returncode != 0
    assert "'61 * * * *'" in bad.stderr and "minute field '61' is not valid (0-59)" in bad.stderr
    listed = _eohub(tmp_path, "sync", "list").stdout.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["q"]  # nothing stored, nothing lost


def test_evict_policy_add_takes_a_cron_schedule_and_refuses_a_bad_one(tmp_path: Path) -> None:
    added = _eohub(tmp_path, "evict", "policy", "add", "nightly", "--keep", "30d",
                   "--schedule", "0 3 * * *")  # fmt: skip
    assert added.returncode == 0, added.stderr
    (line,) = _eohub(tmp_path, "evict", "policy", "list").stdout.splitlines()
    listed = json.loads(line)
    assert (listed["cron"], listed["interval_s"]) == ("0 3 * * *", None)
    planned = datetime.fromisoformat(listed["next_run"])
    assert (planned.hour, planned.minute, planned.utcoffset()) == (3, 0, timedelta(0))

    bad = _eohub(tmp_path, "evict", "policy", "add", "x", "--keep", "1d",
                 "--schedule", "0 25 * * *")  # fmt: skip
    assert bad.returncode != 0 and "hour field '25' is not valid (0-23)" in bad.stderr
    assert len(_eohub(tmp_path, "evict", "policy", "list").stdout.splitlines()) == 1


# -- the admin API ------------------------------------------------------------------------------
@pytest.fixture
def served(hub: Hub) -> Iterator[str]:
    hub.accounts.create(*MANAGER, [Role.SEARCH, Role.DATA_MANAGER])
    with live_server(hub) as url:
        yield f"{url}/odata/v1/Synchronizers"


def test_the_admin_api_takes_cron_and_refuses_a_bad_one_with_an_odata_error(served: str) -> None:
    entity = {"Label": "q", "ServiceUrl": UNREACHABLE, "Schedule": "*/15 * * * *"}
    created = httpx.post(served, json=entity, auth=MANAGER)
    assert created.status_code == 201, created.text
    body = created.json()["d"]
    planned = datetime.fromtimestamp(int(body["NextRun"][6:-2]) / 1000, UTC)
    assert body["Schedule"] == "*/15 * * * *" and planned.minute % 15 == 0

    bad = httpx.post(served, json={**entity, "Label": "r", "Schedule": "61 * * * *"}, auth=MANAGER)
    assert bad.status_code == 400
    error = ElementTree.fromstring(bad.content)  # an OData v1 error document
    assert error.tag.endswith("}error")
    message = "".join(e.text or "" for e in error if e.tag.endswith("}message"))
    assert "'61 * * * *'" in message and "minute field '61'" in message
    patched = httpx.patch(f"{served}({body['Id']})", json={"Schedule": "0 0 31 2 *"}, auth=MANAGER)
    assert patched.status_code == 400 and "never runs" in patched.text
    kept = httpx.get(f"{served}({body['Id']})", auth=MANAGER).json()["d"]
    assert kept["Schedule"] == "*/15 * * * *" and kept["NextRun"] == body["NextRun"]
    assert [s["Label"] for s in httpx.get(served, auth=MANAGER).json()["d"]["results"]] == ["q"]


def test_the_admin_api_takes_dhus_quartz_schedules_as_the_cron_they_mean(served: str) -> None:
    entity = {"Label": "dhus", "ServiceUrl": UNREACHABLE, "Schedule": "0 0/3 * * * ?"}
    created = httpx.post(served, json=entity, auth=MANAGER)
    assert created.status_code == 201, created.text
    body = created.json()["d"]
    planned = datetime.fromtimestamp(int(body["NextRun"][6:-2]) / 1000, UTC)
    assert body["Schedule"] == "0 0/3 * * * ?"  # read back as written
    assert planned.minute % 3 == 0 and planned.second == 0
    bad = httpx.post(served, json={**entity, "Label": "l", "Schedule": "0 0 12 ? * 6L"},
                     auth=MANAGER)  # fmt: skip
    assert bad.status_code == 400 and "day-of-week field '6L'" in bad.text


# -- the portal ---------------------------------------------------------------------------------
def test_the_mirroring_page_shows_cron_schedules_and_next_runs(hub: Hub) -> None:
    hub.accounts.create("keeper", GOOD_PASSWORD, [Role.DATA_MANAGER, Role.SEARCH])
    service = build_sync(hub)
    added = service.add(SyncDefinition(label="q", url=UNREACHABLE, schedule="*/15 * * * *"))
    assert hub.evictor is not None
    hub.evictor.add(EvictionPolicy("nightly", keep_s=86400, cron="0 3 * * *"))
    browser = Browser(hub)
    try:
        assert browser.log_in("keeper", GOOD_PASSWORD).status_code == 303
        page = browser.get("/admin/mirroring")
        assert page.status_code == 200, page.text
        row = page.text.split('<tr id="sync-1"', 1)[1].split("</tr>", 1)[0]
        assert "cron */15 * * * * (UTC)" in row
        assert f'sync-next-run">{when(planned_run(service.get(added.id)))}<' in row
        policies = page.text.split('id="policies"', 1)[1]
        assert "cron 0 3 * * * (UTC)" in policies
        assert f"next {when(hub.evictor.planned_runs()['nightly'])}" in policies

        form = {"label": "r", "sources": UNREACHABLE, "schedule": "61 * * * *"}
        bad = browser.submit("/admin/mirroring/add", form, form_page="/admin/mirroring")
        assert bad.status_code == 400 and "minute field" in bad.text and "(0-59)" in bad.text
        assert [s.definition.label for s in service.list_all()] == ["q"]
    finally:
        browser.close()
