"""kill -9 at random points of ``eohub ingest``: never a catalogued product without its bytes.

Each run starts ``python -m eohub ingest`` on a batch of six factory products (folders, zips,
a netCDF file, and a larger folder that is a newer reprocessing of the one ingested by the run
before) and sends SIGKILL after a random delay spread over the whole uninterrupted duration, or,
in some runs, at the moment the larger folder is being zipped into the archive. Then
``fsck --repair`` runs and catalogue and archive must agree exactly; then the same ingest is run
again (the command every third run, in-process otherwise, to keep the test short) and must
complete. Most runs share one data folder, so the state left by earlier crashes
accumulates; every fifth run starts on a fresh one (kills during the schema creation too).

``EOHUB_CRASH_RUNS`` and ``EOHUB_CRASH_SEED`` change the number of runs and the random seed.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ingest_support import (
    EOHUB,
    all_products,
    assert_consistent,
    cli_env,
    make_product,
    open_hub,
    records,
    run_cli,
    set_generation_time,
)

from eohub.demo.factory import build_product
from eohub.maintenance.fsck import fsck
from eohub.model.product import Product

RUNS = int(os.environ.get("EOHUB_CRASH_RUNS", "50"))
SEED = int(os.environ.get("EOHUB_CRASH_SEED", "20240611"))
AUX_BYTES = 4 << 20  # the large folder's deflated member: zipping it takes a while
ZIPPING_EVERY = 4  # every fourth run kills while the large folder is being zipped
FRESH_EVERY = 5  # every fifth run starts on a fresh data folder
CLI_RERUN_EVERY = 3  # every third run re-runs the command; the others re-run in-process


@dataclass
class Stats:
    """What the kills hit, to show (and check) that they landed inside the work."""

    finished_before_kill: int = 0
    zipping_kills: int = 0
    orphans_removed: int = 0
    partials_removed: int = 0
    runs_with_leftovers: int = 0
    replaced_on_rerun: int = 0
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count the time of the block under ``name``."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] += time.monotonic() - began

    def __str__(self) -> str:
        spent = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        return (
            f"{self.finished_before_kill} finished before the kill, {self.zipping_kills} killed "
            f"while zipping, {self.runs_with_leftovers} runs left debris ({self.orphans_removed} "
            f"orphans, {self.partials_removed} partial uploads removed), "
            f"{self.replaced_on_rerun} reruns replaced a product; time: {spent}"
        )


class Batches:
    """Fresh small products for every run, plus a newer reprocessing of the large folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        pool = records(seed=11, n=4000)
        self.s1 = iter([r for r in pool if r.collection == "SENTINEL-1"])
        self.s2 = iter([r for r in pool if r.collection == "SENTINEL-2"])
        self.s3 = iter([r for r in pool if r.collection == "SENTINEL-3"])
        self.s5p = iter([r for r in pool if r.collection == "SENTINEL-5P"])
        large_record = next(self.s2)
        self.large_template = build_product(large_record, root / "template", image_px=256)
        aux = self.large_template / "GRANULE" / "AUX_DATA" / "AUX_ECMWFT"
        aux.parent.mkdir(parents=True)
        aux.write_bytes(os.urandom(AUX_BYTES))
        self.large_name = large_record.name
        self.generated = datetime.fromisoformat("2030-01-01T00:00:00+00:00")

    def next(self, run: int) -> list[Path]:
        """The run's batch, in the order given to the command."""
        folder = self.root / f"run{run:03d}"
        large = folder / self.large_template.name
        # Hard links: the large member's bytes are not written again for every run.
        shutil.copytree(self.large_template, large, copy_function=os.link)
        mtd = next(large.glob("MTD_MSIL*.xml"))
        mtd.unlink()  # edited below: a file of its own, not a link to the template's
        shutil.copy(next(self.large_template.glob("MTD_MSIL*.xml")), mtd)
        self.generated += timedelta(hours=1)
        set_generation_time(large, self.generated)
        return [
            make_product(next(self.s1), folder),
            make_product(next(self.s2), folder, zipped=True),
            large,
            make_product(next(self.s3), folder),
            make_product(next(self.s5p), folder),
            make_product(next(self.s3), folder, zipped=True),
        ]


def start(data: Path, batch: list[Path]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*EOHUB, "--data-dir", str(data), "ingest", *map(str, batch)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )


def _partial_sizes(tmp: Path) -> list[int]:
    sizes: list[int] = []
    try:
        with os.scandir(tmp) as entries:
            for entry in entries:
                try:
                    sizes.append(entry.stat().st_size)
                except FileNotFoundError:  # moved into place meanwhile
                    continue
    except FileNotFoundError:  # the archive is not created yet
        pass
    return sizes


