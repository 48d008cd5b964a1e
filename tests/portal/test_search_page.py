"""The search page at ``/`` and its ``/explain`` helper, through the real application.

A real hub (SQLite catalogue) holds generated products of every mission. The page is checked
as HTML (controls, labels, choices from the catalogue, the strict CSP with no inline script);
the OpenSearch URL it offers is run against the hub and must find what the plain API finds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from accounts_support import Browser
from lxml import html

from account_support import DOWNLOADER, add_downloader
from eohub.api.portal import pages
from eohub.config import Settings
from eohub.demo.records import generate_products
from eohub.wiring import Hub, build_hub

CONTROLS = (
    "map-panel aoi-bbox aoi-west aoi-south aoi-east aoi-north aoi-file aoi-status aoi-clear "
    "search-form f-collection f-platform f-product-type f-sensing-from f-sensing-to "
    "f-ingestion-from f-ingestion-to f-cloud-min f-cloud-max f-orbit f-relative-orbit "
    "f-orbit-direction f-polarisation f-sensor-mode f-tile f-text search-button sort per-page "
    "results results-heading results-status search-sentence search-error pager page-prev "
    "page-next api-urls api-url opensearch-url result-template search-config"
).split()


def make_hub(root: Path, n: int = 0, **settings: object) -> Hub:
    hub = build_hub(Settings(data_dir=root / "hub", **settings))  # type: ignore[arg-type]
    add_downloader(hub)
    if n:
        hub.catalogue.upsert(generate_products(n, seed=11))
    return hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    built = make_hub(tmp_path_factory.mktemp("search"), n=400)
    yield built
    built.close()


@pytest.fixture
def browser(hub: Hub) -> Iterator[Browser]:
    visitor = Browser(hub)
    yield visitor
    visitor.close()


def page_of(response: httpx.Response) -> html.HtmlElement:
    assert response.status_code == 200, response.text[:500]
    return html.fromstring(response.text)


def config_of(doc: html.HtmlElement) -> dict[str, object]:
    found = doc.get_element_by_id("search-config")
    assert found.get("type") == "application/json"
    config: dict[str, object] = json.loads(found.text)
    return config


def assert_no_inline_script(doc: html.HtmlElement) -> None:
    for script in doc.iter("script"):
        if script.get("src") is None:
            assert script.get("type") == "application/json", html.tostring(script)[:200]


def test_page_offers_every_control_with_a_label(browser: Browser, hub: Hub) -> None:
    response = browser.get("/")
    doc = page_of(response)
    for element_id in CONTROLS:
        assert doc.get_element_by_id(element_id) is not None, element_id
    labelled = {label.get("for") for label in doc.iter("label")}
    for control in doc.xpath("//input|//select|//textarea"):
        if control.get("type") != "hidden":
            assert control.get("id") in labelled, html.tostring(control)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert_no_inline_script(doc)
    config = config_of(doc)
    assert config["canSearch"] is True and config["loggedIn"] is False
    assert config["vendorReady"] is pages.vendor_ready()
    assert not doc.xpath("//*[@id='save-search']")
    scripts = [s.get("src") for s in doc.iter("script") if s.get("src")]
    assert scripts[-1] == "/static/js/search.js"
    if pages.vendor_ready():
        assert doc.get_element_by_id("map") is not None
        assert "/static/vendor/leaflet/leaflet.js" in scripts
        assert browser.get("/static/vendor/outlines/countries-110m.json").status_code == 200
    for path in ("/static/js/search.js", "/static/js/geo.js", "/static/js/basemap.js"):
        assert browser.get(path).status_code == 200, path


def test_lists_offer_what_the_catalogue_holds(browser: Browser, hub: Hub) -> None:
    doc = page_of(browser.get("/"))
    products = list(generate_products(400, seed=11))
    options = doc.xpath("//select[@id='f-collection']/option/@value")
    assert options == ["", *sorted({p.collection for p in products})]
    platforms = doc.xpath("//select[@id='f-platform']/option/@value")
    assert platforms == ["", *sorted({p.platform for p in products})]
    for group in doc.xpath("//select[@id='f-product-type']/optgroup"):
        collection = group.get("data-collection")
        expected = sorted({p.product_type for p in products if p.collection == collection})
        assert group.xpath("option/@value") == expected
    assert doc.xpath("//select[@id='f-orbit-direction']/option/@value") == [
        "", "ASCENDING", "DESCENDING"
    ]  # fmt: skip


def test_page_without_the_map_libraries_still_searches(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hub installed without `make portal-assets`: the vendor folder is absent.
    monkeypatch.setattr(pages, "vendor_ready", lambda: False)
    doc = page_of(browser.get("/"))
    assert not doc.xpath("//*[@id='map']") and not doc.xpath("//*[@id='draw-rectangle']")
    assert "not installed" in doc.get_element_by_id("map-missing").text_content()
    assert doc.get_element_by_id("search-form") is not None
    assert doc.get_element_by_id("aoi-bbox") is not None
    assert not [s for s in doc.xpath("//script/@src") if "/vendor/" in s]
    assert config_of(doc)["vendorReady"] is False


def test_logged_in_visitor_can_save_and_fill_the_cart(browser: Browser) -> None:
    assert browser.log_in(*DOWNLOADER).status_code == 303
    response = browser.get("/")
    doc = page_of(response)
    config = config_of(doc)
    assert config["loggedIn"] is True
    logout_token = doc.xpath("//form[@action='/logout']/input[@name='csrf_token']/@value")
    assert config["csrfToken"] == logout_token[0]
    assert doc.get_element_by_id("save-search") is not None
    assert doc.xpath("//label[@for='save-name']")
    template = doc.get_element_by_id("result-template")
    assert "result-cart" in html.tostring(template).decode()


def test_search_page_when_searching_needs_an_account(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, n=5, auth={"anonymous_search": False})
    visitor = Browser(hub)
    try:
        doc = page_of(visitor.get("/"))
        assert "log in" in doc.get_element_by_id("login-to-search").text_content()
        assert config_of(doc)["canSearch"] is False
        assert doc.xpath("//select[@id='f-collection']/option/@value") == [""]
        assert visitor.get("/api/search").status_code == 401
        visitor.log_in(*DOWNLOADER)
        assert config_of(page_of(visitor.get("/")))["canSearch"] is True
    finally:
        visitor.close()
        hub.close()


def test_hostile_settings_cannot_leave_the_json_block(tmp_path: Path) -> None:
    payload = "</script><script>alert(1)</script>"
    hub = make_hub(tmp_path, portal={"tile_attribution": payload, "tile_url": ""})
    visitor = Browser(hub)
    try:
        response = visitor.get("/")
        assert payload not in response.text
        doc = page_of(response)
        assert_no_inline_script(doc)
        config = config_of(doc)
        assert config["tileAttribution"] == payload and config["tileUrl"] == ""
    finally:
        visitor.close()
        hub.close()


def test_explain_gives_words_and_both_urls(browser: Browser) -> None:
    params = {"collection": "SENTINEL-2", "cloud_cover": "..30", "sort": "-sensing_start",
              "limit": "25"}  # fmt: skip
    query = urlencode(params)
    response = browser.get(f"/explain?{query}")
    assert response.status_code == 200
    body = response.json()
    assert body["sentence"] == (
        "Sentinel-2 products with cloud cover at most 30%. Most recently sensed first."
    )
    assert body["api"] == f"/api/search?{query}"
    assert body["opensearch"].startswith("/search?q=")
    assert body["opensearch_note"] is None


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"geometry": "POLYGON((0 0,10 10,10 0,0 10,0 0))"}, "Self-intersection"),
        ({"geometry": "POLYGON((0 0,10 0,10 10))"}, "invalid WKT"),
        ({"bbox": "1,2,3"}, "bbox must be"),
        ({"cloudy": "1"}, "unknown field 'cloudy'"),
    ],
)
def test_invalid_search_is_refused_with_the_apis_message(
    browser: Browser, params: dict[str, str], words: str
) -> None:
    query = urlencode(params)
    for path in ("/explain", "/api/search"):
        response = browser.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.text)
        assert words in response.json()["error"]["message"], response.text


def _opensearch_ids(browser: Browser, url: str) -> tuple[int, list[str]]:
    response = browser.get(url)
    assert response.status_code == 200, response.text[:300]
    feed = response.json()["feed"]
    entries = feed.get("entry", [])
    entries = entries if isinstance(entries, list) else [entries]
    return int(feed["opensearch:totalResults"]), [e["id"] for e in entries]


@pytest.mark.parametrize(
    "params",
    [
        {"collection": "SENTINEL-2", "cloud_cover": "..30", "start": "2024-01-01T00:00:00Z",
         "end": "2024-12-31T23:59:59.999Z", "sort": "-sensing_start"},
        {"platform": "Sentinel-1A,Sentinel-1C", "product_type": "GRD", "orbit_direction":
         "DESCENDING", "sensor_mode": "IW", "sort": "sensing_start"},
        {"bbox": "170,-60,-170,60", "sort": "name"},
        {"geometry": "POLYGON((0 40,30 40,30 60,0 60,0 40))", "ingestion_date":
         "2024-06-01T00:00:00Z..", "sort": "cloud_cover"},
        {"relative_orbit": "1..60", "orbit_number": "10000..60000", "text": "S1A"},
    ],
)  # fmt: skip
def test_opensearch_url_finds_what_the_page_finds(browser: Browser, params: dict[str, str]) -> None:
    params = {**params, "limit": "100"}
    plain = browser.get(f"/api/search?{urlencode(params)}&count=true").json()
    assert plain["total"] > 0, "the case must select products to compare"
    link = browser.get(f"/explain?{urlencode(params)}").json()["opensearch"]
    total, ids = _opensearch_ids(browser, link)
    assert total == plain["total"]
    assert ids == [item["id"] for item in plain["items"]]
