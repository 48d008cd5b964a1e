"""Watching an incoming folder, like DHuS file scanners: ingest what appears, then clean up.

A product is taken once it is stable (its size and modification time did not change between
two scans), so files still being copied in are not ingested half-written. After a success the
source is deleted or moved; a rejected source goes to the quarantine folder when one is
configured, otherwise it is remembered and not retried until it changes. A source left in place
is not ingested again, and an input rejected for a reason that is not its own (archive or
catalogue unavailable) is tried again at the next scan.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eohub.ingest.pipeline import Ingestor, IngestResult, IngestSummary, Outcome, find_products

log = logging.getLogger("eohub.ingest.watch")


@dataclass(frozen=True)
class WatchOptions:
    """How a watched folder is handled."""

    folder: Path
    pattern: re.Pattern[str] | None = None  # on the product's file name
    delete_source: bool = False
    move_to: Path | None = None
    interval_s: float = 5.0
    max_scans: int | None = None  # None: until stopped


def _signature(path: Path) -> tuple[int, float]:
    if path.is_dir():
        entries = [p.stat() for p in path.rglob("*") if p.is_file()]
        return sum(s.st_size for s in entries), max((s.st_mtime for s in entries), default=0.0)
    st = path.stat()
    return st.st_size, st.st_mtime


def _dispose(path: Path, options: WatchOptions) -> None:
    """Delete or move a source after success; a failure is logged, never fatal."""
    try:
        if options.move_to is not None:
            target = options.move_to / path.name
            if target.exists():  # shutil.move would nest a folder inside it, or overwrite
                log.warning("not moving %s: %s already exists", path, target)
                return
            options.move_to.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
        elif options.delete_source:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    except OSError as exc:
        log.warning("could not remove %s from the watched folder: %s", path, exc)


def watch(
    ingestor: Ingestor,
    options: WatchOptions,
    *,
    on_result: Callable[[IngestResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> IngestSummary:
    """Scan ``options.folder`` every ``interval_s`` seconds and ingest stable products."""
    summary = IngestSummary()
    seen: dict[Path, tuple[int, float]] = {}
    done: dict[Path, tuple[int, float]] = {}  # handled in this exact state: not again
    scans = 0
    while options.max_scans is None or scans < options.max_scans:
        scans += 1
        current: dict[Path, tuple[int, float]] = {}
        for path in find_products([options.folder]):
            if options.pattern is not None and not options.pattern.search(path.name):
                continue
            try:
                current[path] = _signature(path)
            except OSError:
                continue  # vanished between listing and stat
        with ingestor.catalogue.gathering():  # one saved-search mail per scan
            for path, signature in current.items():
                if seen.get(path) != signature or done.get(path) == signature:
                    continue  # not stable yet, or already handled in this exact state
                result = ingestor.ingest(path)
                summary.add(result)
                if on_result is not None:
                    on_result(result)
                if result.outcome is not Outcome.REJECTED:
                    if path.exists():
                        _dispose(path, options)
                    done[path] = signature  # a source left in place is not ingested again
                elif not result.retryable:
                    done[path] = signature
        seen = current
        done = {p: sig for p, sig in done.items() if p in current}  # bounded; gone is forgotten
        if options.max_scans is None or scans < options.max_scans:
            sleep(options.interval_s)
    return summary
