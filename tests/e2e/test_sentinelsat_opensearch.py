"""The unmodified sentinelsat client searches a real eohub server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import uvicorn

from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.model import Footprint, Role
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

sentinelsat = pytest.importorskip("sentinelsat")

AREA = "POLYGON((-10 35,30 35,30 60,-10 60,-10 35))"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = build_hub(Settings(data_dir=tmp_path_factory.mktemp("sentinelsat")))
    hub.catalogue.upsert(generate_products(3000, seed=21))
    hub.accounts.create("user", "password", [Role.SEARCH])
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def base_url(hub: Hub) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the eohub server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=30)


def _expected(hub: Hub, tree: object) -> set[str]:
    page = hub.catalogue.search(Query(filter=tree, limit=10_000, count=CountMode.EXACT))  # type: ignore[arg-type]
    return {str(p.id) for p in page.items}


def test_query_and_count_with_area_dates_platform_cloud(hub: Hub, base_url: str) -> None:
    api = sentinelsat.SentinelAPI("user", "password", api_url=base_url)
    criteria = {
        "area": AREA,
        "date": (date(2023, 1, 1), date(2025, 12, 31)),
        "platformname": "Sentinel-2",
        "cloudcoverpercentage": (0, 30),
    }
    products = api.query(**criteria)
    expected = _expected(
        hub,
        and_(
            Range(
                "sensing_start",
                datetime(2023, 1, 1, tzinfo=UTC),
                datetime(2025, 12, 31, tzinfo=UTC),
            ),
            Range("cloud_cover", 0.0, 30.0),
            Compare("mission", CompareOp.EQ, "Sentinel-2", ignore_case=True),
            Spatial(SpatialOp.INTERSECTS, Footprint.from_wkt(AREA)),
        ),
    )
    assert expected, "the generated catalogue must have matches"
    assert set(products) == expected
    assert api.count(**criteria) == len(expected)
    one = next(iter(products.values()))
    assert one["platformname"] == "Sentinel-2" and 0 <= one["cloudcoverpercentage"] <= 30
    assert isinstance(one["beginposition"], datetime) and isinstance(one["orbitnumber"], int)
    assert one["link"].endswith(f"/odata/v1/Products('{one['uuid']}')/$value")
    geojson = api.to_geojson(products)  # parses every footprint WKT
    assert len(geojson["features"]) == len(expected)


def test_query_pages_through_more_than_one_hundred(hub: Hub, base_url: str) -> None:
    api = sentinelsat.SentinelAPI("user", "password", api_url=base_url + "dhus/")
    products = api.query(platformname="Sentinel-1", order_by="-beginposition")
    expected = _expected(hub, Compare("mission", CompareOp.EQ, "Sentinel-1", ignore_case=True))
    assert len(expected) > 100
    assert set(products) == expected
    starts = [p["beginposition"] for p in products.values()]
    assert starts == sorted(starts, reverse=True)
    assert api.count(platformname="Sentinel-1") == len(expected)
    limited = api.query(platformname="Sentinel-1", limit=5, offset=3, order_by="beginposition")
    assert len(limited) == 5


def test_query_errors_map_to_sentinelsat_exceptions(base_url: str) -> None:
    api = sentinelsat.SentinelAPI("user", "password", api_url=base_url + "apihub/")
    with pytest.raises(sentinelsat.exceptions.QuerySyntaxError, match="undefined field xxx"):
        api.query(raw="xxx:yyy")
    with pytest.raises(sentinelsat.exceptions.QuerySyntaxError, match="Cannot parse"):
        api.count(raw="õäöüÿ(")
    with pytest.raises(sentinelsat.exceptions.QueryLengthError):
        api.count(raw=" ".join(["a_-.*:,?+~!"] * 400))
