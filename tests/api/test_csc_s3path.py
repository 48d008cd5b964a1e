"""``S3Path`` with an S3 archive (a real SeaweedFS on 127.0.0.1): ``/<bucket>/<key>`` of the
object that holds the bytes, as CDSE writes ``/eodata/...``, in rendered entities and in the
stored documents the catalogue serves for long pages alike; a move of the archive to another
bucket or prefix never serves the old paths. File checksums are computed by ``fsck --repair``
through ranged reads of the bucket.

Outside CI a SeaweedFS that cannot start skips these tests loudly; with ``CI=true`` it fails.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import requests
from odata_support import live_server
from pydantic import SecretStr

from account_support import DOWNLOADER, add_downloader
from eohub.config import Settings, StorageSettings
from eohub.demo.factory import demo_products
from eohub.demo.records import generate_products
from eohub.maintenance.fsck import fsck
from eohub.model import Product
from eohub.query import Query
from eohub.wiring import Hub, build_hub
from s3_server import s3_client, start_for_tests


@dataclass
class Archive:
    settings: Settings
    credentials: tuple[str, str, str]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("s3path")
    server = start_for_tests(root / "seaweedfs")
    endpoint, access, secret = (str(v) for v in server.credentials)
    storage = StorageSettings(
        backend="s3",
        s3_bucket=f"s3path-{uuid.uuid4().hex[:10]}",
        s3_prefix="/archive/",
        s3_endpoint_url=endpoint,
        s3_access_key=access,
        s3_secret_key=SecretStr(secret),
    )
    settings = Settings(data_dir=root / "hub", storage=storage)
    hub = build_hub(settings)
    add_downloader(hub)
    summary = hub.ingestor().ingest_all(demo_products(4, root / "incoming", seed=2))
    assert summary.ingested == 4, summary.rejected
    record = next(iter(generate_products(1, seed=77)))
    hub.catalogue.upsert([record.evolve(online=False, archive_key=None, quicklook_key=None)])
    hub.close()
    yield Archive(settings, (endpoint, access, secret))
    server.kill()


@pytest.fixture
def hub(archive: Archive) -> Iterator[Hub]:
    opened = build_hub(archive.settings)
    yield opened
    opened.close()


def _get(base: str, path: str) -> Any:
    answer = requests.get(f"{base}/catalogue/odata/v1/{path}", auth=DOWNLOADER, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _online(hub: Hub) -> list[Product]:
    products = hub.catalogue.search(Query(limit=100)).items
    return [p for p in products if p.online and p.archive_key]


def test_s3path_names_the_object_holding_the_bytes(archive: Archive, hub: Hub) -> None:
    bucket = archive.settings.storage.s3_bucket
    client = s3_client(*archive.credentials)
    with live_server(hub) as base:
        listed = {e["Id"]: e for e in _get(base, "Products?$top=100")["value"]}
        for product in _online(hub):
            path = f"/{bucket}/archive/{product.archive_key}"
            entity = _get(base, f"Products({product.id})?$expand=Assets&$expand=Locations")
            assert entity["S3Path"] == path
            assert listed[str(product.id)]["S3Path"] == path  # the stored document
            assert entity["Locations"][0]["S3Path"] == path
            head = client.head_object(Bucket=bucket, Key=path.split("/", 2)[2])
            assert head["ContentLength"] == entity["ContentLength"]
            for asset in entity["Assets"]:
                assert asset["S3Path"] == f"/{bucket}/archive/{product.quicklook_key}"
        offline = [e for e in listed.values() if not e["Online"]]
        assert len(offline) == 1 and offline[0]["S3Path"] is None


def test_stored_documents_hold_the_s3path(archive: Archive, hub: Hub) -> None:
    bucket = archive.settings.storage.s3_bucket
    with sqlite3.connect(archive.settings.sqlite_path) as conn:
        bodies = [
            orjson.loads(row[0]) for row in conn.execute("SELECT body FROM documents_csc_product")
        ]
    paths = {b["Id"]: b["S3Path"] for b in bodies}
    for product in _online(hub):
        assert paths[str(product.id)] == f"/{bucket}/archive/{product.archive_key}"


def test_another_prefix_never_serves_the_old_paths(archive: Archive) -> None:
    moved = archive.settings.model_copy(
        update={"storage": archive.settings.storage.model_copy(update={"s3_prefix": "moved"})}
    )
    bucket = archive.settings.storage.s3_bucket
    hub = build_hub(moved)  # stored documents name the old prefix: they are outdated now
    try:
        with live_server(hub) as base:
            listed = _get(base, "Products?$top=100")["value"]
        online = [e for e in listed if e["Online"]]
        assert online and all(e["S3Path"].startswith(f"/{bucket}/moved/") for e in online)
    finally:
        hub.close()


def test_fsck_computes_file_checksums_from_the_bucket(archive: Archive, hub: Hub) -> None:
    zipped = [p for p in _online(hub) if p.archive_key and p.archive_key.endswith(".zip")]
    expected = {p.id: hub.catalogue.files(p) for p in zipped}
    assert zipped and all(expected.values())
    with sqlite3.connect(archive.settings.sqlite_path) as conn:
        conn.execute("DELETE FROM product_files")
    assert all(hub.catalogue.files(p) is None for p in zipped)
    report = fsck(hub.catalogue, hub.store, repair=True)
    assert report.files.stored == len(zipped) and report.files.failed == []
    for product in zipped:
        found = hub.catalogue.files(product)
        assert found is not None and found.files == expected[product.id].files  # type: ignore[union-attr]
