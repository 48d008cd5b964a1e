"""``eohub ingest --workers N`` on a large batch: worker processes, same outcomes as threads."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest_support import all_products, assert_consistent, open_hub, rejected_lines, run_cli

from eohub.cli.ingest_pool import PROCESS_MIN_PER_WORKER, product_stem, use_processes, waves
from eohub.demo.factory import build_products
from eohub.demo.records import generate_products


def test_product_stems_and_waves() -> None:
    assert product_stem(Path("/x/S2A_MSIL1C_A.SAFE.zip")) == "S2A_MSIL1C_A"
    assert product_stem(Path("S2A_MSIL1C_A.SAFE")) == "S2A_MSIL1C_A"
    assert product_stem(Path("S3A_OL_1_EFR_B.SEN3")) == "S3A_OL_1_EFR_B"
    assert product_stem(Path("S5P_OFFL_L2__NO2_C.nc")) == "S5P_OFFL_L2__NO2_C"
    assert product_stem(Path(".zip")) == ".zip"
    a, b, c = Path("d1/A.SAFE"), Path("d2/A.zip"), Path("B.zip")
    # A product given twice waits for a second wave; input order is kept within a wave.
    assert waves([a, c, b, Path("d3/A.SAFE")]) == [[a, c], [b], [Path("d3/A.SAFE")]]
    assert waves([]) == []
    assert not use_processes(PROCESS_MIN_PER_WORKER * 2 - 1, 2)
    assert use_processes(PROCESS_MIN_PER_WORKER * 2, 2)
    assert not use_processes(1000, 1)


def test_a_large_batch_in_processes_ingests_rejects_and_skips_duplicates(tmp_path: Path) -> None:
    count = PROCESS_MIN_PER_WORKER * 2 + 5
    inputs = list(build_products(generate_products(count, seed=41), tmp_path / "in", seed=41))
    assert len(inputs) == count
    # The same product again (a copy of one input) and a corrupt zip named like a product.
    again = tmp_path / "again"
    again.mkdir()
    first = inputs[0]
    copy = again / first.name
    if first.is_dir():
        shutil.copytree(first, copy)
    else:
        shutil.copy(first, copy)
    broken = tmp_path / "S2B_MSIL1C_20240101T000000_N0510_R001_T31TCJ_20240101T010101.SAFE.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip at all")

    done = run_cli(tmp_path / "data", "ingest", "--workers", "2", tmp_path / "in", copy, broken)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip().endswith(f"{count} ingested, 0 replaced, 1 duplicates, 1 rejected")
    assert set(rejected_lines(done.stderr)) == {broken.name}, done.stderr
    assert "Traceback" not in done.stderr
    hub = open_hub(tmp_path / "data")
    try:
        products = assert_consistent(hub)  # every row has its verified bytes, no stray object
        assert len(products) == len(all_products(hub.catalogue)) == count
        assert product_stem(first) in {p.name for p in products}
    finally:
        hub.close()

    # Again: every product is a duplicate, nothing stored twice.
    again_done = run_cli(tmp_path / "data", "ingest", "--workers", "2", tmp_path / "in")
    assert again_done.returncode == 0, again_done.stderr
    assert again_done.stdout.strip().endswith(
        f"0 ingested, 0 replaced, {count} duplicates, 0 rejected"
    )
