"""Helpers of the ingest tests: factory products, hubs on real files, the CLI as a process,
and the one invariant every test checks — the catalogue and the archive agree byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import blake3

from eohub.catalogue.service import Catalogue
from eohub.config import Settings, StorageSettings
from eohub.demo.factory import build_product
from eohub.demo.records import generate_products
from eohub.model.product import Product
from eohub.query.query import Cursor, Query, SortKey
from eohub.storage.filesystem import FilesystemStore
from eohub.storage.ports import ObjectStore
from eohub.wiring import Hub, build_hub

EOHUB = [sys.executable, "-m", "eohub"]
MISSIONS = ("SENTINEL-1", "SENTINEL-2", "SENTINEL-3", "SENTINEL-5P")


# -- processes -------------------------------------------------------------------------------
def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI process: ours without any EOHUB_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOHUB_")}
    env.update(extra)
    return env


def s3_env(bucket: str, credentials: tuple[str, str, str]) -> dict[str, str]:
    """EOHUB_ variables that put the archive in an S3 bucket."""
    endpoint, access, secret = credentials
    return {
        "EOHUB_STORAGE__BACKEND": "s3",
        "EOHUB_STORAGE__S3_BUCKET": bucket,
        "EOHUB_STORAGE__S3_ENDPOINT_URL": endpoint,
        "EOHUB_STORAGE__S3_ACCESS_KEY": access,
        "EOHUB_STORAGE__S3_SECRET_KEY": secret,
    }


def run_cli(
    data_dir: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m eohub --data-dir DATA ARGS...`` as a real process."""
    return subprocess.run(
        [*EOHUB, "--data-dir", str(data_dir), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
        check=False,
    )


def rejected_lines(stderr: str) -> dict[str, str]:
    """``rejected PATH: REASON`` lines of the CLI, by file name; each file must appear once."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        match = re.fullmatch(r"rejected (.+?): (.+)", line)
        if match:
            name = Path(match.group(1)).name
            assert name not in found, f"{name} is reported more than once:\n{stderr}"
            found[name] = match.group(2)
    return found


# -- hubs ------------------------------------------------------------------------------------
def settings_for(data_dir: Path, storage: StorageSettings | None = None) -> Settings:
    """Settings of a hub in ``data_dir`` (SQLite file, local archive unless ``storage``)."""
    return Settings(data_dir=data_dir, storage=storage or StorageSettings())


def open_hub(data_dir: Path, storage: StorageSettings | None = None) -> Hub:
    """A migrated hub on real files in ``data_dir``."""
    return build_hub(settings_for(data_dir, storage))


def all_products(catalogue: Catalogue) -> list[Product]:
    """Every catalogued product, paged through by id."""
    found: list[Product] = []
    after: Cursor | None = None
    while True:
        page = catalogue.search(Query(sort=(SortKey("id"),), limit=500, after=after))
        found.extend(page.items)
        if page.next is None:
            return found
        after = page.next


def stored_bytes(store: ObjectStore, key: str) -> bytes:
    """The whole stored object."""
    return b"".join(store.open(key))


def product_keys(product: Product) -> set[str]:
    """The archive keys a product points to."""
    keys = (product.archive_key, product.quicklook_key, product.thumbnail_key)
    return {k for k in keys if k}


def assert_consistent(hub: Hub) -> list[Product]:
    """Catalogue and archive agree exactly; returns the catalogued products.

    Every online product's archive object exists, its bytes hash to the catalogue's MD5 and
    BLAKE3 (computed here, not taken from the store) and have the catalogued size; its previews
    exist; every stored object belongs to a product; no partial upload or stray checksum file of
    the local archive is left.
    """
    products = all_products(hub.catalogue)
    expected: set[str] = set()
    for product in products:
        expected |= product_keys(product)
        if not product.online:
            continue
        assert product.archive_key, f"{product.name} is online without archive bytes"
        data = stored_bytes(hub.store, product.archive_key)
        assert len(data) == product.size, product.name
        assert hashlib.md5(data).hexdigest() == product.checksum("MD5"), product.name
        assert blake3.blake3(data).hexdigest() == product.checksum("BLAKE3"), product.name
        for key in (product.quicklook_key, product.thumbnail_key):
            if key:
                assert hub.store.stat(key) is not None, f"{product.name}: {key} is missing"
    stored = set(hub.store.keys())
    assert stored == expected, (
        f"orphans {sorted(stored - expected)}, missing {sorted(expected - stored)}"
    )
    if isinstance(hub.store, FilesystemStore):
        root = hub.store.root
        assert list((root / ".eohub-tmp").iterdir()) == [], "partial uploads left behind"
        sidecars = {
            p.relative_to(root / ".eohub-meta").as_posix().removesuffix(".json")
            for p in (root / ".eohub-meta").rglob("*.json")
        }
        assert sidecars <= stored, f"checksum files without object: {sidecars - stored}"
    return products


# -- products --------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def records(seed: int = 7, n: int = 400) -> tuple[Product, ...]:
    """Deterministic synthetic records of every mission."""
    return tuple(generate_products(n, seed=seed))


def records_of(collection: str, *, seed: int = 7) -> Iterator[Product]:
    """The records of one mission."""
    return (r for r in records(seed) if r.collection == collection)


def first_of_each_mission(seed: int = 7) -> dict[str, Product]:
    """One record per mission."""
    return {m: next(records_of(m, seed=seed)) for m in MISSIONS}


def make_product(record: Product, dest: Path, *, zipped: bool = False, image_px: int = 64) -> Path:
    """The factory product of ``record`` under ``dest``."""
    return build_product(record, dest, zipped=zipped, image_px=image_px)


def copy_product(path: Path, dest_dir: Path) -> Path:
    """A copy (folder or file) of a product in ``dest_dir``, keeping times."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / path.name
    if path.is_dir():
        shutil.copytree(path, target)
    else:
        shutil.copy2(path, target)
    return target


def s2_metadata_file(folder: Path) -> Path:
    """The product-level metadata file of a Sentinel-2 SAFE folder."""
    return next(folder.glob("MTD_MSIL*.xml"))


def set_generation_time(folder: Path, when: datetime) -> None:
    """Make a Sentinel-2 SAFE folder a (re)processing of ``when``: edits GENERATION_TIME."""
    mtd = s2_metadata_file(folder)
    text = mtd.read_text()
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    new, count = re.subn(
        r"<GENERATION_TIME>[^<]*</GENERATION_TIME>",
        f"<GENERATION_TIME>{stamp}</GENERATION_TIME>",
        text,
    )
    assert count == 1, f"no GENERATION_TIME in {mtd}"
    mtd.write_text(new)


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file of a product folder by its path under the folder's name."""
    return {
        f"{folder.name}/{p.relative_to(folder).as_posix()}": p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
