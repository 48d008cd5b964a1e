"""Stored product documents (eohub.model.documents): pages of documents equal the rendering of
the same search's products, on a real SQLite file and a real PostGIS; SQLite keeps them with
the products and renders afresh whatever is missing or outdated."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from catalogue_samples import edge_products
from eohub.catalogue.service import Catalogue
from eohub.catalogue.sqlite import SQLiteCatalogue
from eohub.demo import generate_products
from eohub.model import Product
from eohub.model.documents import DocumentKind
from eohub.protocols.csc.entities import PRODUCT_DOCUMENT
from eohub.query import Compare, CompareOp, CountMode, Query, Range, SortKey

RENDERS = {"count": 0}


def _counted(product: Product) -> bytes:
    RENDERS["count"] += 1
    return PRODUCT_DOCUMENT.render(product)


KIND = DocumentKind("csc_product", 1, _counted)


def _backend(backend_name: str, request: pytest.FixtureRequest, kind: DocumentKind) -> Any:
    if backend_name == "sqlite":
        return SQLiteCatalogue(request.getfixturevalue("sqlite_path"), documents=(kind,))
    from eohub.catalogue.postgis import PostgisCatalogue

    return PostgisCatalogue(request.getfixturevalue("postgres_dsn"), documents=(kind,))


@pytest.fixture
def documented(backend_name: str, request: pytest.FixtureRequest) -> Iterator[Catalogue]:
    backend = _backend(backend_name, request, KIND)
    backend.migrate()
    backend.upsert(list(generate_products(120, seed=5)) + edge_products())
    yield Catalogue(backend)
    backend.close()


QUERIES = [
    Query(limit=7),
    Query(sort=(SortKey("publication_date"),), limit=25, count=CountMode.EXACT),
    Query(filter=Compare("collection", CompareOp.EQ, "SENTINEL-2"), limit=5,
          sort=(SortKey("sensing_start", descending=True),), count=CountMode.EXACT),
    Query(filter=Range("cloud_cover", high=40.0), sort=(SortKey("cloud_cover"),), limit=9),
    Query(filter=Compare("name", CompareOp.EQ, "no such product"), count=CountMode.EXACT),
]  # fmt: skip


@pytest.mark.parametrize("query", QUERIES)
def test_a_page_of_documents_is_the_rendering_of_the_same_page(
    documented: Catalogue, query: Query
) -> None:
    pages = 0
    while True:
        products = documented.search(query)
        documents = documented.search_documents(query, "csc_product")
        assert documents.items == [PRODUCT_DOCUMENT.render(p) for p in products.items]
        assert documents.total == products.total and documents.next == products.next
        pages += 1
        if products.next is None or pages == 4:
            break
        query = replace(query, after=products.next, count=CountMode.NONE)


def test_an_unknown_kind_is_refused(documented: Catalogue) -> None:
    with pytest.raises(ValueError, match="no document kind"):
        documented.search_documents(Query(), "stac_item")


@pytest.fixture
def sqlite_documented(sqlite_path: Path) -> Iterator[SQLiteCatalogue]:
    backend = SQLiteCatalogue(sqlite_path, documents=(KIND,))
    backend.migrate()
    yield backend
    backend.close()


def _stored(path: Path) -> dict[str, tuple[int, bytes]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT p.id, d.version, d.body FROM documents_csc_product AS d "
            "JOIN products AS p ON p.pk = d.pk"
        ).fetchall()
    return {pid: (version, body) for pid, version, body in rows}


def test_documents_are_written_replaced_and_deleted_with_their_products(
    sqlite_documented: SQLiteCatalogue, sqlite_path: Path
) -> None:
    products = list(generate_products(6, seed=2))
    sqlite_documented.upsert(products)
    stored = _stored(sqlite_path)
    assert {str(p.id) for p in products} == set(stored)
    changed = products[0].evolve(size=123, modification_date=products[0].modification_date
                                 + timedelta(seconds=1))  # fmt: skip
    sqlite_documented.upsert([changed])
    assert orjson.loads(_stored(sqlite_path)[str(changed.id)][1])["ContentLength"] == 123
    sqlite_documented.delete(products[1].id)
    assert str(products[1].id) not in _stored(sqlite_path)
    assert len(_stored(sqlite_path)) == 5


def test_products_without_a_current_document_are_rendered_then_stored_by_refresh(
    sqlite_path: Path,
) -> None:
    products = list(generate_products(30, seed=3))
    plain = SQLiteCatalogue(sqlite_path)  # a catalogue written before the kind existed
    plain.migrate()
    plain.upsert(products)
    plain.close()
    backend = SQLiteCatalogue(sqlite_path, documents=(KIND,))
    backend.migrate()
    try:
        catalogue = Catalogue(backend)
        query = Query(limit=50, sort=(SortKey("name"),))
        expected = [PRODUCT_DOCUMENT.render(p) for p in catalogue.search(query).items]
        RENDERS["count"] = 0
        assert catalogue.search_documents(query, "csc_product").items == expected
        assert RENDERS["count"] == 30  # nothing stored yet: every one rendered
        assert backend.refresh_documents(batch=7) == 30
        assert backend.refresh_documents(batch=7) == 0
        RENDERS["count"] = 0
        assert catalogue.search_documents(query, "csc_product").items == expected
        assert RENDERS["count"] == 0  # read, not rendered
    finally:
        backend.close()
    newer = SQLiteCatalogue(sqlite_path, documents=(DocumentKind("csc_product", 2, _counted),))
    newer.migrate()
    try:  # a new rendering version: outdated documents are never served, refresh replaces them
        RENDERS["count"] = 0
        assert Catalogue(newer).search_documents(query, "csc_product").items == expected
        assert RENDERS["count"] == 30
        assert newer.refresh_documents() == 30
        assert {version for version, _ in _stored(sqlite_path).values()} == {2}
    finally:
        newer.close()


def test_refresh_never_overwrites_a_document_written_by_a_later_upsert(
    sqlite_documented: SQLiteCatalogue, sqlite_path: Path
) -> None:
    product = next(iter(generate_products(1, seed=4)))
    sqlite_documented.upsert([product])
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("UPDATE documents_csc_product SET version = 0")  # outdated
    from eohub.catalogue.sqlite import backend as sqlite_backend
    from eohub.catalogue.sqlite import documents as stored_documents

    with sqlite3.connect(sqlite_path) as conn:
        (pk,) = conn.execute("SELECT pk FROM products").fetchone()
    stale = [(int(pk), b'{"stale": true}')]
    sqlite_documented.upsert([product.evolve(size=7)])  # writes a current document
    with sqlite3.connect(sqlite_path) as conn:
        sqlite_backend._store_documents(conn, kind=KIND, rendered=stale)
        conn.commit()
    body = _stored(sqlite_path)[str(product.id)][1]
    assert orjson.loads(body)["ContentLength"] == 7
    assert stored_documents.table(KIND) == "documents_csc_product"


def test_postgis_stores_documents_and_refreshes_outdated_ones(postgres_dsn: str) -> None:
    from eohub.catalogue.postgis import PostgisCatalogue

    products = list(generate_products(40, seed=8))
    plain = PostgisCatalogue(postgres_dsn)  # products written before the kind existed
    plain.migrate()
    plain.upsert(products[:10])
    plain.close()
    backend = PostgisCatalogue(postgres_dsn, documents=(KIND,))
    backend.migrate()
    newer = None
    try:
        catalogue = Catalogue(backend)
        RENDERS["count"] = 0
        backend.upsert(products[10:])
        assert RENDERS["count"] == 30  # rendered once, when written
        query = Query(limit=100, sort=(SortKey("name"),))
        expected = [PRODUCT_DOCUMENT.render(p) for p in catalogue.search(query).items]
        RENDERS["count"] = 0
        assert catalogue.search_documents(query, "csc_product").items == expected
        assert RENDERS["count"] == 10  # the ten older products, rendered when read
        assert backend.refresh_documents(batch=4) == 10
        RENDERS["count"] = 0
        assert catalogue.search_documents(query, "csc_product").items == expected
        assert RENDERS["count"] == 0
        backend.delete(products[0].id)  # its document goes with it
        assert len(catalogue.search_documents(query, "csc_product").items) == 39
        version2 = DocumentKind("csc_product", 2, _counted)
        newer = PostgisCatalogue(postgres_dsn, documents=(version2,))
        RENDERS["count"] = 0
        assert newer.refresh_documents() == 39  # a new rendering replaces every stored one
    finally:
        backend.close()
        if newer is not None:
            newer.close()


LAZY = DocumentKind("csc_product", 1, _counted, on_write=False)


def test_a_kind_not_written_with_the_product_is_rendered_when_read_then_kept(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """``on_write=False``: writes render nothing; a read renders the page (SQLite stores it
    for the next read); replacing a product drops its document, so no stale one is served."""
    backend = _backend(backend_name, request, LAZY)
    try:
        backend.migrate()
        products = list(generate_products(30, seed=9))
        RENDERS["count"] = 0
        backend.upsert(products)
        assert RENDERS["count"] == 0
        catalogue = Catalogue(backend)
        query = Query(sort=(SortKey("sensing_start"),), limit=10)
        first = catalogue.search_documents(query, "csc_product")
        assert first.items == [PRODUCT_DOCUMENT.render(p) for p in catalogue.search(query).items]
        assert RENDERS["count"] == 10
        if backend_name == "sqlite":
            backend._db.write(lambda conn: None)  # the stored copies are queued before this
            catalogue.search_documents(query, "csc_product")
            assert RENDERS["count"] == 10  # read as stored
        earliest = min(products, key=lambda p: p.sensing.start)
        renamed = replace(earliest, size=earliest.size + 12345)
        backend.upsert([renamed])
        again = catalogue.search_documents(query, "csc_product")
        assert again.items[0] == PRODUCT_DOCUMENT.render(renamed)
        assert again.items[0] != first.items[0]
    finally:
        backend.close()
