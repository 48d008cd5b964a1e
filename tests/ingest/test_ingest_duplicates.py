"""Duplicates are skipped untouched; a newer reprocessing replaces the product under its Id."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ingest_support import (
    all_products,
    assert_consistent,
    copy_product,
    open_hub,
    run_cli,
    set_generation_time,
    stored_bytes,
)

from eohub.ingest.pipeline import Outcome
from eohub.wiring import Hub

S2 = ("SENTINEL-2", "folder")


def snapshot(hub: Hub) -> tuple[list[object], dict[str, bytes]]:
    """Every catalogue row and every stored object's bytes."""
    rows: list[object] = list(all_products(hub.catalogue))
    return rows, {key: stored_bytes(hub.store, key) for key in hub.store.keys()}


def test_same_product_twice_is_a_duplicate(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    hub = open_hub(tmp_path / "hub")
    try:
        ingestor = hub.ingestor()
        first = ingestor.ingest(mission_products[S2])
        assert first.outcome is Outcome.INGESTED
        before = snapshot(hub)
        # The same product again, and the same product in its other form.
        for path in (mission_products[S2], mission_products[("SENTINEL-2", "zip")]):
            again = ingestor.ingest(path)
            assert again.outcome is Outcome.DUPLICATE, again.reason
            assert again.product == first.product
            assert snapshot(hub) == before
        assert_consistent(hub)
    finally:
        hub.close()


def test_newer_reprocessing_replaces_and_older_is_a_duplicate(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    original = mission_products[S2]
    hub = open_hub(tmp_path / "hub")
    try:
        ingestor = hub.ingestor()
        first = ingestor.ingest(original)
        assert first.outcome is Outcome.INGESTED and first.product is not None
        old = first.product
        generated = old.attributes["generationDate"]
        assert isinstance(generated, datetime)

        newer = copy_product(original, tmp_path / "newer")
        set_generation_time(newer, generated + timedelta(days=3))
        replaced = ingestor.ingest(newer)
        assert replaced.outcome is Outcome.REPLACED, replaced.reason
        new = hub.catalogue.get(old.id)
        assert replaced.product == new
        assert new.name == old.name and new.id == old.id
        assert new.attributes["generationDate"] == generated + timedelta(days=3)
        assert new.publication_date == old.publication_date
        assert new.ingestion_date == old.ingestion_date
        assert new.modification_date > old.modification_date
        assert new.checksum("MD5") != old.checksum("MD5")
        assert new.archive_key != old.archive_key
        stored = set(hub.store.keys())
        old_keys = {old.archive_key, old.quicklook_key, old.thumbnail_key}
        assert old_keys.isdisjoint(stored), "the replaced product's bytes are still stored"
        assert len(all_products(hub.catalogue)) == 1
        assert_consistent(hub)

        before = snapshot(hub)
        for days in (1, 3):  # older than the catalogued one, then exactly as old: no change
            older = copy_product(original, tmp_path / f"older{days}")
            set_generation_time(older, generated + timedelta(days=days))
            again = ingestor.ingest(older)
            assert again.outcome is Outcome.DUPLICATE, again.reason
            assert snapshot(hub) == before
        assert ingestor.ingest(original).outcome is Outcome.DUPLICATE
        assert snapshot(hub) == before
    finally:
        hub.close()


def test_command_exits_0_on_duplicates_and_replacements(
    tmp_path: Path, mission_products: dict[tuple[str, str], Path]
) -> None:
    data = tmp_path / "data"
    s1 = mission_products[("SENTINEL-1", "zip")]
    s2 = copy_product(mission_products[S2], tmp_path / "s2")
    first = run_cli(data, "ingest", s1, s2)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("2 ingested, 0 replaced, 0 duplicates, 0 rejected")

    hub = open_hub(data)
    try:
        generated = hub.catalogue.backend.find_by_name(s2.name.removesuffix(".SAFE"))
        assert generated is not None
        stamp = generated.attributes["generationDate"]
        assert isinstance(stamp, datetime)
    finally:
        hub.close()
    set_generation_time(s2, stamp + timedelta(hours=1))
    second = run_cli(data, "ingest", s1, s2)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    assert second.stdout.strip().endswith("0 ingested, 1 replaced, 1 duplicates, 0 rejected")
    hub = open_hub(data)
    try:
        assert len(assert_consistent(hub)) == 2
    finally:
        hub.close()
