"""Malformed, hostile and unknown input: the DHuS/OData error for each, never a 500, and
nothing stored changes."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from lxml import etree
from odata_support import OdataHub, asgi_request, build_odata_hub

from eohub.api.app import create_app
from eohub.query import Query


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("odata-bad"), n=4)
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def app(data: OdataHub) -> FastAPI:
    return create_app(hub=data.hub)


def _snapshot(data: OdataHub) -> tuple[object, ...]:
    products = data.hub.catalogue.search(Query(limit=100)).items
    keys = sorted(data.hub.store.keys())
    return (tuple(products), tuple(keys))


def _filter(expression: str) -> str:
    return "/odata/v1/Products?$format=json&$filter=" + urllib.parse.quote(expression)


BAD_FILTERS = [
    ("Name eq", "expected a value"),
    ("Name eq 'x", "unterminated string"),
    ("Foo eq 1", "unknown property 'Foo'"),
    ("EvictionDate eq null", "is not filterable"),
    ("ContentType eq 'x'", "is not filterable"),
    ("Name eq 5", "cannot be compared"),
    ("ContentLength lt 'big'", "cannot be compared"),
    ("Online gt true", "does not apply"),
    ("Name", "is not a condition"),
    ("((((Name eq 'a'", "expected ')'"),
    ("Name eq 'a' )", "unexpected ')'"),
    ("bogus(Name) eq 1", "unknown function"),
    ("length(Name) eq 3", "not supported"),
    ("substringof(Name, 'x')", "needs a text"),
    ("year(Name) eq 2020", "applies to a datetime property"),
    ("year(IngestionDate) eq 'x'", "compares with an integer"),
    ("IngestionDate gt datetime'2020-13-45T00:00:00'", "not a valid datetime"),
    ("IngestionDate gt datetime'yesterday'", "not a datetime"),
    ("Id eq guid'nope'", "not a GUID"),
    ("ContentLength gt 1 div 0", "division by zero"),
    ("ContentGeometry eq 'x'", "cannot be compared"),
    ("Name eq " + "(" * 200 + "'a'" + ")" * 200, "nested too deeply"),
    ("Name eq '" + "a" * 9000 + "'", "longer than"),
    ("$" * 10, "unexpected character"),
    ("Name eq 'a'; DROP TABLE products; --", "unexpected character"),
    ("Name eq '\x00'", None),
    ("hour(IngestionDate) eq 3 or second(IngestionDate) eq 4", None),
]


@pytest.mark.parametrize(("expression", "message"), BAD_FILTERS)
def test_bad_filters_are_400_with_a_message(
    app: FastAPI, data: OdataHub, expression: str, message: str | None
) -> None:
    before = _snapshot(data)
    response = asgi_request(app, "GET", _filter(expression))
    assert response.status_code in (200, 400), response.text
    if message is not None:
        assert response.status_code == 400
        error = response.json()["error"]["message"]["value"]
        assert message in error, error
        assert response.headers["cause-message"].endswith(error)
    assert _snapshot(data) == before


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/odata/v1/Products?$top=100000", 400, "exceeds the authorized size (1000)"),
        ("/odata/v1/Products?$top=-1", 400, "$top"),
        ("/odata/v1/Products?$top=abc", 400, "$top"),
        ("/odata/v1/Products?$skip=-5", 400, "$skip"),
        ("/odata/v1/Products?$skip=" + "9" * 40, 400, "$skip"),
        ("/odata/v1/Products?$orderby=Online", 400, "cannot be used in $orderby"),
        ("/odata/v1/Products?$orderby=Nope desc", 400, "unknown property"),
        ("/odata/v1/Products?$orderby=Name sideways", 400, "Invalid $orderby"),
        ("/odata/v1/Products?$select=Nope", 400, "Invalid $select"),
        ("/odata/v1/Products?$expand=Nope", 400, "Invalid $expand"),
        ("/odata/v1/Products?$format=pdf", 400, "Unsupported $format"),
        ("/odata/v1/Products?$inlinecount=some", 400, "$inlinecount"),
        ("/odata/v1/Products?$nonsense=1", 400, "Invalid system query option"),
        ("/odata/v1/Products(nope)", 400, "Invalid key predicate"),
        ("/odata/v1/Products('a'b')", 400, "Invalid"),
        ("/odata/v1/Products('00000000-0000-0000-0000-000000000000')", 404, "Invalid key"),
        ("/odata/v1/Products('%00%01')", 400, "control characters"),
        ("/odata/v1/Products('%ff')", 400, "UTF-8"),
        ("/odata/v1/Nope", 404, "Could not find an entity set"),
        ("/odata/v1/Nodes", 404, "through a Product"),
        ("/odata/v1/Products/Nope", 400, "Invalid segment"),
        ("/odata/v1/" + "/".join(["a"] * 50), 400, "too long"),
        ("/odata/v1/DeletedProducts('x')", 404, "Invalid key (x)"),
        ("/odata/v1/Collections?$filter=Name eq 'x'", 501, "Products only"),
    ],
)
def test_bad_requests(app: FastAPI, data: OdataHub, url: str, status: int, message: str) -> None:
    before = _snapshot(data)
    response = asgi_request(app, "GET", url)
    assert response.status_code == status, response.text
    text = etree.fromstring(response.content).findtext(
        "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}message"
    )
    assert text is not None and message in text, text
    assert response.headers["dataserviceversion"] == "1.0"
    assert _snapshot(data) == before


def test_bad_paths_below_a_product(app: FastAPI, data: OdataHub) -> None:
    product = data.products[0]
    base = f"/odata/v1/Products('{product.id}')"
    for path, status in (
        ("/Nope", 404),
        ("/Name/Nope/$value", 404),
        ("/ContentDate/$value", 400),
        ("/Attributes('Nope')", 404),
        ("/Products('Nope')/$value", 404),
        ("/Nodes('nope.SAFE')", 404),
        ("/Nodes('a')/Nodes('..')/$value", 404),
        ("/Name('x')", 400),
    ):
        response = asgi_request(app, "GET", base + path)
        assert response.status_code == status, (path, response.text)


def test_hostile_strings_are_data_not_code(app: FastAPI, data: OdataHub) -> None:
    before = _snapshot(data)
    names = [p.name for p in data.hub.catalogue.search(Query(limit=100)).items]
    for value in ("' or 1=1 --", "%", "_", "*", "?", "\\", "'); DELETE FROM products; --", "é€😀"):
        literal = value.replace("'", "''")
        response = asgi_request(app, "GET", _filter(f"Name eq '{literal}'"))
        assert response.status_code == 200 and response.json()["d"]["results"] == []
        response = asgi_request(app, "GET", _filter(f"substringof('{literal}', Name)"))
        found = sorted(e["Name"] for e in response.json()["d"]["results"])
        assert found == sorted(n for n in names if value in n)  # wildcards are literal
        response = asgi_request(app, "GET", _filter(f"Attributes('{literal}') eq 'x'"))
        assert response.status_code == 200
    assert _snapshot(data) == before


def test_bad_keys_for_sentinelsat_shapes(app: FastAPI) -> None:
    for key in ("invalid-xyz", "../../etc/passwd", "' or ''='", "x" * 500):
        quoted = urllib.parse.quote(key.replace("'", "''"), safe="")
        response = asgi_request(app, "GET", f"/odata/v1/Products('{quoted}')?$format=json")
        assert response.status_code == 404
        assert response.json()["error"]["message"]["value"].startswith("Invalid key (")
