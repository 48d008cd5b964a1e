"""Write-behind of the local store: flushed in steps while written, pages released, errors."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from eohub.storage import writeback
from eohub.storage.filesystem import FilesystemStore
from eohub.storage.writeback import WriteBehind

MiB = 1 << 20


def cached_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (util-linux ``fincore``)."""
    answer = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(answer.stdout.split()[0])


@pytest.fixture
def page_cache_visible(tmp_path: Path) -> None:
    """Skip where the page cache cannot be observed or pages cannot be dropped (tmpfs)."""
    if shutil.which("fincore") is None:
        pytest.skip("util-linux fincore is not installed")
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(MiB))
    with probe.open("rb+") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    if cached_bytes(probe) > MiB // 2:
        pytest.skip(f"{tmp_path} keeps its pages (tmpfs?)")
    probe.unlink()


class WatchedStream(io.RawIOBase):
    """Random bytes; records how much of the upload in progress is cached at ``at`` bytes."""

    def __init__(self, size: int, at: int, folder: Path) -> None:
        self.data = os.urandom(size)
        self._source = io.BytesIO(self.data)
        self._at = at
        self._folder = folder
        self.cached_at: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.cached_at is None and self._source.tell() >= self._at:
            (partial,) = self._folder.iterdir()
            self.cached_at = cached_bytes(partial)
        return self._source.readinto(buffer)


@pytest.mark.usefixtures("page_cache_visible")
def test_large_put_is_flushed_while_written_and_leaves_no_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "STEP", MiB)
    store = FilesystemStore(tmp_path / "archive")
    stream = WatchedStream(12 * MiB, 8 * MiB, tmp_path / "archive" / ".eohub-tmp")
    stored = store.put("ab/cd/big.bin", io.BufferedReader(stream, MiB))
    # With 1 MiB chunks and steps, when the bytes from 8 MiB on are asked for, 8 MiB have been
    # written and flushed but the last step, still in flight: at most 1 MiB is cached (+ slack).
    assert stream.cached_at is not None and stream.cached_at <= 2 * MiB, stream.cached_at
    assert cached_bytes(tmp_path / "archive" / "ab" / "cd" / "big.bin") <= MiB // 4
    assert stored.size == 12 * MiB
    assert stored.md5 == hashlib.md5(stream.data).hexdigest()
    assert stored.blake3 == blake3(stream.data).hexdigest()
    assert b"".join(store.open("ab/cd/big.bin")) == stream.data
    assert store.stat("ab/cd/big.bin") == stored


@pytest.mark.usefixtures("page_cache_visible")
def test_objects_smaller_than_a_step_stay_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "STEP", 4 * MiB)
    store = FilesystemStore(tmp_path / "archive")
    store.put("thumb.jpg", io.BytesIO(os.urandom(3 * MiB)))
    assert cached_bytes(tmp_path / "archive" / "thumb.jpg") == 3 * MiB


def test_put_without_fsync_in_many_steps_stores_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without fsync each step only starts writeback and releases the step before it."""
    monkeypatch.setattr(writeback, "STEP", MiB)
    store = FilesystemStore(tmp_path / "archive", fsync=False, chunk_size=300_000)
    data = os.urandom(9 * MiB + 5)
    stored = store.put("big.bin", io.BytesIO(data))
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.blake3 == blake3(data).hexdigest()
    assert (tmp_path / "archive" / "big.bin").read_bytes() == data


def test_a_failed_flush_is_raised_by_the_next_call() -> None:
    """fdatasync of a pipe fails (EINVAL), as a disk error would during write-behind."""
    read_end, write_end = os.pipe()
    try:
        behind = WriteBehind(write_end, step=10)
        os.write(write_end, b"x" * 10)
        behind.advance(10)  # starts a flush in the helper thread
        with pytest.raises(OSError):
            behind.finish()
        behind.close()  # quiet and idempotent once the error was raised
        lazy = WriteBehind(write_end, durable=False, step=1)
        lazy.advance(10)
        lazy.advance(10)
        lazy.finish()  # not durable: only advice (ignored by a pipe), no fsync, nothing fails
    finally:
        os.close(read_end)
        os.close(write_end)
    with pytest.raises(ValueError, match="positive"):
        WriteBehind(0, step=0)
