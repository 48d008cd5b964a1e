"""MD5 + BLAKE3 computed while streaming equal the libraries' one-shot digests."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from blake3 import blake3

from eohub.storage.checksums import DualHasher, digest_bytes, digest_stream, read_into
from eohub.storage.errors import StorageError


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("sizes", [[], [0], [1], [65535, 65536, 1], [1 << 20] * 3 + [17]])
def test_incremental_equals_one_shot(parallel: bool, sizes: list[int]) -> None:
    pieces = [os.urandom(size) for size in sizes]
    data = b"".join(pieces)
    with DualHasher(parallel=parallel) as hasher:
        for piece in pieces:
            hasher.update(piece)
        digests = hasher.digests()
    assert digests.size == len(data)
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.blake3 == blake3(data).hexdigest()
    assert digest_bytes(data) == digests
    assert digest_stream(io.BytesIO(data), chunk_size=4096) == digests


def test_read_into_refuses_text_and_oversized_reads() -> None:
    buffer = memoryview(bytearray(8))
    with pytest.raises(StorageError, match="binary mode"):
        read_into(io.StringIO("text"), buffer, "'k'")  # type: ignore[arg-type]

    class Greedy:
        def read(self, size: int) -> bytes:
            return b"x" * (size + 1)

    with pytest.raises(StorageError, match="more bytes"):
        read_into(Greedy(), buffer, "'k'")  # type: ignore[arg-type]

    class Plain:
        def read(self, size: int) -> bytes:
            return b"abc"

    assert read_into(Plain(), buffer, "'k'") == 3  # type: ignore[arg-type]
    assert bytes(buffer[:3]) == b"abc"
