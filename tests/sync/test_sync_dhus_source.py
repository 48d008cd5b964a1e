"""Synchronisers pulling from a DHuS-shaped source: a stub on 127.0.0.1 answering with the
recorded fixtures' shapes (see dhus_stub). Metadata-only and copy syncs catalogue the recorded
products with their Ids, names, dates, checksums and attributes; the copy stores bytes whose
MD5 is the source's, and the quicklook."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dhus_stub import FIXTURES, DhusStub, dhus_stub, fixture

from eohub.config import Settings
from eohub.model import Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no fixtures at {FIXTURES}")


@pytest.fixture
def down(tmp_path: Path) -> Iterator[tuple[Hub, SyncService]]:
    hub = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(hub)
    sync.backoff = Backoff(attempts=3, base=0.01, cap=0.05)
    try:
        yield hub, sync
    finally:
        hub.close()


def _local(hub: Hub) -> dict[str, Product]:
    return {str(p.id): p for p in hub.catalogue.search(Query(limit=100)).items}


def _ms(value: str) -> datetime:
    return datetime.fromtimestamp(int(value.strip("/Date()")) / 1000, UTC)


def _same_as_recorded(stub: DhusStub, local: dict[str, Product]) -> None:
    assert set(local) == {p.id for p in stub.products}
    names = [p.name for p in local.values()]
    assert len(set(names)) == len(names)
    for served in stub.products:
        entry, mine = served.entry, local[served.id]
        assert mine.name == entry["Name"]
        assert mine.size == int(entry["ContentLength"])
        assert mine.checksum("MD5") == entry["Checksum"]["Value"]
        # One recorded product ends before it starts: catalogued with the range ordered.
        content = sorted(_ms(entry["ContentDate"][k]) for k in ("Start", "End"))
        assert (mine.sensing.start, mine.sensing.end) == tuple(content)
        assert mine.ingestion_date == _ms(entry["IngestionDate"])
        attrs = {a["Name"]: a["Value"] for a in entry["Attributes"]["results"]}
        assert mine.filename == attrs["Filename"]
        assert mine.product_type == attrs["Product type"]
        assert mine.platform == attrs["Satellite name"] + attrs["Satellite number"]
        assert mine.orbit_number == int(attrs["Orbit number (start)"])
        assert mine.relative_orbit == int(attrs["Relative orbit (start)"])
        assert mine.cloud_cover == float(attrs["Cloud Cover Percentage (%)"])
        assert mine.orbit_direction == attrs["Pass direction (start)"].upper()
        assert mine.footprint is not None and mine.footprint.wkt.startswith("MULTIPOLYGON")
        # Attributes without a typed field are kept, typed back from their text.
        assert mine.attributes["NSSDC identifier"] == attrs["NSSDC identifier"]
        assert mine.attributes["Cycle number"] == int(attrs["Cycle number"])
        assert mine.attributes["Online Quality Check"] == "PASSED"


def test_metadata_sync_from_a_dhus_shaped_source(down: tuple[Hub, SyncService]) -> None:
    hub, sync = down
    with dhus_stub() as stub:
        sync.add(SyncDefinition(label="dhus", url=stub.root, page_size=2))
        report = sync.run("dhus")
        assert report.error is None
        local = _local(hub)
        _same_as_recorded(stub, local)
        recorded = fixture("odata_product_expand_attributes.json")["d"]
        olci = local[recorded["Id"]]  # the recorded entry, exactly as recorded
        assert olci.name == recorded["Name"] and not olci.online
        assert olci.collection == "SENTINEL-3" and olci.instrument == "OLCI"
        assert olci.checksum("MD5") == "098645497fa5ab932ed2df98426e5b58"
        assert not any(p.online or p.archive_key for p in local.values())
        values = [p for p, _, _ in stub.log if p.endswith("/$value")]
        assert values and all("Products('Quicklook')" in p or "Thumbnail" in p for p in values)
        s2 = next(p for p in stub.products if p.quicklook is not None)
        key = local[s2.id].quicklook_key  # previews are kept in a metadata-only mirror too
        assert key is not None and b"".join(hub.store.open(key)) == s2.quicklook
        # Paged through the two products sharing one millisecond by Id, without repeats.
        assert sync.get("dhus").counters.products == len(stub.products)
        again = sync.run("dhus")
        assert (again.catalogued, again.error) == (0, None)


def test_copy_sync_from_a_dhus_shaped_source(down: tuple[Hub, SyncService]) -> None:
    hub, sync = down
    with dhus_stub() as stub:
        sync.add(SyncDefinition(label="dhus", url=stub.root, page_size=2,
                                mode=SyncMode.COPY, streams=2))  # fmt: skip
        report = sync.run("dhus")
        assert report.error is None
        local = _local(hub)
        _same_as_recorded(stub, local)
        for served in stub.products:
            mine = local[served.id]
            if served.data is None:
                assert not mine.online and mine.archive_key is None
                continue
            assert mine.online and mine.archive_key is not None
            stored = b"".join(hub.store.open(mine.archive_key))
            assert stored == served.data
            assert hashlib.md5(stored, usedforsecurity=False).hexdigest() == mine.checksum("MD5")
            assert mine.archive_key.endswith(f"{served.entry['Name']}.zip")
            if served.quicklook is not None:
                assert mine.quicklook_key is not None and mine.thumbnail_key is None
                assert b"".join(hub.store.open(mine.quicklook_key)) == served.quicklook
        assert report.bytes == sum(len(p.data) for p in stub.products if p.data)


def test_a_dhus_shaped_source_resumes_with_range(down: tuple[Hub, SyncService]) -> None:
    """A transfer cut short is resumed with Range; the DHuS answers 206 with Content-Range
    (odata_value_range_resume_206)."""
    hub, sync = down
    with dhus_stub() as stub:
        target = next(p for p in stub.products if p.quicklook is not None)
        assert target.data is not None
        target.cut_next = True
        sync.add(SyncDefinition(label="dhus", url=stub.root, page_size=10, mode=SyncMode.COPY))
        report = sync.run("dhus")
        assert report.error is None and report.resumes == 1
        mine = _local(hub)[target.id]
        assert mine.archive_key is not None
        assert b"".join(hub.store.open(mine.archive_key)) == target.data
        value = f"/odata/v1/Products('{target.id}')/$value"
        ranges = [r for p, _, r in stub.log if p == value]
        assert ranges == [None, f"bytes={len(target.data) // 3}-"]


def test_a_request_the_stub_does_not_serve_is_a_dhus_error(
    down: tuple[Hub, SyncService],
) -> None:
    """The synchroniser only sends what the stub (and a DHuS) understands; a product the
    source does not have is DHuS's 404 with its own message."""
    _, sync = down
    with dhus_stub() as stub:
        sync.add(SyncDefinition(label="dhus", url=stub.root, page_size=3))
        assert sync.run("dhus").error is None
        assert all(q.count("$filter") <= 1 for _, q, _ in stub.log)
        remote = sync.job(sync.get("dhus")).remote
        try:
            assert remote.entry(uuid.UUID(int=7)) is None
        finally:
            remote.close()
