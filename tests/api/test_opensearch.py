"""DHuS OpenSearch through the ASGI app, over a real SQLite catalogue."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import anyio
import httpx
import pytest
from fastapi import FastAPI
from shapely.geometry import box

from eohub.api import opensearch as api_opensearch
from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Footprint, Product
from eohub.protocols.dhus.values import format_size
from eohub.query import (
    Compare,
    CompareOp,
    CountMode,
    Query,
    Range,
    Spatial,
    SpatialOp,
    and_,
)
from eohub.wiring import Hub, build_hub

PRODUCTS = list(generate_products(600, seed=11))
BY_ID = {str(p.id): p for p in PRODUCTS}
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = build_hub(Settings(data_dir=tmp_path_factory.mktemp("opensearch")))
    hub.catalogue.upsert(PRODUCTS)
    yield hub
    hub.close()


def _app(hub: Hub) -> FastAPI:
    app = create_app(hub=hub)
    app.state.hub = hub  # the in-process transport does not run the lifespan
    return app


@pytest.fixture(scope="module")
def app(hub: Hub) -> FastAPI:
    return _app(hub)


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            return await client.request(method, url, **kwargs)

    return anyio.run(go)


def search(app: FastAPI, path: str = "/search", **params: str) -> httpx.Response:
    return call(app, "GET", path, params=params)


def feed(app: FastAPI, **params: str) -> dict[str, Any]:
    response = search(app, format="json", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()["feed"]
    return body


def entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = body.get("entry", [])
    return [found] if isinstance(found, dict) else list(found)


def ids(body: dict[str, Any]) -> list[str]:
    return [e["id"] for e in entries(body)]


AREA = "POLYGON((-10 35,30 35,30 60,-10 60,-10 35))"
CASES = [
    ("*", None),
    ("platformname:Sentinel-2", Compare("mission", CompareOp.EQ, "Sentinel-2", ignore_case=True)),
    ("platformname:sentinel-1 AND producttype:grd", and_(
        Compare("mission", CompareOp.EQ, "Sentinel-1", ignore_case=True),
        Compare("product_type", CompareOp.EQ, "GRD", ignore_case=True))),
    ('beginPosition:["2024-01-01T00:00:00Z" TO "2024-06-30T00:00:00Z"] '
     f'cloudcoverpercentage:["0" TO "30"] footprint:"Intersects({AREA})"', and_(
        Range("sensing_start", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 30, tzinfo=UTC)),
        Range("cloud_cover", 0.0, 30.0),
        Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(AREA)))),
    ("orbitdirection:ASCENDING OR cloudcoverpercentage:[* TO 5}", None),
]  # fmt: skip


@pytest.mark.parametrize(("q", "tree"), CASES)
def test_results_are_the_catalogues(app: FastAPI, hub: Hub, q: str, tree: Any) -> None:
    body = feed(app, q=q, rows="100")
    if tree is None:
        from eohub.protocols.dhus.lucene import parse_q

        tree = parse_q(q, datetime.now(UTC))
    page = hub.catalogue.search(Query(filter=tree, limit=100, count=CountMode.EXACT))
    assert page.total is not None and page.total > 0
    assert body["opensearch:totalResults"] == str(page.total)
    assert ids(body) == [str(p.id) for p in page.items]


def test_paging_with_start_and_orderby(app: FastAPI) -> None:
    seen: list[str] = []
    for start in range(0, 700, 100):
        body = feed(app, q="*", rows="100", start=str(start), orderby="beginposition asc")
        assert body["opensearch:startIndex"] == str(start)
        seen += ids(body)
    assert len(seen) == len(set(seen)) == len(PRODUCTS)
    starts = [BY_ID[i].sensing.start for i in seen]
    assert starts == sorted(starts)
    newest = ids(feed(app, q="*", rows="5"))
    by_ingestion = sorted(PRODUCTS, key=lambda p: p.ingestion_date, reverse=True)
    assert newest == [str(p.id) for p in by_ingestion[:5]]


def test_semantics_of_dhus_keywords(app: FastAPI) -> None:
    def count(q: str) -> int:
        return int(feed(app, q=q, rows="0")["opensearch:totalResults"])

    assert count("polarisationmode:VH") == sum(
        1 for p in PRODUCTS if p.polarisation and "VH" in p.polarisation.split()
    )
    assert count("swathidentifier:iw2") == sum(
        1 for p in PRODUCTS if p.swath and "IW2" in p.swath.split()
    )
    assert count("format:SAFE") == sum(
        1 for p in PRODUCTS if p.filename.endswith((".SAFE", ".SEN3"))
    )
    assert count("size:/.+GB/") == sum(1 for p in PRODUCTS if format_size(p.size).endswith(" GB"))
    assert count("NOT platformname:Sentinel-2") == sum(
        1 for p in PRODUCTS if p.mission != "Sentinel-2"
    )
    assert count("identifier:S2*") == sum(1 for p in PRODUCTS if p.name.startswith("S2"))
    assert count("slicenumber:[2 TO *]") == sum(
        1
        for p in PRODUCTS
        if int(p.attributes.get("sliceNumber", 0)) >= 2  # type: ignore[call-overload]
    )
    one = PRODUCTS[17]
    assert ids(feed(app, q=f'(identifier:"{one.name}")')) == [str(one.id)]
    assert ids(feed(app, q=f"uuid:{one.id}")) == [str(one.id)]


def test_json_document_shape(app: FastAPI) -> None:
    body = feed(app, q="platformname:Sentinel-1", rows="3", start="3")
    assert list(body)[:5] == ["xmlns:opensearch", "xmlns", "title", "subtitle", "updated"]
    assert body["subtitle"].startswith("Displaying 3 to 5 of ")
    rels = [link["rel"] for link in body["link"]]
    assert rels == ["self", "first", "next", "last", "search"]  # start == rows: no previous
    entry = entries(body)[0]
    assert [link.get("rel") for link in entry["link"]] == [None, "alternative", "icon"]
    assert entry["link"][0]["href"] == f"http://hub.test/odata/v1/Products('{entry['id']}')/$value"
    names = {item["name"] for item in entry["str"]}
    assert {"uuid", "identifier", "filename", "footprint", "gmlfootprint", "size",
            "platformname", "format"} <= names  # fmt: skip
    assert "Mode: " in entry["summary"]


def test_single_and_zero_results(app: FastAPI) -> None:
    one = PRODUCTS[3]
    single = feed(app, q=f'identifier:"{one.name}"')
    assert isinstance(single["entry"], dict) and single["entry"]["id"] == str(one.id)
    assert single["subtitle"].startswith("Displaying 1 results.")
    none = feed(app, q='beginPosition:["2015-01-01T00:00:00Z" TO "2015-01-02T00:00:00Z"]')
    assert "entry" not in none and none["opensearch:totalResults"] == "0"
    assert none["link"][2] == {
        "rel": "last",
        "type": "application/json",
        "href": 'http://hub.test/search?q=beginPosition:["2015-01-01T00:00:00Z" TO '
        '"2015-01-02T00:00:00Z"]&start=-1&rows=10&format=json',
    }


def test_count_with_rows_zero(app: FastAPI) -> None:
    body = feed(app, q="*", rows="0", start="0")
    assert body["opensearch:totalResults"] == str(len(PRODUCTS)) and "entry" not in body
    assert body["subtitle"].startswith(f"Displaying 0 to -1 of {len(PRODUCTS)} total results.")
    assert [link["href"].split("&start=")[1].split("&")[0] for link in body["link"][:4]] == [
        "0", "0", "NaN", str(len(PRODUCTS) - 1)
    ]  # fmt: skip


@pytest.mark.parametrize("prefix", ["", "/dhus", "/apihub"])
def test_prefixes_and_atom_default(app: FastAPI, prefix: str) -> None:
    response = search(app, f"{prefix}/search", q="producttype:S2MSI*", rows="4")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    base = f"http://hub.test{prefix}/"
    assert root.find(f"{ATOM}id").text == f"{base}search?q=producttype:S2MSI*"  # type: ignore[union-attr]
    found = root.findall(f"{ATOM}entry")
    assert len(found) == 4
    for entry in found:
        pid = entry.find(f"{ATOM}id").text  # type: ignore[union-attr]
        assert BY_ID[pid].product_type.startswith("S2MSI")  # type: ignore[index]
        alternative = entry.find(f"{ATOM}link[@rel='alternative']").get("href")  # type: ignore[union-attr]
        assert alternative == f"{base}odata/v1/Products('{pid}')/"
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("type") == "application/xml"  # type: ignore[union-attr]
    assert self_link.get("href") == f"{base}search?q=producttype:S2MSI*&start=0&rows=4"  # type: ignore[union-attr]


def test_public_url_setting_drives_links(hub: Hub) -> None:
    settings = hub.settings.model_copy(
        update={
            "server": hub.settings.server.model_copy(
                update={"public_url": "https://eo.example/hub/"}
            )
        }
    )
    other = dataclasses.replace(hub, settings=settings)
    body = json.loads(
        call(_app(other), "GET", "/dhus/search", params={"q": "*", "format": "json"}).content
    )
    assert body["feed"]["id"] == "https://eo.example/hub/dhus/search?q=*"
    entry = body["feed"]["entry"][0]
    assert entry["link"][1]["href"].startswith("https://eo.example/hub/dhus/odata/v1/Products('")


def test_post_form(app: FastAPI) -> None:
    response = call(
        app,
        "POST",
        "/dhus/search",
        data={"q": "platformname:Sentinel-3", "rows": "2", "format": "json"},
    )
    assert response.status_code == 200
    body = response.json()["feed"]
    assert len(entries(body)) == 2
    assert all(BY_ID[i].collection == "SENTINEL-3" for i in ids(body))


def test_raw_and_latin1_query_strings(app: FastAPI) -> None:
    raw = ("/dhus/search?q=%20platformname:Sentinel-2%20AND%20%20beginPosition:"
           "[2024-01-01T00:00:00.000Z%20TO%20NOW]%20%20&rows=5&start=0")  # fmt: skip
    response = call(app, "GET", raw)
    assert response.status_code == 200
    root = ElementTree.fromstring(response.content)
    assert root.find(f"{ATOM}title").text.endswith(  # type: ignore[union-attr]
        "search results for:  platformname:Sentinel-2 AND  beginPosition:"
        "[2024-01-01T00:00:00.000Z TO NOW]  "
    )
    latin1 = call(app, "GET", "/search?format=json&rows=0&q=%F5%E4%F6%FC%FF%28")
    assert latin1.status_code == 200
    assert latin1.json()["feed"]["error"]["message"].startswith("Cannot parse 'õäöüÿ('")
    text = call(app, "GET", "/search?format=json&rows=0&q=%E9t%E9")  # Latin-1 "été": full text
    assert text.json()["feed"]["opensearch:Query"]["searchTerms"] == "été"


def test_query_errors_are_dhus_error_feeds(app: FastAPI, hub: Hub) -> None:
    before = hub.catalogue.count(Query())
    response = search(app, q="xxx:yyy", format="json")
    assert response.status_code == 200
    error = response.json()["feed"]["error"]
    assert error["code"] == "400" and error["message"].startswith("undefined field xxx")
    xml = search(app, q="xxx:yyy")
    assert xml.status_code == 200
    assert ElementTree.fromstring(xml.content).find(f"{ATOM}error/{ATOM}code").text == "400"  # type: ignore[union-attr]
    for q in (
        'footprint:"Intersects(POLYGON((0 0,1 1,0 1)))"',
        'footprint:"Intersects(POLYGON((0 0,0 100,1 100,0 0)))"',
        "orbitnumber:abc",
        "beginposition:[NOW-1FOO TO NOW]",
        "a:(b",
        "'; DROP TABLE products; --",
        "identifier:\"x' OR '1'='1\"",
        "(" * 300 + "a" + ")" * 300,
        "a OR " * 200 + "a",
    ):
        got = search(app, q=q, format="json", rows="1")
        assert got.status_code == 200, (q, got.text)
        assert set(got.json()["feed"]) & {"error", "opensearch:totalResults"}, q
    for params in ({"rows": "-1"}, {"start": "-1"}, {"orderby": "footprint asc"}):
        got = search(app, q="*", format="json", **params)
        assert got.status_code == 200 and "error" in got.json()["feed"], params
    assert hub.catalogue.count(Query()) == before


def test_http_errors_like_dhus(app: FastAPI) -> None:
    too_many = search(app, q="*", rows="101")
    assert too_many.status_code == 400 and too_many.headers["content-type"].startswith("text/html")
    assert "Parameter `rows` exceeds the maximum value (100) in search request" in too_many.text
    assert search(app, rows="10").status_code == 400  # no q
    long = search(app, q="a_-.*:,?+~! " * 400, format="json", rows="0")
    assert long.status_code == 500
    assert "Request Entity Too Large" in long.headers["cause-message"]
    ignored = feed(app, q="*", rows="many", start="first")
    assert ignored["opensearch:itemsPerPage"] == "10" and ignored["opensearch:startIndex"] == "0"


def test_now_comes_from_the_clock_dependency(hub: Hub) -> None:
    app = _app(hub)
    newest = max(PRODUCTS, key=lambda p: p.ingestion_date)
    app.dependency_overrides[api_opensearch.clock] = lambda: (
        newest.ingestion_date + timedelta(hours=1)
    )
    params = {"q": "ingestiondate:[NOW-2HOURS TO NOW]", "format": "json", "rows": "100"}
    body = json.loads(call(app, "GET", "/search", params=params).content)["feed"]
    expected = {str(p.id) for p in PRODUCTS
                if newest.ingestion_date - timedelta(hours=1) <= p.ingestion_date}  # fmt: skip
    assert set(ids(body)) == expected and str(newest.id) in expected


def test_access_hook_guards_every_route(hub: Hub) -> None:
    from fastapi import HTTPException

    app = _app(hub)

    def deny() -> None:
        raise HTTPException(status_code=403)

    app.dependency_overrides[api_opensearch.search_access] = deny
    for path in ("/search", "/dhus/search", "/apihub/search", "/search/description"):
        assert call(app, "GET", path, params={"q": "*"}).status_code == 403


def test_description_document(app: FastAPI) -> None:
    response = call(app, "GET", "/dhus/search/description")
    assert response.status_code == 200
    root = ElementTree.fromstring(response.content)
    templates = [u.get("template") for u in root.iter("{http://a9.com/-/spec/opensearch/1.1/}Url")]
    linked = call(app, "GET", "/dhus/opensearch_description.xml")  # the feeds' relative link
    assert linked.status_code == 200 and linked.content == response.content
    assert templates and all(t.startswith("http://hub.test/dhus/search?q=") for t in templates)  # type: ignore[union-attr]


def test_bbox_results_really_intersect(app: FastAPI) -> None:
    body = feed(app, q='footprint:"Intersects(ENVELOPE(-10, 30, 60, 35))"', rows="100")
    assert entries(body)
    area = box(-10, 35, 30, 60)
    for pid in ids(body):
        product: Product = BY_ID[pid]
        assert product.footprint is not None and product.footprint.search.intersects(area)
    point = feed(app, q='footprint:"Intersects(50.0, 10.0)"', rows="100")  # lat, lon
    for pid in ids(point):
        fp = BY_ID[pid].footprint
        assert fp is not None and fp.search.intersects(box(9.999, 49.999, 10.001, 50.001))


def test_uuid_of_unknown_product_is_empty(app: FastAPI) -> None:
    assert "entry" not in feed(app, q=f"uuid:{uuid.uuid4()}")
