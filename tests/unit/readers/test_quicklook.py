"""Quicklooks and thumbnails from the products' own previews."""

from __future__ import annotations

import io
import logging
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, features
from reader_samples import SAMPLES, read_path, sample

from eohub.ingest.quicklook import make_previews, product_previews
from eohub.ingest.source import ProductSource

S1C = "S1C_S4_GRDH_1SDH_20250118T171404_20250118T171421_000638_000538_4B8B.SAFE"
S2 = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
GRANULE = "GRANULE/L1C_T46RER_A032448_20210908T043714"


def jpeg_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.size


def image_bytes(mode: str, size: tuple[int, int], fmt: str, color: object = 128) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt)  # type: ignore[arg-type]
    return out.getvalue()


def test_sentinel1_preview_becomes_quicklook_and_thumbnail() -> None:
    meta = sample(S1C).meta
    assert meta.quicklook_member == "preview/quick-look.png"
    with ProductSource.open(SAMPLES / S1C) as source:
        previews = product_previews(source, meta.quicklook_member)
    assert previews is not None
    with Image.open(SAMPLES / S1C / "preview" / "quick-look.png") as image:
        original = image.size  # 504 x 721
    w, h = jpeg_size(previews.quicklook)
    assert max(w, h) == 512 and abs(w / h - original[0] / original[1]) < 0.01
    assert max(jpeg_size(previews.thumbnail)) == 64


def test_products_without_a_preview_get_none() -> None:
    for key in (S2, "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE"):
        meta = sample(key).meta
        assert meta.quicklook_member is None
        with ProductSource.open(SAMPLES / key) as source:
            assert product_previews(source, meta.quicklook_member) is None


def test_corrupt_preview_gives_none_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    good = (SAMPLES / S1C / "preview" / "quick-look.png").read_bytes()
    with caplog.at_level(logging.WARNING, logger="eohub.ingest.quicklook"):
        assert make_previews(good[: len(good) // 3], origin="cut.png") is None
        assert make_previews(b"not an image", origin="junk.png") is None
    assert "no quicklook from cut.png" in caplog.text and "junk.png" in caplog.text


def test_corrupt_preview_in_a_product_does_not_reject_it(tmp_path: Path) -> None:
    folder = tmp_path / S1C
    shutil.copytree(SAMPLES / S1C, folder)
    (folder / "preview" / "quick-look.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    meta, _ = read_path(folder)
    assert meta == sample(S1C).meta
    with ProductSource.open(folder) as source:
        assert product_previews(source, meta.quicklook_member) is None


def test_decompression_bomb_preview_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """A PNG header declaring 50000 x 50000 pixels: never decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    with caplog.at_level(logging.WARNING):
        assert make_previews(data) is None
    assert "no quicklook" in caplog.text


@pytest.mark.parametrize(
    ("mode", "fmt", "color"),
    [("RGBA", "PNG", (10, 20, 30, 128)), ("I;16", "PNG", 3000), ("L", "PNG", 7), ("P", "GIF", 3)],
)
def test_image_modes_become_jpeg(mode: str, fmt: str, color: object) -> None:
    previews = make_previews(image_bytes(mode, (1000, 250), fmt, color))
    assert previews is not None
    assert jpeg_size(previews.quicklook) == (512, 128)
    assert jpeg_size(previews.thumbnail) == (64, 16)


def test_small_previews_are_not_enlarged() -> None:
    previews = make_previews(image_bytes("RGB", (40, 30), "PNG"))
    assert previews is not None
    assert jpeg_size(previews.quicklook) == (40, 30)


@pytest.mark.skipif(not features.check("jpg_2000"), reason="Pillow built without OpenJPEG")
def test_sentinel2_pvi_jpeg2000(tmp_path: Path) -> None:
    folder = tmp_path / S2
    shutil.copytree(SAMPLES / S2, folder)
    pvi = folder / GRANULE / "QI_DATA" / "T46RER_20210908T042701_PVI.jp2"
    pvi.parent.mkdir()
    pvi.write_bytes(image_bytes("RGB", (343, 343), "JPEG2000", (200, 100, 50)))
    meta, _ = read_path(folder)
    assert meta.quicklook_member == f"{GRANULE}/QI_DATA/T46RER_20210908T042701_PVI.jp2"
    with ProductSource.open(folder) as source:
        previews = product_previews(source, meta.quicklook_member)
    assert previews is not None and jpeg_size(previews.thumbnail) == (64, 64)


def test_sentinel2_ql_jpeg_is_preferred(tmp_path: Path) -> None:
    folder = tmp_path / S2
    shutil.copytree(SAMPLES / S2, folder)
    (folder / GRANULE / "QI_DATA").mkdir()
    (folder / GRANULE / "QI_DATA" / "T46RER_20210908T042701_PVI.jp2").write_bytes(b"x")
    ql = folder / (S2.removesuffix(".SAFE") + "-ql.jpg")
    ql.write_bytes(image_bytes("RGB", (600, 600), "JPEG"))
    meta, _ = read_path(folder)
    assert meta.quicklook_member == ql.name
    with ProductSource.open(folder) as source:
        previews = product_previews(source, meta.quicklook_member)
    assert previews is not None and jpeg_size(previews.quicklook) == (512, 512)


def test_sentinel3_image_in_the_product(tmp_path: Path) -> None:
    key = next(p.name for p in SAMPLES.glob("S3A_SL_1_RBT*.SEN3"))
    folder = tmp_path / key
    shutil.copytree(SAMPLES / key, folder)
    (folder / "quicklook.png").write_bytes(image_bytes("RGB", (100, 80), "PNG"))
    meta, _ = read_path(folder)
    assert meta.quicklook_member == "quicklook.png"
