"""Synchronisers pulling from a CDSE-shaped source: a stub on 127.0.0.1 answering with the JSON
shapes of the CDSE reference (see cdse_stub). Metadata-only and copy syncs catalogue the
products with their Ids, names, dates, checksums and typed attributes; the copy follows the
download redirect, stores bytes whose MD5 and BLAKE3 are the source's, and the quicklook."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import blake3
import pytest
from cdse_stub import QUICKLOOK, CdseStub, cdse_stub

from eohub.config import Settings
from eohub.model import Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.model import SourceProtocol
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

pytestmark = pytest.mark.skipif(not QUICKLOOK.is_file(), reason=f"no fixture {QUICKLOOK}")


@pytest.fixture
def down(tmp_path: Path) -> Iterator[tuple[Hub, SyncService]]:
    hub = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(hub)
    sync.backoff = Backoff(attempts=3, base=0.01, cap=0.05)
    try:
        yield hub, sync
    finally:
        hub.close()


def _definition(stub: CdseStub, **changes: object) -> SyncDefinition:
    values: dict[str, object] = {"label": "cdse", "url": stub.root, "page_size": 2,
                                 "protocol": SourceProtocol.CDSE}  # fmt: skip
    values.update(changes)
    return SyncDefinition(**values)  # type: ignore[arg-type]


def _local(hub: Hub) -> dict[str, Product]:
    return {str(p.id): p for p in hub.catalogue.search(Query(limit=100)).items}


def _same_as_served(stub: CdseStub, local: dict[str, Product]) -> None:
    assert set(local) == {p.id for p in stub.products}
    for served in stub.products:
        entity, mine = served.entity, local[served.id]
        assert mine.filename == entity["Name"]
        assert mine.name == entity["Name"].removesuffix(".SAFE").removesuffix(".SEN3")
        assert mine.size == entity["ContentLength"]
        for item in entity["Checksum"]:
            assert mine.checksum(item["Algorithm"]) == item["Value"]
        start = datetime.fromisoformat(entity["ContentDate"]["Start"])
        assert mine.sensing.start == start
        assert mine.ingestion_date == datetime.fromisoformat(entity["OriginDate"])
        attrs = {a["Name"]: a["Value"] for a in served.attributes}
        assert mine.collection == attrs["platformShortName"]
        short, serial = attrs["platformShortName"], attrs["platformSerialIdentifier"]
        assert mine.platform == short.title() + serial
        assert mine.instrument == attrs["instrumentShortName"]
        if "cloudCover" in attrs:
            assert mine.cloud_cover == attrs["cloudCover"] and mine.tile_id == attrs["tileId"]
        assert mine.footprint is not None


def test_metadata_sync_from_a_cdse_shaped_source(down: tuple[Hub, SyncService]) -> None:
    hub, sync = down
    with cdse_stub() as stub:
        sync.add(_definition(stub))
        report = sync.run("cdse")
        assert report.error is None
        local = _local(hub)
        _same_as_served(stub, local)
        s1 = local["896aeef0-eee1-5e28-acaa-7f420bb23e8c"]  # the reference's example
        assert s1.name == "S1A_IW_SLC__1SDV_20220502T220617_20220502T220647_043037_052392_1E9A"
        assert s1.publication_date >= datetime(2022, 5, 3, tzinfo=UTC)  # source times kept
        assert s1.product_type == "SLC" and s1.attributes["productType"] == "IW_SLC__1S"
        assert s1.polarisation == "VV VH" and s1.attributes["polarisationChannels"] == "VV&VH"
        assert (s1.orbit_number, s1.relative_orbit, s1.sensor_mode) == (43037, 24, "IW")
        assert s1.attributes["sliceProductFlag"] is True
        assert s1.attributes["processingDate"] == datetime(2022, 5, 2, 23, 25, 2, 126000, UTC)
        assert s1.attributes["spatialResolution"] == "2.3"  # declared Integer: kept as sent
        assert not any(p.online for p in local.values())
        assert not [p for p, _, _ in stub.log if p.startswith("/download/")]
        # Every product once, the two published in one microsecond included.
        assert sync.get("cdse").counters.products == len(stub.products)
        listings = [q for p, q, _ in stub.log if p == "/odata/v1/Products"]
        assert any("%24skip=" in q for q in listings)  # pages by the source's nextLink
        stub.log.clear()
        assert sync.run("cdse").catalogued == 0
        again = [q for p, q, _ in stub.log if p == "/odata/v1/Products"]
        assert again and "PublicationDate+ge+2022-05-03T04%3A40%3A02.825017Z" in again[0]


def test_copy_sync_from_a_cdse_shaped_source(down: tuple[Hub, SyncService]) -> None:
    hub, sync = down
    with cdse_stub() as stub:
        sync.add(_definition(stub, mode=SyncMode.COPY, streams=2))
        report = sync.run("cdse")
        assert report.error is None
        local = _local(hub)
        _same_as_served(stub, local)
        for served in stub.products:
            mine = local[served.id]
            if not served.entity["Online"]:
                assert not mine.online and mine.archive_key is None
                continue
            assert mine.online and mine.archive_key is not None
            stored = b"".join(hub.store.open(mine.archive_key))
            assert stored == served.data
            # Checksums computed here; where the source gave none, they are this hub's own.
            assert mine.checksum("MD5") == hashlib.md5(stored, usedforsecurity=False).hexdigest()
            assert mine.checksum("BLAKE3") == blake3.blake3(stored).hexdigest()
            assert (mine.quicklook_key is None) == (served.quicklook is None)
            if served.quicklook is not None and mine.quicklook_key:
                assert b"".join(hub.store.open(mine.quicklook_key)) == served.quicklook
        downloads = [p for p, _, _ in stub.log if p.startswith("/download/")]
        online = [p for p in stub.products if p.entity["Online"]]
        assert len(downloads) == len(online)  # through the redirect, each once
        assert report.bytes == sum(len(p.data) for p in online)
