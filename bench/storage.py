"""Archive throughput: local puts against md5sum, and S3 (SeaweedFS on loopback) against local.

Usage: ``python bench/storage.py [--size-mb 1000] [--dir /tmp] [--repeat 2] [--skip-s3]``

Creates one file of random bytes (at most 4 GB) and warms the page cache, then times, each in
a fresh process so that its peak RSS and CPU time are its own:
  - ``md5sum`` on the file (the reference: one checksum, reading only);
  - a plain copy with fsync (the disk's ceiling, no checksums);
  - ``FilesystemStore.put`` with MD5 + BLAKE3: with fsync, without, and into tmpfs (/dev/shm);
  - reading the object back from the local store;
  - ``S3Store.put`` and a full ``S3Store.open`` read against a SeaweedFS it starts on 127.0.0.1
    (the server's own CPU time is shown in its own column).
"+peak RSS" is how much the peak RSS grew during the operation (md5sum: its whole process).
Each figure is the best of ``--repeat`` runs. The machine may be shared: wall-clock figures
are noisy, CPU seconds per GB much less so.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from blake3 import blake3  # noqa: E402

from eohub.storage.filesystem import FilesystemStore  # noqa: E402
from eohub.storage.s3 import S3Store  # noqa: E402

MiB = 1 << 20
MAX_MB = 4000
Outcome = tuple[float, float, float]  # wall seconds, peak RSS growth MiB, CPU seconds


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(16 * MiB, left))
            handle.write(block)
            left -= len(block)


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _peak(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _outcome(started: float, cpu: float, base: float, who: int = resource.RUSAGE_SELF) -> Outcome:
    """Wall time, growth of the peak RSS over ``base`` (after imports), CPU time."""
    elapsed = time.perf_counter() - started
    return elapsed, _peak(who) - base, _cpu(who) - cpu


def job_md5sum(path: str) -> Outcome:
    cpu, started = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(["md5sum", path], check=True, capture_output=True)
    return _outcome(started, cpu, 0.0, resource.RUSAGE_CHILDREN)


def job_plain_copy(path: str, target: str) -> Outcome:
    base, cpu, started = _peak(), _cpu(), time.perf_counter()
    with open(path, "rb") as source, open(target, "wb") as out:
        while chunk := source.read(MiB):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    outcome = _outcome(started, cpu, base)
    os.unlink(target)
    return outcome


def job_local_put(path: str, root: str, fsync: bool) -> Outcome:
    store = FilesystemStore(Path(root), fsync=fsync)
    base, cpu, started = _peak(), _cpu(), time.perf_counter()
    with open(path, "rb") as source:
        store.put("bench/object.bin", source)
    return _outcome(started, cpu, base)


def job_local_get(root: str) -> Outcome:
    store = FilesystemStore(Path(root))
    base, cpu, started = _peak(), _cpu(), time.perf_counter()
    for _ in store.open("bench/object.bin"):
        pass
    return _outcome(started, cpu, base)


def job_s3_put(path: str, options: dict[str, Any]) -> Outcome:
    store = S3Store("bench", create_bucket=True, **options)
    base, cpu, started = _peak(), _cpu(), time.perf_counter()
    with open(path, "rb") as source:
        store.put("bench/object.bin", source)
    return _outcome(started, cpu, base)


def job_s3_get(options: dict[str, Any]) -> Outcome:
    store = S3Store("bench", **options)
    base, cpu, started = _peak(), _cpu(), time.perf_counter()
    for _ in store.open("bench/object.bin"):
        pass
    return _outcome(started, cpu, base)


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best_of(repeat: int, job: Callable[..., Outcome], *args: Any) -> Outcome:
    """Fastest of ``repeat`` runs, each in a fresh process."""
    runs = []
    for _ in range(max(repeat, 1)):
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            runs.append(pool.submit(job, *args).result())
    return min(runs)


def hashing_speeds(size: int = 256 * MiB) -> list[tuple[str, float]]:
    """In-memory hashing speeds (MB/s) behind the choice of single-threaded BLAKE3."""
    view = memoryview(os.urandom(size))
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("md5 (hashlib)", lambda: hashlib.md5(usedforsecurity=False)),
        ("blake3, 1 thread", lambda: blake3()),
        ("blake3, AUTO threads", lambda: blake3(max_threads=blake3.AUTO)),
    ]
    speeds = []
    for name, make in makers:
        hasher = make()
        started = time.perf_counter()
        for offset in range(0, size, MiB):
            hasher.update(view[offset : offset + MiB])
        hasher.hexdigest()
        speeds.append((name, size / (time.perf_counter() - started) / 1e6))
    return speeds


class Table:
    """Rows of (operation, MB/s, peak RSS growth, client CPU s/GB, server CPU s/GB)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: list[tuple[str, float, float, float, float | None]] = []

    def add(self, name: str, outcome: Outcome, server_cpu: float | None = None) -> float:
        seconds, peak, cpu = outcome
        gb = self.size / 1e9
        server = None if server_cpu is None else server_cpu / gb
        self.rows.append((name, self.size / seconds / 1e6, peak, cpu / gb, server))
        return seconds

    def print(self) -> None:
        print(f"{'operation':<26}{'MB/s':>8}{'+peak RSS MiB':>14}{'CPU s/GB':>10}{'server':>8}")
        for name, speed, peak, cpu, server in self.rows:
            shown = "" if server is None else f"{server:.2f}"
            print(f"{name:<26}{speed:>8.0f}{peak:>14.0f}{cpu:>10.2f}{shown:>8}")


