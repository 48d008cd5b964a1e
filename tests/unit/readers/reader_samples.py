"""Helpers for the reader tests: the real metadata samples beside the repository."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eohub.ingest.readers import read_product
from eohub.ingest.readers.base import ProductMetadata
from eohub.ingest.source import ProductSource

REPO = Path(__file__).resolve().parents[3]
SAMPLES = (REPO / ".." / "shared" / "samples").resolve()
FACTS_FILE = SAMPLES / "expected_facts.json"


def load_facts() -> dict[str, dict[str, Any]]:
    """The oracle; a missing samples folder is an error, never a skip."""
    if not FACTS_FILE.is_file():
        raise RuntimeError(
            f"reader samples missing: {FACTS_FILE} (shared/ must sit beside the repo)"
        )
    facts: dict[str, dict[str, Any]] = json.loads(FACTS_FILE.read_text())
    return facts


@dataclass(frozen=True)
class Sample:
    """One sample product read through ProductSource and the reader registry."""

    key: str
    path: Path
    kind: str
    root_name: str
    sizes: dict[str, int]
    meta: ProductMetadata


def read_path(path: Path) -> tuple[ProductMetadata, ProductSource]:
    """Read a product; the returned source is closed (only its plain fields are used)."""
    with ProductSource.open(path) as source:
        return read_product(source), source


_CACHE: dict[str, Sample] = {}


def sample(key: str) -> Sample:
    """A sample read once per test session."""
    if key not in _CACHE:
        path = SAMPLES / key
        with ProductSource.open(path) as source:
            meta = read_product(source)
            sizes = {n: source.size_of(n) for n in source.names()}
            _CACHE[key] = Sample(key, path, source.kind, source.root_name, sizes, meta)
    return _CACHE[key]
