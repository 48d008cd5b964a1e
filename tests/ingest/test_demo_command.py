"""``eohub demo``: synthetic products made and ingested; again gives the same products."""

from __future__ import annotations

from pathlib import Path

from ingest_support import assert_consistent, open_hub, run_cli


def test_demo_twice_gives_the_same_products(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_cli(data, "demo", "--products", "10")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("10 ingested, 0 replaced, 0 duplicates, 0 rejected")
    second = run_cli(data, "demo", "--products", "10")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith("0 ingested, 0 replaced, 10 duplicates, 0 rejected")
    hub = open_hub(data)
    try:
        assert len(assert_consistent(hub)) == 10
    finally:
        hub.close()
    checked = run_cli(data, "fsck")
    assert checked.returncode == 0, checked.stdout


def test_demo_refuses_a_negative_count(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "data", "demo", "--products", "-3")
    assert done.returncode == 2
    assert "'--products'" in done.stderr and "Traceback" not in done.stderr
