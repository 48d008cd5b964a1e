"""Conditions on the product as it was (``DeletedFilter.product``: sensing times, attributes)
on a real SQLite file and a real PostGIS, against :func:`eohub.query.deleted.select_deleted`;
and deletions recorded before the searchable values existed get them when the catalogue is
migrated again."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalogue_samples import T0, edge_products, make_product
from eohub.demo import generate_products
from eohub.errors import InvalidQuery
from eohub.model import Product
from eohub.model.deleted import DeletedProduct
from eohub.query import Compare, CompareOp, CountMode
from eohub.query.deleted import DeletedFilter, DeletedQuery, NameMatch, NameMode, select_deleted
from eohub.query.tree import (
    MATCH_NONE,
    IsNull,
    Like,
    Node,
    Not,
    Spatial,
    SpatialOp,
    Text,
    and_,
    or_,
)

D0 = T0 + timedelta(days=400)
NAIVE = datetime(2024, 5, 1, 10, 0, 0, 123456)


def _products() -> list[Product]:
    """Generated products of every mission and the edge cases: attributes holding a value of
    several types under one name, NULL values, wildcard characters."""
    odd = {'odd "quoted" name': "x", "with space": 3, "$.path[0]": "y"}
    return [
        *generate_products(24, seed=11),
        *edge_products(),
        make_product("EDGE_ODD_NAMES", attributes=odd),
    ]


@pytest.fixture
def deleted(catalogue_backend: Any) -> Iterator[tuple[Any, list[DeletedProduct]]]:
    """A backend whose products were all deleted (dates repeat: the Id tie-break matters)."""
    products = _products()
    assert catalogue_backend.upsert(products) == len(products)
    out = []
    for k, product in enumerate(products):
        when = D0 + timedelta(seconds=k // 3)
        found = catalogue_backend.delete(product.id, cause=f"cause {k % 4}", deletion_date=when)
        assert found is not None
        out.append(found)
    yield catalogue_backend, out


def _sensing(op: CompareOp, at: datetime, end: bool = False) -> Node:
    return Compare("sensing_end" if end else "sensing_start", op, at)


CONDITIONS: list[tuple[str, Node]] = [
    ("start after", _sensing(CompareOp.GT, T0)),
    ("start at", _sensing(CompareOp.EQ, T0)),
    ("start not at", _sensing(CompareOp.NE, T0)),
    ("end before", _sensing(CompareOp.LE, T0 + timedelta(days=200), end=True)),
    (
        "window",
        and_(_sensing(CompareOp.GE, T0 - timedelta(days=400)), _sensing(CompareOp.LT, T0)),
    ),
    ("naive start never matches", _sensing(CompareOp.EQ, NAIVE)),
    ("cloud cover", Compare("cloud_cover", CompareOp.LE, 40.0)),
    ("cloud cover as an int", Compare("cloud_cover", CompareOp.GT, 12)),
    ("cloud cover ne (NULL excluded)", Compare("cloud_cover", CompareOp.NE, 12.5)),
    ("no cloud cover", IsNull("cloud_cover")),
    ("not cloudy", Not(Compare("cloud_cover", CompareOp.GT, 30.0))),
    ("product type", Compare("product_type", CompareOp.EQ, "S2MSI2A")),
    ("product type ordered", Compare("product_type", CompareOp.LT, "S2")),
    ("platform serial (derived)", Compare("platform_serial", CompareOp.EQ, "A")),
    ("short name (derived)", Compare("platform_short_name", CompareOp.EQ, "SENTINEL-1")),
    ("orbit", Compare("orbit_number", CompareOp.GE, 43001)),
    ("int attribute", Compare("attributes.qualityIndex", CompareOp.EQ, 77)),
    (
        "int attribute ne (a text of it differs)",
        Compare("attributes.qualityIndex", CompareOp.NE, 77),
    ),
    ("text attribute", Compare("attributes.qualityIndex", CompareOp.EQ, "77")),
    ("float attribute", Compare("attributes.landCover", CompareOp.LT, 1.0)),
    ("bool attribute", Compare("attributes.sliceProductFlag", CompareOp.EQ, True)),
    ("bool attribute as a number", Compare("attributes.sliceProductFlag", CompareOp.EQ, 0)),
    ("date attribute", Compare("attributes.processingDate", CompareOp.GT, T0)),
    ("folded text", Compare("attributes.origin", CompareOp.EQ, "esa", ignore_case=True)),
    ("wildcards taken literally", Like("attributes.origin", "E\\*S\\?A*")),
    ("pattern", Like("polarisation", "a?b")),
    ("folded pattern", Like("swath", "a*b", ignore_case=True)),
    ("pattern on a number never matches", Like("attributes.qualityIndex", "7*")),
    ("missing attribute", IsNull("attributes.origin")),
    ("quoted attribute name", Compare('attributes.odd "quoted" name', CompareOp.EQ, "x")),
    ("attribute name with a space", Compare("attributes.with space", CompareOp.GE, 3)),
    ("attribute name like a path", Not(IsNull("attributes.$.path[0]"))),
    ("unknown attribute", Compare("attributes.neverStored", CompareOp.EQ, "x")),
    ("unknown attribute ne", Compare("attributes.neverStored", CompareOp.NE, "x")),
    (
        "or of attributes",
        or_(
            Compare("attributes.qualityStatus", CompareOp.EQ, "NOMINAL"),
            Compare("attributes.origin", CompareOp.EQ, "ESA"),
        ),
    ),
    ("match none", MATCH_NONE),
]


@pytest.mark.parametrize(("label", "condition"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_product_conditions_follow_the_reference(
    deleted: tuple[Any, list[DeletedProduct]], label: str, condition: Node
) -> None:
    backend, records = deleted
    query = DeletedQuery(filter=DeletedFilter(product=condition), limit=500, count=CountMode.EXACT)
    expected = select_deleted(query, records)
    got = backend.deleted(query)
    assert [d.id for d in got.items] == [d.id for d in expected.items], label
    assert got.total == expected.total


def test_conditions_are_not_all_trivial(deleted: tuple[Any, list[DeletedProduct]]) -> None:
    """The reference answers vary: a condition matching all or none proves little."""
    _, records = deleted
    partial = 0
    for _, condition in CONDITIONS:
        query = DeletedQuery(filter=DeletedFilter(product=condition), limit=500)
        size = len(select_deleted(query, records).items)
        partial += 0 < size < len(records)
    assert partial >= len(CONDITIONS) - 8


def test_product_conditions_combine_with_the_others_and_page(
    deleted: tuple[Any, list[DeletedProduct]],
) -> None:
    backend, records = deleted
    flt = DeletedFilter(
        causes=(NameMatch(NameMode.STARTS, "cause"),),
        deleted_from=D0 + timedelta(seconds=2),
        product=Compare("collection", CompareOp.EQ, "SENTINEL-2"),
    ).narrow(DeletedFilter(product=Not(IsNull("cloud_cover"))))
    query = DeletedQuery(filter=flt, limit=3, count=CountMode.EXACT)
    whole = select_deleted(DeletedQuery(filter=flt, limit=500), records)
    assert 3 < len(whole.items) < len(records)
    seen: list[uuid.UUID] = []
    for _ in range(100):  # bounded: fewer than 100 pages of 3
        page = backend.deleted(query)
        assert page == select_deleted(query, records)
        seen += [d.id for d in page.items]
        if page.next is None:
            break
        query = DeletedQuery(flt, limit=3, after=page.next)
    assert seen == [d.id for d in whole.items]


@pytest.mark.parametrize(
    "condition",
    [
        Spatial(SpatialOp.INTERSECTS, edge_products()[-2].footprint),  # type: ignore[arg-type]
        Text("sentinel"),
        Compare("id", CompareOp.EQ, uuid.UUID(int=1)),
        Compare("attributes.origin", CompareOp.EQ, "lone \udc80 surrogate"),
    ],
    ids=["spatial", "text", "uuid", "surrogate"],
)
def test_conditions_deleted_products_cannot_answer_are_refused(condition: Node) -> None:
    with pytest.raises(InvalidQuery):
        DeletedFilter(product=condition)


def _forget_search_values(backend_name: str, request: pytest.FixtureRequest) -> None:
    """Make the catalogue look as written before the searchable values existed."""
    if backend_name == "sqlite":
        with sqlite3.connect(request.getfixturevalue("sqlite_path")) as conn:
            conn.execute("UPDATE deleted_products SET search = NULL")
        return
    import psycopg

    with psycopg.connect(request.getfixturevalue("postgres_dsn"), autocommit=True) as conn:
        conn.execute("UPDATE deleted_products SET search = NULL")


def test_older_deletions_get_their_values_when_migrated(
    deleted: tuple[Any, list[DeletedProduct]], backend_name: str, request: pytest.FixtureRequest
) -> None:
    backend, records = deleted
    condition = DeletedFilter(product=Compare("cloud_cover", CompareOp.LE, 40.0))
    query = DeletedQuery(filter=condition, limit=500, count=CountMode.EXACT)
    expected = select_deleted(query, records)
    assert expected.total
    _forget_search_values(backend_name, request)
    assert backend.deleted(query).total == 0  # without values, nothing matches
    unfiltered = DeletedQuery(limit=500, count=CountMode.EXACT)
    assert backend.deleted(unfiltered).total == len(records)  # the records themselves stay
    backend.migrate()
    assert backend.deleted(query) == expected
    assert backend.deleted(unfiltered) == select_deleted(unfiltered, records)


def test_a_late_deletion_of_a_newer_product_keeps_its_own_values(
    deleted: tuple[Any, list[DeletedProduct]],
) -> None:
    backend, records = deleted
    again = records[0].product.evolve(cloud_cover=99.5, modification_date=datetime.now(UTC))
    backend.upsert([again])
    backend.delete(again.id, deletion_date=D0 + timedelta(days=1))
    found = backend.deleted(
        DeletedQuery(filter=DeletedFilter(product=Compare("cloud_cover", CompareOp.EQ, 99.5)))
    )
    assert [d.id for d in found.items] == [again.id]
