"""The search form's lists: read from a real catalogue, then refreshed in the background."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from eohub.api.portal.choices import ChoiceCache, read_choices
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.wiring import build_hub

PRODUCTS = list(generate_products(300, seed=5))


def of(collection: str) -> list[Product]:
    return [p for p in PRODUCTS if p.collection == collection]


def types_of(products: list[Product]) -> tuple[str, ...]:
    return tuple(sorted({str(p.product_type) for p in products}))


def wait_for_refreshes(deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while any(t.name == "eohub-portal-choices" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the lists were never refreshed"
        time.sleep(0.02)


def test_lists_hold_each_value_once_and_types_under_their_collection(tmp_path: Path) -> None:
    hub = build_hub(Settings(data_dir=tmp_path / "hub"))
    try:
        hub.catalogue.upsert(PRODUCTS)
        choices = read_choices(hub.catalogue)
    finally:
        hub.close()
    collections = tuple(sorted({p.collection for p in PRODUCTS}))
    assert choices.collections == collections
    assert choices.platforms == tuple(sorted({p.platform for p in PRODUCTS}))
    assert choices.product_types == tuple((c, types_of(of(c))) for c in collections)


def test_old_lists_are_served_while_new_ones_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = build_hub(Settings(data_dir=tmp_path / "hub"))
    try:
        hub.catalogue.upsert(of("SENTINEL-1"))
        cache = ChoiceCache(hub.catalogue, ttl_s=0.3)
        first = cache.get()
        assert first.collections == ("SENTINEL-1",)
        hub.catalogue.upsert(of("SENTINEL-2"))
        assert cache.get() is first  # young lists are kept
        time.sleep(0.35)
        assert cache.get() is first  # old ones too, while a refresh reads the catalogue
        wait_for_refreshes()
        fresh = cache.get()
        assert fresh.collections == ("SENTINEL-1", "SENTINEL-2")
        assert dict(fresh.product_types)["SENTINEL-2"] == types_of(of("SENTINEL-2"))
    finally:
        hub.close()
    wait_for_refreshes()
    time.sleep(0.35)
    with caplog.at_level(logging.WARNING, logger="eohub.portal"):
        assert cache.get() is fresh  # the catalogue is gone: the lists at hand stay
        wait_for_refreshes()
    assert "could not read the search form's lists" in caplog.text
