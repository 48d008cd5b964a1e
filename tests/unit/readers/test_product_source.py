"""ProductSource over folders, zips and single files: the same product reads the same."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from reader_samples import SAMPLES, load_facts, read_path, sample

from eohub.ingest.errors import RejectedProduct
from eohub.ingest.source import ProductSource

FACTS = load_facts()
FOLDERS = sorted(k for k in FACTS if (SAMPLES / k).is_dir())
SRAL_ZIP = next(k for k in FACTS if k.endswith(".zip"))
S5P_FILE = next(k for k in FACTS if k.endswith(".nc"))


def zip_folder(folder: Path, dest: Path, *, nested: bool = True) -> Path:
    """Zip a product folder: under its own name (as distributed) or at the zip root."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        prefix = folder.name + "/" if nested else ""
        if nested:
            zf.writestr(prefix, "")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return dest


@pytest.mark.parametrize("key", FOLDERS)
def test_folder_and_zips_of_it_give_identical_metadata(key: str, tmp_path: Path) -> None:
    from_folder = sample(key).meta
    nested = zip_folder(SAMPLES / key, tmp_path / f"{key}.zip")
    (tmp_path / "flat").mkdir()
    flat = zip_folder(SAMPLES / key, tmp_path / "flat" / f"{key}.zip", nested=False)
    for archive in (nested, flat):
        meta, source = read_path(archive)
        assert source.kind == "zip"
        assert source.root_name == key
        assert meta == from_folder
        assert meta.attributes == from_folder.attributes


def test_complete_zip_reads_like_its_extracted_folder(tmp_path: Path) -> None:
    with zipfile.ZipFile(SAMPLES / SRAL_ZIP) as zf:
        zf.extractall(tmp_path)
    folder = next(tmp_path.iterdir())
    meta, source = read_path(folder)
    assert source.kind == "folder" and folder.name.endswith(".SEN3")
    assert meta == sample(SRAL_ZIP).meta


def test_single_netcdf_and_a_zip_of_it_read_alike(tmp_path: Path) -> None:
    archive = tmp_path / "s5p.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(SAMPLES / S5P_FILE, S5P_FILE)
    meta, source = read_path(archive)
    assert source.root_name == S5P_FILE
    assert meta == sample(S5P_FILE).meta
    assert sample(S5P_FILE).kind == "file"


def test_members_sizes_and_streams(tmp_path: Path) -> None:
    key = "S1C_S4_GRDH_1SDH_20250118T171404_20250118T171421_000638_000538_4B8B.SAFE"
    folder = SAMPLES / key
    archive = zip_folder(folder, tmp_path / f"{key}.zip")
    expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for path in (folder, archive):
        with ProductSource.open(path) as source:
            assert source.names() == expected
            assert source.has("manifest.safe") and not source.has("nope.xml")
            assert source.glob("preview/*.png") == [
                "preview/quick-look.png",
                "preview/thumbnail.png",
            ]
            for name in expected:
                data = (folder / name).read_bytes()
                assert source.size_of(name) == len(data)
                assert source.read(name) == data
                with source.open_member(name) as stream:
                    chunks = iter(lambda: stream.read(4096), b"")
                    assert b"".join(chunks) == data
            with source.open_member("manifest.safe") as stream:
                stream.seek(10)
                assert stream.read(5) == (folder / "manifest.safe").read_bytes()[10:15]


def test_read_refuses_members_over_the_limit() -> None:
    key = "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825.SAFE"
    with ProductSource.open(SAMPLES / key) as source:
        with pytest.raises(RejectedProduct) as err:
            source.read("MTD_MSIL2A.xml", limit=1000)
    assert "more than the 1000" in err.value.reason
    assert err.value.code == "rejected_product"


def test_missing_member_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "X.SAFE"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with ProductSource.open(folder) as source:
        with pytest.raises(RejectedProduct, match="missing member manifest.safe"):
            source.read("manifest.safe")


def test_flat_zip_with_another_name_gets_a_product_suffix(tmp_path: Path) -> None:
    key = next(k for k in FOLDERS if k.startswith("S3A_OL"))
    archive = zip_folder(SAMPLES / key, tmp_path / "download.zip", nested=False)
    meta, source = read_path(archive)
    assert source.root_name == "download.SEN3"
    assert meta.name == key.removesuffix(".SEN3")  # the manifest names the product


def test_folder_given_through_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = FOLDERS[0]
    shutil.copytree(SAMPLES / key, tmp_path / key)
    monkeypatch.chdir(tmp_path / key)
    meta, source = read_path(Path("."))
    assert source.root_name == key
    assert meta == sample(key).meta
