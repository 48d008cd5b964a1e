"""The same OData $filter gives the reference evaluator's answer on SQLite and on PostGIS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from odata_support import asgi_get

from account_support import add_downloader
from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.protocols.dhus.odata_v1.filter_translate import parse
from eohub.query import Query
from eohub.query.evaluate import matches
from eohub.wiring import Hub, build_hub

PRODUCTS = list(generate_products(300, seed=21))
FILTERS = [
    "substringof('_IW_', Name) and ContentDate/Start ge datetime'2024-01-01T00:00:00'",
    "startswith(tolower(Name), 's2') eq false or ContentLength lt 100000000",
    "month(ContentDate/Start) eq 7 or day(ContentDate/End) ge 28",
    "year(ContentDate/Start) eq 2024 and hour(ContentDate/Start) lt 6",
    "cloudCover lt 20 and not (Attributes('Satellite') eq 'Sentinel-2')",
    "Attributes('Product type') ne 'GRD' and Online",
    "Collection/Name eq 'SENTINEL-5P' or endswith(Name, '0')",
]


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    catalogue = {}
    if request.param == "postgis":
        catalogue = {"dsn": request.getfixturevalue("postgres_dsn")}
    built = build_hub(Settings(data_dir=tmp_path / "hub", catalogue=catalogue))  # type: ignore[arg-type]
    built.catalogue.upsert(PRODUCTS)
    add_downloader(built)
    yield built
    built.close()


def _ids(app: FastAPI, expression: str) -> set[str]:
    url = f"/odata/v1/Products?$format=json&$top=1000&$filter={expression}"
    response = asgi_get(app, url)
    assert response.status_code == 200, response.text
    return {e["Id"] for e in response.json()["d"]["results"]}


def test_filters_agree_with_the_reference_evaluator(hub: Hub) -> None:
    app = create_app(hub=hub)
    stored = list(hub.catalogue.search(Query(limit=1000)).items)
    assert len(stored) == len(PRODUCTS)

    def span(field: str, where: object) -> tuple[object, object] | None:
        from eohub.query.fields import FIELDS

        values = sorted(FIELDS.get(field).get(p) for p in stored if matches(where, p))  # type: ignore[arg-type]
        return (values[0], values[-1]) if values else None

    for expression in FILTERS:
        node = parse(expression, span=span)  # type: ignore[arg-type]
        expected = {str(p.id) for p in stored if matches(node, p)}
        assert _ids(app, expression) == expected, expression
        assert expected, f"{expression} selects nothing: a weak test"
