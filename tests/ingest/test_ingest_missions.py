"""Every mission in every distributed form goes through the whole pipeline into real files."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import blake3
import pytest
from ingest_support import (
    all_products,
    assert_consistent,
    folder_files,
    make_product,
    open_hub,
    records,
    run_cli,
    stored_bytes,
)
from PIL import Image

from eohub.ingest.pipeline import Outcome
from eohub.ingest.quicklook import QUICKLOOK_SIZE, THUMBNAIL_SIZE
from eohub.ingest.readers import read_product
from eohub.ingest.readers.base import ProductMetadata
from eohub.ingest.source import ProductSource
from eohub.model.product import Product, product_id_for
from eohub.storage.ports import product_key

CASES = [
    ("SENTINEL-1", "folder"),
    ("SENTINEL-1", "zip"),
    ("SENTINEL-2", "folder"),
    ("SENTINEL-2", "zip"),
    ("SENTINEL-3", "folder"),
    ("SENTINEL-3", "zip"),
    ("SENTINEL-5P", "file"),
]


def read_meta(path: Path) -> ProductMetadata:
    with ProductSource.open(path) as source:
        return read_product(source)


def expected_product(meta: ProductMetadata, got: Product) -> Product:
    """What the catalogue must hold: the reader's values, plus what ingest adds."""
    return meta.to_product(
        product_id=product_id_for(meta.name),
        publication_date=got.publication_date,
        ingestion_date=got.ingestion_date,
        size=got.size,
        checksums=got.checksums,
    ).evolve(
        modification_date=got.modification_date,
        archive_key=got.archive_key,
        quicklook_key=got.quicklook_key,
        thumbnail_key=got.thumbnail_key,
    )


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        image.load()
        return image.size


@pytest.mark.parametrize(("mission", "form"), CASES)
def test_product_is_catalogued_and_archived(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path], mission: str, form: str
) -> None:
    path = mission_products[(mission, form)]
    meta = read_meta(path)
    before = datetime.now(UTC)
    hub = open_hub(tmp_path / "hub")
    try:
        result = hub.ingestor().ingest(path)
        assert result.outcome is Outcome.INGESTED, result.reason

        got = hub.catalogue.get(product_id_for(meta.name))
        assert result.product == got
        assert got == expected_product(meta, got)
        assert got.collection == mission and got.online
        assert before <= got.ingestion_date == got.publication_date <= datetime.now(UTC)

        # The bytes: under the product's folder, named as distributed, checksums that hold.
        suffix = ".nc" if form == "file" else ".zip"
        key = got.archive_key
        assert key is not None
        assert key.startswith(product_key(got.id, "x")[: -len("x")])
        assert key.endswith(f"/{meta.name}{suffix}")
        data = stored_bytes(hub.store, key)
        stored = hub.store.stat(key)
        assert stored is not None and stored.size == len(data) == got.size
        assert stored.md5 == hashlib.md5(data).hexdigest() == got.checksum("MD5")
        assert stored.blake3 == blake3.blake3(data).hexdigest() == got.checksum("BLAKE3")

        if form == "folder":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                assert archive.testzip() is None
                members = {i.filename: archive.read(i) for i in archive.infolist()}
            assert members == folder_files(path)
            assert all(name.startswith(f"{path.name}/") for name in members)
        else:
            assert data == path.read_bytes()  # a zip or netCDF is archived as received

        # Previews: the product's own preview, at 512 and 64 px on the longest side.
        if mission in ("SENTINEL-1", "SENTINEL-2"):
            assert got.quicklook_key == key.rsplit("/", 1)[0] + "/quicklook.jpg"
            assert got.thumbnail_key == key.rsplit("/", 1)[0] + "/thumbnail.jpg"
            quicklook = jpeg_size(stored_bytes(hub.store, got.quicklook_key))
            thumbnail = jpeg_size(stored_bytes(hub.store, got.thumbnail_key))
            assert max(quicklook) == QUICKLOOK_SIZE
            assert max(thumbnail) == THUMBNAIL_SIZE
        elif mission == "SENTINEL-5P":
            assert got.quicklook_key is None and got.thumbnail_key is None
        else:
            has_preview = meta.quicklook_member is not None
            assert (got.quicklook_key is not None) == has_preview
        assert_consistent(hub)
    finally:
        hub.close()


@pytest.mark.parametrize("mission", ["SENTINEL-1", "SENTINEL-2", "SENTINEL-3"])
def test_folder_zips_are_identical_in_two_hubs(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path], mission: str
) -> None:
    path = mission_products[(mission, "folder")]
    stored: list[tuple[bytes, Product]] = []
    for name in ("one", "two"):
        hub = open_hub(tmp_path / name)
        try:
            product = hub.ingestor().ingest(path).product
            assert product is not None and product.archive_key is not None
            stored.append((stored_bytes(hub.store, product.archive_key), product))
        finally:
            hub.close()
    (first, one), (second, two) = stored
    assert first == second
    assert one.checksum("MD5") == two.checksum("MD5")
    assert one.checksum("BLAKE3") == two.checksum("BLAKE3")
    assert one.id == two.id  # the id is derived from the identifier, the same in every hub


def test_every_product_type_through_the_command(tmp_path: Path) -> None:
    """One product of each mission's product types, in a folder scanned recursively."""
    incoming = tmp_path / "incoming"
    chosen: dict[tuple[str, str], Product] = {}
    for record in records():
        chosen.setdefault((record.collection, record.product_type), record)
    paths = [
        make_product(record, incoming / f"sub{i % 3}", zipped=bool(i % 2))
        for i, record in enumerate(chosen.values())
    ]
    assert len(paths) >= 12

    done = run_cli(tmp_path / "data", "ingest", incoming)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        f"{len(paths)} ingested, 0 replaced, 0 duplicates, 0 rejected"
    )
    hub = open_hub(tmp_path / "data")
    try:
        products = assert_consistent(hub)
        assert sorted(p.name for p in products) == sorted(r.name for r in chosen.values())
        by_name = {p.name: p for p in all_products(hub.catalogue)}
        for path in paths:
            meta = read_meta(path)
            got = by_name[meta.name]
            assert got == expected_product(meta, got)
        # The ingestion dates are now, not the records' synthetic dates.
        assert all(p.ingestion_date > datetime.now(UTC) - timedelta(minutes=5) for p in products)
    finally:
        hub.close()
