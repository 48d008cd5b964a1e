"""Bad input in a batch: one clear line each, nothing stored for it, the rest of the batch goes on.

Every hostile input here sits between good products in one ``eohub ingest`` run, next to a
product catalogued before, which must stay exactly as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from ingest_support import (
    all_products,
    assert_consistent,
    copy_product,
    make_product,
    open_hub,
    records_of,
    rejected_lines,
    run_cli,
    stored_bytes,
)

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xfdu [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">&xxe;</xfdu:XFDU>
"""
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">&lol9;</xfdu:XFDU>\n'
)


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(
                zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
            )
    return path


def folder_members(folder: Path) -> dict[str, bytes]:
    return {
        f"{folder.name}/{p.relative_to(folder).as_posix()}": p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Batch:
    """A batch of good and hostile products, and the reason expected for each hostile one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs: list[Path] = []
        self.reasons: dict[str, str] = {}  # file name -> regular expression of the reason
        self.good: list[Path] = []
        self._s1 = records_of("SENTINEL-1")
        self._s2 = records_of("SENTINEL-2")

    def add_good(self, path: Path) -> None:
        self.inputs.append(path)
        self.good.append(path)

    def add_bad(self, path: Path, reason: str) -> None:
        self.inputs.append(path)
        self.reasons[path.name] = reason


def build_batch(root: Path, stored_zip: Path) -> Batch:
    """Good products interleaved with every kind of bad input."""
    batch = Batch(root)
    s1, s2 = batch._s1, batch._s2
    work = root / "work"
    bad = root / "bad"
    bad.mkdir(parents=True)

    batch.add_good(make_product(next(s2), root / "good", zipped=True))

    # A random file named .zip, and a zip holding something else than a product.
    corrupt = bad / f"{next(s2).name}.zip"
    corrupt.write_bytes(os.urandom(4000))
    batch.add_bad(corrupt, r"corrupt or truncated zip")
    other = zip_of(bad / "holiday-photos.zip", {"photos/beach.txt": b"sunny"})
    batch.add_bad(other, r"unknown product type")

    # A truncated copy of the product catalogued before the batch, under the same name.
    truncated = bad / "truncated" / stored_zip.name
    truncated.parent.mkdir()
    truncated.write_bytes(stored_zip.read_bytes()[: stored_zip.stat().st_size // 2])
    batch.add_bad(truncated, r"corrupt or truncated zip")

    batch.add_good(make_product(next(s1), root / "good"))  # a folder

    # Path traversal: a real product's members plus one that climbs out.
    sample = make_product(next(s1), work)
    members = folder_members(sample)
    members[f"{sample.name}/../../../../tmp/eohub-escape.txt"] = b"owned"
    traversal = zip_of(bad / f"{sample.stem}.zip", members)
    batch.add_bad(traversal, r"path traversal")

    # A zip bomb: a real product plus 16 MiB of zeros squeezed into a few KiB.
    sample = make_product(next(s2), work)
    members = folder_members(sample)
    members[f"{sample.name}/GRANULE/AUX_DATA/AUX_ECMWFT"] = bytes(16 << 20)
    bomb = zip_of(bad / f"{sample.stem}.zip", members)
    batch.add_bad(bomb, r"zip bomb")

    # An XXE manifest in a product folder, and billion laughs in a zipped one.
    xxe = make_product(next(s1), bad / "xxe")
    (xxe / "manifest.safe").write_bytes(XXE)
    batch.add_bad(xxe, r"DOCTYPE")
    sample = make_product(next(s1), work)
    members = folder_members(sample)
    members[f"{sample.name}/manifest.safe"] = LAUGHS
    laughs = zip_of(bad / f"{sample.stem}.zip", members)
    batch.add_bad(laughs, r"DOCTYPE")

    # Random bytes named .nc, and a path that does not exist.
    noise = bad / "S5P_OFFL_L2__NO2____20240101T000000_20240101T001000_32000_03_020600_x.nc"
    noise.write_bytes(os.urandom(3000))
    batch.add_bad(noise, r"unknown product type")
    batch.add_bad(bad / "gone" / f"{next(s2).name}.zip", r"no such file or folder")

    batch.add_good(make_product(next(records_of("SENTINEL-5P")), root / "good"))
    shutil.rmtree(work)
    return batch


def ingest_stored_product(data: Path, tmp_path: Path) -> tuple[Path, object, dict[str, bytes]]:
    """Catalogue one product before the batch; returns it, its row and the archive's bytes."""
    stored_zip = make_product(next(records_of("SENTINEL-3")), tmp_path / "stored", zipped=True)
    done = run_cli(data, "ingest", stored_zip)
    assert done.returncode == 0, done.stderr
    hub = open_hub(data)
    try:
        (row,) = all_products(hub.catalogue)
        archive = {key: stored_bytes(hub.store, key) for key in hub.store.keys()}
    finally:
        hub.close()
    return stored_zip, row, archive


@pytest.mark.parametrize("quarantine", [False, True])
def test_bad_inputs_in_a_batch(tmp_path: Path, quarantine: bool) -> None:
    data = tmp_path / "data"
    stored_zip, stored_row, stored_archive = ingest_stored_product(data, tmp_path)
    batch = build_batch(tmp_path / "batch", stored_zip)
    assert len(batch.reasons) == 9
    escape = Path("/tmp/eohub-escape.txt")
    escape_before = escape.exists()
    extra: list[str | Path] = ["--quarantine", tmp_path / "quarantine"] if quarantine else []

    done = run_cli(data, "ingest", *batch.inputs, *extra)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip().endswith(
        f"{len(batch.good)} ingested, 0 replaced, 0 duplicates, {len(batch.reasons)} rejected"
    )
    lines = rejected_lines(done.stderr)
    assert set(lines) == set(batch.reasons), done.stderr
    for name, pattern in batch.reasons.items():
        assert re.search(pattern, lines[name]), f"{name}: {lines[name]!r} !~ {pattern!r}"
    assert len(done.stderr.strip().splitlines()) == len(batch.reasons), done.stderr
    assert "Traceback" not in done.stderr
    assert escape.exists() == escape_before

    hub = open_hub(data)
    try:
        products = assert_consistent(hub)
        names = {p.name for p in products}
        assert len(products) == 1 + len(batch.good)
        assert stored_row in products  # the product stored before is untouched
        for key, data_bytes in stored_archive.items():
            assert stored_bytes(hub.store, key) == data_bytes
        for path in batch.good:
            assert path.name.removesuffix(".zip").removesuffix(".SAFE").removesuffix(".nc") in names
    finally:
        hub.close()

    # Good inputs stay where they were; rejected ones move to the quarantine when asked.
    assert all(path.exists() for path in batch.good)
    for path in batch.inputs:
        if path.name not in batch.reasons or "gone" in path.parts:
            continue
        moved = tmp_path / "quarantine" / path.name
        assert moved.exists() == quarantine, path
        assert path.exists() != quarantine, path


def test_ingested_or_duplicate_exits_0_and_nothing_is_moved(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    inputs = [copy_product(p, tmp_path / "in") for p in mission_products.values()]
    done = run_cli(tmp_path / "data", "ingest", *inputs, "--quarantine", tmp_path / "q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # The folder and zip forms of one product: the second one seen is a duplicate.
    assert done.stdout.strip().endswith("4 ingested, 0 replaced, 3 duplicates, 0 rejected")
    assert all(p.exists() for p in inputs)
    assert not (tmp_path / "q").exists()


def test_no_paths_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "data", "ingest")
    assert done.returncode == 2
    assert "give product paths, or --watch DIR" in done.stderr
