"""Two real hubs on 127.0.0.1: an upstream eohub served by uvicorn, and a downstream hub whose
synchronisers pull from it over DHuS OData v1 (through a fault-injecting proxy where needed)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fault_proxy import Fault, FaultProxy, fault_proxy

from account_support import DOWNLOADER
from api.odata_support import OdataHub, build_odata_hub, live_server
from eohub.config import Settings
from eohub.demo.factory import demo_products
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=4, base=0.01, cap=0.05)


@dataclass
class Hubs:
    """The upstream hub (and its URL, through the proxy) and the downstream hub."""

    up: OdataHub
    url: str
    proxy: FaultProxy
    down: Hub
    sync: SyncService
    root: Path

    def definition(self, **changes: object) -> SyncDefinition:
        """A synchroniser of the upstream with the downloader's credentials."""
        values: dict[str, object] = {
            "label": "up", "url": self.url, "username": DOWNLOADER[0],
            "password": DOWNLOADER[1], "page_size": 3,
        }  # fmt: skip
        values.update(changes)
        return SyncDefinition(**values)  # type: ignore[arg-type]

    def local(self) -> dict[uuid.UUID, Product]:
        """Every product of the downstream catalogue."""
        return {p.id: p for p in self.down.catalogue.search(Query(limit=1000)).items}

    def upstream(self) -> dict[uuid.UUID, Product]:
        """Every product of the upstream catalogue."""
        return {p.id: p for p in self.up.hub.catalogue.search(Query(limit=1000)).items}


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[Hubs]:
    up = build_odata_hub(tmp_path / "up", n=6)
    down = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = FAST
    try:
        with live_server(up.hub) as base, fault_proxy(base) as (url, proxy):
            yield Hubs(up, url, proxy, down, sync, tmp_path)
    finally:
        down.close()
        up.hub.close()


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _same_metadata(local: Product, remote: Product) -> None:
    assert local.name == remote.name
    assert local.filename == remote.filename
    assert local.collection == remote.collection
    assert local.platform == remote.platform
    assert local.product_type == remote.product_type
    assert local.checksum("MD5") == remote.checksum("MD5")
    assert local.size == remote.size
    assert local.sensing.start == _ms(remote.sensing.start)
    assert local.ingestion_date == _ms(remote.ingestion_date)
    assert local.footprint == remote.footprint
    assert (local.orbit_number, local.cloud_cover, local.tile_id) == (
        remote.orbit_number, remote.cloud_cover, remote.tile_id,
    )  # fmt: skip
    for name, value in remote.attributes.items():  # typed again, dates to the millisecond
        assert local.attributes[name] == (_ms(value) if isinstance(value, datetime) else value)


def _stored_md5(hub: Hub, key: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in hub.store.open(key):
        digest.update(chunk)
    return digest.hexdigest()


def test_metadata_sync_converges_then_fetches_only_new_products(hubs: Hubs) -> None:
    hubs.sync.add(hubs.definition())
    first = hubs.sync.run("up")
    assert first.error is None
    upstream, local = hubs.upstream(), hubs.local()
    assert set(local) == set(upstream)
    for pid, remote in upstream.items():
        _same_metadata(local[pid], remote)
        assert not local[pid].online and local[pid].archive_key is None
    assert first.catalogued == len(upstream)

    again = hubs.sync.run("up")
    assert (again.catalogued, again.error) == (0, None)

    new = hubs.up.hub.ingestor().ingest_all(demo_products(3, hubs.root / "more", seed=77))
    assert new.ingested == 3
    hubs.proxy.log.clear()
    third = hubs.sync.run("up")
    assert (third.catalogued, third.error) == (3, None)
    assert set(hubs.local()) == set(hubs.upstream())
    fetched = [p for p, _ in hubs.proxy.log if p.endswith("$value") and p.count("Products(") == 1]
    assert fetched == []  # metadata only: previews, never product bytes
    state = hubs.sync.get("up")
    assert state.counters.products == len(upstream) + 3
    assert state.last_error is None and state.last_remote_date is not None


def test_copy_sync_stores_verified_bytes_and_previews(hubs: Hubs) -> None:
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY, streams=3))
    report = hubs.sync.run("up")
    assert report.error is None
    local = hubs.local()
    for remote in hubs.up.products:
        mine = local[remote.id]
        _same_metadata(mine, remote)
        assert mine.online and mine.archive_key is not None
        assert _stored_md5(hubs.down, mine.archive_key) == remote.checksum("MD5")
        assert mine.checksum("BLAKE3") == remote.checksum("BLAKE3")
        assert (mine.quicklook_key is None) == (remote.quicklook_key is None)
        if remote.quicklook_key and mine.quicklook_key:
            ql = b"".join(hubs.down.store.open(mine.quicklook_key))
            assert ql == b"".join(hubs.up.hub.store.open(remote.quicklook_key))
    offline = local[hubs.up.offline.id]  # no bytes upstream: catalogued offline here
    assert not offline.online and offline.archive_key is None
    assert report.bytes == sum(p.size for p in hubs.up.products)
    # Without --file-checksums the copies have none until `eohub fsck --repair`.
    assert all(hubs.down.catalogue.files(local[p.id]) is None for p in hubs.up.products)