def kill_while_zipping(process: subprocess.Popen[bytes], data: Path, limit: float) -> bool:
    """SIGKILL once the large folder's zip is being written into the archive (a partial file
    past 1 MiB: the small products are far smaller); True if that moment was caught."""
    tmp = data / "archive" / ".eohub-tmp"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if any(size > 1 << 20 for size in _partial_sizes(tmp)):
            process.kill()
            return True
        time.sleep(0.002)
    process.kill()
    return False


def check_after_crash(data: Path, stats: Stats) -> None:
    """fsck finds no catalogued product without bytes; with repair, everything agrees."""
    hub = open_hub(data)
    try:
        found = fsck(hub.catalogue, hub.store)
        assert found.missing == [], f"catalogued without bytes after a kill: {found.missing}"
        repaired = fsck(hub.catalogue, hub.store, repair=True)
        assert repaired.orphans == found.orphans
        stats.orphans_removed += len(repaired.orphans)
        stats.partials_removed += repaired.partials_removed
        stats.runs_with_leftovers += bool(repaired.orphans or repaired.partials_removed)
        assert fsck(hub.catalogue, hub.store).clean
        assert_consistent(hub)
    finally:
        hub.close()


def check_complete(data: Path, batch: list[Path], large: tuple[str, datetime]) -> None:
    """Every product of the batch is catalogued with its bytes, the large one at the run's
    generation, and fsck finds nothing to repair."""
    hub = open_hub(data)
    try:
        products: dict[str, Product] = {p.name: p for p in all_products(hub.catalogue)}
        for path in batch:
            name = path.name.removesuffix(".zip").removesuffix(".SAFE")
            name = name.removesuffix(".SEN3").removesuffix(".nc")
            assert name in products and products[name].online, f"{name} not catalogued"
        assert products[large[0]].attributes["generationDate"] == large[1]
        report = fsck(hub.catalogue, hub.store)
        assert report.clean and report.partials_removed == 0
        assert_consistent(hub)
    finally:
        hub.close()


def rerun(data: Path, batch: list[Path], stats: Stats, *, command: bool) -> None:
    """The same ingest again completes: with the command (exit 0), or in-process."""
    if command:
        again = run_cli(data, "ingest", *batch)
        assert again.returncode == 0, f"the ingest did not complete:\n{again.stderr}"
        assert "0 rejected" in again.stdout
        stats.replaced_on_rerun += "0 replaced" not in again.stdout
        return
    hub = open_hub(data)
    try:
        summary = hub.ingestor().ingest_all(batch)
    finally:
        hub.close()
    assert summary.ok, [(r.path.name, r.reason) for r in summary.rejected]
    assert summary.ingested + summary.replaced + summary.duplicates == len(batch)
    stats.replaced_on_rerun += summary.replaced > 0


@pytest.mark.slow
def test_kill_9_during_ingest_never_leaves_half_products(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    batches = Batches(tmp_path / "products")
    shared = tmp_path / "shared"
    stats = Stats()

    # The uninterrupted duration, measured once (and the shared folder's first products).
    batch = batches.next(0)
    began = time.monotonic()
    first = run_cli(shared, "ingest", *batch)
    duration = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    check_complete(shared, batch, (batches.large_name, batches.generated))

    for run in range(1, RUNS + 1):
        data = tmp_path / f"fresh{run:03d}" if run % FRESH_EVERY == 0 else shared
        with stats.phase("build"):
            batch = batches.next(run)
        with stats.phase("kill"):
            process = start(data, batch)
            if run % ZIPPING_EVERY == 0:
                stats.zipping_kills += kill_while_zipping(process, data, 3 * duration)
            else:
                try:
                    process.wait(timeout=rng.uniform(0, duration))
                except subprocess.TimeoutExpired:
                    process.kill()
            _, stderr = process.communicate(timeout=60)
        if process.returncode == 0:
            stats.finished_before_kill += 1
        else:
            assert process.returncode == -9, stderr.decode(errors="replace")

        with stats.phase("check"):
            if data.exists():
                check_after_crash(data, stats)
        with stats.phase("rerun"):
            rerun(data, batch, stats, command=run % CLI_RERUN_EVERY == 0)
        with stats.phase("check"):
            check_complete(data, batch, (batches.large_name, batches.generated))
        shutil.rmtree(tmp_path / "products" / f"run{run:03d}")
        if data != shared:
            shutil.rmtree(data)

    print(
        f"\ncrash test: {RUNS} kills, uninterrupted ingest {duration:.2f} s, seed {SEED}: {stats}"
    )
    # The kills landed inside the work, not only before or after it.
    assert stats.zipping_kills >= RUNS // ZIPPING_EVERY // 2, stats
    assert stats.runs_with_leftovers >= RUNS // 10, stats
    assert stats.finished_before_kill < RUNS // 2, stats
