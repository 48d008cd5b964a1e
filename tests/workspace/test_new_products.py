"""The catalogue tells observers which products an upsert added (real SQLite catalogue)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eohub.catalogue.service import Catalogue
from eohub.catalogue.sqlite import SQLiteCatalogue
from eohub.demo.records import generate_products
from eohub.model import Product


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    backend = SQLiteCatalogue(tmp_path / "catalogue.sqlite")
    backend.migrate()
    yield Catalogue(backend)
    backend.close()


def test_observers_get_only_the_new_products_once_committed(catalogue: Catalogue) -> None:
    seen: list[list[Product]] = []

    def observer(products: list[Product]) -> None:
        assert catalogue.get_many([p.id for p in products]) == products  # already committed
        seen.append(products)

    catalogue.on_new_products(observer)
    p1, p2, p3 = generate_products(3, seed=31)
    catalogue.upsert([p1, p2, p1])
    assert seen == [[p1, p2]]
    catalogue.upsert([p2.evolve(cloud_cover=1.0), p3])
    assert seen == [[p1, p2], [p3]]
    catalogue.upsert([p1])  # nothing new: not called
    catalogue.upsert([])
    assert len(seen) == 2


def test_an_inactive_observer_is_not_called(catalogue: Catalogue) -> None:
    seen: list[list[Product]] = []
    active = [False]
    catalogue.on_new_products(seen.append, active=lambda: active[0])
    p1, p2 = generate_products(2, seed=32)
    catalogue.upsert([p1])
    assert seen == []
    active[0] = True
    catalogue.upsert([p2])
    assert seen == [[p2]]


def test_failing_observers_never_fail_the_upsert(
    catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(products: list[Product]) -> None:
        raise RuntimeError("observer broke")

    def unsure() -> bool:
        raise RuntimeError("cannot tell")

    seen: list[list[Product]] = []
    catalogue.on_new_products(broken)
    catalogue.on_new_products(seen.append, active=unsure)
    catalogue.on_new_products(seen.append)
    p1, p2 = generate_products(2, seed=33)
    assert catalogue.upsert([p1, p2]) == 2
    assert catalogue.get_many([p1.id, p2.id]) == [p1, p2]
    assert seen == [[p1, p2]]  # the healthy observer still ran
    messages = [r.getMessage() for r in caplog.records]
    assert any("observer of new products failed" in m for m in messages)
    assert any("could not say whether it is active" in m for m in messages)


def test_inside_a_gathering_observers_hear_once_at_the_end(catalogue: Catalogue) -> None:
    seen: list[list[Product]] = []
    catalogue.on_new_products(seen.append)
    p1, p2, p3, p4 = generate_products(4, seed=34)
    with pytest.raises(RuntimeError), catalogue.gathering():
        catalogue.upsert([p1])
        with catalogue.gathering():  # nested: still one call, at the outer end
            catalogue.upsert([p2, p1])
        assert seen == []
        raise RuntimeError("the run stops half-way")
    assert seen == [[p1, p2]]  # what was committed is still announced
    with catalogue.gathering():
        catalogue.upsert([p1])
    assert seen == [[p1, p2]]  # nothing new: no call
    catalogue.upsert([p3])
    with catalogue.gathering():
        catalogue.upsert([p4])
    assert seen == [[p1, p2], [p3], [p4]]