def test_file_checksums_of_copies_are_computed_as_the_source_has_them(hubs: Hubs) -> None:
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY, streams=2, file_checksums=True))
    assert hubs.sync.run("up").error is None
    local = hubs.local()
    for remote in hubs.up.products:
        theirs = hubs.up.hub.catalogue.files(remote)
        mine = hubs.down.catalogue.files(local[remote.id])
        if not str(remote.archive_key).endswith(".zip"):  # a netCDF file (S5P): no files inside
            assert theirs is None and mine is None
            continue
        assert theirs is not None and mine is not None and len(mine.files) >= 3, remote.name
        assert mine.files == theirs.files  # path, size, MD5, BLAKE3 of every file
        assert mine.archive_key == local[remote.id].archive_key


def test_products_sharing_one_creation_date_are_neither_lost_nor_repeated(hubs: Hubs) -> None:
    stamp = datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    records = list(generate_products(40, seed=5))
    same = [
        # 30 at one instant, 10 spread over the microseconds of the same millisecond
        r.evolve(online=False, archive_key=None, quicklook_key=None, thumbnail_key=None,
                 publication_date=stamp + timedelta(microseconds=0 if i < 30 else 999 - i))
        for i, r in enumerate(records)
    ]  # fmt: skip
    hubs.up.hub.catalogue.upsert(same)
    hubs.sync.add(hubs.definition(page_size=4))
    report = hubs.sync.run("up")
    assert report.error is None
    assert set(hubs.local()) == set(hubs.upstream())
    # Each product catalogued exactly once (a repeat would count again: nothing had changed).
    assert hubs.sync.get("up").counters.products == len(hubs.upstream())
    ranges = [p for p, _ in hubs.proxy.log if "Products" in p]
    assert len(ranges) < 60  # paged by Id through the shared millisecond, not product by product


def test_an_upstream_deletion_is_applied_downstream(hubs: Hubs) -> None:
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY))
    assert hubs.sync.run("up").error is None
    gone = hubs.up.products[0]
    key = hubs.local()[gone.id].archive_key
    assert key is not None
    hubs.up.hub.catalogue.delete(gone.id, cause="test")
    report = hubs.sync.run("up")
    assert (report.deleted, report.error) == (1, None)
    assert gone.id not in hubs.local()
    assert hubs.down.store.stat(key) is None
    assert hubs.down.catalogue.get_deleted(gone.id).deletion_cause == "deleted upstream (up)"
    assert hubs.sync.run("up").deleted == 0  # applied once


def test_errors_and_throttling_are_retried_until_the_remote_recovers(hubs: Hubs) -> None:
    hubs.proxy.faults += [Fault("/Products", "500", 2), Fault("/Products", "429", 1)]
    hubs.sync.add(hubs.definition())
    report = hubs.sync.run("up")
    assert report.error is None
    assert set(hubs.local()) == set(hubs.upstream())


def test_a_truncated_transfer_resumes_with_range(hubs: Hubs) -> None:
    target = hubs.up.products[0]
    hubs.proxy.faults.append(Fault(f"Products('{target.id}')/$value", "truncate", 1))
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY))
    report = hubs.sync.run("up")
    assert report.error is None and report.resumes == 1
    ranges = [r for p, r in hubs.proxy.log if str(target.id) in p and p.endswith("/$value")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:].rstrip("-")) > 0
    mine = hubs.local()[target.id]
    assert mine.archive_key is not None
    assert _stored_md5(hubs.down, mine.archive_key) == target.checksum("MD5")


def test_wrong_checksums_are_retried_and_never_catalogued(hubs: Hubs) -> None:
    target = hubs.up.products[0]
    hubs.proxy.faults.append(Fault(f"Products('{target.id}')/$value", "corrupt", 1))
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY, label="once"))
    assert hubs.sync.run("once").error is None  # one bad copy, then a good one
    mine = hubs.local()[target.id]
    assert mine.archive_key is not None
    assert _stored_md5(hubs.down, mine.archive_key) == target.checksum("MD5")


def test_a_product_that_stays_corrupt_holds_the_cursor(hubs: Hubs) -> None:
    target = hubs.up.products[0]
    fault = Fault(f"Products('{target.id}')/$value", "corrupt", 1000)
    hubs.proxy.faults.append(fault)
    hubs.sync.add(hubs.definition(mode=SyncMode.COPY))
    report = hubs.sync.run("up")
    assert report.error is not None and "MD5" in report.error
    assert target.id not in hubs.local()
    assert list(hubs.down.store.keys(f"{target.id.hex[:2]}/{target.id.hex[2:4]}/")) == []
    state = hubs.sync.get("up")
    assert state.last_error is not None and "MD5" in state.last_error
    fault.times = 0  # the remote recovers: the next run completes without a gap
    assert hubs.sync.run("up").error is None
    assert set(hubs.local()) == set(hubs.upstream())
    assert hubs.local()[target.id].online
