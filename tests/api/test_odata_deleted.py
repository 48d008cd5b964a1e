"""``DELETE Products('<uuid>')`` and the ``DeletedProducts`` entity set, through the ASGI app,
over a real catalogue (SQLite, and PostGIS for one test) and a real archive folder."""

from __future__ import annotations

import io
import logging
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree
from odata_support import OdataHub, asgi_request, build_odata_hub

from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Product, Role
from eohub.query import Query
from eohub.wiring import Hub, build_hub

ATOM = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
MANAGER = ("manager", "manager-password")


def _add_manager(hub: Hub) -> None:
    hub.accounts.create(*MANAGER, [Role.SEARCH, Role.DOWNLOAD, Role.DATA_MANAGER])


@pytest.fixture
def data(tmp_path: Path) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path, n=4)
    _add_manager(built.hub)
    yield built
    built.hub.close()


@pytest.fixture
def app(data: OdataHub) -> FastAPI:
    return create_app(hub=data.hub)


def _call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("auth", MANAGER)
    return asgi_request(app, method, url, **kwargs)


def _delete(app: FastAPI, product_id: object, query: str = "", prefix: str = "") -> httpx.Response:
    return _call(app, "DELETE", f"{prefix}/odata/v1/Products('{product_id}'){query}")


def _json(app: FastAPI, url: str) -> Any:
    response = _call(app, "GET", url)
    assert response.status_code == 200, response.text
    return response.json()["d"]


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _keys(product: Product) -> list[str]:
    return [k for k in (product.archive_key, product.quicklook_key, product.thumbnail_key) if k]


def test_delete_moves_the_product_to_deleted_products(app: FastAPI, data: OdataHub) -> None:
    product = data.with_quicklook()
    keys = _keys(product)
    assert len(keys) == 3 and all(data.hub.store.stat(k) is not None for k in keys)
    before = datetime.now(UTC)
    response = _delete(app, product.id, "?cause=Bad%20quality")
    after = datetime.now(UTC)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _call(app, "GET", f"/odata/v1/Products('{product.id}')").status_code == 404
    assert all(data.hub.store.stat(k) is None for k in keys)  # the bytes went too
    assert _call(app, "GET", "/odata/v1/Products/$count").text == str(len(data.products))

    d = _json(app, f"/odata/v1/DeletedProducts('{product.id}')?$format=json")
    assert list(d) == [
        "__metadata", "Id", "Name", "CreationDate", "FootPrint", "Size", "IngestionDate",
        "ContentDate", "DeletionDate", "DeletionCause", "Checksum", "Class",
    ]  # fmt: skip
    uri = f"http://hub/odata/v1/DeletedProducts('{product.id}')"
    assert d["__metadata"] == {"id": uri, "uri": uri, "type": "DHuS.DeletedProduct"}
    assert d["Id"] == str(product.id) and d["Name"] == product.name
    assert d["Size"] == str(product.size) and d["DeletionCause"] == "Bad quality"
    assert d["CreationDate"] == f"/Date({_ms(product.publication_date)})/"
    assert d["ContentDate"]["Start"] == f"/Date({_ms(product.sensing.start)})/"
    deleted_ms = int(d["DeletionDate"][6:-2])
    assert _ms(before) - 1 <= deleted_ms <= _ms(after)
    assert d["Checksum"]["Value"] == product.checksum("MD5").upper()  # type: ignore[union-attr]
    assert "<gml:coordinates>" in d["FootPrint"]
    assert d["Class"] == {"__deferred": {"uri": f"{uri}/Class"}}

    klass = _json(app, f"/odata/v1/DeletedProducts('{product.id}')/Class?$format=json")
    assert klass["Id"] == f"{product.collection}:{product.product_type}"
    expanded = _json(app, f"/odata/v1/DeletedProducts('{product.id}')?$format=json&$expand=Class")
    assert expanded["Class"]["Id"] == klass["Id"]
    cause = _call(app, "GET", f"/odata/v1/DeletedProducts('{product.id}')/DeletionCause/$value")
    assert cause.text == "Bad quality"

    entry = etree.fromstring(
        _call(app, "GET", f"/odata/v1/DeletedProducts('{product.id}')").content
    )
    assert entry.tag == f"{ATOM}entry"
    assert entry.findtext(f".//{D}DeletionCause") == "Bad quality"
    assert entry.find(f".//{D}Size").get(f"{M}type") == "Edm.Int64"  # type: ignore[union-attr]


def test_purge_deletes_without_a_record(app: FastAPI, data: OdataHub) -> None:
    product = data.products[0]
    response = _delete(app, product.id, "?purge=true&cause=duplicate")
    assert response.status_code == 204, response.text
    assert _call(app, "GET", f"/odata/v1/Products('{product.id}')").status_code == 404
    assert all(data.hub.store.stat(k) is None for k in _keys(product))
    assert _call(app, "GET", "/odata/v1/DeletedProducts/$count").text == "0"
    gone = _call(app, "GET", f"/odata/v1/DeletedProducts('{product.id}')")
    assert gone.status_code == 404 and "Invalid key" in gone.text
    kept = data.products[1]
    assert _delete(app, kept.id, "?purge=false").status_code == 204
    assert _call(app, "GET", "/odata/v1/DeletedProducts/$count").text == "1"


