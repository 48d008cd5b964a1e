"""What only the S3 store does, against the real SeaweedFS: metadata, failures, dead servers."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from eohub.storage.errors import ObjectNotFound, StorageBackendError, StorageError
from eohub.storage.s3 import PENDING, MiB, S3Store
from eohub.storage.s3_support import RangedReader
from s3_server import SeaweedS3, new_s3_store, s3_client

DATA = os.urandom(12 * MiB + 7)


def test_checksums_live_in_object_metadata(s3_server: tuple[str, str, str]) -> None:
    store = new_s3_store(s3_server)
    store.put("m/multi", io.BytesIO(DATA))
    store.put("m/single", io.BytesIO(b"small"))
    client = s3_client(*s3_server)
    for key, data in (("m/multi", DATA), ("m/single", b"small")):
        head = client.head_object(Bucket=store.bucket, Key=store.prefix + key)
        assert head["Metadata"] == {
            "md5": hashlib.md5(data).hexdigest(),
            "blake3": blake3(data).hexdigest(),
        }
        assert head["ContentLength"] == len(data)


def test_large_objects_get_their_checksums_by_ranged_copy(s3_server: tuple[str, str, str]) -> None:
    """Past the CopyObject limit (5 GiB on AWS; 1 byte here) the metadata is set by parts."""
    store = new_s3_store(s3_server, copy_limit=1)
    stored = store.put("big/object", io.BytesIO(DATA))
    assert stored.md5 == hashlib.md5(DATA).hexdigest()
    stat = store.stat("big/object")
    assert stat is not None and stat.blake3 == blake3(DATA).hexdigest()
    assert b"".join(store.open("big/object")) == DATA
    uploads = s3_client(*s3_server).list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    assert uploads.get("Uploads") is None


def sent_by(client: Any, operation: str) -> list[int]:
    """Records the part number (0 for other operations) of each ``operation`` request sent."""
    sent: list[int] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(int(request.url.partition("partNumber=")[2].partition("&")[0] or 0))

    client.meta.events.register(f"before-send.s3.{operation}", record)
    return sent


def alter_in_transit(request: Any, **_: Any) -> None:
    """Flips one byte of a request body after it was signed, as a faulty network would."""
    body = bytearray(request.body)
    body[1000] ^= 0xFF
    request.body = bytes(body)


@pytest.mark.parametrize(("data", "operation"), [(DATA, "UploadPart"), (b"s" * 4096, "PutObject")])
def test_bytes_altered_in_transit_are_refused(
    s3_server: tuple[str, str, str], data: bytes, operation: str
) -> None:
    """Parts carry a CRC32 and single PUTs Content-MD5, which the server checks (it does not
    check the SigV4 payload hash). Nothing is stored, and nothing is left behind."""
    store = new_s3_store(s3_server)
    store.put("kept", io.BytesIO(b"before"))
    store._bulk.meta.events.register(f"before-send.s3.{operation}", alter_in_transit)
    with pytest.raises(StorageBackendError, match="BadDigest"):
        store.put("altered", io.BytesIO(data))
    assert store.stat("altered") is None
    assert sorted(store.keys()) == ["kept"]
    client = s3_client(*s3_server)
    uploads = client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    assert uploads.get("Uploads") is None


def test_parts_are_signed_when_the_server_ignores_their_crc32(
    s3_server: tuple[str, str, str],
) -> None:
    """A server that does not answer with the CRC32 did not check it: the part is sent again
    with a signed payload, and so are the next parts and uploads of the store."""
    store = new_s3_store(s3_server)

    def no_checksum_answered(response_dict: dict[str, Any], **_: Any) -> None:
        response_dict["headers"].pop("x-amz-checksum-crc32", None)

    store._bulk.meta.events.register("before-parse.s3.UploadPart", no_checksum_answered)
    unsigned, signed = sent_by(store._bulk, "UploadPart"), sent_by(store._client, "UploadPart")
    stored = store.put("first", io.BytesIO(DATA))
    assert (unsigned, signed) == ([1], [1, 2, 3])
    assert stored.md5 == hashlib.md5(DATA).hexdigest()
    assert b"".join(store.open("first")) == DATA
    store.put("second", io.BytesIO(DATA))
    assert (unsigned, signed) == ([1], [1, 2, 3, 1, 2, 3])
    assert b"".join(store.open("second")) == DATA


def test_parts_go_unsigned_with_their_crc32(s3_server: tuple[str, str, str]) -> None:
    store = new_s3_store(s3_server)
    unsigned, signed = sent_by(store._bulk, "UploadPart"), sent_by(store._client, "UploadPart")
    put = sent_by(store._bulk, "PutObject")
    store.put("multi", io.BytesIO(DATA))
    store.put("single", io.BytesIO(b"small"))
    assert (unsigned, signed, put) == ([1, 2, 3], [], [0])
    assert b"".join(store.open("multi")) == DATA


def test_pending_object_is_not_visible(s3_server: tuple[str, str, str]) -> None:
    """A crash between completing an upload and recording its checksums shows nothing."""
    store = new_s3_store(s3_server)
    s3_client(*s3_server).put_object(
        Bucket=store.bucket,
        Key=store.prefix + "p/key",
        Body=b"complete bytes",
        Metadata={PENDING: "1"},
    )
    assert store.stat("p/key") is None
    with pytest.raises(ObjectNotFound):
        store.open("p/key")
    with pytest.raises(ObjectNotFound):
        store.read_range("p/key", 0, 4)
    with pytest.raises(ObjectNotFound):
        store.open_file("p/key")
    assert store.delete("p/key") is False  # removed all the same
    assert list(store.keys()) == []


def test_object_written_by_another_tool(s3_server: tuple[str, str, str]) -> None:
    store = new_s3_store(s3_server)
    s3_client(*s3_server).put_object(
        Bucket=store.bucket, Key=store.prefix + "x/legacy", Body=b"legacy"
    )
    stat = store.stat("x/legacy")
    assert stat is not None
    assert stat.md5 == hashlib.md5(b"legacy").hexdigest()  # from the ETag
    assert stat.blake3 == ""  # unknown until verified


def test_prefix_separates_stores_in_one_bucket(s3_server: tuple[str, str, str]) -> None:
    first = new_s3_store(s3_server, own_bucket=True, prefix="/hub-a/")
    endpoint, access, secret = s3_server
    second = S3Store(
        first.bucket,
        endpoint_url=endpoint,
        access_key=access,
        secret_key=secret,
        prefix="hub-b",
    )
    first.put("k/one", io.BytesIO(b"a"))
    second.put("k/one", io.BytesIO(b"bb"))
    assert list(first.keys()) == ["k/one"] and list(second.keys()) == ["k/one"]
    assert first.read_range("k/one", 0, 9) == b"a"
    assert second.read_range("k/one", 0, 9) == b"bb"
    listed = s3_client(*s3_server).list_objects_v2(Bucket=first.bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == ["hub-a/k/one", "hub-b/k/one"]


def test_open_file_notices_a_replaced_object(s3_server: tuple[str, str, str]) -> None:
    store = new_s3_store(s3_server)
    store.put("r/key", io.BytesIO(b"a" * 600_000))
    handle = store.open_file("r/key")
    assert handle.read(3) == b"aaa"
    store.put("r/key", io.BytesIO(b"b" * 600_000))
    handle.seek(400_000)
    with pytest.raises(StorageBackendError, match="changed while being read"):
        handle.read(10)


def test_cleanup_partials_aborts_abandoned_uploads(s3_server: tuple[str, str, str]) -> None:
    store = new_s3_store(s3_server, own_bucket=True, prefix="hub")
    client = s3_client(*s3_server)
    client.create_multipart_upload(Bucket=store.bucket, Key="hub/ab/cd/abandoned.zip")
    client.create_multipart_upload(Bucket=store.bucket, Key="other-tool/upload")
    assert store.cleanup_partials(min_age_seconds=3600) == 0
    assert store.cleanup_partials() == 1
    left = client.list_multipart_uploads(Bucket=store.bucket)["Uploads"]
    assert [upload["Key"] for upload in left] == ["other-tool/upload"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_a_clear_error() -> None:
    store = S3Store(
        "archive",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        access_key="key",
        secret_key="secret",
        connect_timeout=1,
        max_attempts=1,
    )
    started = time.monotonic()
    for attempt in (
        lambda: store.put("k", io.BytesIO(b"data")),
        lambda: store.put("k", io.BytesIO(DATA)),
        lambda: store.stat("k"),
        lambda: store.open("k"),
        lambda: store.read_range("k", 0, 1),
        lambda: list(store.keys()),
        lambda: store.delete("k"),
        lambda: store.cleanup_partials(),
    ):
        with pytest.raises(StorageBackendError, match="unreachable"):
            attempt()
    assert time.monotonic() - started < 30
    with pytest.raises(StorageBackendError, match="unreachable"):
        S3Store(
            "archive",
            endpoint_url=f"http://127.0.0.1:{closed_port()}",
            access_key="key",
            secret_key="secret",
            create_bucket=True,
            max_attempts=1,
        )


def test_wrong_secret_is_access_denied(s3_server: tuple[str, str, str]) -> None:
    good = new_s3_store(s3_server)
    endpoint, access, _ = s3_server
    bad = S3Store(good.bucket, endpoint_url=endpoint, access_key=access, secret_key="wrong")
    with pytest.raises(StorageBackendError, match="access denied") as caught:
        bad.put("k", io.BytesIO(b"data"))
    assert "secret key" in str(caught.value)
    with pytest.raises(StorageBackendError, match="access denied"):
        list(bad.keys())
    assert list(good.keys()) == []


def test_missing_bucket_is_named(s3_server: tuple[str, str, str]) -> None:
    endpoint, access, secret = s3_server
    store = S3Store(
        "no-such-bucket-here", endpoint_url=endpoint, access_key=access, secret_key=secret
    )
    for attempt in (
        lambda: store.put("k", io.BytesIO(b"data")),
        lambda: store.put("k", io.BytesIO(DATA)),
        lambda: store.stat("k"),
        lambda: store.open("k"),
        lambda: list(store.keys()),
        lambda: store.open_file("k"),
    ):
        with pytest.raises(StorageBackendError, match="'no-such-bucket-here'.*does not exist"):
            attempt()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"part_size": MiB}, "part size"),
        ({"access_key": "only-key"}, "both"),
        ({"prefix": "a/../b"}, "key"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(StorageError, match=message):
        S3Store("bucket", endpoint_url="http://127.0.0.1:1", **options)
    with pytest.raises(StorageError, match="bucket name"):
        S3Store("b", endpoint_url="http://127.0.0.1:1")


class KillingStream(io.RawIOBase):
    """Hands out ``data``, and kills the S3 server once ``kill_at`` bytes have been read."""

    def __init__(self, data: bytes, kill_at: int, server: SeaweedS3) -> None:
        self._data = io.BytesIO(data)
        self._kill_at = kill_at
        self._server = server

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._data.tell() >= self._kill_at:
            self._server.kill()
        return self._data.readinto(buffer)


def test_server_dying_mid_upload_stores_nothing(tmp_path: Path) -> None:
    server = SeaweedS3.start(tmp_path / "dying")
    try:
        store = new_s3_store(server.credentials, connect_timeout=1, max_attempts=2)
        store.put("kept/object", io.BytesIO(b"stored before the crash"))
        with pytest.raises(StorageBackendError) as caught:
            store.put("ab/cd/product.zip", KillingStream(DATA, 6 * MiB, server))
        assert store.endpoint_url is not None and store.endpoint_url in str(caught.value)
        assert server.process is not None and server.process.poll() is not None
        server.restart()
        assert store.stat("ab/cd/product.zip") is None
        assert list(store.keys()) == ["kept/object"]
        assert store.read_range("kept/object", 0, 100) == b"stored before the crash"
        store.cleanup_partials()
        client = s3_client(*server.credentials)
        assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads") is None
    finally:
        server.stop()


def test_ranged_reader_lets_zipfile_read_one_member_without_the_rest() -> None:
    """Listing a zip and reading one small member fetches a small fraction of the object."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("product/measurement.bin", os.urandom(6 * MiB))
        archive.writestr("product/manifest.safe", b"<manifest/>" * 50)
    data = buffer.getvalue()
    fetched: list[int] = []

    def fetch(first: int, last: int) -> bytes:
        fetched.append(last - first + 1)
        return data[first : last + 1]

    handle = io.BufferedReader(RangedReader(len(data), fetch), buffer_size=256 * 1024)
    with zipfile.ZipFile(handle) as archive:
        assert archive.read("product/manifest.safe") == b"<manifest/>" * 50
    assert sum(fetched) < MiB, fetched
    with pytest.raises(OSError, match="negative"):
        handle.seek(-len(data) - 1, os.SEEK_END)
