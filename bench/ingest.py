"""Ingest benchmark: N factory products through the real pipeline, in products per second.

Makes N small synthetic products (every mission, folders and zips, netCDF for Sentinel-5P) with
the product factory, then ingests them one after the other as ``eohub ingest`` does, into a
SQLite catalogue and a local archive (or an S3 archive on a SeaweedFS the benchmark starts on
127.0.0.1). Prints a small table: products/s and where the time goes (reading metadata and
making previews, the archive, the catalogue).

    python bench/ingest.py                      # 500 products, SQLite + local disk
    python bench/ingest.py --products 200 --store s3
    python bench/ingest.py --no-fsync           # how much of the archive time is fsync
    python bench/ingest.py --workers 2 --processes   # as `eohub ingest --workers 2` does
                                                     # for large batches (worker processes)

Timings on a shared 2-core machine are noisy; run it twice before trusting a figure.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from eohub.config import Settings, StorageSettings
from eohub.demo.factory import build_products
from eohub.demo.records import generate_products
from eohub.ingest.pipeline import Ingestor, IngestResult, IngestSummary
from eohub.storage.filesystem import FilesystemStore
from eohub.wiring import build_hub

MAX_PRODUCTS = 20_000  # bounded: the products are written to a temporary folder first
TARGET_PER_S = 100.0  # on SQLite and the local disk


class Clock:
    """Seconds spent per phase, summed over the ingesting threads."""

    def __init__(self) -> None:
        self.spent: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the time of the ``with`` block to ``name``."""
        began = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.spent[name] += time.perf_counter() - began


class Timed:
    """Delegates to ``inner``, timing the named methods under one phase.

    A plain proxy rather than a profiler: it costs nothing measurable and splits the time
    by the pipeline's own boundaries (archive, catalogue).
    """

    def __init__(self, inner: Any, clock: Clock, phase: str, methods: set[str]) -> None:
        self._inner, self._clock, self._phase, self._methods = inner, clock, phase, methods

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self._clock.phase(self._phase):
                return attr(*args, **kwargs)

        return timed


class TimedCatalogue(Timed):
    """The catalogue service with its backend's lookups timed as well."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        super().__init__(inner, clock, "catalogue", {"upsert"})
        self.backend = Timed(inner.backend, clock, "catalogue", {"find_by_name"})


def make_products(n: int, dest: Path, seed: int, zipped_ratio: float) -> list[Path]:
    records = generate_products(n, seed=seed)
    return list(build_products(records, dest, zipped_ratio=zipped_ratio, seed=seed))


def describe(paths: list[Path]) -> str:
    missions = Counter(p.name[:2] for p in paths)
    forms = Counter(
        "folder" if p.is_dir() else ("netCDF" if p.suffix == ".nc" else "zip") for p in paths
    )
    size = sum(
        sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if p.is_dir()
        else p.stat().st_size
        for p in paths
    )
    parts = ", ".join(f"{k} {v}" for k, v in sorted(missions.items()))
    form = ", ".join(f"{v} {k}" for k, v in sorted(forms.items()))
    return f"{len(paths)} products ({parts}; {form}), {size / 2**20:.1f} MiB"


@contextmanager
def s3_settings(work: Path) -> Iterator[StorageSettings]:
    """A SeaweedFS of the benchmark's own (tests/s3_server.py) and settings for it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from s3_server import SeaweedS3

    server = SeaweedS3.start(work / "seaweedfs")
    try:
        endpoint, access, secret = server.credentials
        yield StorageSettings(
            backend="s3",
            s3_bucket="bench-ingest",
            s3_endpoint_url=endpoint,
            s3_access_key=access,
            s3_secret_key=SecretStr(secret),
        )
    finally:
        server.kill()


@dataclass
class Run:
    """The outcome of one benchmark run."""

    summary: IngestSummary
    clock: Clock
    wall: float
    cpu: float
    workers: int


def ingest(settings: Settings, paths: list[Path], fsync: bool, workers: int) -> Run:
    """Ingest ``paths`` as ``eohub ingest`` does (``workers`` > 1: that many at once)."""
    hub = build_hub(settings)
    try:
        store = hub.store
        if isinstance(store, FilesystemStore) and not fsync:
            store = FilesystemStore(store.root, fsync=False)
        clock = Clock()
        timed_store: Any = Timed(store, clock, "archive", {"put", "delete"})
        timed_catalogue: Any = TimedCatalogue(hub.catalogue, clock)
        ingestor = Ingestor(timed_catalogue, timed_store)

        def one(path: Path) -> IngestResult:
            with clock.phase("busy"):
                return ingestor.ingest(path)

        summary = IngestSummary()
        began, cpu = time.perf_counter(), time.process_time()
        # Several workers get distinct products, so no two threads race on one identifier.
        with ThreadPoolExecutor(workers, thread_name_prefix="bench") as pool:
            for result in pool.map(one, paths):
                summary.add(result)
        return Run(summary, clock, time.perf_counter() - began, time.process_time() - cpu, workers)
    finally:
        hub.close()


