"""What only the local-folder store does: crashes, full disks, sidecars, folders."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from blake3 import blake3 as blake3_hash

from eohub.storage.errors import StorageError
from eohub.storage.filesystem import FilesystemStore
from s3_server import in_ci

MiB = 1 << 20
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_python(code: str, *prefix: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_crash_mid_put_leaves_a_recognisable_partial(tmp_path: Path) -> None:
    """A process killed while writing leaves only a .partial, which cleanup_partials removes."""
    root = tmp_path / "archive"
    code = f"""
        import io, sys, time
        from pathlib import Path
        from eohub.storage.filesystem import FilesystemStore

        class Slow(io.RawIOBase):
            sent = 0
            def readable(self): return True
            def readinto(self, buffer):
                if self.sent >= 3 * 1024 * 1024:
                    print("writing", flush=True)
                    time.sleep(60)
                buffer[:] = b"x" * len(buffer)
                self.sent += len(buffer)
                return len(buffer)

        FilesystemStore(Path({str(root)!r})).put("aa/bb/product.zip", Slow())
    """
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "writing"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    store = FilesystemStore(root)
    partials = list((root / ".eohub-tmp").iterdir())
    assert len(partials) == 1 and partials[0].name.endswith(".partial")
    assert partials[0].stat().st_size >= 3 * MiB
    assert store.stat("aa/bb/product.zip") is None
    assert list(store.keys()) == []
    assert store.cleanup_partials(min_age_seconds=3600) == 0  # too young: maybe in progress
    assert store.cleanup_partials() == 1
    assert list((root / ".eohub-tmp").iterdir()) == []


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """ENOSPC on a real 2 MiB tmpfs (mounted in a private user+mount namespace)."""
    unshare = shutil.which("unshare")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    code = f"""
        import io, json, os, subprocess
        from pathlib import Path
        from eohub.storage.errors import StorageFull
        from eohub.storage.filesystem import FilesystemStore

        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", {str(mount_point)!r}],
                       check=True)
        store = FilesystemStore(Path({str(mount_point)!r}))
        store.put("keep/me", io.BytesIO(b"precious" * 1000))
        outcome = {{}}
        try:
            store.put("big/one", io.BytesIO(os.urandom(5 * 1024 * 1024)))
            outcome["error"] = None
        except StorageFull as exc:
            outcome["error"] = str(exc)
            outcome["code"] = exc.code
        outcome["partials"] = os.listdir(Path({str(mount_point)!r}) / ".eohub-tmp")
        outcome["keys"] = sorted(store.keys())
        outcome["kept"] = b"".join(store.open("keep/me")) == b"precious" * 1000
        stat = store.stat("keep/me")
        outcome["kept_size"] = stat.size if stat else None
        print(json.dumps(outcome))
    """
    if unshare is None:
        result = None
    else:
        result = run_python(code, unshare, "--user", "--map-root-user", "--mount")
    if result is None or result.returncode != 0:
        detail = "no unshare" if result is None else result.stderr[-500:]
        if in_ci():
            pytest.fail(f"cannot mount a small tmpfs to test a full disk: {detail}")
        pytest.skip(f"cannot mount a small tmpfs to test a full disk: {detail}")
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["error"] is not None and "no space left" in outcome["error"]
    assert outcome["code"] == "storage_full"
    assert outcome["partials"] == []
    assert outcome["keys"] == ["keep/me"]
    assert outcome["kept"] is True
    assert outcome["kept_size"] == 8000


def test_memory_stays_flat_for_a_large_put(tmp_path: Path) -> None:
    """A 512 MiB stream goes through in chunks: peak RSS grows by far less than its size."""
    code = f"""
        import io, resource
        from pathlib import Path
        from eohub.storage.filesystem import FilesystemStore

        class Zeros(io.RawIOBase):
            left = 512 * 1024 * 1024
            def readable(self): return True
            def readinto(self, buffer):
                size = min(len(buffer), self.left)
                buffer[:size] = bytes(size)
                self.left -= size
                return size

        store = FilesystemStore(Path({str(tmp_path / "archive")!r}), fsync=False)
        store.put("warm/up", io.BytesIO(b"x"))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stored = store.put("big/zeros", io.BufferedReader(Zeros(), 1024 * 1024))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(stored.size, before, after)
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    size, before_kib, after_kib = map(int, result.stdout.split())
    assert size == 512 * MiB
    assert after_kib - before_kib < 64 * 1024, (before_kib, after_kib)


