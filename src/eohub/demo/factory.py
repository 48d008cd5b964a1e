"""The product factory: synthetic but valid Sentinel products in their distribution formats.

:func:`build_product` turns a catalogue record (:class:`eohub.model.Product`, e.g. from
:func:`eohub.demo.records.generate_products`) into the files a hub would receive for it:

- Sentinel-1 and Sentinel-2: a ``<name>.SAFE`` folder, or ``<name>.zip`` holding ``<name>.SAFE/``;
- Sentinel-3: a ``<name>.SEN3`` folder, or ``<name>.zip`` holding ``<name>.SEN3/``;
- Sentinel-5P: a single netCDF-4 file ``<name>.nc``.

Each product is built on the structure of real products: the manifest (every dataObject points
at a file that exists, with its size and MD5), the mission's metadata files carrying the record's
values (footprints in the lat/lon order the files use), a few tiny images standing in for the
measurement files, and the previews real products carry. Output is deterministic for a given
(record, seed, image size): same bytes, same zip member order and timestamps.
"""

from __future__ import annotations

import os
import random
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from eohub.demo.formats import sentinel1, sentinel2, sentinel3, sentinel5p
from eohub.demo.formats.common import (
    Coord,
    FactoryError,
    ProductFiles,
    footprint_rings,
    rng_for,
)
from eohub.demo.records import generate_products
from eohub.model import Product

__all__ = ["FactoryError", "build_product", "build_products", "demo_products"]

_Builder = Callable[[Product, list[list[Coord]], random.Random, int], ProductFiles]
# collection -> (builder, folder suffix); Sentinel-5P products are one file, no folder.
_FORMATS: dict[str, tuple[_Builder, str]] = {
    "SENTINEL-1": (sentinel1.build, ".SAFE"),
    "SENTINEL-2": (sentinel2.build, ".SAFE"),
    "SENTINEL-3": (sentinel3.build, ".SEN3"),
    "SENTINEL-5P": (sentinel5p.build, ".nc"),
}
_MIN_PX, _MAX_PX = 8, 1024


def _zip_time(record: Product) -> tuple[int, int, int, int, int, int]:
    """Member timestamps: the record's publication time (deterministic, and plausible)."""
    t = max(record.publication_date, record.sensing.end)
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second - t.second % 2)


def _write_zip(target: Path, root: str, files: ProductFiles, record: Product) -> None:
    stamp = _zip_time(record)
    dirs: list[str] = [f"{root}/"]
    for path, _ in files.files:
        parts = path.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            folder = f"{root}/{'/'.join(parts[:k])}/"
            if folder not in dirs:
                dirs.append(folder)
    entries: list[tuple[str, bytes | None]] = [(folder, None) for folder in dirs]
    entries += [(f"{root}/{path}", data) for path, data in files.files]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, data in sorted(entries, key=lambda e: e[0]):  # each folder before its files
            info = zipfile.ZipInfo(name, stamp)
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=6)


def _write_folder(target: Path, files: ProductFiles, record: Product) -> None:
    target.mkdir()
    for path, data in files.files:
        dest = target / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    # Modification times from the record too, so that a folder product is reproducible whole.
    stamp = max(record.publication_date, record.sensing.end).timestamp()
    for entry in sorted(target.rglob("*"), reverse=True):
        os.utime(entry, (stamp, stamp))
    os.utime(target, (stamp, stamp))


def build_product(
    record: Product,
    dest_dir: Path | str,
    *,
    zipped: bool = False,
    image_px: int = 64,
    seed: int = 0,
) -> Path:
    """Write the product of ``record`` under ``dest_dir`` and return its path.

    The record's collection decides the format. ``zipped`` gives the zip form (ignored for
    Sentinel-5P, which is distributed as one netCDF file); ``image_px`` is the side of the tiny
    images. The product appears atomically (written aside, then renamed); an existing product
    of the same name is an error. Raises :class:`FactoryError` for a record the factory cannot
    turn into a product (unknown collection, a name off the mission's convention, no footprint).
    """
    fmt = _FORMATS.get(record.collection.upper())
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise FactoryError(f"{record.name}: no product format for {record.collection!r} ({known})")
    if not _MIN_PX <= image_px <= _MAX_PX:
        raise FactoryError(f"image_px must be in [{_MIN_PX}, {_MAX_PX}], not {image_px}")
    if not record.name or "/" in record.name or record.name.startswith("."):
        raise FactoryError(f"not a product name: {record.name!r}")
    builder, suffix = fmt
    files = builder(record, footprint_rings(record), rng_for(record, seed), image_px)

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    single = suffix == ".nc"
    target = dest / (f"{record.name}{suffix}" if single or not zipped else f"{record.name}.zip")
    if target.exists():
        raise FileExistsError(f"product already exists: {target}")
    staged = dest / f".{target.name}.{os.getpid()}.partial"
    try:
        if single:
            staged.write_bytes(files.files[0][1])
        elif zipped:
            _write_zip(staged, f"{record.name}{suffix}", files, record)
        else:
            _write_folder(staged, files, record)
        os.replace(staged, target)
    except BaseException:
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            staged.unlink(missing_ok=True)
        raise
    return target


def build_products(
    records: Iterable[Product],
    dest_dir: Path | str,
    *,
    zipped_ratio: float = 0.5,
    image_px: int = 64,
    seed: int = 0,
) -> Iterator[Path]:
    """Build one product per record (lazily), zipping about ``zipped_ratio`` of them.

    Whether a product is zipped depends only on its name and the seed, so the same records
    give the same mix of forms.
    """
    if not 0.0 <= zipped_ratio <= 1.0:
        raise FactoryError(f"zipped_ratio must be in [0, 1], not {zipped_ratio}")
    for record in records:
        zipped = random.Random(f"zip:{seed}:{record.name}").random() < zipped_ratio
        yield build_product(record, dest_dir, zipped=zipped, image_px=image_px, seed=seed)


def demo_products(
    n: int,
    dest_dir: Path | str,
    *,
    seed: int = 0,
    zipped_ratio: float = 0.5,
    image_px: int = 64,
) -> list[Path]:
    """Build ``n`` demo products from :func:`eohub.demo.records.generate_products`."""
    records = generate_products(n, seed=seed)
    return list(
        build_products(records, dest_dir, zipped_ratio=zipped_ratio, image_px=image_px, seed=seed)
    )
