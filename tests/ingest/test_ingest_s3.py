"""Ingest into an S3 archive (a real SeaweedFS): end to end, and with the server going away."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

from ingest_support import (
    EOHUB,
    all_products,
    assert_consistent,
    cli_env,
    make_product,
    open_hub,
    records_of,
    rejected_lines,
    run_cli,
    s3_env,
    stored_bytes,
)
from pydantic import SecretStr

from eohub.config import StorageSettings
from eohub.ingest.pipeline import Outcome
from eohub.maintenance.fsck import fsck
from s3_server import SeaweedS3, s3_client

BIG = 40 << 20  # more than two 16 MiB parts: the upload is multipart


def s3_settings(bucket: str, credentials: tuple[str, str, str]) -> StorageSettings:
    endpoint, access, secret = credentials
    return StorageSettings(
        backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_access_key=access,
        s3_secret_key=SecretStr(secret),
    )


def new_bucket() -> str:
    return f"ingest-{uuid.uuid4().hex[:12]}"


def bucket_keys(credentials: tuple[str, str, str], bucket: str) -> set[str]:
    """The bucket's keys, listed by a plain S3 client behind the store's back."""
    client = s3_client(*credentials)
    answer = client.list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in answer.get("Contents", [])}


def test_ingest_into_s3_end_to_end(
    tmp_path: Path,
    s3_server: tuple[str, str, str],
    mission_products: dict[tuple[str, str], Path],
) -> None:
    bucket = new_bucket()
    hub = open_hub(tmp_path / "data", s3_settings(bucket, s3_server))
    try:
        ingestor = hub.ingestor()
        for (mission, form), path in mission_products.items():
            result = ingestor.ingest(path)
            expected = Outcome.DUPLICATE if form == "zip" else Outcome.INGESTED
            assert result.outcome is expected, (mission, form, result.reason)
        products = assert_consistent(hub)
        assert len(products) == 4
        keys = bucket_keys(s3_server, bucket)
        assert keys == {k for p in products for k in (p.archive_key, p.quicklook_key) if k} | {
            p.thumbnail_key for p in products if p.thumbnail_key
        }
        client = s3_client(*s3_server)
        for product in products:
            assert product.archive_key is not None
            body = client.get_object(Bucket=bucket, Key=product.archive_key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == product.checksum("MD5")
        report = fsck(hub.catalogue, hub.store)
        assert report.clean and report.objects == len(keys)
    finally:
        hub.close()


def test_ingest_command_with_s3_settings_from_the_environment(
    tmp_path: Path, s3_server: tuple[str, str, str], mission_products: dict[tuple[str, str], Path]
) -> None:
    bucket = new_bucket()
    env = cli_env(**s3_env(bucket, s3_server))
    path = mission_products[("SENTINEL-2", "zip")]
    done = run_cli(tmp_path / "data", "ingest", path, env=env)
    assert done.returncode == 0, done.stderr
    (key,) = (k for k in bucket_keys(s3_server, bucket) if k.endswith(".zip"))
    assert s3_client(*s3_server).get_object(Bucket=bucket, Key=key)["Body"].read() == (
        path.read_bytes()
    )
    assert not (tmp_path / "data" / "archive").exists()  # nothing went to the local disk
    checked = run_cli(tmp_path / "data", "fsck", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_s3_server_is_one_clear_error(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    port = _free_port()  # nothing listens there
    env = cli_env(**s3_env("nowhere", (f"http://127.0.0.1:{port}", "k", "s")))
    done = run_cli(tmp_path / "data", "ingest", mission_products[("SENTINEL-1", "zip")], env=env)
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port} is unreachable" in done.stderr
    assert "Traceback" not in done.stderr
    hub = open_hub(tmp_path / "data")
    try:
        assert all_products(hub.catalogue) == []
    finally:
        hub.close()


def _wait_for_multipart_upload(client: object, bucket: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = client.list_multipart_uploads(Bucket=bucket)  # type: ignore[attr-defined]
        if answer.get("Uploads"):
            return
        if process.poll() is not None:
            raise AssertionError(f"the ingest ended before its upload was seen: {process.stderr}")
        time.sleep(0.005)
    raise AssertionError("no multipart upload started within 60 s")


def test_s3_server_dying_mid_upload(tmp_path: Path, seaweed: SeaweedS3) -> None:
    """The server is killed while the big product's parts are uploading: both products of the
    batch are rejected naming the unreachable server, and not quarantined; nothing is
    catalogued, nothing half stored; the product stored before is intact; once the server is
    back, the same ingest completes."""
    credentials = seaweed.credentials
    bucket = new_bucket()
    data = tmp_path / "data"
    env = cli_env(**s3_env(bucket, credentials))
    before = make_product(next(records_of("SENTINEL-3")), tmp_path / "before", zipped=True)
    assert run_cli(data, "ingest", before, env=env).returncode == 0
    stored_before = bucket_keys(credentials, bucket)

    big = make_product(next(records_of("SENTINEL-2")), tmp_path / "in")
    aux = big / "GRANULE" / "AUX_DATA" / "AUX_ECMWFT"
    aux.parent.mkdir(parents=True)
    aux.write_bytes(os.urandom(BIG))
    small = make_product(next(records_of("SENTINEL-1")), tmp_path / "in", zipped=True)

    client = s3_client(*credentials)
    process = subprocess.Popen(
        [*EOHUB, "--data-dir", str(data), "ingest", str(big), str(small)]
        + ["--quarantine", str(tmp_path / "quarantine"), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_for_multipart_upload(client, bucket, process)
        seaweed.kill()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if seaweed.process is None or seaweed.process.poll() is not None:
            seaweed.restart()

    assert process.returncode == 1, stdout + stderr
    assert stdout.strip().endswith("0 ingested, 0 replaced, 0 duplicates, 2 rejected")
    lines = rejected_lines(stderr)
    assert set(lines) == {big.name, small.name}, stderr
    for reason in lines.values():
        assert reason.startswith("archive: ") and f"{credentials[0]} is unreachable" in reason

    # Not the products' fault: they stay where they are, out of the quarantine.
    assert big.is_dir() and small.is_file()
    assert not (tmp_path / "quarantine").exists()
    assert bucket_keys(credentials, bucket) == stored_before
    hub = open_hub(data, s3_settings(bucket, credentials))
    try:
        assert [p.name for p in all_products(hub.catalogue)] == [before.stem]
        for key in stored_before:
            assert stored_bytes(hub.store, key)  # still readable
        report = fsck(hub.catalogue, hub.store, repair=True)
        assert report.clean, report
        assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
        assert_consistent(hub)
    finally:
        hub.close()

    again = run_cli(data, "ingest", big, small, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("2 ingested, 0 replaced, 0 duplicates, 0 rejected")
    hub = open_hub(data, s3_settings(bucket, credentials))
    try:
        products = assert_consistent(hub)
        assert len(products) == 3
        (stored_big,) = (p for p in products if p.name == big.stem)
        assert stored_big.size > BIG
    finally:
        hub.close()
