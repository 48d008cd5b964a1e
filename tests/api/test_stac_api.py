"""The STAC API over a real uvicorn server: pystac-client searches, paging, Items, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from odata_support import OdataHub, live_server
from pystac_client import Client
from stac_support import AUTH_HEADER, build_stac_hub

from eohub.protocols.stac import collections
from eohub.query import Query


@pytest.fixture(scope="module")
def stac_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_stac_hub(tmp_path_factory.mktemp("stac"), auth={"anonymous_search": False})
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def server(stac_hub: OdataHub) -> Iterator[str]:
    with live_server(stac_hub.hub) as url:
        yield url


@pytest.fixture
def client(server: str) -> Client:
    return Client.open(f"{server}/stac", headers=AUTH_HEADER)


def _all(hub: OdataHub) -> list[Any]:
    return list(hub.hub.catalogue.search(Query(limit=1000)).items)


def test_landing_page_links_and_conformance(client: Client, server: str) -> None:
    assert client.conforms_to("ITEM_SEARCH") and client.conforms_to("FILTER")
    body = httpx.get(f"{server}/stac", headers=AUTH_HEADER).json()
    rels = {(link["rel"], link.get("method")) for link in body["links"]}
    for rel in ("self", "root", "conformance", "data", "service-desc", "service-doc", "child"):
        assert any(r == rel for r, _ in rels), rel
    assert ("search", "GET") in rels and ("search", "POST") in rels
    desc = httpx.get(f"{server}/stac/api", headers=AUTH_HEADER)
    assert desc.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert desc.json()["openapi"].startswith("3.")


def test_search_by_bbox_datetime_collection_and_filter(client: Client, stac_hub: OdataHub) -> None:
    s2 = [p for p in _all(stac_hub) if collections.collection_id_of(p) == "sentinel-2-l2a"]
    assert s2, "the sample has Sentinel-2 L2A products"
    target = s2[0]
    west, south, east, north = target.footprint.bounds
    start = target.sensing.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    found = client.search(
        collections=["sentinel-2-l2a"],
        bbox=[west, south, east, north],
        datetime=f"{start}/..",
        filter={"op": ">=", "args": [{"property": "eo:cloud_cover"}, 0]},
        filter_lang="cql2-json",
        max_items=50,
    )
    items = list(found.items())
    assert target.name in {i.id for i in items}
    assert all(i.collection_id == "sentinel-2-l2a" for i in items)
    assert all(i.properties["constellation"] == "sentinel-2" for i in items)


def test_paging_across_pages_has_no_duplicates_and_matches_the_count(
    client: Client, stac_hub: OdataHub
) -> None:
    total = len(_all(stac_hub))
    for method in ("GET", "POST"):
        search = client.search(limit=7, method=method, sortby="-datetime")
        ids = [item.id for item in search.items()]
        assert len(ids) == total and len(set(ids)) == total, method
        assert search.matched() == total
        pages = list(search.pages())
        assert len(pages) == -(-total // 7)


def test_sortby_orders_by_cloud_cover(client: Client) -> None:
    search = client.search(
        collections=["sentinel-2-l1c", "sentinel-2-l2a"], sortby="+eo:cloud_cover", max_items=100
    )
    covers = [i.properties.get("eo:cloud_cover") for i in search.items()]
    values = [c for c in covers if c is not None]
    assert values == sorted(values) and len(values) > 2


def test_cql2_text_over_get_and_free_text(client: Client, stac_hub: OdataHub, server: str) -> None:
    search = client.search(filter="eo:cloud_cover < 30 AND platform = 'sentinel-2a'",
                           filter_lang="cql2-text", method="GET", max_items=200)  # fmt: skip
    expected = {p.name for p in _all(stac_hub)
                if p.platform == "Sentinel-2A" and p.cloud_cover is not None
                and p.cloud_cover < 30}  # fmt: skip
    assert {i.id for i in search.items()} == expected
    one = _all(stac_hub)[0]
    body = httpx.post(f"{server}/stac/search", json={"q": one.name}, headers=AUTH_HEADER).json()
    assert one.name in {f["id"] for f in body["features"]}


def test_single_item_lists_the_files_of_a_stored_product(server: str, stac_hub: OdataHub) -> None:
    product = stac_hub.by_collection("SENTINEL-2")
    cid = collections.collection_id_of(product)
    url = f"{server}/stac/collections/{cid}/items/{product.name}"
    item = httpx.get(url, headers=AUTH_HEADER).json()
    assert item["id"] == product.name and item["stac_version"] == "1.1.0"
    assert item["properties"]["grid:code"] == f"MGRS-{product.tile_id}"
    files = [k for k, a in item["assets"].items() if k not in ("product", "quicklook", "thumbnail")]
    assert any(k.endswith(".xml") for k in files), files
    manifest = next(a for k, a in item["assets"].items() if k.startswith("MTD_"))
    got = httpx.get(manifest["href"], headers=AUTH_HEADER)
    assert got.status_code == 200 and got.content.startswith(b"<?xml")
    data = httpx.get(item["assets"]["product"]["href"], headers=AUTH_HEADER)
    assert data.status_code == 200 and len(data.content) == item["assets"]["product"]["file:size"]
    assert item["assets"]["product"]["file:checksum"] == "d50110" + product.checksum("MD5")


def test_collections_have_extents_from_the_catalogue(server: str, stac_hub: OdataHub) -> None:
    body = httpx.get(f"{server}/stac/collections", headers=AUTH_HEADER).json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == {c.id for c in collections.TABLE}
    members = [p for p in _all(stac_hub) if collections.collection_id_of(p) == "sentinel-1-grd"]
    interval = by_id["sentinel-1-grd"]["extent"]["temporal"]["interval"][0]
    assert interval[0].startswith(min(p.sensing.start for p in members).strftime("%Y-%m-%dT%H:%M"))
    assert by_id["other"]["extent"]["temporal"]["interval"] == [[None, None]]
    q = httpx.get(f"{server}/stac/collections/sentinel-1-grd/queryables", headers=AUTH_HEADER)
    assert q.headers["content-type"] == "application/schema+json"
    assert "eo:cloud_cover" in q.json()["properties"]


def test_collection_summaries_list_what_the_catalogue_holds(
    server: str, stac_hub: OdataHub
) -> None:
    by_id = {c["id"]: c for c in httpx.get(f"{server}/stac/collections",
                                            headers=AUTH_HEADER).json()["collections"]}  # fmt: skip
    products = _all(stac_hub)
    for cid in ("sentinel-1-grd", "sentinel-2-l2a", "sentinel-2-l1c"):
        members = [p for p in products if collections.collection_id_of(p) == cid]
        assert members, cid
        summaries = by_id[cid]["summaries"]
        assert summaries["platform"] == sorted({p.platform.lower() for p in members})
        assert summaries["product:type"] == sorted({p.product_type for p in members})
        clouds = [p.cloud_cover for p in members if p.cloud_cover is not None]
        if clouds:
            assert summaries["eo:cloud_cover"] == {"minimum": min(clouds),
                                                   "maximum": max(clouds)}  # fmt: skip
        else:
            assert "eo:cloud_cover" not in summaries
    # An empty collection shows what it is meant to hold.
    held = {collections.collection_id_of(p) for p in products}
    empty = next(c for c in collections.TABLE if c.id not in held and c.platforms)
    summaries = by_id[empty.id]["summaries"]
    assert summaries["platform"] == list(empty.platforms) and "eo:cloud_cover" not in summaries


BAD = [
    ("GET", "/stac/search?bbox=1,2,3"),
    ("GET", "/stac/search?bbox=0,10,1,5"),
    ("GET", "/stac/search?bbox=a,b,c,d"),
    (
        "GET",
        "/stac/search?bbox=0,0,1,1&intersects=%7B%22type%22:%22Point%22,%22coordinates%22:[0,0]%7D",
    ),
    ("GET", "/stac/search?intersects=%7Bbroken"),
    ("GET", "/stac/search?intersects=%7B%22type%22:%22Polygon%22,%22coordinates%22:[]%7D"),
    ("GET", "/stac/search?datetime=1985-04-12"),
    ("GET", "/stac/search?datetime=../.."),
    ("GET", "/stac/search?datetime=1986-04-12T23:20:50Z/1985-04-12T23:20:50Z"),
    ("GET", "/stac/search?limit=-1"),
    ("GET", "/stac/search?limit=ten"),
    ("GET", "/stac/search?cursor=not-a-token"),
    ("GET", "/stac/search?sortby=-footprint"),
    ("GET", "/stac/search?filter=eo:cloud_cover%20%3C"),
    ("GET", "/stac/search?filter=nosuch%20=%201"),
    ("GET", "/stac/search?filter-lang=cql3&filter=a"),
    ("GET", "/stac/search?query=%7B%22eo:cloud_cover%22:%7B%22like%22:1%7D%7D"),
    ("GET", "/stac/search?query=%7B%22id%22:%7B%22startsWith%22:1%7D%7D"),
    ("GET", "/stac/search?collections=no-such-collection"),
    ("GET", "/stac/search?limit=1&limit=2"),
    ("POST", {"limit": 0}),
    ("POST", {"bbox": "0,0,1,1"}),
    ("POST", {"intersects": {"type": "Feature"}}),
    ("POST", {"filter": {"op": "=", "args": [{"property": "nope"}, 1]}}),
    ("POST", {"sortby": [{"field": "datetime", "direction": "sideways"}]}),
    ("POST", {"fields": ["id"]}),
    ("POST", [1, 2]),
    ("POST", b"{not json"),
]


@pytest.mark.parametrize(("method", "what"), BAD, ids=[str(b[1])[:60] for b in BAD])
def test_bad_input_is_a_stac_error(server: str, method: str, what: Any) -> None:
    if method == "GET":
        response = httpx.get(server + what, headers=AUTH_HEADER)
    elif isinstance(what, bytes):
        response = httpx.post(f"{server}/stac/search", content=what, headers=AUTH_HEADER)
    else:
        response = httpx.post(f"{server}/stac/search", json=what, headers=AUTH_HEADER)
    assert response.status_code in (400, 404), response.text
    body = response.json()
    assert set(body) == {"code", "description"} and body["description"]


def test_unknown_collection_and_item_are_404(server: str) -> None:
    for path in ("/stac/collections/nope", "/stac/collections/nope/items",
                 "/stac/collections/sentinel-1-grd/items/NO_SUCH_PRODUCT",
                 "/stac/collections/nope/queryables"):  # fmt: skip
        response = httpx.get(server + path, headers=AUTH_HEADER)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_searching_needs_credentials(server: str) -> None:
    response = httpx.get(f"{server}/stac/search")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert set(response.json()) == {"code", "description"}


def test_query_extension_text_operators(server: str, stac_hub: OdataHub) -> None:
    names = {p.name for p in _all(stac_hub)}
    for op, value, check in (
        ("startsWith", "S2B_MSI", lambda n: n.startswith("S2B_MSI")),
        ("endsWith", "_002", lambda n: n.endswith("_002")),
        ("contains", "_MSIL2A_", lambda n: "_MSIL2A_" in n),
        ("contains", "%", lambda n: "%" in n),  # a wildcard of LIKE is itself here
    ):
        body = {"query": {"id": {op: value}}, "limit": 1000}
        found = httpx.post(f"{server}/stac/search", json=body, headers=AUTH_HEADER)
        assert found.status_code == 200, found.text
        got = {f["id"] for f in found.json()["features"]}
        assert got == {n for n in names if check(n)}, (op, value)
