"""The watched incoming folder: products are taken once stable, then deleted or moved.

The loop's ``sleep`` hook plays the outside world between scans (files dropped, a copy still
growing, the archive failing and coming back), so each scan's outcome is known exactly.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from ingest_support import (
    all_products,
    assert_consistent,
    copy_product,
    open_hub,
    rejected_lines,
    run_cli,
)

from eohub.ingest.pipeline import Ingestor, IngestResult, Outcome
from eohub.ingest.watch import WatchOptions, watch

Products = dict[tuple[str, str], Path]


class World:
    """Runs ``actions[k]`` between scan k and scan k+1, and notes at which scan each result
    came."""

    def __init__(self, actions: dict[int, Callable[[], None]]) -> None:
        self.actions = actions
        self.scan = 1
        self.results: list[tuple[int, str, Outcome]] = []

    def sleep(self, seconds: float) -> None:
        assert seconds == 0.2
        action = self.actions.get(self.scan)
        if action is not None:
            action()
        self.scan += 1

    def on_result(self, result: IngestResult) -> None:
        self.results.append((self.scan, result.path.name, result.outcome))


def test_products_are_taken_once_stable_and_deleted(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    first = copy_product(mission_products[("SENTINEL-2", "zip")], incoming)
    bad = incoming / "S2A_MSIL1C_20240101T000000_N0510_R001_T31UFU_20240101T000001.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    growing_source = mission_products[("SENTINEL-3", "zip")].read_bytes()
    growing = incoming / "sub" / mission_products[("SENTINEL-3", "zip")].name
    growing.parent.mkdir(parents=True)
    chunk = len(growing_source) // 4 + 1

    def grow(part: int) -> Callable[[], None]:
        def append() -> None:
            with growing.open("ab") as fh:
                fh.write(growing_source[part * chunk : (part + 1) * chunk])

        return append

    grow(0)()  # a copy in progress: one more quarter after each of scans 1, 2 and 3
    late = mission_products[("SENTINEL-1", "folder")]
    actions: dict[int, Callable[[], None]] = {1: grow(1), 2: grow(2), 3: grow(3)}

    def drop_late() -> None:
        copy_product(late, incoming)

    actions[4] = drop_late  # dropped between scans 4 and 5
    world = World(actions)

    hub = open_hub(tmp_path / "data")
    try:
        options = WatchOptions(incoming, delete_source=True, interval_s=0.2, max_scans=8)
        summary = watch(hub.ingestor(), options, on_result=world.on_result, sleep=world.sleep)
        assert sorted(world.results) == sorted(
            [
                (2, first.name, Outcome.INGESTED),
                (2, bad.name, Outcome.REJECTED),  # once: not retried while it does not change
                (5, growing.name, Outcome.INGESTED),  # complete after scan 3, stable at scan 5
                (6, late.name, Outcome.INGESTED),
            ]
        )
        assert (summary.ingested, summary.duplicates, len(summary.rejected)) == (3, 0, 1)
        assert not first.exists() and not growing.exists() and not (incoming / late.name).exists()
        assert bad.exists()  # rejected without a quarantine: left where it was
        assert len(assert_consistent(hub)) == 3
    finally:
        hub.close()


def test_sources_left_in_place_are_ingested_once(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    source = copy_product(mission_products[("SENTINEL-5P", "file")], incoming)
    world = World({})
    hub = open_hub(tmp_path / "data")
    try:
        options = WatchOptions(incoming, interval_s=0.2, max_scans=6)
        summary = watch(hub.ingestor(), options, on_result=world.on_result, sleep=world.sleep)
        assert world.results == [(2, source.name, Outcome.INGESTED)]
        assert summary.ingested == 1 and summary.duplicates == 0
        assert source.exists()
    finally:
        hub.close()


def test_a_product_dropped_again_is_a_duplicate_and_removed(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    original = mission_products[("SENTINEL-3", "folder")]
    source = copy_product(original, incoming)

    def drop_again() -> None:
        copy_product(original, incoming)  # the very same bytes and times as before

    world = World({3: drop_again})
    hub = open_hub(tmp_path / "data")
    try:
        options = WatchOptions(incoming, delete_source=True, interval_s=0.2, max_scans=6)
        watch(hub.ingestor(), options, on_result=world.on_result, sleep=world.sleep)
        assert world.results == [
            (2, source.name, Outcome.INGESTED),
            (5, source.name, Outcome.DUPLICATE),
        ]
        assert not source.exists()
        assert len(assert_consistent(hub)) == 1
    finally:
        hub.close()


def test_archive_failure_is_retried_and_not_quarantined(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    source = copy_product(mission_products[("SENTINEL-1", "zip")], incoming)
    hub = open_hub(tmp_path / "data")
    archive = hub.settings.archive_path
    try:
        shutil.rmtree(archive)
        archive.write_text("a file where the archive folder should be")  # every put fails

        def repair() -> None:
            archive.unlink()
            archive.mkdir()

        world = World({3: repair})
        quarantine = tmp_path / "quarantine"
        ingestor = Ingestor(hub.catalogue, hub.store, quarantine=quarantine)
        options = WatchOptions(incoming, move_to=tmp_path / "done", interval_s=0.2, max_scans=6)
        watch(ingestor, options, on_result=world.on_result, sleep=world.sleep)
        assert world.results == [
            (2, source.name, Outcome.REJECTED),
            (3, source.name, Outcome.REJECTED),
            (4, source.name, Outcome.INGESTED),
        ]
        assert not quarantine.exists()
        assert (tmp_path / "done" / source.name).is_file() and not source.exists()
        assert len(assert_consistent(hub)) == 1
    finally:
        hub.close()


def test_watch_command_deletes_sources_and_leaves_rejects(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    good = [copy_product(mission_products[k], incoming) for k in [("SENTINEL-2", "folder")]]
    good.append(copy_product(mission_products[("SENTINEL-5P", "file")], incoming / "deeper"))
    bad = incoming / "S1A_IW_GRDH_1SDV_20240101T000000_20240101T000025_052000_064A5B_1A2B.zip"
    bad.write_bytes(b"junk")
    done = run_cli(
        tmp_path / "data",
        "ingest",
        "--watch",
        incoming,
        "--interval",
        "0.2",
        "--max-scans",
        "3",
        "--delete-source",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip().endswith("2 ingested, 0 replaced, 0 duplicates, 1 rejected")
    assert set(rejected_lines(done.stderr)) == {bad.name}
    assert not any(path.exists() for path in good)
    assert bad.exists()


def test_watch_command_pattern_move_and_quarantine(
    tmp_path: Path, mission_products: Products
) -> None:
    incoming = tmp_path / "incoming"
    wanted = copy_product(mission_products[("SENTINEL-2", "zip")], incoming)
    other = copy_product(mission_products[("SENTINEL-1", "zip")], incoming)
    bad = incoming / "S2B_MSIL2A_20240101T000000_N0510_R001_T31UFU_20240101T000001.zip"
    bad.write_bytes(b"junk")
    done = run_cli(
        tmp_path / "data",
        "ingest",
        "--watch",
        incoming,
        "--pattern",
        r"^S2",
        "--interval",
        "0.2",
        "--max-scans",
        "3",
        "--move-to",
        tmp_path / "done",
        "--quarantine",
        tmp_path / "quarantine",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"corrupt or truncated zip", rejected_lines(done.stderr)[bad.name])
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == [wanted.name]
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == [bad.name]
    assert sorted(p.name for p in incoming.iterdir()) == [other.name]  # not matched: untouched
    hub = open_hub(tmp_path / "data")
    try:
        assert [p.name + ".zip" for p in all_products(hub.catalogue)] == [wanted.name]
    finally:
        hub.close()


def test_bad_watch_options_are_clear_usage_errors(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    cases: list[tuple[list[str | Path], str]] = [
        (["--watch", incoming, "--pattern", "(["], "not a regular expression"),
        (["--watch", tmp_path / "missing"], "does not exist"),
        (["--watch", incoming, "--interval", "-1"], "'--interval'"),
        (["--watch", incoming, "--interval", "0"], "'--interval'"),
        (["--watch", incoming, "--max-scans", "0"], "'--max-scans'"),
    ]
    for args, message in cases:
        done = run_cli(tmp_path / "data", "ingest", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
