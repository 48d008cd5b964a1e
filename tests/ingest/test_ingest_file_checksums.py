"""Checksums of the files inside products, computed at ingest: a folder (hashed while zipped)
and a zip of it (read once more before it is stored) give the same checksums, those of the
files' own bytes; a reprocessing gets the checksums of its new bytes; a zip with a corrupt
member is refused before anything is stored."""

from __future__ import annotations

import hashlib
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from blake3 import blake3
from ingest_support import (
    all_products,
    assert_consistent,
    copy_product,
    folder_files,
    open_hub,
    set_generation_time,
)

from eohub.ingest.pipeline import Outcome
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.wiring import Hub


class _Hub:
    """A hub on real files, closed at the end of the block."""

    def __init__(self, data_dir: Path) -> None:
        self.hub = open_hub(data_dir)

    def __enter__(self) -> Hub:
        return self.hub

    def __exit__(self, *exc_info: object) -> None:
        self.hub.close()


def _ingest(hub: Hub, path: Path) -> tuple[Product, FileManifest]:
    result = hub.ingestor().ingest(path)
    assert result.product is not None, result.reason
    manifest = hub.catalogue.files(result.product)
    assert manifest is not None and manifest.archive_key == result.product.archive_key
    return result.product, manifest


def _digests(manifest: FileManifest) -> dict[str, tuple[int, str, str]]:
    return {f.path: (f.size, f.md5, f.blake3) for f in manifest.files}


@pytest.mark.parametrize("mission", ["SENTINEL-1", "SENTINEL-2", "SENTINEL-3"])
def test_folder_and_zip_give_the_checksums_of_the_files(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path], mission: str
) -> None:
    folder = mission_products[(mission, "folder")]
    expected = {
        name: (len(data), hashlib.md5(data).hexdigest(), blake3(data).hexdigest())
        for name, data in folder_files(folder).items()
    }
    with _Hub(tmp_path / "a") as first:
        _, from_folder = _ingest(first, copy_product(folder, tmp_path / "in-a"))
    with _Hub(tmp_path / "b") as second:
        zipped = copy_product(mission_products[(mission, "zip")], tmp_path / "in-b")
        _, from_zip = _ingest(second, zipped)
    assert _digests(from_folder) == expected
    assert _digests(from_zip) == expected


def test_reprocessing_gets_the_checksums_of_its_own_bytes(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    with _Hub(tmp_path / "hub") as hub:
        first = copy_product(mission_products[("SENTINEL-2", "folder")], tmp_path / "one")
        old, old_files = _ingest(hub, first)
        newer = copy_product(first, tmp_path / "two")
        set_generation_time(newer, datetime(2030, 1, 1, tzinfo=UTC))
        band = next(newer.rglob("*_B02.jp2"))
        band.write_bytes(band.read_bytes() + b"reprocessed")
        result = hub.ingestor().ingest(newer)
        assert result.outcome is Outcome.REPLACED and result.product is not None
        new_files = hub.catalogue.files(result.product)
        assert new_files is not None and new_files.archive_key != old_files.archive_key
        name = f"{newer.name}/{band.relative_to(newer).as_posix()}"
        digest = new_files.get(name)
        assert digest is not None
        assert digest.md5 == hashlib.md5(band.read_bytes()).hexdigest()
        assert digest.md5 != old_files.get(name).md5  # type: ignore[union-attr]
        assert hub.catalogue.files(old) is None  # the replaced object's checksums are not used


def _corrupt_copy(source: Path, dest: Path, member_part: str) -> tuple[Path, str]:
    """A copy of a zip with its members stored (not deflated) and one byte of the data of the
    first member whose name contains ``member_part`` flipped: its CRC-32 no longer matches."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / source.name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            info.compress_type = zipfile.ZIP_STORED
            out.writestr(info, data)
    with zipfile.ZipFile(target) as archive:
        victim = next(i for i in archive.infolist() if member_part in i.filename and i.file_size)
    with open(target, "r+b") as fh:
        fh.seek(victim.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", fh.read(4))
        at = victim.header_offset + 30 + name_length + extra_length + victim.file_size // 2
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return target, victim.filename


def test_zip_with_a_corrupt_member_is_refused_and_nothing_is_lost(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    with _Hub(tmp_path / "hub") as hub:
        _ingest(hub, copy_product(mission_products[("SENTINEL-2", "zip")], tmp_path / "good"))
        before = all_products(hub.catalogue)
        keys = set(hub.store.keys())
        bad, member = _corrupt_copy(
            mission_products[("SENTINEL-1", "zip")], tmp_path / "bad", "/measurement/"
        )
        result = hub.ingestor().ingest(bad)
        assert result.outcome is Outcome.REJECTED and not result.retryable
        assert result.reason is not None
        assert "corrupt" in result.reason and member.strip("/") in result.reason
        assert all_products(hub.catalogue) == before
        assert set(hub.store.keys()) == keys
        assert_consistent(hub)
        assert all(hub.catalogue.files(p) is not None for p in before)