def test_unknown_or_bad_requests_are_odata_errors(app: FastAPI, data: OdataHub) -> None:
    unknown = uuid.uuid4()
    response = _delete(app, unknown)
    assert response.status_code == 404
    message = etree.fromstring(response.content).findtext(f"{M}message")
    assert message == f"Invalid key ({unknown}) to access Products"
    assert response.headers["cause-message"].startswith("InvalidKeyException : ")
    as_json = _call(app, "DELETE", f"/odata/v1/Products('{unknown}')",
                    headers={"Accept": "application/json"})  # fmt: skip
    assert as_json.status_code == 404
    assert as_json.json()["error"]["message"]["value"] == message
    assert _delete(app, "not-a-uuid").status_code == 404
    product = data.products[0]
    for query, status, text in (
        ("?purge=maybe", 400, "purge"),
        ("?nonsense=1", 400, "Invalid parameter"),
        ("?cause=bad%01cause", 400, "control characters"),
    ):
        response = _delete(app, product.id, query)
        assert response.status_code == status, (query, response.text)
        assert text in response.text
    for path in ("Collections('SENTINEL-2')", f"Products('{product.id}')/Nodes", "Products"):
        response = _call(app, "DELETE", f"/odata/v1/{path}")
        assert response.status_code == 405, path
        assert "Only a product can be deleted" in response.text
    assert _call(app, "GET", "/odata/v1/Products/$count").text == str(len(data.products) + 1)
    assert _call(app, "GET", "/odata/v1/DeletedProducts/$count").text == "0"


def test_delete_answers_under_every_prefix(app: FastAPI, data: OdataHub) -> None:
    for product, prefix in zip(data.products[:3], ("", "/dhus", "/apihub"), strict=True):
        assert _delete(app, product.id, "?cause=prefix", prefix=prefix).status_code == 204
        d = _json(app, f"{prefix}/odata/v1/DeletedProducts('{product.id}')?$format=json")
        assert d["__metadata"]["uri"].startswith(f"http://hub{prefix}/odata/v1/DeletedProducts(")


def test_archive_failure_is_logged_not_an_error(
    app: FastAPI, data: OdataHub, caplog: pytest.LogCaptureFixture
) -> None:
    # A key the archive refuses (outside it): removing it fails after the catalogue deleted.
    odd = data.products[0].evolve(archive_key="../outside.zip")
    data.hub.catalogue.upsert([odd])
    with caplog.at_level(logging.WARNING):
        response = _delete(app, odd.id, "?cause=test")
    assert response.status_code == 204, response.text
    assert any("../outside.zip" in r.getMessage() for r in caplog.records)
    assert _call(app, "GET", f"/odata/v1/Products('{odd.id}')").status_code == 404
    # The previews were still removed.
    assert all(data.hub.store.stat(k) is None for k in _keys(odd)[1:])


def _delete_all(app: FastAPI, data: OdataHub) -> list[Product]:
    products = [*data.products, data.offline]
    for k, product in enumerate(products):
        assert _delete(app, product.id, f"?cause=cause%20{k}").status_code == 204
    return products


def _ids(feed: Any) -> list[str]:
    return [e["Id"] for e in feed["results"]]


