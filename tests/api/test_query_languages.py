"""One table of logical searches, each written in DHuS ``q=``, DHuS OData ``$filter``, CDSE
``$filter``, CQL2 text and CQL2 JSON: over real HTTP to one uvicorn server on 127.0.0.1 every
language returns the same, non-empty set of products (paging through every page), and where the
languages mean exactly the same thing their parsed query trees are equal.

Where the languages differ in meaning (so their trees differ, while the products found here are
the same):
- DHuS text keywords (``platformname``, ``producttype``, ``orbitdirection``...) match without
  regard to case, as Solr did; DHuS OData, CDSE and CQL2 compare exactly, except the STAC values
  Items show lower-case (``constellation``, ``platform``, ``sat:orbit_state``), which CQL2 also
  compares without regard to case. ``test_case_rules_differ_between_languages`` shows it.
- DHuS ``field:[a TO b]`` is a range node; ``ge ... and le ...`` in OData is two comparisons:
  the same products, another tree shape.
- CDSE ``Name`` is the file name with its extension (``.SAFE``); the other languages' names are
  the product identifier. A prefix or an inner part matches both alike.
- In CQL2 ``LIKE``, ``_`` matches any one character (write ``\\_`` for an underscore); in DHuS
  and OData an underscore is itself.
- CDSE reaches a mission through ``Collection/Name`` ('SENTINEL-2'), DHuS through
  ``platformname`` ('Sentinel-2'), STAC through ``constellation`` ('sentinel-2').
- DHuS OData v1 has no spatial function (DHuS never offered one): the area rows leave it out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from odata_support import OdataHub, live_server
from stac_support import build_stac_hub

from account_support import DOWNLOADER
from eohub.protocols.csc.filter import parse_filter as parse_cdse
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.odata_v1.filter_translate import parse as parse_dhus_odata
from eohub.protocols.stac import cql2
from eohub.query import Query, evaluate
from eohub.query.normalize import normalize_filter
from eohub.query.tree import Node

PAGE = 10  # small pages so that every language pages
MAX_PAGES = 50
AREA = "POLYGON((0 0,40 0,40 50,0 50,0 0))"
AREA_JSON = {"type": "Polygon", "coordinates": [[[0, 0], [40, 0], [40, 50], [0, 50], [0, 0]]]}
Y2024 = ("2024-01-01T00:00:00", "2025-01-01T00:00:00")
LANGUAGES = ("q", "odata", "cdse", "cql2-text", "cql2-json")


def _attr(kind: str, name: str, op: str, value: str) -> str:
    """A CDSE attribute condition, as CDSE's documentation writes them."""
    return (f"Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq '{name}' and "
            f"att/OData.CSC.{kind}Attribute/Value {op} {value})")  # fmt: skip


def _j(op: str, *args: Any) -> dict[str, Any]:
    """A CQL2-JSON operation."""
    return {"op": op, "args": list(args)}


def _p(name: str) -> dict[str, str]:
    return {"property": name}


def _ts(text: str) -> dict[str, str]:
    return {"timestamp": text + "Z"}


S1_DIR = "sat:orbit_state"
CDSE_2024 = (f"ContentDate/Start ge {Y2024[0]}.000Z and "
             f"ContentDate/Start le {Y2024[1]}.000Z")  # fmt: skip
CQL_2024 = (f"start_datetime >= TIMESTAMP('{Y2024[0]}Z') AND "
            f"start_datetime <= TIMESTAMP('{Y2024[1]}Z')")  # fmt: skip
JSON_2024 = _j("and", _j(">=", _p("start_datetime"), _ts(Y2024[0])),
               _j("<=", _p("start_datetime"), _ts(Y2024[1])))  # fmt: skip


@dataclass(frozen=True)
class Search:
    """One logical search in every language; ``same_trees``: groups of languages whose parsed
    trees are equal (CQL2 text and JSON always are); ``odata`` None: not expressible there."""

    name: str
    q: str
    odata: str | None
    cdse: str
    cql2_text: str
    cql2_json: dict[str, Any]
    same_trees: tuple[tuple[str, ...], ...] = field(default=())


