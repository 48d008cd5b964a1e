"""Eviction policies as users write them: periods, sizes and the checks that refuse bad ones."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eohub.errors import InvalidQuery
from eohub.sync.policy import (
    EvictionPolicy,
    check_policy,
    parse_period,
    policy_from_json,
    policy_json,
)

NOW = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("90min", 5400), ("12 hours", 43200), ("30d", 2592000), ("2w", 1209600),
     ("P3D", 259200), ("PT1H30M", 5400), ("1.5h", 5400)],
)  # fmt: skip
def test_periods_in_any_unit(text: str, seconds: float) -> None:
    assert parse_period(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "3 fortnights", "-1d", "0d", "P"])
def test_bad_periods_are_named(text: str) -> None:
    with pytest.raises(InvalidQuery):
        parse_period(text)


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        (EvictionPolicy("all"), "keep period, a byte budget"),
        (EvictionPolicy("f", keep_s=1, filter="Nme eq 'a'"), "Nme"),
        (EvictionPolicy("n", keep_s=1, max_products=0), "products per run"),
        (EvictionPolicy(" ", keep_s=1), "name"),
        (EvictionPolicy("s", keep_s=1, interval_s=0.5), "schedule"),
    ],
)
def test_policies_that_cannot_run_are_refused(policy: EvictionPolicy, words: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        check_policy(policy, NOW)
    assert words in caught.value.user_message


def test_a_policy_round_trips_through_its_stored_form() -> None:
    policy = EvictionPolicy("p", keep_s=60, filter="platformname:Sentinel-2", max_bytes=10)
    assert policy_from_json(policy_json(policy)) == policy


def _eohub(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(data), "evict", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_command_adds_lists_refuses_and_removes_policies(tmp_path: Path) -> None:
    bad = _eohub(tmp_path, "policy", "add", "x", "--keep", "3 fortnights")
    assert bad.returncode != 0 and "is not a period" in bad.stderr
    bad = _eohub(tmp_path, "policy", "add", "x", "--keep", "1d", "--max-bytes", "lots")
    assert bad.returncode != 0 and "is not a size" in bad.stderr
    added = _eohub(tmp_path, "policy", "add", "s2", "--keep", "30d", "--basis", "publication",
                   "--filter", "platformname:Sentinel-2", "--filter-language", "opensearch",
                   "--max-bytes", "2GB", "--order", "lru", "--schedule", "1h")  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = _eohub(tmp_path, "policy", "add", "s2", "--keep", "1d")
    assert again.returncode != 0 and "already exists" in again.stderr
    listed = _eohub(tmp_path, "policy", "list").stdout
    assert '"max_bytes": 2000000000' in listed and '"order": "lru"' in listed
    assert '"interval_s": 3600.0' in listed
    run = _eohub(tmp_path, "--dry-run")
    assert run.returncode == 0 and "would evict 0 products" in run.stdout
    assert _eohub(tmp_path, "policy", "remove", "s2").returncode == 0
    gone = _eohub(tmp_path, "policy", "remove", "s2")
    assert gone.returncode != 0 and "not found" in gone.stderr
