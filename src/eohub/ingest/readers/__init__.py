"""The reader registry: built-in per-mission readers plus plugins from entry points.

Readers are found through the ``eohub.readers`` entry-point group; each entry point names a
Reader class (instantiated without arguments) or instance. The built-in readers are also listed
here so they work before the package metadata is (re)installed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import entry_points

from eohub.errors import HubError
from eohub.ingest.errors import RejectedProduct
from eohub.ingest.readers.base import ProductMetadata, Reader
from eohub.ingest.source import ProductSource

__all__ = [
    "ENTRY_POINT_GROUP",
    "ProductMetadata",
    "Reader",
    "available_readers",
    "find_reader",
    "read_product",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "eohub.readers"
BUILTIN_READERS = (
    "eohub.ingest.readers.sentinel1:Sentinel1Reader",
    "eohub.ingest.readers.sentinel2:Sentinel2Reader",
    "eohub.ingest.readers.sentinel3:Sentinel3Reader",
    "eohub.ingest.readers.sentinel5p:Sentinel5PReader",
)


def _instance(obj: object, origin: str) -> Reader | None:
    reader = obj() if isinstance(obj, type) else obj
    if not isinstance(reader, Reader):
        log.warning("reader %s has no name/accepts/read: ignored", origin)
        return None
    return reader


def _load(spec: str) -> object:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def available_readers() -> tuple[Reader, ...]:
    """Readers from the entry-point group, then the built-ins not already among them."""
    readers: list[Reader] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            reader = _instance(ep.load(), ep.value)
        except Exception:  # a broken plugin must not stop ingest of the other missions
            log.exception("cannot load reader plugin %s = %s", ep.name, ep.value)
            continue
        if reader is not None and reader.name not in {r.name for r in readers}:
            readers.append(reader)
    for spec in BUILTIN_READERS:
        reader = _instance(_load(spec), spec)
        if reader is not None and reader.name not in {r.name for r in readers}:
            readers.append(reader)
    return tuple(readers)


def find_reader(source: ProductSource, readers: Iterable[Reader] | None = None) -> Reader:
    """The first reader that accepts the product; RejectedProduct 'unknown product type'."""
    for reader in available_readers() if readers is None else readers:
        try:
            if reader.accepts(source):
                return reader
        except HubError:
            raise
        except Exception:  # a faulty reader is skipped, not fatal
            log.exception("reader %s failed while probing %s", reader.name, source.path)
    raise source.reject("unknown product type: no reader knows it")


def read_product(source: ProductSource, readers: Iterable[Reader] | None = None) -> ProductMetadata:
    """Find the reader for a product and read it; any failure is a RejectedProduct."""
    reader = find_reader(source, readers)
    try:
        return reader.read(source)
    except HubError:
        raise
    except Exception as exc:  # never a crash on a bad product: reject it, log the cause
        log.exception("reader %s failed on %s", reader.name, source.path)
        raise RejectedProduct(source.path, f"{reader.name} reader failed: {exc}") from exc