SEARCHES = [
    Search(
        "mission",
        "platformname:Sentinel-2",
        "platformname eq 'Sentinel-2'",
        "Collection/Name eq 'SENTINEL-2'",
        "constellation = 'sentinel-2'",
        _j("=", _p("constellation"), "sentinel-2"),
    ),
    Search(
        "product type",
        "producttype:GRD",
        "producttype eq 'GRD'",
        _attr("String", "productType", "eq", "'GRD'"),
        "\"product:type\" = 'GRD'",
        _j("=", _p("product:type"), "GRD"),
        (("odata", "cdse", "cql2-text"),),
    ),
    Search(
        "sensing interval",
        f"beginposition:[{Y2024[0]}.000Z TO {Y2024[1]}.000Z]",
        f"ContentDate/Start ge datetime'{Y2024[0]}' and ContentDate/Start le datetime'{Y2024[1]}'",
        CDSE_2024,
        CQL_2024,
        JSON_2024,
        (("odata", "cdse", "cql2-text"),),
    ),
    Search(
        "area intersecting",
        f'footprint:"Intersects({AREA})"',
        None,
        f"OData.CSC.Intersects(area=geography'SRID=4326;{AREA}')",
        f"S_INTERSECTS(geometry, {AREA})",
        _j("s_intersects", _p("geometry"), AREA_JSON),
        (("q", "cdse", "cql2-text"),),
    ),
    Search(
        "cloud cover at most 20",
        "cloudcoverpercentage:[* TO 20]",
        "cloudcoverpercentage le 20",
        _attr("Double", "cloudCover", "le", "20.00"),
        '"eo:cloud_cover" <= 20',
        _j("<=", _p("eo:cloud_cover"), 20),
        (("odata", "cdse", "cql2-text"),),
    ),
    Search(
        "orbit number range",
        "orbitnumber:[40000 TO 50000]",
        "orbitnumber ge 40000 and orbitnumber le 50000",
        _attr("Integer", "orbitNumber", "ge", "40000") + " and "
        + _attr("Integer", "orbitNumber", "le", "50000"),
        '"sat:absolute_orbit" BETWEEN 40000 AND 50000',
        _j("between", _p("sat:absolute_orbit"), 40000, 50000),
        (("q", "cql2-text"), ("odata", "cdse")),
    ),
    Search(
        "orbit direction",
        "orbitdirection:ascending",
        "orbitdirection eq 'ASCENDING'",
        _attr("String", "orbitDirection", "eq", "'ASCENDING'"),
        f"\"{S1_DIR}\" = 'ascending'",
        _j("=", _p(S1_DIR), "ascending"),
        (("q", "cql2-text"), ("odata", "cdse")),
    ),
    Search(
        "name prefix",
        "identifier:S1A_IW*",
        "startswith(Name,'S1A_IW')",
        "startswith(Name,'S1A_IW')",
        r"id LIKE 'S1A\_IW%'",
        _j("like", _p("id"), r"S1A\_IW%"),
        (("q", "odata", "cql2-text"),),
    ),
    Search(
        "name contains",
        "identifier:*MSIL2A*",
        "substringof('MSIL2A',Name)",
        "contains(Name,'MSIL2A')",
        "id LIKE '%MSIL2A%'",
        _j("like", _p("id"), "%MSIL2A%"),
        (("q", "odata", "cql2-text"),),
    ),
    Search(
        "and: Sentinel-1, descending, 2024",
        f"platformname:Sentinel-1 AND orbitdirection:DESCENDING AND "
        f"beginposition:[{Y2024[0]}.000Z TO {Y2024[1]}.000Z]",
        f"platformname eq 'Sentinel-1' and orbitdirection eq 'DESCENDING' and "
        f"ContentDate/Start ge datetime'{Y2024[0]}' and ContentDate/Start le datetime'{Y2024[1]}'",
        "Collection/Name eq 'SENTINEL-1' and "
        + _attr("String", "orbitDirection", "eq", "'DESCENDING'") + " and " + CDSE_2024,
        f"constellation = 'sentinel-1' AND \"{S1_DIR}\" = 'descending' AND {CQL_2024}",
        _j("and", _j("=", _p("constellation"), "sentinel-1"),
           _j("=", _p(S1_DIR), "descending"), JSON_2024),
    ),
    Search(
        "or: two product types",
        "producttype:GRD OR producttype:S2MSI1C",
        "producttype eq 'GRD' or producttype eq 'S2MSI1C'",
        _attr("String", "productType", "eq", "'GRD'") + " or "
        + _attr("String", "productType", "eq", "'S2MSI1C'"),
        "\"product:type\" = 'GRD' OR \"product:type\" = 'S2MSI1C'",
        _j("in", _p("product:type"), ["GRD", "S2MSI1C"]),
        (("odata", "cdse", "cql2-text"),),
    ),
    Search(
        "not: Sentinel-2 without heavy cloud",
        "platformname:Sentinel-2 AND NOT cloudcoverpercentage:[50 TO *]",
        "platformname eq 'Sentinel-2' and not (cloudcoverpercentage ge 50)",
        "Collection/Name eq 'SENTINEL-2' and not "
        + _attr("Double", "cloudCover", "ge", "50.0"),
        "constellation = 'sentinel-2' AND NOT \"eo:cloud_cover\" >= 50",
        _j("and", _j("=", _p("constellation"), "sentinel-2"),
           _j("not", _j(">=", _p("eo:cloud_cover"), 50))),
    ),
    Search(
        "area and (type or type) and not a platform",
        f'footprint:"Intersects({AREA})" AND (producttype:S2MSI1C OR producttype:GRD) '
        "AND NOT platformserialidentifier:B",
        None,
        f"OData.CSC.Intersects(area=geography'SRID=4326;{AREA}') and ("
        + _attr("String", "productType", "eq", "'S2MSI1C'") + " or "
        + _attr("String", "productType", "eq", "'GRD'") + ") and not "
        + _attr("String", "platformSerialIdentifier", "eq", "'B'"),
        f"S_INTERSECTS(geometry, {AREA}) AND (\"product:type\" = 'S2MSI1C' OR "
        "\"product:type\" = 'GRD') AND NOT platform IN ('sentinel-2b', 'sentinel-1b')",
        _j("and", _j("s_intersects", _p("geometry"), AREA_JSON),
           _j("or", _j("=", _p("product:type"), "S2MSI1C"), _j("=", _p("product:type"), "GRD")),
           _j("not", _j("in", _p("platform"), ["sentinel-2b", "sentinel-1b"]))),
    ),
]  # fmt: skip


