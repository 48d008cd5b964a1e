"""Hostile and broken input is rejected with one clear reason, never a crash."""

from __future__ import annotations

import os
import shutil
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from reader_samples import SAMPLES, load_facts

from eohub.ingest.errors import RejectedProduct
from eohub.ingest.readers import read_product
from eohub.ingest.source import ProductSource

FACTS = load_facts()
S1 = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE"
S2 = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
S3_ZIP = next(k for k in FACTS if k.endswith(".zip"))
S5P = next(k for k in FACTS if k.endswith(".nc"))


def rejected(path: Path) -> RejectedProduct:
    """Open and read a product, expecting a rejection."""
    with pytest.raises(RejectedProduct) as err:
        with ProductSource.open(path) as source:
            read_product(source)
    assert err.value.code == "rejected_product"
    assert err.value.path == str(path)
    assert err.value.reason in err.value.user_message
    return err.value


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def patch_central_directory(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of the first central-directory header of a zip."""
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02") + offset
    data[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))


def copy_sample(key: str, tmp_path: Path) -> Path:
    dest = tmp_path / key
    shutil.copytree(SAMPLES / key, dest)
    return dest


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.txt", "path traversal"),
        ("X.SAFE/../../evil.txt", "path traversal"),
        ("..\\evil.txt", "path traversal"),
        ("/etc/passwd", "absolute member path"),
        ("C:/Windows/evil.txt", "absolute member path"),
    ],
)
def test_zip_member_escaping_the_product(tmp_path: Path, member: str, reason: str) -> None:
    archive = make_zip(tmp_path / "X.SAFE.zip", {"manifest.safe": b"<a/>", member: b"x"})
    assert reason in rejected(archive).reason


def test_zip_bomb_by_compression_ratio(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"X.SAFE/manifest.safe": b"\0" * (16 * 1024 * 1024)})
    reason = rejected(archive).reason
    assert "zip bomb" in reason and "manifest.safe" in reason


def test_zip_bomb_by_absurd_declared_size(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"X.SAFE/manifest.safe": b"<a/>" * 100})
    patch_central_directory(archive, 24, "<I", 0xFFFFFFF0)  # uncompressed size
    assert "zip bomb" in rejected(archive).reason


def test_zip_bomb_by_overlapping_members(tmp_path: Path) -> None:
    """Many entries pointing at the same compressed data (the overlapping-file bomb)."""
    payload = b"<a>" + b"a" * 200_000 + b"</a>"
    members = {f"X.SAFE/m{i}.xml": payload for i in range(2)}
    archive = make_zip(tmp_path / "overlap.zip", members)
    data = archive.read_bytes()
    cd = data.index(b"PK\x01\x02")
    header = data[cd : cd + 46 + len("X.SAFE/m0.xml")]
    end = data.index(b"PK\x05\x06")
    count = 3000
    body = data[:cd] + header * count
    eocd = bytearray(data[end : end + 22])
    struct.pack_into("<HHII", eocd, 8, count, count, len(header) * count, cd)
    archive.write_bytes(body + bytes(eocd))
    reason = rejected(archive).reason
    assert "zip bomb" in reason or "duplicate member" in reason


def test_duplicate_zip_members(tmp_path: Path) -> None:
    archive = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("X.SAFE/manifest.safe", b"<a/>")
            zf.writestr("X.SAFE/manifest.safe", b"<b/>")
    assert "duplicate member X.SAFE/manifest.safe" in rejected(archive).reason


def test_encrypted_zip_member(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "enc.zip", {"X.SAFE/manifest.safe": b"<a/>"})
    patch_central_directory(archive, 8, "<H", 0x1)  # general purpose flag: encrypted
    assert "encrypted" in rejected(archive).reason


def test_truncated_zip(tmp_path: Path) -> None:
    data = (SAMPLES / S3_ZIP).read_bytes()
    archive = tmp_path / S3_ZIP
    archive.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated zip" in rejected(archive).reason


def test_not_a_zip_at_all(tmp_path: Path) -> None:
    archive = tmp_path / "product.zip"
    archive.write_bytes(b"this is no zip")
    assert "corrupt or truncated zip" in rejected(archive).reason


def test_corrupt_member_data_in_a_zip(tmp_path: Path) -> None:
    source_zip = SAMPLES / S3_ZIP
    archive = tmp_path / S3_ZIP
    data = bytearray(source_zip.read_bytes())
    with zipfile.ZipFile(source_zip) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("xfdumanifest.xml"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 100, start + 400):
        data[i] ^= 0x5A
    archive.write_bytes(bytes(data))
    reason = rejected(archive).reason
    assert "cannot read xfdumanifest.xml" in reason and "corrupt" in reason


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xfdu [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1"
  xmlns:safe="http://www.esa.int/safe/sentinel-1.0">&xxe;</xfdu:XFDU>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1"
  xmlns:sentinel3="http://www.esa.int/safe/sentinel/sentinel-3/1.0">&lol9;</xfdu:XFDU>"""


def test_xxe_manifest_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / S1
    folder.mkdir()
    (folder / "manifest.safe").write_bytes(XXE)
    reason = rejected(folder).reason
    assert reason.startswith("manifest.safe:") and "DOCTYPE" in reason
    assert "root:" not in reason  # nothing of /etc/passwd leaks into the message


def test_billion_laughs_manifest_is_refused_quickly(tmp_path: Path) -> None:
    folder = tmp_path / "S3A_OL_1_EFR____20211021T073827_X.SEN3"
    folder.mkdir()
    (folder / "xfdumanifest.xml").write_bytes(LAUGHS)
    reason = rejected(folder).reason
    assert reason.startswith("xfdumanifest.xml:") and "entity" in reason


def test_billion_laughs_in_a_zip(tmp_path: Path) -> None:
    name = "S3A_OL_1_EFR____20211021T073827_X.SEN3"
    archive = make_zip(tmp_path / f"{name}.zip", {f"{name}/xfdumanifest.xml": LAUGHS})
    assert "DOCTYPE" in rejected(archive).reason


def test_malformed_xml(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    (folder / "manifest.safe").write_bytes(b"<xfdu:XFDU xmlns:xfdu='urn:x'><unclosed>")
    assert "manifest.safe: malformed XML" in rejected(folder).reason


def test_unknown_product_type(tmp_path: Path) -> None:
    folder = tmp_path / "SOMETHING.SAFE"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    assert rejected(folder).reason == "unknown product type: no reader knows it"


def test_unknown_single_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert "unknown product type" in rejected(path).reason


def test_missing_path(tmp_path: Path) -> None:
    assert rejected(tmp_path / "nothing.SAFE").reason == "no such file or folder"


def test_link_out_of_the_product_folder(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    (folder / "manifest.safe").unlink()
    (folder / "manifest.safe").symlink_to("/etc/passwd")
    assert "manifest.safe is a link that points outside the product" in rejected(folder).reason


def test_unreadable_member(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    (folder / "manifest.safe").unlink()
    (folder / "manifest.safe").symlink_to(folder / "gone.safe")  # dangling
    reason = rejected(folder).reason
    assert reason.startswith("cannot read manifest.safe")


def test_special_file_in_the_product_folder(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    (folder / "manifest.safe").unlink()
    os.mkfifo(folder / "manifest.safe")  # reading it would block forever
    assert rejected(folder).reason == "manifest.safe is not a regular file"


def test_zip_without_its_suffix_is_still_a_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "product.bin", {"../evil": b"x"})
    assert "path traversal" in rejected(archive).reason


def test_corrupt_netcdf(tmp_path: Path) -> None:
    path = tmp_path / S5P
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)
    assert "is not a readable netCDF-4/HDF5 file" in rejected(path).reason


def test_truncated_netcdf(tmp_path: Path) -> None:
    path = tmp_path / S5P
    path.write_bytes((SAMPLES / S5P).read_bytes()[:50_000])
    assert S5P in rejected(path).reason


def test_malformed_value_is_named(tmp_path: Path) -> None:
    folder = copy_sample(S2, tmp_path)
    mtd = folder / "MTD_MSIL1C.xml"
    mtd.write_bytes(mtd.read_bytes().replace(b">88.2972<", b">lots<"))
    assert rejected(folder).reason == "malformed cloud cover 'lots'"


def test_malformed_time_is_named(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    manifest = folder / "manifest.safe"
    text = manifest.read_bytes().replace(b"2021-08-09T17:39:53.153776", b"yesterday")
    manifest.write_bytes(text)
    assert rejected(folder).reason == "malformed sensing start time 'yesterday'"


def test_reversed_sensing_time(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    manifest = folder / "manifest.safe"
    text = manifest.read_bytes().replace(b"2021-08-09T17:40:18.152800", b"2021-08-09T17:00:00")
    manifest.write_bytes(text)
    assert "time range ends before it starts" in rejected(folder).reason


def test_footprint_out_of_range_is_named(tmp_path: Path) -> None:
    folder = copy_sample(S1, tmp_path)
    manifest = folder / "manifest.safe"
    manifest.write_bytes(
        manifest.read_bytes().replace(b"46.033890,1.512143", b"146.03389,1.512143")
    )
    reason = rejected(folder).reason
    assert reason.startswith("invalid footprint in manifest.safe") and "latitude" in reason


def test_rejection_leaves_the_product_untouched(tmp_path: Path) -> None:
    folder = copy_sample(S2, tmp_path)
    mtd = folder / "MTD_MSIL1C.xml"
    mtd.write_bytes(mtd.read_bytes().replace(b">88.2972<", b">lots<"))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    rejected(folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
