"""The ObjectStore contract, run against every store (local folder, real S3 server)."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from blake3 import blake3

from eohub.errors import NotFound
from eohub.storage.errors import IncompleteWrite, InvalidKey, ObjectNotFound, StorageError
from eohub.storage.ports import ByteRange, ObjectStore, product_key

MiB = 1 << 20
SMALL = b"Sentinel-2 MSI L2A granule bytes \x00\xff" * 100
LARGE = os.urandom(11 * MiB + 12_345)  # three parts of 5 MiB on S3


class FailingStream(io.RawIOBase):
    """A binary stream that raises after ``fail_after`` bytes, as a dropped connection would."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data = io.BytesIO(data)
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._data.tell() >= self._fail_after:
            raise ConnectionResetError("upstream hub closed the connection")
        return self._data.readinto(buffer)


def check_checksums(stored_md5: str, stored_blake3: str, data: bytes) -> None:
    assert stored_md5 == hashlib.md5(data).hexdigest()
    assert stored_blake3 == blake3(data).hexdigest()


@pytest.mark.parametrize("data", [SMALL, LARGE, b""], ids=["small", "multipart", "empty"])
def test_put_stat_open_round_trip(store: ObjectStore, data: bytes) -> None:
    key = "ab/cd/product/file.zip"
    before = datetime.now(UTC) - timedelta(seconds=5)
    stored = store.put(key, io.BytesIO(data), expected_size=len(data))
    assert stored.key == key
    assert stored.size == len(data)
    check_checksums(stored.md5, stored.blake3, data)
    assert before <= stored.modified <= datetime.now(UTC) + timedelta(seconds=5)
    stat = store.stat(key)
    assert stat is not None
    assert (stat.size, stat.md5, stat.blake3) == (stored.size, stored.md5, stored.blake3)
    chunks = list(store.open(key, chunk_size=MiB))
    assert b"".join(chunks) == data
    assert all(len(chunk) <= MiB for chunk in chunks)


def test_open_range_is_inclusive(store: ObjectStore) -> None:
    store.put("r/obj", io.BytesIO(LARGE))
    assert b"".join(store.open("r/obj", ByteRange(0, 0))) == LARGE[:1]
    assert b"".join(store.open("r/obj", ByteRange(10, 19))) == LARGE[10:20]
    last = len(LARGE) - 1
    middle = ByteRange(5 * MiB - 3, 10 * MiB + 7)  # crosses part boundaries
    assert (
        b"".join(store.open("r/obj", middle, chunk_size=65536))
        == LARGE[middle.start : middle.end + 1]
    )
    assert b"".join(store.open("r/obj", ByteRange(last, last))) == LARGE[-1:]


def test_open_range_past_the_end_is_refused(store: ObjectStore) -> None:
    store.put("r/obj", io.BytesIO(SMALL))
    with pytest.raises(StorageError, match="past the end"):
        b"".join(store.open("r/obj", ByteRange(len(SMALL) - 1, len(SMALL))))
    with pytest.raises(StorageError, match="past the end"):
        b"".join(store.open("r/obj", ByteRange(len(SMALL) + 10, len(SMALL) + 20)))


def test_byte_range_must_be_ordered() -> None:
    with pytest.raises(StorageError, match="start <= end"):
        ByteRange(10, 9)
    with pytest.raises(StorageError):
        ByteRange(-1, 3)


def test_read_range(store: ObjectStore) -> None:
    store.put("r/obj", io.BytesIO(SMALL))
    assert store.read_range("r/obj", 0, 4) == SMALL[:4]
    assert store.read_range("r/obj", 100, 50) == SMALL[100:150]
    assert store.read_range("r/obj", len(SMALL) - 3, 10) == SMALL[-3:]
    assert store.read_range("r/obj", len(SMALL), 10) == b""
    assert store.read_range("r/obj", len(SMALL) + 100, 10) == b""
    assert store.read_range("r/obj", 5, 0) == b""
    with pytest.raises(StorageError, match=">= 0"):
        store.read_range("r/obj", -1, 3)
    with pytest.raises(StorageError, match=">= 0"):
        store.read_range("r/obj", 0, -3)