def test_deleted_products_list_pages_filters_and_counts(app: FastAPI, data: OdataHub) -> None:
    products = _delete_all(app, data)
    order = [str(p.id) for p in products]  # deletion order = DeletionDate order
    base = "/odata/v1/DeletedProducts?$format=json"
    feed = _json(app, f"{base}&$inlinecount=allpages&$top=2")
    assert feed["__count"] == str(len(products)) and _ids(feed) == order[:2]
    assert _ids(_json(app, f"{base}&$top=2&$skip=2")) == order[2:4]
    assert _ids(_json(app, f"{base}&$orderby=DeletionDate desc")) == order[::-1]
    by_name = sorted(products, key=lambda p: p.name, reverse=True)
    assert _ids(_json(app, f"{base}&$orderby=Name desc")) == [str(p.id) for p in by_name]
    assert _call(app, "GET", "/odata/v1/DeletedProducts/$count").text == str(len(products))

    s2 = [str(p.id) for p in products if "MSIL" in p.name]
    assert s2 and len(s2) < len(products)
    for expression in ("substringof('MSIL',Name)", "startswith(Name,'S2')",
                       "substringof('msil',tolower(Name)) eq true"):  # fmt: skip
        got = _json(app, f"{base}&$filter={urllib.parse.quote(expression)}")
        assert _ids(got) == s2, expression
    count = _call(app, "GET", "/odata/v1/DeletedProducts/$count?$filter=startswith(Name,'S2')")
    assert count.text == str(len(s2))
    one = products[2]
    got = _json(app, f"{base}&$filter=Id eq '{one.id}' and endswith(Name,'{one.name[-6:]}')")
    assert _ids(got) == [str(one.id)]
    assert _ids(_json(app, f"{base}&$filter=Name eq '{one.name}'")) == [str(one.id)]

    third = _json(app, f"/odata/v1/DeletedProducts('{one.id}')?$format=json")["DeletionDate"]
    when = datetime.fromtimestamp(int(third[6:-2]) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[
        :-3
    ]
    since = _json(app, f"{base}&$filter=DeletionDate ge datetime'{when}'")
    assert set(order[3:]) <= set(_ids(since)) <= set(order[2:])
    assert _ids(_json(app, f"{base}&$filter=DeletionDate lt datetime'2000-01-01T00:00:00'")) == []

    atom = etree.fromstring(_call(app, "GET", "/odata/v1/DeletedProducts?$top=3").content)
    assert atom.tag == f"{ATOM}feed" and len(atom.findall(f"{ATOM}entry")) == 3
    assert atom.findall(f"{ATOM}entry")[0].findtext(f".//{D}DeletionCause") == "cause 0"


def test_deleted_products_bad_queries(app: FastAPI, data: OdataHub) -> None:
    _delete(app, data.products[0].id)
    for query, status, text in (
        ("$filter=substringof('S2',Name) or Name eq 'x'", 501, "not supported on DeletedProducts"),
        ("$filter=Size gt 10", 501, "filtering on Size"),
        ("$filter=Nope eq 1", 400, "unknown property"),
        ("$filter=DeletionDate gt 'yesterday'", 400, "datetime"),
        ("$orderby=Size", 400, "cannot be used in $orderby"),
        ("$orderby=Nope", 400, "unknown property"),
        ("$select=Nope", 400, "Invalid $select"),
        ("$expand=Nodes", 400, "Invalid $expand"),
    ):
        response = _call(app, "GET", f"/odata/v1/DeletedProducts?{query}")
        assert response.status_code == status, (query, response.text)
        assert text in response.text, (query, response.text)
    assert _call(app, "GET", "/odata/v1/DeletedProducts('x')").status_code == 404
    assert _call(app, "GET", f"/odata/v1/DeletedProducts('{uuid.uuid4()}')").status_code == 404
    # Products keep their own $orderby properties.
    assert _call(app, "GET", "/odata/v1/Products?$orderby=DeletionDate").status_code == 400


def test_service_document_and_metadata_list_deleted_products(app: FastAPI) -> None:
    service = _json(app, "/odata/v1/?$format=json")
    assert "DeletedProducts" in service["EntitySets"]
    meta = etree.fromstring(_call(app, "GET", "/odata/v1/$metadata").content)
    edm = "{http://schemas.microsoft.com/ado/2008/09/edm}"
    sets = {s.get("Name"): s.get("EntityType") for s in meta.iter(f"{edm}EntitySet")}
    assert sets["DeletedProducts"] == "DHuS.DeletedProduct"
    kind = next(t for t in meta.iter(f"{edm}EntityType") if t.get("Name") == "DeletedProduct")
    names = [p.get("Name") for p in kind.findall(f"{edm}Property")]
    assert {"DeletionDate", "DeletionCause", "FootPrint"} <= set(names)


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def plain_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """A hub of generated products without bytes, plus one whose product file is archived."""
    catalogue = {}
    if request.param == "postgis":
        catalogue = {"dsn": request.getfixturevalue("postgres_dsn")}
    hub = build_hub(Settings(data_dir=tmp_path / "hub", catalogue=catalogue))  # type: ignore[arg-type]
    _add_manager(hub)
    products = list(generate_products(6, seed=3))
    key = f"{products[0].id}/file.zip"
    hub.store.put(key, io.BytesIO(b"zip bytes"))
    hub.catalogue.upsert([products[0].evolve(archive_key=key), *products[1:]])
    yield hub
    hub.close()


def test_delete_and_list_on_each_backend(plain_hub: Hub) -> None:
    app = create_app(hub=plain_hub)
    products = list(plain_hub.catalogue.search(Query(limit=10)).items)
    archived = next(p for p in products if p.archive_key)
    assert _delete(app, archived.id, "?cause=obsolete").status_code == 204
    assert plain_hub.store.stat(archived.archive_key) is None  # type: ignore[arg-type]
    purged = next(p for p in products if not p.archive_key)
    assert _delete(app, purged.id, "?purge=true").status_code == 204
    assert _delete(app, purged.id).status_code == 404
    feed = _json(app, "/odata/v1/DeletedProducts?$format=json&$inlinecount=allpages")
    assert feed["__count"] == "1" and _ids(feed) == [str(archived.id)]
    assert feed["results"][0]["DeletionCause"] == "obsolete"
    name = urllib.parse.quote(f"startswith(Name,'{archived.name[:10]}')")
    assert _ids(_json(app, f"/odata/v1/DeletedProducts?$format=json&$filter={name}")) == [
        str(archived.id)
    ]
    assert plain_hub.catalogue.count(Query()) == len(products) - 2