def _trees(search: Search) -> dict[str, Node]:
    now = datetime.now(UTC)
    trees = {
        "q": parse_q(search.q, now),
        "cdse": parse_cdse(search.cdse),
        "cql2-text": cql2.parse_text(search.cql2_text),
        "cql2-json": cql2.parse_json(search.cql2_json),
    }
    if search.odata is not None:
        trees["odata"] = parse_dhus_odata(search.odata)
    return {language: normalize_filter(tree) for language, tree in trees.items()}


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: s.name)
def test_languages_that_mean_the_same_give_equal_trees(search: Search) -> None:
    trees = _trees(search)
    if search.cql2_json.get("op") != "in":  # IN in JSON vs OR in text: the same products
        assert trees["cql2-text"] == trees["cql2-json"]
    for group in search.same_trees:
        first, *others = group
        for other in others:
            assert trees[other] == trees[first], f"{other} differs from {first}"


# -- over HTTP ------------------------------------------------------------------------------------


@dataclass
class Served:
    data: OdataHub
    client: httpx.Client
    id_of_name: dict[str, str]

    def opensearch(self, q: str) -> list[str]:
        ids: list[str] = []
        for page in range(MAX_PAGES):
            answer = self.client.get(
                "/search", params={"q": q, "rows": PAGE, "start": page * PAGE, "format": "json"}
            )
            assert answer.status_code == 200, answer.text
            entries = answer.json()["feed"].get("entry", [])
            entries = [entries] if isinstance(entries, dict) else entries
            ids += [e["id"] for e in entries]
            if len(entries) < PAGE:
                return ids
        raise AssertionError("OpenSearch paging did not end")

    def dhus_odata(self, text: str) -> list[str]:
        ids: list[str] = []
        for page in range(MAX_PAGES):
            params: dict[str, str | int] = {
                "$filter": text,
                "$top": PAGE,
                "$skip": page * PAGE,
                "$format": "json",
            }
            answer = self.client.get("/odata/v1/Products", params=params)
            assert answer.status_code == 200, answer.text
            results = answer.json()["d"]["results"]
            ids += [r["Id"] for r in results]
            if len(results) < PAGE:
                return ids
        raise AssertionError("OData v1 paging did not end")

    def cdse(self, text: str) -> list[str]:
        ids: list[str] = []
        answer = self.client.get(
            "/catalogue/odata/v1/Products", params={"$filter": text, "$top": PAGE}
        )
        for _ in range(MAX_PAGES):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            ids += [e["Id"] for e in body["value"]]
            if "@odata.nextLink" not in body:
                return ids
            answer = self.client.get(body["@odata.nextLink"])
        raise AssertionError("CDSE paging did not end")

    def stac(self, search: Search, method: str) -> list[str]:
        if method == "GET":
            params: dict[str, str | int] = {
                "filter": search.cql2_text,
                "filter-lang": "cql2-text",
                "limit": PAGE,
            }
            answer = self.client.get("/stac/search", params=params)
        else:
            body = {"filter": search.cql2_json, "filter-lang": "cql2-json", "limit": PAGE}
            answer = self.client.post("/stac/search", json=body)
        names: list[str] = []
        for _ in range(MAX_PAGES):
            assert answer.status_code == 200, answer.text
            page = answer.json()
            names += [item["id"] for item in page["features"]]
            nxt = next((link for link in page["links"] if link["rel"] == "next"), None)
            if nxt is None:
                return [self.id_of_name[name] for name in names]
            if nxt.get("method") == "POST":
                answer = self.client.post(nxt["href"], json=nxt["body"])
            else:
                answer = self.client.get(nxt["href"])
        raise AssertionError("STAC paging did not end")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = build_stac_hub(tmp_path_factory.mktemp("languages"))
    products = data.hub.catalogue.search(Query(limit=1000)).items
    with (
        live_server(data.hub) as url,
        httpx.Client(base_url=url, auth=DOWNLOADER, timeout=60) as client,
    ):
        yield Served(data, client, {p.name: str(p.id) for p in products})
    data.hub.close()


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: s.name)
def test_every_language_finds_the_same_products(served: Served, search: Search) -> None:
    found = {
        "q": served.opensearch(search.q),
        "cdse": served.cdse(search.cdse),
        "cql2-text": served.stac(search, "GET"),
        "cql2-json": served.stac(search, "POST"),
    }
    if search.odata is not None:
        found["odata"] = served.dhus_odata(search.odata)
    for language, ids in found.items():
        assert len(ids) == len(set(ids)), f"{language} returned a product twice"
    # the reference evaluator on the CQL2 tree: the answer every language must give
    everything = served.data.hub.catalogue.search(Query(limit=1000)).items
    tree = cql2.parse_text(search.cql2_text)
    expected = {str(p.id) for p in everything if evaluate.matches(tree, p)}
    assert expected, "the search must find something for the comparison to mean anything"
    assert len(expected) < len(everything), "the search must leave something out"
    for language, ids in found.items():
        assert set(ids) == expected, language


def test_case_rules_differ_between_languages(served: Served) -> None:
    """DHuS text keywords ignore case; CDSE and DHuS OData compare exactly; CQL2 ignores case
    for the values Items show lower-case, and wherever CASEI() says so."""
    grd = served.opensearch("producttype:GRD")
    assert grd and served.opensearch("producttype:grd") == grd
    assert served.dhus_odata("producttype eq 'grd'") == []
    assert served.cdse(_attr("String", "productType", "eq", "'grd'")) == []
    lower = Search("", "", None, "", "\"product:type\" = 'grd'", {})
    assert served.stac(lower, "GET") == []
    casei = Search("", "", None, "", "CASEI(\"product:type\") = CASEI('grd')", {})
    assert set(served.stac(casei, "GET")) == set(grd)  # CQL2's way to ignore case
    now = datetime.now(UTC)
    assert cql2.parse_text(casei.cql2_text) == parse_q("producttype:grd", now)
    upper = Search("", "", None, "", f"\"{S1_DIR}\" = 'DESCENDING'", {})
    assert set(served.stac(upper, "GET")) == set(served.opensearch("orbitdirection:descending"))
