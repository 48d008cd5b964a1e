"""Product variants the samples do not cover, made from the samples by editing their metadata.

Sentinel-1 RAW and WV/OCN, Sentinel-2 older naming and baselines, Sentinel-3 SYNERGY, and
synthetic Sentinel-5P files written with h5py.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from reader_samples import SAMPLES, read_path, sample
from shapely.geometry import MultiPolygon

from eohub.ingest.errors import RejectedProduct

S1 = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"
S2 = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
S3 = (
    "S3A_OL_1_EFR____20211021T073827_20211021T074112_20211021T091357_0164_077_334_4320_LN1_O_NR_002"
)
GRANULE = "L1C_T46RER_A032448_20210908T043714"


def edit(path: Path, *pairs: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)


def copy(src_key: str, dest: Path) -> Path:
    shutil.copytree(SAMPLES / src_key, dest)
    return dest


def test_sentinel1_raw_level0_takes_type_from_the_name(tmp_path: Path) -> None:
    name = "S1A_EW_RAW__0SDH_20210809T173953_20210809T174018_039156_049F13_1A2B"
    folder = copy(S1 + ".SAFE", tmp_path / f"{name}.SAFE")
    shutil.rmtree(folder / "annotation")  # RAW products have no annotations
    edit(
        folder / "manifest.safe",
        ("sar/level-1/grd/standard/iwdp", "sar/level-0/standard/ewdp"),
        ("<s1sarl1:productType>GRD</s1sarl1:productType>", ""),
        ("<s1sarl1:mode>IW</s1sarl1:mode>", "<s1sarl1:mode>EW</s1sarl1:mode>"),
        ("<s1sarl1:swath>IW</s1sarl1:swath>", "<s1sarl1:swath>EW</s1sarl1:swath>"),
    )
    meta, _ = read_path(folder)
    assert (meta.name, meta.product_type, meta.processing_level) == (name, "RAW", "LEVEL0")
    assert meta.attributes["productType"] == "EW_RAW__0S"
    assert (meta.sensor_mode, meta.swath) == ("EW", "EW")


def test_sentinel1_wave_mode_with_several_footprints(tmp_path: Path) -> None:
    name = "S1A_WV_OCN__2SSV_20210809T173953_20210809T174018_039156_049F13_ABCD"
    folder = copy(S1 + ".SAFE", tmp_path / f"{name}.SAFE")
    frame = (
        "<safe:frame><safe:footPrint><gml:coordinates>"
        "10.0,20.0 10.0,20.2 10.2,20.2 10.2,20.0</gml:coordinates></safe:footPrint></safe:frame>"
    )
    edit(
        folder / "manifest.safe",
        ("sar/level-1/grd/standard/iwdp", "sar/level-2/ocn/standard/wv"),
        (
            "<s1sarl1:productType>GRD</s1sarl1:productType>",
            "<s1sarl1:productType>OCN</s1sarl1:productType>",
        ),
        ("<s1sarl1:mode>IW</s1sarl1:mode>", "<s1sarl1:mode>WV</s1sarl1:mode>"),
        (
            "<s1sarl1:swath>IW</s1sarl1:swath>",
            "<s1sarl1:swath>WV1</s1sarl1:swath><s1sarl1:swath>WV2</s1sarl1:swath>",
        ),
        ("</safe:frame>", "</safe:frame>" + frame),
    )
    meta, _ = read_path(folder)
    assert (meta.product_type, meta.processing_level, meta.swath) == ("OCN", "LEVEL2", "WV1 WV2")
    assert meta.footprint is not None and isinstance(meta.footprint.original, MultiPolygon)
    assert len(meta.footprint.original.geoms) == 2
    assert "coordinates" not in meta.attributes  # one raw text per footprint: none kept alone


def test_sentinel1_manifest_without_platform_is_rejected(tmp_path: Path) -> None:
    folder = copy(S1 + ".SAFE", tmp_path / "renamed.SAFE")
    text = (folder / "manifest.safe").read_text()
    text = re.sub(r"<safe:platform>.*?</safe:platform>", "", text, flags=re.S)
    (folder / "manifest.safe").write_text(text)
    with pytest.raises(RejectedProduct, match="manifest.safe names no platform"):
        read_path(folder)


def test_sentinel2_older_naming_and_baseline_02(tmp_path: Path) -> None:
    """Pre-2016 style: long names, ``*_MTD_SAFL1C_*.xml``, no PRODUCT_URI, baseline 02.01."""
    name = "S2A_OPER_PRD_MSIL1C_PDMC_20160101T120000_R133_V20160101T042701_20160101T042701"
    granule = "S2A_OPER_MSI_L1C_TL_SGS__20160101T100000_A002710_T46RER_N02.01"
    folder = copy(S2 + ".SAFE", tmp_path / f"{name}.SAFE")
    mtd = (
        folder
        / "S2A_OPER_MTD_SAFL1C_PDMC_20160101T120000_R133_V20160101T042701_20160101T042701.xml"
    )
    (folder / "MTD_MSIL1C.xml").rename(mtd)
    (folder / "manifest.safe").unlink()  # old products: orbit from the granule id
    text = mtd.read_text()
    text = re.sub(r"<PRODUCT_URI>.*?</PRODUCT_URI>", "", text)
    text = text.replace("<PROCESSING_BASELINE>03.01<", "<PROCESSING_BASELINE>02.01<")
    text = re.sub(r'granuleIdentifier="[^"]+"', f'granuleIdentifier="{granule}"', text)
    mtd.write_text(text)
    tile_dir = folder / "GRANULE" / GRANULE
    (tile_dir / "MTD_TL.xml").rename(tile_dir / (granule.replace("_MSI_", "_MTD_") + ".xml"))
    meta, _ = read_path(folder)
    assert (meta.name, meta.filename) == (name, f"{name}.SAFE")
    assert (meta.processing_baseline, meta.tile_id, meta.orbit_number) == ("02.01", "46RER", 2710)
    assert meta.footprint == sample(S2 + ".SAFE").meta.footprint
    assert meta.attributes["granuleIdentifier"] == granule
    assert meta.attributes["horizontalCsCode"] == "EPSG:32646"  # from the renamed tile metadata


def test_sentinel2_baseline_from_the_name_when_the_metadata_lacks_it(tmp_path: Path) -> None:
    folder = copy(S2 + ".SAFE", tmp_path / f"{S2}.SAFE")
    edit(folder / "MTD_MSIL1C.xml", ("<PROCESSING_BASELINE>03.01</PROCESSING_BASELINE>", ""))
    meta, _ = read_path(folder)
    assert meta.processing_baseline == "03.01"


def test_sentinel2_multi_tile_product_has_no_single_tile(tmp_path: Path) -> None:
    folder = copy(S2 + ".SAFE", tmp_path / f"{S2}.SAFE")
    text = (folder / "MTD_MSIL1C.xml").read_text()
    block = re.search(r"<Granule .*?</Granule>", text, flags=re.S)
    assert block is not None
    second = block.group(0).replace("T46RER", "T46RFR")
    (folder / "MTD_MSIL1C.xml").write_text(text.replace(block.group(0), block.group(0) + second))
    shutil.copytree(
        folder / "GRANULE" / GRANULE, folder / "GRANULE" / GRANULE.replace("RER", "RFR")
    )
    meta, _ = read_path(folder)
    assert meta.attributes["numberOfGranules"] == 2
    assert "granuleIdentifier" not in meta.attributes and "tileSensingTime" not in meta.attributes
    assert meta.tile_id == "46RER"  # from the product name


def test_sentinel3_synergy_short_time_critical(tmp_path: Path) -> None:
    name = S3.replace("OL_1_EFR___", "SY_2_SYN___").replace("_NR_", "_ST_")
    folder = copy(S3 + ".SEN3", tmp_path / f"{name}.SEN3")
    edit(
        folder / "xfdumanifest.xml",
        (S3, name),
        ("<sentinel3:productType>OL_1_EFR___<", "<sentinel3:productType>SY_2_SYN___<"),
        ("<sentinel3:timeliness>NR<", "<sentinel3:timeliness>ST<"),
    )
    meta, _ = read_path(folder)
    assert (meta.instrument, meta.processing_level, meta.timeliness) == ("SYNERGY", "Level-2", "ST")
    assert meta.name == name and meta.attributes["instrumentShortName"] == "SYNERGY"


def write_s5p(path: Path, *, bounds: str | None) -> None:
    with h5py.File(path, "w") as h5:
        h5.attrs["id"] = np.bytes_(path.stem)
        h5.attrs["time_coverage_start"] = np.bytes_("2024-01-01T00:10:00Z")
        h5.attrs["time_coverage_end"] = np.bytes_("2024-01-01T00:50:00.123456Z")
        h5.attrs["orbit"] = np.array([32000], dtype=np.int32)
        h5.attrs["processor_version"] = np.bytes_("2.6.0")
        h5.attrs["sensor"] = np.bytes_("TROPOMI")
        h5.attrs["geospatial_lat_min"] = np.array([-12.34567], dtype=np.float32)
        if bounds:
            h5.attrs["geospatial_bounds"] = np.bytes_(bounds)
        h5.create_group("BAND1_RADIANCE")


def test_sentinel5p_nrti_l1b_with_geospatial_bounds(tmp_path: Path) -> None:
    name = "S5P_NRTI_L1B_RA_BD1_20240101T000000_20240101T010000_32000_03_020600_20240101T020000"
    path = tmp_path / f"{name}.nc"
    write_s5p(path, bounds="POLYGON((10 40, 20 40, 20 50, 10 50, 10 40))")
    meta, _ = read_path(path)
    assert (meta.product_type, meta.processing_level, meta.timeliness) == (
        "L1B_RA_BD1",
        "L1B",
        "NRTI",
    )
    assert meta.sensing.end == datetime(2024, 1, 1, 0, 50, 0, 123456, tzinfo=UTC)
    assert meta.orbit_number == 32000 and meta.processing_baseline == "2.6.0"
    assert meta.footprint is not None and meta.footprint.bounds == (10.0, 40.0, 20.0, 50.0)
    assert meta.attributes["geospatialLatMin"] == -12.34567
    assert meta.attributes["baselineCollection"] == "03"


def test_sentinel5p_irradiance_without_footprint(tmp_path: Path) -> None:
    name = "S5P_RPRO_L1B_IR_UVN_20240101T000000_20240101T010000_32000_03_020600_20240101T020000"
    path = tmp_path / f"{name}.nc"
    write_s5p(path, bounds=None)
    meta, _ = read_path(path)
    assert meta.footprint is None and meta.timeliness == "RPRO"
