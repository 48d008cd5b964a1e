"""A copy synchroniser's transfer survives ``kill -9``: the next run asks for the rest.

A real upstream eohub on 127.0.0.1 (through the fault proxy, which logs every request and its
headers) holds two small products and a 12 MB one. ``eohub sync run`` runs as a process of its
own; the proxy sends half of the big product and then nothing, and the process is killed with
SIGKILL once its partial download stops growing. Then:

- the next run asks for ``Range: bytes=<what the file holds>-`` with ``If-Range``, and the
  stored product has the upstream's MD5 and BLAKE3;
- an upstream product replaced meanwhile (other bytes, so another MD5 and ETag) is fetched
  from byte 0;
- an upstream that answers the If-Range with the whole product (its ETag is not the one the
  partial download recorded) is taken from byte 0, never glued onto the old bytes;
- the partial download of a product catalogued meanwhile, and the folder of a removed
  synchroniser, are removed; ``eohub fsck --repair`` removes partial downloads older than
  ``sync.stale_download_hours``;
- a second process cannot run the synchroniser while one holds its download folder;
- with the download folder on another file system the archive copies the file instead of
  renaming it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from byte_products import add_byte_products, stored_md5
from fault_proxy import Fault, FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings
from eohub.maintenance.fsck import fsck
from eohub.model.product import Checksum, Product
from eohub.query import Query
from eohub.storage.ports import product_key
from eohub.sync import SyncDefinition, SyncMode
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=4, base=0.01, cap=0.05)
BIG = 12_000_000


def _eohub(
    data: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@dataclass
class Mirror:
    """An upstream with a big product, its proxy, and a downstream data folder with a copy
    synchroniser ``mirror`` (Id 1) of it."""

    up: Hub
    served: str
    url: str
    proxy: FaultProxy
    down: Path
    big: Product

    @property
    def folder(self) -> Path:
        return self.down / "sync-downloads" / "1"

    @property
    def part(self) -> Path:
        return self.folder / f"{self.big.id}.part"

    def value_requests(self, since: int = 0) -> list[dict[str, str]]:
        """Headers of the big product's ``$value`` requests, from log entry ``since`` on."""
        wanted = f"Products('{self.big.id}')/$value"
        return [h for p, h in self.proxy.headers[since:] if p.endswith(wanted)]

    def kill_mid_transfer(self) -> int:
        """Run ``eohub sync run`` until the big product's partial download stops growing
        (the proxy stalls after half of it), SIGKILL it; the bytes the file holds."""
        self.proxy.faults.append(Fault(f"Products('{self.big.id}')/$value", "stall-body", 1))
        process = subprocess.Popen(
            [sys.executable, "-m", "eohub", "--data-dir", str(self.down), "sync", "run"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        last, since = -1, time.monotonic()
        try:
            while True:
                assert process.poll() is None, "the sync ended before it was killed"
                size = self.part.stat().st_size if self.part.exists() else -1
                if size != last:
                    last, since = size, time.monotonic()
                elif size > 0 and time.monotonic() - since > 0.5:
                    break
                assert time.monotonic() < deadline, "the partial download never grew"
                time.sleep(0.02)
        finally:
            process.kill()
            process.communicate(timeout=60)
        assert process.returncode == -9
        return self.part.stat().st_size

    def run(self, label: str = "mirror") -> None:
        """One run of the synchroniser in this process (a restarted hub)."""
        hub = build_hub(Settings(data_dir=self.down))  # type: ignore[call-arg]
        try:
            sync = build_sync(hub)
            sync.backoff = FAST
            report = sync.run(label)
            assert report.error is None, report.error
        finally:
            hub.close()

    def assert_converged(self) -> None:
        """Every upstream product here, online, its bytes hashing to the upstream's MD5, with
        the upstream's MD5 and BLAKE3; nothing left in the archive or the download folder."""
        upstream = {p.id: p for p in self.up.catalogue.search(Query(limit=100)).items}
        hub = build_hub(Settings(data_dir=self.down))  # type: ignore[call-arg]
        try:
            local = {p.id: p for p in hub.catalogue.search(Query(limit=100)).items}
            assert set(local) == set(upstream)
            for pid, remote in upstream.items():
                mine = local[pid]
                assert mine.online and mine.archive_key is not None
                assert mine.checksum("MD5") == remote.checksum("MD5")
                assert mine.checksum("BLAKE3") == remote.checksum("BLAKE3")
                assert stored_md5(hub, mine.archive_key) == remote.checksum("MD5")
            found = fsck(hub.catalogue, hub.store)
            assert found.clean and found.orphans == [], found
        finally:
            hub.close()
        assert list(self.folder.iterdir()) == []


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    add_byte_products(up, 2, seed=21)
    (big,) = add_byte_products(up, 1, seed=22, size=(BIG, BIG))
    with _served(up, tmp_path / "down", big) as served:
        yield served


@contextmanager
def _served(up: Hub, down: Path, big: Product) -> Iterator[Mirror]:
    """``up`` served through the fault proxy, and a copy synchroniser ``mirror`` of it (one
    stream) in ``down``; ``up`` is closed afterwards."""
    try:
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            proxy.stall = 10.0
            added = _eohub(
                down, "sync", "add", "mirror", "--source", url, "--user", DOWNLOADER[0],
                "--password", DOWNLOADER[1], "--copy", "--streams", "1",
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            yield Mirror(up, served, url, proxy, down, big)
    finally:
        up.close()


def test_a_killed_transfer_resumes_with_range_from_the_partial_file(mirror: Mirror) -> None:
    have = mirror.kill_mid_transfer()
    assert 0 < have < BIG
    sidecar = json.loads((mirror.folder / f"{mirror.big.id}.json").read_text())
    assert sidecar["size"] == BIG and sidecar["md5"] == mirror.big.checksum("MD5")
    assert sidecar["validator"] == f'"{mirror.big.checksum("MD5")}"'  # the upstream's ETag
    first = mirror.value_requests()
    assert len(first) == 1 and "range" not in first[0]
    # Nothing of it in the archive: the received bytes are in the download folder only.
    hub = build_hub(Settings(data_dir=mirror.down))  # type: ignore[call-arg]
    try:
        prefix = f"{mirror.big.id.hex[:2]}/{mirror.big.id.hex[2:4]}/{mirror.big.id}/"
        assert list(hub.store.keys(prefix)) == []
        assert hub.catalogue.get_many([mirror.big.id]) == []
    finally:
        hub.close()

    mark = len(mirror.proxy.headers)
    mirror.run()
    (resumed,) = mirror.value_requests(mark)
    assert resumed["range"] == f"bytes={have}-"
    assert resumed["if-range"] == sidecar["validator"]
    mirror.assert_converged()


def test_an_upstream_product_replaced_meanwhile_is_fetched_from_byte_0(mirror: Mirror) -> None:
    assert mirror.kill_mid_transfer() > 0
    # Upstream, the product gets other bytes (same size and Id): another MD5, another ETag.
    body = os.urandom(BIG)
    key = product_key(mirror.big.id, f"{mirror.big.name}.zip")
    stored = mirror.up.store.put(key, io.BytesIO(body), expected_size=BIG)
    mirror.up.catalogue.upsert([mirror.big.evolve(
        archive_key=key,
        checksums=(Checksum("MD5", stored.md5), Checksum("BLAKE3", stored.blake3)),
    )])  # fmt: skip
    assert stored.md5 != mirror.big.checksum("MD5")

    mark = len(mirror.proxy.headers)
    mirror.run()
    (fetched,) = mirror.value_requests(mark)
    assert "range" not in fetched and "if-range" not in fetched
    mirror.assert_converged()  # the new bytes, the new checksums


def test_a_whole_product_answered_to_if_range_starts_again_at_byte_0(mirror: Mirror) -> None:
    have = mirror.kill_mid_transfer()
    # The partial download says its bytes came with another ETag than the upstream's now (as
    # when the upstream replaced them without its listing showing it yet): the upstream
    # answers the Range request with the whole product, which replaces the old bytes.
    sidecar = mirror.folder / f"{mirror.big.id}.json"
    record = json.loads(sidecar.read_text())
    record["validator"] = '"00000000000000000000000000000000"'
    sidecar.write_text(json.dumps(record))

    mark = len(mirror.proxy.headers)
    mirror.run()
    (asked,) = mirror.value_requests(mark)  # one request: its 200 body was used from byte 0
    assert asked["range"] == f"bytes={have}-"
    assert asked["if-range"] == record["validator"]
    mirror.assert_converged()


def test_a_partial_download_of_a_product_catalogued_meanwhile_is_removed(mirror: Mirror) -> None:
    assert mirror.kill_mid_transfer() > 0
    added = _eohub(
        mirror.down, "sync", "add", "other", "--source", mirror.url, "--user", DOWNLOADER[0],
        "--password", DOWNLOADER[1], "--copy",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    mirror.run("other")  # catalogues the big product (its own download folder)
    assert mirror.part.exists()
    mark = len(mirror.proxy.headers)
    mirror.run("mirror")
    assert mirror.value_requests(mark) == []  # here already: not fetched again
    assert list(mirror.folder.iterdir()) == []
    mirror.assert_converged()


def test_removing_a_synchroniser_removes_its_partial_downloads(mirror: Mirror) -> None:
    assert mirror.kill_mid_transfer() > 0
    removed = _eohub(mirror.down, "sync", "remove", "mirror")
    assert removed.returncode == 0, removed.stderr
    assert not mirror.folder.exists()


def test_fsck_repair_removes_partial_downloads_older_than_the_configured_age(
    mirror: Mirror,
) -> None:
    assert mirror.kill_mid_transfer() > 0
    held = sum(p.stat().st_size for p in mirror.folder.iterdir())  # bytes and sidecar
    fresh = _eohub(mirror.down, "fsck")
    assert fresh.returncode == 0, fresh.stdout
    assert "stale partial downloads found: 0" in fresh.stdout
    four_days_ago = time.time() - 4 * 86400
    for path in mirror.folder.iterdir():
        os.utime(path, (four_days_ago, four_days_ago))
    kept = _eohub(mirror.down, "fsck", "--repair", env={"EOHUB_SYNC__STALE_DOWNLOAD_HOURS": "120"})
    assert "stale partial downloads removed: 0" in kept.stdout, kept.stdout
    assert mirror.part.exists()
    found = _eohub(mirror.down, "fsck")
    assert found.returncode == 0, found.stdout  # catalogue and archive agree all the same
    assert f"stale partial downloads found: 1 ({held} bytes)" in found.stdout
    repaired = _eohub(mirror.down, "fsck", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "stale partial downloads removed: 1" in repaired.stdout
    assert list(mirror.folder.iterdir()) == []

    mark = len(mirror.proxy.headers)
    mirror.run()
    (fetched,) = mirror.value_requests(mark)
    assert "range" not in fetched  # from byte 0: nothing was kept
    mirror.assert_converged()


def test_a_second_process_cannot_run_a_synchroniser_holding_its_downloads(
    mirror: Mirror,
) -> None:
    hub = build_hub(Settings(data_dir=mirror.down))  # type: ignore[call-arg]
    try:
        service = build_sync(hub)
        with service.folder(1).claimed("mirror"):
            busy = _eohub(mirror.down, "sync", "run", "mirror")
            assert busy.returncode == 1
            assert "mirror: synchroniser 'mirror' is running in another process" in busy.stderr
            assert hub.catalogue.search(Query(limit=10)).items == []
    finally:
        hub.close()
    assert _eohub(mirror.down, "sync", "run", "mirror").returncode == 0
    mirror.assert_converged()


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev,
    reason="needs /dev/shm on another file system than the test's folders",
)
def test_a_download_folder_on_another_file_system_is_copied_into_the_archive(
    tmp_path: Path,
) -> None:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    products = add_byte_products(up, 4, seed=23, size=(300_000, 600_000))
    downloads = Path("/dev/shm") / f"eohub-test-{uuid.uuid4().hex}"
    down = build_hub(Settings(data_dir=tmp_path / "down", sync={"downloads": downloads}))  # type: ignore[call-arg]
    try:
        sync = build_sync(down)
        sync.backoff = FAST
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            proxy.faults.append(Fault(f"Products('{products[1].id}')/$value", "truncate", 1))
            sync.add(SyncDefinition(
                label="shm", url=url, username=DOWNLOADER[0], password=DOWNLOADER[1],
                mode=SyncMode.COPY,
            ))  # fmt: skip
            report = sync.run("shm")
        assert report.error is None and report.resumes == 1
        local = {p.id: p for p in down.catalogue.search(Query(limit=10)).items}
        for remote in products:
            mine = local[remote.id]
            assert mine.archive_key is not None
            assert stored_md5(down, mine.archive_key) == remote.checksum("MD5")
            assert mine.checksum("BLAKE3") == remote.checksum("BLAKE3")
        assert list((downloads / "1").iterdir()) == []
    finally:
        down.close()
        up.close()
        shutil.rmtree(downloads, ignore_errors=True)


@pytest.fixture
def small_first(tmp_path: Path) -> Iterator[tuple[Mirror, list[Product]]]:
    """As ``mirror``, with the two small products (each with a quicklook) listed before the
    big one: a run killed during the big one's transfer has archived them and their
    quicklooks but not catalogued them (a page is catalogued once all its transfers are
    done)."""
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    (big,) = add_byte_products(up, 1, seed=22, size=(BIG, BIG))
    earlier = big.publication_date - timedelta(days=1)
    small = [p.evolve(publication_date=earlier, ingestion_date=earlier)
             for p in add_byte_products(up, 2, seed=21, size=(300_000, 300_000),
                                        quicklook_every=1)]  # fmt: skip
    up.catalogue.upsert(small)
    with _served(up, tmp_path / "down", big) as served:
        yield served, small


def _value_requests(proxy: FaultProxy, product: Product, since: int) -> int:
    return sum(1 for p, _ in proxy.headers[since:] if p.endswith(f"('{product.id}')/$value"))


def _archived_uncatalogued(mirror: Mirror, products: list[Product]) -> list[str]:
    """The archive keys a killed run noted for ``products``, checked to be stored and not
    catalogued."""
    keys = [json.loads((mirror.folder / f"{p.id}.archived").read_text())["key"]
            for p in products]  # fmt: skip
    hub = build_hub(Settings(data_dir=mirror.down))  # type: ignore[call-arg]
    try:
        assert hub.catalogue.get_many([p.id for p in products]) == []
        assert all(hub.store.stat(key) is not None for key in keys)
    finally:
        hub.close()
    return keys


def test_bytes_archived_by_a_killed_run_are_reused_not_fetched_again(
    small_first: tuple[Mirror, list[Product]],
) -> None:
    mirror, small = small_first
    assert mirror.kill_mid_transfer() > 0
    keys = _archived_uncatalogued(mirror, small)

    mark = len(mirror.proxy.headers)
    mirror.run()
    assert [_value_requests(mirror.proxy, p, mark) for p in small] == [0, 0]
    hub = build_hub(Settings(data_dir=mirror.down))  # type: ignore[call-arg]
    try:
        assert sorted(p.archive_key or "" for p in hub.catalogue.get_many(
            [p.id for p in small])) == sorted(keys)  # fmt: skip
    finally:
        hub.close()
    # Their bytes hash to the upstream's MD5; the quicklooks the killed run stored were
    # removed (the run stores them again): no orphan left, without fsck --repair.
    mirror.assert_converged()


def test_archived_bytes_that_changed_are_deleted_and_fetched_again(
    small_first: tuple[Mirror, list[Product]],
) -> None:
    mirror, small = small_first
    assert mirror.kill_mid_transfer() > 0
    keys = _archived_uncatalogued(mirror, small)
    hub = build_hub(Settings(data_dir=mirror.down))  # type: ignore[call-arg]
    try:  # same size, other bytes: only hashing them again tells
        hub.store.put(keys[0], io.BytesIO(os.urandom(300_000)), expected_size=300_000)
    finally:
        hub.close()

    mark = len(mirror.proxy.headers)
    mirror.run()
    assert [_value_requests(mirror.proxy, p, mark) for p in small] == [1, 0]
    mirror.assert_converged()  # the changed object was deleted: no orphan