def ingest_processes(settings: Settings, paths: list[Path], workers: int) -> tuple[float, Any]:
    """Seconds (worker start-up included) and summary of ``eohub ingest --workers N`` on a
    large batch: N processes (eohub.cli.ingest_pool)."""
    from eohub.cli.ingest_pool import ingest_in_processes

    build_hub(settings).close()  # created and migrated, as the command does first
    began = time.perf_counter()
    summary = ingest_in_processes(settings, paths, workers)
    return time.perf_counter() - began, summary


def table(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for k, row in enumerate(rows):
        right = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in right]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(run: Run, n: int) -> str:
    """The table of phases (in thread-seconds when several workers ingest at once)."""
    spent = run.clock.spent
    busy, archive, catalogue = spent["busy"], spent["archive"], spent["catalogue"]
    other = max(busy - archive - catalogue, 0.0)
    rows = [("phase", "seconds", "share", "ms/product")]
    for name, seconds in (
        ("read metadata + previews", other),
        ("archive (zip, hash, write)", archive),
        ("catalogue (lookup, upsert)", catalogue),
        ("total" if run.workers == 1 else f"total over {run.workers} threads", busy),
    ):
        rows.append((name, f"{seconds:.2f}", f"{seconds / busy:.0%}", f"{1000 * seconds / n:.1f}"))
    done = run.summary.ingested + run.summary.replaced
    return (
        table(rows)
        + f"\n\n{done / run.wall:.1f} products/s: {done} in {run.wall:.2f} s wall, "
        + f"{run.cpu:.2f} s CPU ({done / run.cpu:.0f} products per CPU second); "
        + f"{run.summary.duplicates} duplicates, {len(run.summary.rejected)} rejected"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=500, help="how many (default 500)")
    parser.add_argument("--store", choices=("filesystem", "s3"), default="filesystem")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--zipped-ratio", type=float, default=0.5, help="share of zips")
    parser.add_argument(
        "--no-fsync", dest="fsync", action="store_false", help="local archive without fsync"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="products ingested at once (the command: 1)"
    )
    parser.add_argument(
        "--processes", action="store_true", help="worker processes (no phase table)"
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    if not 1 <= args.products <= MAX_PRODUCTS:
        parser.error(f"--products must be between 1 and {MAX_PRODUCTS}")
    if not 1 <= args.workers <= 32:
        parser.error("--workers must be between 1 and 32")

    work = args.keep or Path(tempfile.mkdtemp(prefix="eohub-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        paths = make_products(args.products, work / "products", args.seed, args.zipped_ratio)
        made = time.perf_counter() - began
        print(f"made {describe(paths)} in {made:.1f} s")

        if args.processes:
            if args.store != "filesystem" or not args.fsync:
                parser.error("--processes measures the command's defaults: local disk, fsync")
            wall, summary = ingest_processes(Settings(data_dir=work / "hub"), paths, args.workers)  # type: ignore[call-arg]
            done = summary.ingested + summary.replaced
            rate = done / wall
            print(f"ingested into SQLite + local disk (fsync on), {args.workers} processes:")
            print(f"{rate:.1f} products/s: {done} in {wall:.2f} s wall, worker start-up "
                  f"included; {len(summary.rejected)} rejected")  # fmt: skip
            verdict = "met" if rate >= TARGET_PER_S else "NOT met"
            print(f"target >= {TARGET_PER_S:.0f} products/s on SQLite + local disk: {verdict}")
            return 0 if summary.ok else 1

        def run(storage: StorageSettings) -> Run:
            settings = Settings(data_dir=work / "hub", storage=storage)
            return ingest(settings, paths, args.fsync, args.workers)

        if args.store == "s3":
            with s3_settings(work) as storage:
                result = run(storage)
            where = "S3 (SeaweedFS on 127.0.0.1)"
        else:
            result = run(StorageSettings())
            where = f"local disk (fsync {'on' if args.fsync else 'off'})"
        how = "one product after the other" if args.workers == 1 else f"{args.workers} at once"
        print(f"ingested into SQLite + {where}, {how}:\n")
        print(report(result, len(paths)))
        rate = (result.summary.ingested + result.summary.replaced) / result.wall
        if args.store == "filesystem":
            verdict = "met" if rate >= TARGET_PER_S else "NOT met"
            print(f"target >= {TARGET_PER_S:.0f} products/s on SQLite + local disk: {verdict}")
        return 0 if result.summary.ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