def test_missing_key(store: ObjectStore) -> None:
    assert store.stat("no/such/key") is None
    assert store.delete("no/such/key") is False
    for attempt in (
        lambda: store.open("no/such/key"),
        lambda: store.open("no/such/key", ByteRange(0, 1)),
        lambda: store.read_range("no/such/key", 0, 10),
        lambda: store.read_range("no/such/key", 0, 0),
        lambda: store.open_file("no/such/key"),
    ):
        with pytest.raises(ObjectNotFound, match="no/such/key") as caught:
            attempt()
        assert isinstance(caught.value, NotFound)
        assert caught.value.code == "object_not_found"


def test_delete(store: ObjectStore) -> None:
    store.put("d/one", io.BytesIO(SMALL))
    store.put("d/two", io.BytesIO(SMALL))
    assert store.delete("d/one") is True
    assert store.stat("d/one") is None
    assert store.delete("d/one") is False
    assert list(store.keys()) == ["d/two"]
    with pytest.raises(ObjectNotFound):
        store.open("d/one")


def test_keys_by_prefix(store: ObjectStore) -> None:
    product = uuid.UUID("abcdef01-2345-6789-abcd-ef0123456789")
    keys = {
        product_key(product, "S2A_MSIL2A.zip"),
        product_key(product, "quicklook.jpg"),
        "ab/zz/other.bin",
        "abc/file",
        "top",
    }
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))
    assert set(store.keys()) == keys
    assert set(store.keys("ab/")) == {k for k in keys if k.startswith("ab/")}
    assert set(store.keys("ab")) == {k for k in keys if k.startswith("ab")}
    assert set(store.keys("ab/cd/abcdef01")) == {k for k in keys if k.startswith("ab/cd/")}
    assert set(store.keys("t")) == {"top"}
    assert list(store.keys("zz/")) == []
    with pytest.raises(InvalidKey):
        list(store.keys("../"))


def make_zip() -> tuple[bytes, dict[str, bytes]]:
    members = {
        "S2A_MSIL2A.SAFE/manifest.safe": b"<xfdu:XFDU>" + b"m" * 5000 + b"</xfdu:XFDU>",
        "S2A_MSIL2A.SAFE/MTD_MSIL2A.xml": b"<n1:Level-2A_User_Product/>" * 300,
        "S2A_MSIL2A.SAFE/GRANULE/B04.jp2": os.urandom(700_000),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            method = zipfile.ZIP_STORED if name.endswith(".jp2") else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=method)
    return buffer.getvalue(), members


def test_open_file_serves_zipfile(store: ObjectStore) -> None:
    data, members = make_zip()
    store.put("z/product.zip", io.BytesIO(data))
    with store.open_file("z/product.zip") as handle:
        assert handle.seekable()
        with zipfile.ZipFile(handle) as archive:
            assert archive.namelist() == list(members)
            assert archive.testzip() is None
            for name, content in members.items():
                assert archive.read(name) == content
        handle.seek(-10, os.SEEK_END)
        assert handle.read() == data[-10:]
        handle.seek(100)
        assert handle.tell() == 100
        assert handle.read(20) == data[100:120]
        handle.seek(5, os.SEEK_CUR)
        assert handle.read(5) == data[125:130]
        handle.seek(len(data) + 10)
        assert handle.read(5) == b""


