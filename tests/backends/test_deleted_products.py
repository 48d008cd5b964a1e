"""Deleted products (DHuS DeletedProducts) on a real SQLite file and a real PostGIS.

Pages are compared with :func:`eohub.query.deleted.select_deleted`, the reference semantics.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from catalogue_samples import T0, edge_products, make_product, some_uuid
from eohub.catalogue.service import Catalogue
from eohub.demo import generate_products
from eohub.errors import HubError, InvalidQuery, NotFound
from eohub.model import Product
from eohub.model.deleted import DeletedProduct
from eohub.query import Compare, CompareOp, CountMode, Cursor, Query, SortKey
from eohub.query.deleted import (
    DeletedFilter,
    DeletedQuery,
    NameMatch,
    NameMode,
    select_deleted,
)

D0 = T0 + timedelta(days=400)


@pytest.fixture(scope="module")
def products() -> list[Product]:
    """Generated products plus the hand-made edge cases (odd names, every attribute type)."""
    return list(generate_products(40, seed=5)) + edge_products()


@pytest.fixture
def loaded(catalogue_backend: Any, products: list[Product]) -> Iterator[Any]:
    """A backend holding ``products``."""
    assert catalogue_backend.upsert(products) == len(products)
    yield catalogue_backend


def _same_product(got: Product, expected: Product) -> None:
    assert got == expected, expected.name
    if expected.footprint is not None:
        assert got.footprint is not None
        assert got.footprint.original.equals_exact(expected.footprint.original, 1e-9)
    assert {k: type(v) for k, v in got.attributes.items()} == {
        k: type(v) for k, v in expected.attributes.items()
    }


def test_delete_records_the_whole_product(loaded: Any, products: list[Product]) -> None:
    gone = next(p for p in products if p.name.startswith("EDGE_ATTR_2"))
    when = D0 + timedelta(microseconds=7)
    found = loaded.delete(gone.id, cause="Corrupted product", deletion_date=when)
    assert found == DeletedProduct(gone, when, "Corrupted product")
    record = loaded.get_deleted(gone.id)
    assert record is not None
    assert record.deletion_date == when and record.deletion_cause == "Corrupted product"
    assert record.deletion_date.utcoffset() == timedelta(0)
    _same_product(record.product, gone)
    page = loaded.deleted(DeletedQuery(limit=10, count=CountMode.EXACT))
    assert [d.id for d in page.items] == [gone.id] and page.total == 1 and page.next is None


def test_deleted_product_is_gone_and_nothing_else_is(loaded: Any, products: list[Product]) -> None:
    catalogue = Catalogue(loaded)
    gone = products[7]
    assert loaded.delete(gone.id, deletion_date=D0) is not None
    assert loaded.get(gone.id) is None
    assert loaded.find_by_name(gone.name) is None
    with pytest.raises(NotFound):
        catalogue.get(gone.id)
    assert catalogue.search(Query(filter=Compare("name", CompareOp.EQ, gone.name))).items == []
    assert catalogue.count(Query()) == len(products) - 1
    rest = [p for p in products if p.id != gone.id]
    assert loaded.get_many([p.id for p in rest]) == rest
    for product in rest[:10]:
        _same_product(loaded.get(product.id), product)
    assert loaded.delete(gone.id) is None  # already gone: nothing more is recorded
    assert loaded.get_deleted(gone.id).deletion_date == D0


def test_purge_records_nothing(loaded: Any, products: list[Product]) -> None:
    gone = products[2]
    found = loaded.delete(gone.id, cause="duplicate", purge=True, deletion_date=D0)
    assert found == DeletedProduct(gone, D0, "duplicate")
    assert loaded.get(gone.id) is None
    assert loaded.get_deleted(gone.id) is None
    assert loaded.deleted(DeletedQuery(count=CountMode.EXACT)).total == 0


def test_unknown_id(loaded: Any, products: list[Product]) -> None:
    assert loaded.delete(some_uuid(3)) is None
    assert loaded.delete(some_uuid(3), purge=True) is None
    assert loaded.get_deleted(some_uuid(3)) is None
    assert loaded.deleted(DeletedQuery(count=CountMode.EXACT)).total == 0
    assert Catalogue(loaded).count(Query()) == len(products)
    with pytest.raises(NotFound):
        Catalogue(loaded).get_deleted(some_uuid(3))


def test_reingested_product_keeps_its_record_and_a_new_deletion_replaces_it(
    loaded: Any, products: list[Product]
) -> None:
    product = products[0]
    loaded.delete(product.id, cause="first", deletion_date=D0)
    assert loaded.upsert([product]) == 1
    assert loaded.get(product.id) == product
    assert loaded.get_deleted(product.id).deletion_cause == "first"  # as DHuS keeps it
    newer = product.evolve(size=5)
    loaded.upsert([newer])
    loaded.delete(product.id, cause="second", deletion_date=D0 + timedelta(days=1))
    record = loaded.get_deleted(product.id)
    assert record.deletion_cause == "second" and record.product == newer
    assert loaded.deleted(DeletedQuery(count=CountMode.EXACT)).total == 1


def _chosen(products: list[Product]) -> list[Product]:
    """Generated products and edge cases: wildcard characters, non-ASCII names, shared values."""
    edges = ("EDGE_TEXT", "EDGE_UNICODE", "EDGE_SAME_0")
    return products[:14] + [p for p in products if p.name.startswith(edges)]


def _delete_many(backend: Any, products: list[Product]) -> list[DeletedProduct]:
    """Delete the chosen products; deletion dates repeat so that the Id tie-break matters."""
    out = []
    for k, product in enumerate(_chosen(products)):
        when = D0 + timedelta(seconds=k // 4, microseconds=k % 2)
        cause = None if k % 3 == 0 else f"cause {k}"
        out.append(backend.delete(product.id, cause=cause, deletion_date=when))
    assert len(out) == 34
    return out


QUERIES = [
    DeletedQuery(limit=7, count=CountMode.EXACT),
    DeletedQuery(sort=(SortKey("deletion_date", descending=True),), limit=4),
    DeletedQuery(sort=(SortKey("name"),), limit=6, count=CountMode.EXACT),
    DeletedQuery(sort=(SortKey("name", descending=True),), limit=5),
    DeletedQuery(sort=(SortKey("deletion_date"), SortKey("name", descending=True)), limit=3),
    DeletedQuery(filter=DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "_"),)), limit=4),
    DeletedQuery(filter=DeletedFilter(names=(NameMatch(NameMode.STARTS, "EDGE_"),)), limit=5),
    DeletedQuery(
        filter=DeletedFilter(names=(NameMatch(NameMode.STARTS, "s1", ignore_case=True),)),
        count=CountMode.EXACT,
    ),
    DeletedQuery(filter=DeletedFilter(names=(NameMatch(NameMode.ENDS, "b"),)), limit=50),
    DeletedQuery(filter=DeletedFilter(names=(NameMatch(NameMode.CONTAINS, ""),)), limit=50),
    DeletedQuery(
        filter=DeletedFilter(
            deleted_from=D0 + timedelta(seconds=2), deleted_until=D0 + timedelta(seconds=5)
        ),
        limit=4,
        count=CountMode.EXACT,
    ),
    DeletedQuery(
        filter=DeletedFilter(deleted_from=D0 + timedelta(seconds=3), deleted_until=D0),
        count=CountMode.EXACT,
    ),
    DeletedQuery(filter=DeletedFilter(ids=frozenset()), count=CountMode.EXACT),
    DeletedQuery(offset=25, limit=10, count=CountMode.EXACT),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q)[:80])
def test_pages_follow_the_reference(
    loaded: Any, products: list[Product], query: DeletedQuery
) -> None:
    deleted = _delete_many(loaded, products)
    seen: list[uuid.UUID] = []
    current = query
    for _ in range(40):  # bounded: at most 34 rows
        got = loaded.deleted(current)
        expected = select_deleted(current, deleted)
        assert [d.id for d in got.items] == [d.id for d in expected.items], current
        assert got.items == expected.items
        assert got.total == expected.total and got.next == expected.next
        seen += [d.id for d in got.items]
        if got.next is None:
            break
        current = DeletedQuery(query.filter, query.sort, query.limit, after=got.next)
    everything = select_deleted(
        DeletedQuery(query.filter, query.sort, limit=1000, offset=query.offset), deleted
    )
    assert seen == [d.id for d in everything.items]  # keyset pages: no gap, no repeat
    assert len(set(seen)) == len(seen)


def test_keyset_paging_is_stable_under_new_deletions(loaded: Any, products: list[Product]) -> None:
    _delete_many(loaded, products)
    first = loaded.deleted(DeletedQuery(limit=10))
    # A later deletion lands after the cursor; an earlier-dated one before it: neither shifts
    # the next page (an offset would).
    early, late = [p for p in products if p not in _chosen(products)][:2]
    loaded.delete(early.id, deletion_date=D0 - timedelta(days=1))
    loaded.delete(late.id, deletion_date=D0 + timedelta(days=1))
    second = loaded.deleted(DeletedQuery(limit=10, after=first.next))
    everything = loaded.deleted(DeletedQuery(limit=100)).items
    ids = [d.id for d in everything]
    assert ids[0] == early.id and ids[-1] == late.id
    assert [d.id for d in second.items] == ids[11:21]


def test_filters_by_id_and_name_match_the_reference(loaded: Any, products: list[Product]) -> None:
    deleted = _delete_many(loaded, products)
    some = frozenset([deleted[3].id, deleted[17].id, some_uuid(9)])
    cases = [
        (DeletedFilter(ids=some), 2),
        (DeletedFilter(ids=some, names=(NameMatch(NameMode.EQ, deleted[17].name),)), 1),
        (
            DeletedFilter(
                names=(NameMatch(NameMode.EQ, deleted[5].name.lower(), ignore_case=True),)
            ),
            1,
        ),
        (DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "a*b"),)), 1),
        (DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "a%b"),)), 1),
        # ASCII letters fold, others do not: 'ÄBC' finds 'äbc_ÄBC' only through its own 'Ä'.
        (DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "ÄBC", ignore_case=True),)), 1),
        (DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "_äBC", ignore_case=True),)), 1),
        (DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "_ÄBC_", ignore_case=True),)), 0),
        (
            DeletedFilter(
                names=(NameMatch(NameMode.EQ, "edge_unicode_Ünïcode_名前", ignore_case=True),)
            ),
            1,
        ),
        (
            DeletedFilter(
                names=(NameMatch(NameMode.EQ, "edge_unicode_ünïcode_名前", ignore_case=True),)
            ),
            0,
        ),
    ]
    for flt, size in cases:
        query = DeletedQuery(filter=flt, limit=100, count=CountMode.EXACT)
        expected = select_deleted(query, deleted)
        assert expected.total == size, flt
        assert loaded.deleted(query) == expected, flt


def test_refused_record_keeps_the_product(
    loaded: Any, products: list[Product], backend_name: str
) -> None:
    """Recording and removing are one transaction: when the record fails, nothing changes."""
    product = products[4]
    if backend_name == "postgis":
        with pytest.raises(HubError):
            loaded.delete(product.id, cause="bad\x00cause", deletion_date=D0)
        assert loaded.get(product.id) == product
        assert loaded.get_deleted(product.id) is None
    else:  # SQLite keeps such text; the point there is the writer's atomicity on success
        assert loaded.delete(product.id, cause="bad\x00cause", deletion_date=D0) is not None
        assert loaded.get(product.id) is None
        assert loaded.get_deleted(product.id).deletion_cause == "bad\x00cause"


def test_catalogue_service_records_with_its_clock_and_checks_the_cause(
    catalogue_backend: Any,
) -> None:
    ticks = iter([D0, D0 + timedelta(seconds=1)])
    catalogue = Catalogue(catalogue_backend, clock=lambda: next(ticks))
    a, b, c = (make_product(f"SERVICE_{k}") for k in range(3))
    catalogue.upsert([a, b, c])
    with pytest.raises(InvalidQuery):
        catalogue.delete(a.id, cause="line\x01break")
    with pytest.raises(InvalidQuery):
        catalogue.delete(a.id, cause="x" * 1001)
    assert catalogue.get(a.id) == a  # a refused cause deletes nothing
    assert catalogue.delete(a.id, cause="") == DeletedProduct(a, D0, None)
    assert catalogue.delete(b.id, cause="obsolete") == DeletedProduct(
        b, D0 + timedelta(seconds=1), "obsolete"
    )
    assert catalogue.get_deleted(b.id).deletion_cause == "obsolete"
    page = catalogue.deleted(DeletedQuery(sort=(SortKey("deletion_date", descending=True),)))
    assert [d.id for d in page.items] == [b.id, a.id]


def test_cursor_must_match_the_sort() -> None:
    cursor = Cursor((SortKey("name"), SortKey("id")), ("x", some_uuid(1)))
    with pytest.raises(InvalidQuery):
        DeletedQuery(after=cursor)
    with pytest.raises(InvalidQuery):
        DeletedQuery(sort=(SortKey("size"),))
    with pytest.raises(InvalidQuery):
        DeletedQuery(sort=(SortKey("name"),), after=Cursor(cursor.sort, (3, some_uuid(1))))
    with pytest.raises(InvalidQuery):
        NameMatch(NameMode.EQ, "nul\x00")
    assert DeletedQuery(sort=(SortKey("name"),), after=cursor).after == cursor


def test_filters_by_cause_and_collection_match_the_reference(
    loaded: Any, products: list[Product]
) -> None:
    deleted = _delete_many(loaded, products)
    collections = sorted({d.product.collection for d in deleted})
    assert len(collections) > 1, "the sample spans several collections"
    s2 = frozenset({"SENTINEL-2"})
    cases = [
        (DeletedFilter(causes=(NameMatch(NameMode.EQ, "cause 4"),)), 1),
        (DeletedFilter(causes=(NameMatch(NameMode.STARTS, "cause 1"),)), None),
        (DeletedFilter(causes=(NameMatch(NameMode.ENDS, "1"),)), None),
        (DeletedFilter(causes=(NameMatch(NameMode.CONTAINS, "CAUSE", ignore_case=True),)), 22),
        (DeletedFilter(causes=(NameMatch(NameMode.CONTAINS, ""),)), 22),  # no cause: no match
        (DeletedFilter(collections=s2), None),
        (DeletedFilter(collections=frozenset(collections)), 34),
        (DeletedFilter(collections=frozenset({"NOPE"})), 0),
        (DeletedFilter(collections=frozenset()), 0),
        (
            DeletedFilter(
                collections=s2,
                causes=(NameMatch(NameMode.STARTS, "cause"),),
                names=(NameMatch(NameMode.CONTAINS, "_"),),
            ),
            None,
        ),
        (
            DeletedFilter(collections=s2).narrow(
                DeletedFilter(collections=frozenset({"SENTINEL-1", "SENTINEL-2"}))
            ),
            None,
        ),
    ]
    for flt, size in cases:
        query = DeletedQuery(filter=flt, limit=100, count=CountMode.EXACT)
        expected = select_deleted(query, deleted)
        assert expected.total is not None
        if size is not None:
            assert expected.total == size, flt
        else:
            assert 0 < expected.total < len(deleted), flt
        assert loaded.deleted(query) == expected, flt
    # keyset pages of a collection filter: no gap, no repeat
    query = DeletedQuery(filter=DeletedFilter(collections=s2), limit=3)
    seen: list[uuid.UUID] = []
    for _ in range(40):
        page = loaded.deleted(query)
        seen += [d.id for d in page.items]
        if page.next is None:
            break
        query = DeletedQuery(query.filter, limit=3, after=page.next)
    assert seen == [
        d.id for d in select_deleted(DeletedQuery(query.filter, limit=100), deleted).items
    ]
