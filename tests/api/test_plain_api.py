"""The plain JSON API over a real SQLite catalogue, through the ASGI app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.query import Query
from eohub.wiring import Hub, build_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hub"))
    hub = build_hub(settings)
    hub.catalogue.upsert(list(generate_products(300, seed=7)))
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def app(hub: Hub) -> FastAPI:
    return create_app(hub=hub)


def _get(app: FastAPI, url: str, **params: str) -> httpx.Response:
    import anyio

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.get(url, params=params)

    return anyio.run(go)


def test_health(app: FastAPI, hub: Hub) -> None:
    body = _get(app, "/healthz").json()
    assert body["status"] == "ok" and body["search_index"] in {"building", "ready"}
    assert hub.catalogue.prepare_search_index(wait_s=30) == "ready"
    assert _get(app, "/healthz").json() == {"status": "ok", "search_index": "ready"}


def test_search_counts_and_pages_through_everything(app: FastAPI, hub: Hub) -> None:
    first = _get(app, "/api/search", limit="50", count="true", sort="-sensing_start").json()
    assert first["total"] == 300
    seen = [p["id"] for p in first["items"]]
    token = first["next"]
    while token:
        page = _get(app, "/api/search", limit="50", sort="-sensing_start", cursor=token).json()
        seen += [p["id"] for p in page["items"]]
        token = page["next"]
    assert len(seen) == len(set(seen)) == 300
    starts = [hub.catalogue.get(uuid.UUID(i)).sensing.start for i in seen]
    assert starts == sorted(starts, reverse=True)


def test_filters_match_the_catalogue(app: FastAPI, hub: Hub) -> None:
    body = _get(
        app, "/api/search", collection="SENTINEL-2", cloud_cover="..30", limit="100", count="true"
    ).json()
    assert body["total"] > 0
    for item in body["items"]:
        assert item["collection"] == "SENTINEL-2"
        assert item["cloud_cover"] <= 30


def test_bbox_search_returns_only_intersecting_products(app: FastAPI, hub: Hub) -> None:
    from shapely.geometry import box, shape

    body = _get(app, "/api/search", bbox="-10,35,30,60", limit="1000").json()
    assert body["items"]
    area = box(-10, 35, 30, 60)
    for item in body["items"]:
        assert shape(item["footprint"]).intersects(area)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cloudiness": "3"}, "cloudiness"),
        ({"cloud_cover": "lots"}, "cloud_cover"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"geometry": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"}, None),
        ({"geometry": "POLYGON((0 0, 10 0, 10 100, 0 0))"}, None),
        ({"limit": "100000"}, "limit"),
        ({"sort": "footprint"}, "footprint"),
        ({"cursor": "not-a-token"}, "cursor"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_input_is_a_clear_400(app: FastAPI, params: dict[str, str], field: str | None) -> None:
    response = _get(app, "/api/search", **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"]
    if field:
        assert error.get("field") == field


def test_unknown_product_is_404(app: FastAPI) -> None:
    assert _get(app, "/api/products/00000000-0000-0000-0000-000000000000").status_code == 404
    assert _get(app, "/api/products/nonsense").status_code == 404


def test_one_product_round_trips(app: FastAPI, hub: Hub) -> None:
    some: Product = hub.catalogue.search(Query()).items[0]
    body = _get(app, f"/api/products/{some.id}").json()
    assert body["name"] == some.name
    assert body["checksums"] == {c.algorithm: c.value for c in some.checksums}


def test_settings_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlite_path == tmp_path / "catalogue.sqlite"