BAD_KEYS = [
    "",
    "/etc/passwd",
    "a/../../etc/passwd",
    "..",
    "./a",
    "a//b",
    "a/",
    "a\x00b",
    "a\nb",
    "a\\b",
    ".eohub-tmp/x.partial",
    ".eohub-meta/a.json",
    "x" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_refused_and_store_nothing(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        store.put(key, io.BytesIO(SMALL))
    assert caught.value.code == "invalid_key"
    assert "key" in str(caught.value)
    for attempt in (
        lambda: store.stat(key),
        lambda: store.open(key),
        lambda: store.read_range(key, 0, 1),
        lambda: store.delete(key),
        lambda: store.open_file(key),
    ):
        with pytest.raises(InvalidKey):
            attempt()
    assert list(store.keys()) == []


def test_non_string_key_is_refused(store: ObjectStore) -> None:
    with pytest.raises(InvalidKey, match="must be a string"):
        store.put(b"bytes-key", io.BytesIO(SMALL))  # type: ignore[arg-type]


@pytest.mark.parametrize("fail_after", [1000, 7 * MiB], ids=["early", "after-a-part"])
def test_failing_stream_leaves_nothing(
    store: ObjectStore, leftovers: Callable[[], list[str]], fail_after: int
) -> None:
    with pytest.raises(ConnectionResetError, match="closed the connection"):
        store.put("f/product.zip", FailingStream(LARGE, fail_after))
    assert store.stat("f/product.zip") is None
    assert list(store.keys()) == []
    assert leftovers() == []


def test_overwrite_replaces_and_failed_overwrite_keeps_the_old(
    store: ObjectStore, leftovers: Callable[[], list[str]]
) -> None:
    store.put("o/key", io.BytesIO(SMALL))
    second = store.put("o/key", io.BytesIO(LARGE))
    stat = store.stat("o/key")
    assert stat is not None and stat.size == len(LARGE) and stat.md5 == second.md5
    assert b"".join(store.open("o/key")) == LARGE
    with pytest.raises(ConnectionResetError):
        store.put("o/key", FailingStream(SMALL * 10_000, 2 * MiB))
    assert b"".join(store.open("o/key")) == LARGE
    stat = store.stat("o/key")
    assert stat is not None
    check_checksums(stat.md5, stat.blake3, LARGE)
    third = store.put("o/key", io.BytesIO(b"short"))
    assert third.size == 5
    assert store.read_range("o/key", 0, 100) == b"short"
    assert list(store.keys()) == ["o/key"]
    assert leftovers() == []


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "multipart"])
@pytest.mark.parametrize("delta", [-1, +1])
def test_expected_size_mismatch_stores_nothing(
    store: ObjectStore, leftovers: Callable[[], list[str]], data: bytes, delta: int
) -> None:
    store.put("s/key", io.BytesIO(b"previous"))
    with pytest.raises(IncompleteWrite, match="expected") as caught:
        store.put("s/key", io.BytesIO(data), expected_size=len(data) + delta)
    assert "nothing stored" in str(caught.value)
    assert b"".join(store.open("s/key")) == b"previous"
    assert list(store.keys()) == ["s/key"]
    assert leftovers() == []


def test_text_stream_is_refused(store: ObjectStore, leftovers: Callable[[], list[str]]) -> None:
    with pytest.raises(StorageError, match="binary mode"):
        store.put("t/key", io.StringIO("not bytes"))  # type: ignore[arg-type]
    assert store.stat("t/key") is None
    assert leftovers() == []


def test_iterator_can_be_abandoned(store: ObjectStore) -> None:
    store.put("i/key", io.BytesIO(LARGE))
    chunks = store.open("i/key", chunk_size=MiB)
    assert next(chunks) == LARGE[:MiB]
    chunks.close()  # type: ignore[attr-defined]
    assert store.delete("i/key") is True


def test_product_key_layout() -> None:
    product = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert product_key(product, "S1A_IW_GRDH.zip") == (
        "0f/1e/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/S1A_IW_GRDH.zip"
    )
    for bad in ("", "a/b", "..", ".", "a\x00b"):
        with pytest.raises(InvalidKey):
            product_key(product, bad)
    with pytest.raises(InvalidKey, match="UUID"):
        product_key("0f1e2d3c", "x.zip")  # type: ignore[arg-type]