def test_sidecar_that_does_not_match_is_recomputed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    store.put("a/b/file", io.BytesIO(b"original bytes"))
    path = tmp_path / "a" / "b" / "file"
    time.sleep(0.01)
    path.write_bytes(b"bytes replaced behind the archive's back")
    stat = store.stat("a/b/file")
    assert stat is not None
    assert stat.md5 == hashlib.md5(b"bytes replaced behind the archive's back").hexdigest()
    sidecar = json.loads((tmp_path / ".eohub-meta" / "a" / "b" / "file.json").read_text())
    assert sidecar["md5"] == stat.md5  # recorded again
    (tmp_path / ".eohub-meta" / "a" / "b" / "file.json").write_text("{not json")
    again = store.stat("a/b/file")
    assert again is not None and again.md5 == stat.md5


def test_file_placed_by_hand_gets_checksums(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    (tmp_path / "imported").mkdir()
    (tmp_path / "imported" / "old.zip").write_bytes(b"legacy archive content")
    assert list(store.keys()) == ["imported/old.zip"]
    stat = store.stat("imported/old.zip")
    assert stat is not None and stat.md5 == hashlib.md5(b"legacy archive content").hexdigest()


def test_internal_folders_are_not_keys_and_empty_folders_are_pruned(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    store.put("ab/cd/id/file.zip", io.BytesIO(b"z"))
    (tmp_path / ".eohub-tmp" / "leftover.partial").write_bytes(b"half")
    assert list(store.keys()) == ["ab/cd/id/file.zip"]
    assert store.stat("ab/cd") is None  # a folder is not an object
    assert store.delete("ab/cd") is False
    assert store.delete("ab/cd/id/file.zip") is True
    assert not (tmp_path / "ab").exists()
    assert not (tmp_path / ".eohub-meta" / "ab").exists()


def test_object_and_folder_with_one_name_clash_clearly(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    store.put("a", io.BytesIO(b"object a"))
    with pytest.raises(StorageError, match="clashes"):
        store.put("a/b", io.BytesIO(b"under a"))
    store.put("c/d", io.BytesIO(b"object c/d"))
    with pytest.raises(StorageError, match="clashes"):
        store.put("c", io.BytesIO(b"over the folder"))
    assert sorted(store.keys()) == ["a", "c/d"]
    assert store.read_range("a", 0, 100) == b"object a"
    assert list((tmp_path / ".eohub-tmp").iterdir()) == []


def test_without_fsync_and_with_odd_chunk_sizes(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path, fsync=False, chunk_size=4097)
    data = os.urandom(100_000)
    stored = store.put("k", io.BytesIO(data))
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert [len(c) for c in store.open("k", chunk_size=30_000)] == [30_000] * 3 + [10_000]
    with pytest.raises(StorageError, match="positive"):
        store.open("k", chunk_size=0)


def test_unwritable_root_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match="archive"):
        FilesystemStore(blocker / "archive")


def test_adopt_renames_a_complete_file_into_place(tmp_path: Path) -> None:
    """A file written and hashed by its caller becomes an object without a copy; a wrong size
    stores nothing and leaves the file; another file system is declined (None)."""
    store = FilesystemStore(tmp_path / "archive")
    body = os.urandom(3 * MiB + 5)
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    blake3 = blake3_hash(body).hexdigest()
    source = tmp_path / "download.part"
    source.write_bytes(body)
    inode = source.stat().st_ino

    with pytest.raises(StorageError, match="not the expected"):
        store.adopt("ab/cd/x/product.zip", source, len(body) + 1, md5, blake3)
    assert source.exists() and store.stat("ab/cd/x/product.zip") is None

    stored = store.adopt("ab/cd/x/product.zip", source, len(body), md5, blake3)
    assert stored is not None and (stored.size, stored.md5, stored.blake3) == (
        len(body), md5, blake3,
    )  # fmt: skip
    assert not source.exists()
    assert (tmp_path / "archive" / "ab" / "cd" / "x" / "product.zip").stat().st_ino == inode
    assert store.stat("ab/cd/x/product.zip") == stored  # from the sidecar, as after a put
    assert b"".join(store.open("ab/cd/x/product.zip")) == body

    shm = Path("/dev/shm")
    if shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        elsewhere = shm / f"eohub-adopt-{os.getpid()}.part"
        elsewhere.write_bytes(body)
        try:
            assert store.adopt("ab/cd/y/product.zip", elsewhere, len(body), md5, blake3) is None
            assert elsewhere.exists() and store.stat("ab/cd/y/product.zip") is None
        finally:
            elsewhere.unlink(missing_ok=True)
    assert list(store.keys()) == ["ab/cd/x/product.zip"]
