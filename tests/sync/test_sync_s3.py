"""A copy synchroniser whose hub keeps its archive in S3 (a real SeaweedFS on 127.0.0.1): the
verified download is copied into the bucket by ``put`` (no rename is possible), and what the
bucket then holds is checked again against the checksums the sync computed or took from the
source, so a wrong MD5 listing is caught there under ``--verify blake3`` too."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from byte_products import add_byte_products
from pydantic import SecretStr

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings, StorageSettings
from eohub.model.product import Checksum, Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode
from eohub.sync.model import VerifyMode
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync
from s3_server import SeaweedS3, s3_client, start_for_tests

FAST = Backoff(attempts=2, base=0.01, cap=0.02)
CDSE = "/catalogue/odata/v1"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = start_for_tests(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.kill()


def _s3_hub(data: Path, seaweed: SeaweedS3, bucket: str) -> Hub:
    endpoint, access, secret = seaweed.credentials
    storage = StorageSettings(backend="s3", s3_bucket=bucket, s3_endpoint_url=endpoint,
                              s3_access_key=access, s3_secret_key=SecretStr(secret))  # fmt: skip
    return build_hub(Settings(data_dir=data, storage=storage))  # type: ignore[call-arg]


def _sync(up_url: str, down: Hub, verify: VerifyMode) -> tuple[str | None, list[Product]]:
    sync = build_sync(down)
    sync.backoff = FAST
    sync.add(SyncDefinition(
        label="up", url=up_url + CDSE, username=DOWNLOADER[0], password=DOWNLOADER[1],
        mode=SyncMode.COPY, page_size=10, streams=2, max_failures=0, verify=verify,
    ))  # fmt: skip
    report = sync.run("up")
    return report.error, list(down.catalogue.search(Query(limit=100)).items)


@pytest.mark.parametrize("verify", list(VerifyMode))
def test_copies_land_in_the_bucket_verified(
    tmp_path: Path, seaweed: SeaweedS3, verify: VerifyMode
) -> None:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    products = {p.id: p for p in add_byte_products(up, 3, seed=7, size=(100_000, 400_000))}
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    down = _s3_hub(tmp_path / "down", seaweed, bucket)
    try:
        with live_server(up) as url:
            error, local = _sync(url, down, verify)
        assert error is None and {p.id for p in local} == set(products)
        client = s3_client(*seaweed.credentials)
        for product in local:
            assert product.archive_key is not None
            body = client.get_object(Bucket=bucket, Key=product.archive_key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == product.checksum("MD5")
            assert product.checksum("MD5") == products[product.id].checksum("MD5")
            assert product.checksum("BLAKE3") == products[product.id].checksum("BLAKE3")
        assert not list((tmp_path / "down").glob("archive/**/*.zip"))  # nothing on local disk
    finally:
        down.close()
        up.close()


def test_a_wrong_md5_listing_is_caught_by_the_bucket_put_under_blake3(
    tmp_path: Path, seaweed: SeaweedS3
) -> None:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    (bad,) = add_byte_products(up, 1, seed=8, size=(100_000, 200_000))
    kept = tuple(c for c in bad.checksums if c.algorithm != "MD5")
    up.catalogue.upsert([bad.evolve(checksums=(Checksum("MD5", "0" * 32), *kept))])
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    down = _s3_hub(tmp_path / "down", seaweed, bucket)
    try:
        with live_server(up) as url:
            error, local = _sync(url, down, VerifyMode.BLAKE3)
        assert error is not None and "MD5 of the received bytes is" in error
        assert "0" * 32 in error and local == []
        answer = s3_client(*seaweed.credentials).list_objects_v2(Bucket=bucket)
        assert answer.get("Contents", []) == []  # the copy was removed again
    finally:
        down.close()
        up.close()
