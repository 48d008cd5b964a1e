"""``eohub fsck``: orphan bytes and missing bytes are reported, then repaired."""

from __future__ import annotations

import io
import sqlite3
import uuid
from pathlib import Path

from ingest_support import (
    all_products,
    assert_consistent,
    copy_product,
    open_hub,
    run_cli,
    stored_bytes,
)

from eohub.ingest.pipeline import Outcome
from eohub.maintenance.fsck import fsck
from eohub.storage.ports import product_key

Products = dict[tuple[str, str], Path]


def test_orphans_and_missing_bytes_are_reported_then_repaired(
    tmp_path: Path, mission_products: Products
) -> None:
    data = tmp_path / "data"
    inputs = [
        mission_products[("SENTINEL-1", "zip")],
        mission_products[("SENTINEL-2", "folder")],
        mission_products[("SENTINEL-5P", "file")],
    ]
    assert run_cli(data, "ingest", *inputs).returncode == 0
    clean = run_cli(data, "fsck")
    assert clean.returncode == 0, clean.stdout
    assert "orphan objects found: 0" in clean.stdout
    assert "zipped products without file checksums: 0" in clean.stdout

    hub = open_hub(data)
    try:
        products = {p.name: p for p in all_products(hub.catalogue)}
        s1, s2, s5p = (products[p.name.split(".")[0]] for p in inputs)
        # An orphan shaped like a product's bytes, one shaped like nothing, and a product
        # whose archive file was deleted behind the hub's back.
        orphan = product_key(uuid.uuid4(), "20240101T000000000000") + "/S2B_orphan.zip"
        hub.store.put(orphan, io.BytesIO(b"bytes nobody catalogued"))
        stray = "stray/file.bin"
        hub.store.put(stray, io.BytesIO(b"stray"))
        # Bytes beside a catalogued product that it does not point to (an old version).
        assert s1.archive_key is not None
        beside = s1.archive_key.rsplit("/", 2)[0] + "/20000101T000000000000/old.zip"
        hub.store.put(beside, io.BytesIO(b"old version"))
        assert s2.archive_key is not None
        assert hub.store.delete(s2.archive_key)
        partial = hub.settings.archive_path / ".eohub-tmp" / "deadbeef.partial"
        partial.write_bytes(b"half an upload")
        s5p_bytes = stored_bytes(hub.store, s5p.archive_key or "")
    finally:
        hub.close()

    found = run_cli(data, "fsck")
    assert found.returncode == 1, found.stdout + found.stderr
    out = found.stdout
    assert "3 products" in out
    assert "orphan objects found: 3" in out
    for key in (orphan, stray, beside):
        assert f"  {key}\n" in out
    assert "products with missing bytes: 1" in out and f"  {s2.id}\n" in out
    assert partial.exists()  # without --repair nothing changes

    repaired = run_cli(data, "fsck", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "orphan objects removed: 3" in repaired.stdout
    assert "products with missing bytes (now offline): 1" in repaired.stdout
    assert "partial uploads removed: 1" in repaired.stdout

    again = run_cli(data, "fsck")
    assert again.returncode == 0, again.stdout
    assert "orphan objects found: 0" in again.stdout
    assert "products with missing bytes: 0" in again.stdout

    hub = open_hub(data)
    try:
        assert_consistent(hub)
        stored = set(hub.store.keys())
        assert not {orphan, stray, beside} & stored
        after = {p.name: p for p in all_products(hub.catalogue)}
        offline = after[s2.name]
        assert not offline.online and offline.archive_key is None
        assert offline.checksums == s2.checksums  # what the product was is still known
        assert offline.modification_date > s2.modification_date  # changed: clients can see it
        assert after[s1.name] == s1 and after[s5p.name] == s5p  # the others untouched
        assert stored_bytes(hub.store, s5p.archive_key or "") == s5p_bytes
        assert not partial.exists()

        # Ingesting the product again brings its bytes back.
        source = copy_product(inputs[1], tmp_path / "again")
        result = hub.ingestor().ingest(source)
        assert result.outcome is Outcome.REPLACED, result.reason
        restored = hub.catalogue.get(s2.id)
        assert restored.online and restored.archive_key is not None
        assert restored.checksum("MD5") == s2.checksum("MD5")
        assert restored.publication_date == s2.publication_date
        assert fsck(hub.catalogue, hub.store).clean
        assert_consistent(hub)
    finally:
        hub.close()


def test_fsck_of_an_empty_hub(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "data", "fsck")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("0 products, 0 archived objects")


def test_file_checksums_missing_are_counted_then_computed(
    tmp_path: Path, mission_products: Products
) -> None:
    """Products ingested before file checksums existed: counted (not a disagreement of
    catalogue and archive), then computed from the archive with repair."""
    data = tmp_path / "data"
    inputs = [mission_products[("SENTINEL-1", "zip")], mission_products[("SENTINEL-3", "folder")]]
    assert run_cli(data, "ingest", *inputs).returncode == 0
    hub = open_hub(data)
    try:
        products = all_products(hub.catalogue)
        expected = {p.id: hub.catalogue.files(p) for p in products}
        assert len(expected) == 2 and all(expected.values())
        with sqlite3.connect(hub.settings.sqlite_path) as conn:
            conn.execute("DELETE FROM product_files")
    finally:
        hub.close()
    found = run_cli(data, "fsck")
    assert found.returncode == 0, found.stdout
    assert "zipped products without file checksums: 2" in found.stdout
    repaired = run_cli(data, "fsck", "--repair")
    assert "file checksums stored: 2" in repaired.stdout, repaired.stdout
    assert "zipped products without file checksums: 0" in run_cli(data, "fsck").stdout
    hub = open_hub(data)
    try:
        for product in all_products(hub.catalogue):
            again = hub.catalogue.files(product)
            assert again is not None and again.files == expected[product.id].files  # type: ignore[union-attr]
    finally:
        hub.close()
