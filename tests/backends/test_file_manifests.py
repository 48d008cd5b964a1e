"""File checksums kept by the catalogue (``put_files``/``get_files``/``files_keys``) on a real
SQLite file and a real PostGIS: stored only for the object the product points to, kept across
upserts, never served for another object, removed with the product."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from catalogue_samples import T0, make_product
from eohub.catalogue.service import Catalogue
from eohub.model.files import FileDigest, FileManifest

FILES = (
    FileDigest("X.SAFE/GRANULE/L1C/IMG_DATA/B02.jp2", 10_485_760, "a" * 32, "b" * 64),
    FileDigest("X.SAFE/manifest.safe", 4_321, "0" * 32, "1" * 64),
    FileDigest("X.SAFE/ünïcode 'quoted' & odd.xml", 0, "d41d8cd98f00b204e9800998ecf8427e",
               "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
)  # fmt: skip


def _stored(backend: Any, name: str, key: str) -> Any:
    product = make_product(name, archive_key=key)
    backend.upsert([product])
    return product


def test_manifest_round_trips_and_survives_upserts(catalogue_backend: Any) -> None:
    product = _stored(catalogue_backend, "FILES_A", "aa/bb/one/X.zip")
    manifest = FileManifest(product.id, "aa/bb/one/X.zip", T0, FILES)
    assert catalogue_backend.put_files(manifest) is True
    assert catalogue_backend.get_files(product.id) == manifest
    assert catalogue_backend.files_keys([product.id, uuid.UUID(int=5)]) == {
        product.id: "aa/bb/one/X.zip"
    }
    # A metadata change (same object) keeps it; the catalogue service serves it.
    changed = product.evolve(cloud_cover=1.0, modification_date=T0 + timedelta(days=1))
    catalogue_backend.upsert([changed])
    catalogue = Catalogue(catalogue_backend)
    assert catalogue.files(changed) == manifest
    assert catalogue.files(changed).get("X.SAFE/manifest.safe") == FILES[1]  # type: ignore[union-attr]


def test_manifest_of_another_object_is_neither_stored_nor_served(catalogue_backend: Any) -> None:
    catalogue = Catalogue(catalogue_backend)
    product = _stored(catalogue_backend, "FILES_B", "aa/bb/old/X.zip")
    old = FileManifest(product.id, "aa/bb/old/X.zip", T0, FILES)
    assert catalogue.store_files(old)
    # A reprocessing replaces the bytes: the old checksums no longer apply.
    newer = product.evolve(archive_key="aa/bb/new/X.zip")
    catalogue_backend.upsert([newer])
    assert catalogue.files(newer) is None
    stale = FileManifest(product.id, "aa/bb/old/X.zip", T0 + timedelta(hours=1), FILES[:1])
    assert catalogue.store_files(stale) is False  # late, for the replaced object
    assert catalogue_backend.get_files(product.id) == old
    fresh = FileManifest(product.id, "aa/bb/new/X.zip", T0 + timedelta(hours=2), FILES[1:])
    assert catalogue.store_files(fresh) is True
    assert catalogue.files(newer) == fresh
    # Offline (no bytes here): none.
    offline = newer.evolve(online=False, archive_key=None)
    catalogue_backend.upsert([offline])
    assert catalogue.files(offline) is None


def test_manifest_of_an_unknown_product_is_refused(catalogue_backend: Any) -> None:
    manifest = FileManifest(uuid.UUID(int=7), "aa/bb/x/X.zip", T0, FILES)
    assert catalogue_backend.put_files(manifest) is False
    assert catalogue_backend.get_files(uuid.UUID(int=7)) is None


def test_deleting_the_product_removes_its_manifest(catalogue_backend: Any) -> None:
    product = _stored(catalogue_backend, "FILES_C", "aa/bb/c/X.zip")
    assert catalogue_backend.put_files(FileManifest(product.id, "aa/bb/c/X.zip", T0, FILES))
    assert catalogue_backend.delete(product.id) is not None
    assert catalogue_backend.get_files(product.id) is None
    assert catalogue_backend.files_keys([product.id]) == {}
    # The same product ingested again starts without checksums.
    _stored(catalogue_backend, "FILES_C", "aa/bb/c2/X.zip")
    assert catalogue_backend.get_files(product.id) is None