def run_s3(table: Table, work: Path, source: Path, repeat: int) -> tuple[float, float]:
    from s3_server import SeaweedS3

    server = SeaweedS3.start(work / "seaweedfs")
    try:
        assert server.process is not None
        pid = server.process.pid
        endpoint, access, secret = server.credentials
        options = {"endpoint_url": endpoint, "access_key": access, "secret_key": secret}
        before = process_cpu(pid)
        put = best_of(repeat, job_s3_put, str(source), options)
        put_server = (process_cpu(pid) - before) / max(repeat, 1)
        before = process_cpu(pid)
        get = best_of(repeat, job_s3_get, options)
        get_server = (process_cpu(pid) - before) / max(repeat, 1)
    finally:
        server.stop()
    return (
        table.add("S3 put (SeaweedFS)", put, put_server),
        table.add("S3 get (SeaweedFS)", get, get_server),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    size = min(max(args.size_mb, 16), MAX_MB) * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="eohub-bench-", dir=args.dir))
    shm = Path("/dev/shm")
    shm_root = Path(tempfile.mkdtemp(prefix="eohub-bench-", dir=shm)) if shm.is_dir() else None
    table = Table(size)
    s3: tuple[float, float] | None = None
    try:
        source = work / "source.bin"
        make_file(source, size)
        job_md5sum(str(source))  # warms the page cache: every run below reads from memory
        md5sum = table.add("md5sum (reference)", best_of(args.repeat, job_md5sum, str(source)))
        copy = best_of(args.repeat, job_plain_copy, str(source), str(work / "copy"))
        table.add("plain copy + fsync", copy)
        local = str(work / "archive")
        put_sync = table.add(
            "local put, fsync", best_of(args.repeat, job_local_put, str(source), local, True)
        )
        put_nosync = table.add(
            "local put, no fsync", best_of(args.repeat, job_local_put, str(source), local, False)
        )
        if shm_root is not None:
            table.add(
                "local put, tmpfs",
                best_of(args.repeat, job_local_put, str(source), str(shm_root), False),
            )
            shutil.rmtree(shm_root, ignore_errors=True)
        local_get = table.add("local get", best_of(args.repeat, job_local_get, local))
        shutil.rmtree(local)
        if not args.skip_s3:
            s3 = run_s3(table, work, source, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if shm_root is not None:
            shutil.rmtree(shm_root, ignore_errors=True)

    print(f"\nobject {size / 1e6:.0f} MB, best of {args.repeat}, {os.cpu_count()} cores")
    table.print()
    print(
        f"\nlocal put (MD5 + BLAKE3) speed / md5sum speed: fsync {md5sum / put_sync:.0%}, "
        f"no fsync {md5sum / put_nosync:.0%} (target >= 80%)"
    )
    if s3 is not None:
        print(
            f"S3 speed / local speed: put {put_sync / s3[0]:.0%} (vs local put with fsync), "
            f"get {local_get / s3[1]:.0%} (target >= 50%, i.e. within 2x)"
        )
    print("\nin-memory hashing, 1 MiB updates:")
    for name, speed in hashing_speeds():
        print(f"  {name:<22}{speed:>8.0f} MB/s")


if __name__ == "__main__":
    main()
