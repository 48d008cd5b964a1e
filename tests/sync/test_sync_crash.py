"""kill -9 the mirror at random points of a copy sync of 1,000 products, 20 times.

An upstream eohub on 127.0.0.1 holds 1,000 generated products with small real bytes (and a
quicklook every tenth). A downstream data folder has a copy synchroniser of it; each round
starts ``python -m eohub sync run`` as a real process, through a proxy that counts its
requests, and sends SIGKILL after a random number of them (or before the first: start-up,
schema, cursor read), so the kills land all along the sync whatever the machine's speed. After
every kill the downstream state is checked: every catalogued product is an upstream product,
online with bytes whose MD5 (computed here) is the catalogue's and the upstream's, no Id or
name twice, and fsck finds no product without its bytes. Objects a killed run stored and did
not catalogue yet (bytes, quicklooks) are left between runs: the sync never catalogues a
product before its bytes are verified, and the next run reuses the bytes (hashed again) and
removes the rest (docs/mirroring.md, "Faults"). After the 20 kills, one last run completes;
then the catalogue holds exactly the upstream's Ids and checksums, ``eohub fsck`` finds no
orphan without any repair, and one more run has nothing to do.

``EOHUB_SYNC_CRASH_KILLS`` and ``EOHUB_SYNC_CRASH_SEED`` change the number of kills and the seed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from byte_products import add_byte_products, stored_md5
from fault_proxy import FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings
from eohub.maintenance.fsck import fsck
from eohub.model.product import Product
from eohub.wiring import build_hub
from ingest.ingest_support import all_products, assert_consistent

KILLS = int(os.environ.get("EOHUB_SYNC_CRASH_KILLS", "20"))
SEED = int(os.environ.get("EOHUB_SYNC_CRASH_SEED", "20261122"))
PRODUCTS = 1000
PAGE_SIZE = 50


def _eohub(data: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@dataclass
class Stats:
    """Where the kills landed."""

    finished_before_kill: int = 0
    progressed: int = 0  # kills after which more products were catalogued than before
    with_orphans: int = 0  # kills that left new objects not catalogued (for the next run)
    catalogued_after: list[int] = field(default_factory=list)


def check_after_kill(
    data: Path, upstream: dict[uuid.UUID, Product], checked: set[uuid.UUID]
) -> tuple[int, int]:
    """Every catalogued product is a good copy of an upstream one; returns (catalogued,
    orphans). Bytes are hashed once per product (``checked``): a copy never changes."""
    hub = build_hub(Settings(data_dir=data))  # type: ignore[call-arg]
    try:
        products = all_products(hub.catalogue)
        ids = Counter(p.id for p in products)
        names = Counter(p.name for p in products)
        assert max(ids.values(), default=1) == 1 and max(names.values(), default=1) == 1
        for product in products:
            remote = upstream.get(product.id)
            assert remote is not None, f"{product.name} is not an upstream product"
            assert product.name == remote.name
            assert product.online and product.archive_key, f"{product.name} has no bytes"
            assert product.checksum("MD5") == remote.checksum("MD5"), product.name
            if product.id not in checked:
                assert stored_md5(hub, product.archive_key) == remote.checksum("MD5"), product.name
                checked.add(product.id)
        found = fsck(hub.catalogue, hub.store)
        assert found.missing == [], f"catalogued without bytes after a kill: {found.missing}"
        for key in found.orphans:  # only objects of the products being transferred
            assert uuid.UUID(key.split("/")[2]) in upstream, key
        return len(products), len(found.orphans)
    finally:
        hub.close()


def kill_after(
    process: subprocess.Popen[bytes], proxy: FaultProxy, requests: int, pause: float
) -> None:
    """SIGKILL once the proxy has seen ``requests`` requests in all, ``pause`` s later (at
    once when ``requests`` is already reached: before the process sends anything)."""
    deadline = time.monotonic() + 120
    while len(proxy.log) < requests and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("the sync did not make progress in 120 s")
        time.sleep(0.002)
    time.sleep(pause)
    process.kill()


@pytest.mark.slow
def test_kill_9_during_a_copy_sync_converges_to_the_upstream_set(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    upstream = {p.id: p for p in add_byte_products(up, PRODUCTS, seed=3, quicklook_every=10)}
    down = tmp_path / "down"
    stats = Stats()
    checked: set[uuid.UUID] = set()
    try:
        with live_server(up) as served, fault_proxy(served) as (base, proxy):
            added = _eohub(
                down, "sync", "add", "mirror", "--source", base, "--user", DOWNLOADER[0],
                "--password", DOWNLOADER[1], "--copy", "--page-size", str(PAGE_SIZE),
                "--streams", "4",
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            before = leftovers = 0
            for round_ in range(KILLS):
                process = subprocess.Popen(
                    [sys.executable, "-m", "eohub", "--data-dir", str(down), "sync", "run"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
                # Killed after a random number of requests reached the upstream (machine
                # speed does not matter), plus a random instant up to 30 ms: anywhere
                # between pages, transfers, quicklooks and catalogue writes. Every fifth
                # round is killed before its first request (start-up, schema, cursor read).
                target = len(proxy.log) + (0 if round_ % 5 == 4 else rng.randint(1, 150))
                kill_after(process, proxy, target, rng.uniform(0, 0.03))
                _, stderr = process.communicate(timeout=60)
                if process.returncode == 0:
                    stats.finished_before_kill += 1
                else:
                    assert process.returncode == -9, stderr.decode(errors="replace")
                count, orphans = check_after_kill(down, upstream, checked)
                stats.progressed += count > before
                stats.with_orphans += orphans > leftovers
                stats.catalogued_after.append(count)
                before, leftovers = count, orphans

            final = _eohub(down, "sync", "run")
            assert final.returncode == 0, final.stderr
            assert "mirror:" in final.stdout and "error" not in final.stdout.lower()
            again = _eohub(down, "sync", "run")
            assert again.returncode == 0 and "mirror: 0 catalogued" in again.stdout
    finally:
        up.close()

    # Converged, the mirror has no orphan: what the killed runs stored and did not catalogue
    # was reused or removed by the next run, without fsck --repair.
    found = _eohub(down, "fsck")
    assert found.returncode == 0, found.stdout
    assert "products with missing bytes: 0" in found.stdout, found.stdout
    assert "orphan objects found: 0" in found.stdout, found.stdout

    hub = build_hub(Settings(data_dir=down))  # type: ignore[call-arg]
    try:
        products = assert_consistent(hub)  # hashes every stored object again
        assert {p.id for p in products} == set(upstream)
        assert len({p.name for p in products}) == PRODUCTS
        for product in products:
            remote = upstream[product.id]
            assert product.checksum("MD5") == remote.checksum("MD5")
            assert product.checksum("BLAKE3") == remote.checksum("BLAKE3")
            assert product.size == remote.size
            assert (product.quicklook_key is None) == (remote.quicklook_key is None)
    finally:
        hub.close()
    print(
        f"\nsync crash test: {KILLS} kills, seed {SEED}: {stats.finished_before_kill} finished "
        f"before the kill, {stats.progressed} kills after progress, {stats.with_orphans} left "
        f"objects for the next run to reuse or remove; catalogued after each kill: "
        f"{stats.catalogued_after}"
    )
    # The kills landed inside the work, not only before or after it.
    assert stats.finished_before_kill <= KILLS // 4, stats
    assert stats.progressed >= KILLS // 3, stats
