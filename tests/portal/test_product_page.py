"""The product page ``/products/{id}`` through the real application.

The hub holds products really ingested (every mission, with their files, checksums and
quicklooks), one catalogued offline product, generated catalogue-only products for result
lists, and a product whose metadata carries markup.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from accounts_support import Browser
from lxml import html

from account_support import DOWNLOADER
from api.odata_support import OdataHub, build_odata_hub
from eohub.api.portal.product_view import size_text
from eohub.demo.records import generate_products
from eohub.model import Product, Role
from eohub.protocols import plain

HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def odata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("product"), n=8, seed=0)
    built.hub.catalogue.upsert(generate_products(60, seed=21))
    built.hub.accounts.create("looker", "looker-password-1", [Role.SEARCH])
    yield built
    built.hub.close()


@pytest.fixture
def browser(odata: OdataHub) -> Iterator[Browser]:
    visitor = Browser(odata.hub)
    yield visitor
    visitor.close()


def page_of(response: httpx.Response) -> html.HtmlElement:
    assert response.status_code == 200, response.text[:500]
    return html.fromstring(response.text)


def rows(doc: html.HtmlElement) -> dict[str, str]:
    """Metadata table rows: label -> value."""
    found = {}
    for row in doc.xpath("//section[contains(@class,'metadata-group')]//tr"):
        found[row.findtext("th")] = row.findtext("td")
    return found


def test_product_page_shows_the_ingested_product(odata: OdataHub, browser: Browser) -> None:
    product = odata.with_quicklook()
    browser.log_in(*DOWNLOADER)
    response = browser.get(f"/products/{product.id}")
    doc = page_of(response)
    assert doc.findtext(".//h1") == product.name
    shown = rows(doc)
    assert shown["Id"] == str(product.id)
    assert shown["Product type"] == product.product_type
    assert shown["Sensing start"] == product.sensing.start.isoformat().replace("+00:00", "Z")
    for name, value in product.attributes.items():
        assert name in shown, name
        if isinstance(value, str):
            assert shown[name] == value
    titles = doc.xpath("//section[contains(@class,'metadata-group')]/h3/text()")
    assert titles[:2] == ["Identification", "Acquisition"] and titles[-1] == "All other attributes"
    assert doc.get_element_by_id("product-size").text_content() == size_text(product.size)
    assert f"{product.size:,}" in size_text(product.size)
    for algorithm in ("MD5", "BLAKE3"):
        value = product.checksum(algorithm)
        assert (
            value and doc.get_element_by_id(f"checksum-{algorithm.lower()}").text_content() == value
        )
    assert doc.get_element_by_id("product-status").text_content() == "Online"
    quicklook = doc.get_element_by_id("quicklook").get("src")
    assert quicklook == f"/odata/v1/Products('{product.id}')/Products('Quicklook')/$value"
    image = browser.get(quicklook)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert doc.get_element_by_id("quicklook-dialog") is not None
    data = json.loads(doc.get_element_by_id("product-data").text)
    assert product.footprint is not None
    assert data["footprint"] == json.loads(json.dumps(product.footprint.geojson))
    download = doc.get_element_by_id("download").get("href")
    assert download == f"/odata/v1/Products('{product.id}')/$value"
    got = browser.get(download)
    assert got.status_code == 200
    assert hashlib.md5(got.content).hexdigest() == product.checksum("MD5")


def test_file_browser_lists_and_serves_single_files(odata: OdataHub, browser: Browser) -> None:
    product = next(p for p in odata.products if (p.archive_key or "").endswith(".zip"))
    browser.log_in(*DOWNLOADER)
    doc = page_of(browser.get(f"/products/{product.id}"))
    links = doc.xpath("//section[@id='files']//a/@href")
    assert links, "a zipped product has files"
    root = doc.xpath("//section[@id='files']//summary")[0].text_content()
    assert root.startswith(product.name)
    for link in links[:3]:
        assert link.startswith(f"/odata/v1/Products('{product.id}')/Nodes(")
        assert link.endswith("/$value")
        single = browser.get(link)
        assert single.status_code == 200, link
        size = doc.xpath(f'//a[@href="{link}"]/following-sibling::span/text()')[0]
        assert size  # a human size next to each file


def test_anonymous_visitor_sees_metadata_but_no_download(odata: OdataHub, browser: Browser) -> None:
    product = odata.products[0]
    doc = page_of(browser.get(f"/products/{product.id}"))
    assert not doc.xpath("//*[@id='download']")
    assert (
        doc.get_element_by_id("download-note").text_content() == "Log in to download this product."
    )
    assert not doc.xpath("//section[@id='files']//a")
    assert doc.xpath("//section[@id='files']//li")
    browser.log_in("looker", "looker-password-1")
    doc = page_of(browser.get(f"/products/{product.id}"))
    assert not doc.xpath("//*[@id='download']")
    assert "download role" in doc.get_element_by_id("download-note").text_content()


def test_offline_product(odata: OdataHub, browser: Browser) -> None:
    browser.log_in(*DOWNLOADER)
    doc = page_of(browser.get(f"/products/{odata.offline.id}"))
    assert doc.get_element_by_id("product-status").text_content() == "Offline"
    assert not doc.xpath("//*[@id='download']")
    assert "offline" in doc.get_element_by_id("download-note").text_content()
    assert "offline" in doc.get_element_by_id("files").text_content()
    assert doc.get_element_by_id("quicklook-none") is not None


@pytest.mark.parametrize("product_id", [str(uuid.uuid4()), "not-a-uuid", "%3Cscript%3E"])
def test_unknown_product_is_a_404_page(browser: Browser, product_id: str) -> None:
    response = browser.get(f"/products/{product_id}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Product not found" in response.text
    assert "<script>" not in response.text


def test_hostile_metadata_is_escaped(odata: OdataHub, browser: Browser) -> None:
    base = next(iter(generate_products(1, seed=99)))
    hostile = base.evolve(
        id=uuid.uuid4(),
        name=f"S2A_{HOSTILE}",
        product_type=HOSTILE,
        attributes={**base.attributes, "note": HOSTILE, HOSTILE: "value"},
    )
    odata.hub.catalogue.upsert([hostile])
    response = browser.get(f"/products/{hostile.id}")
    doc = page_of(response)
    assert HOSTILE not in response.text
    assert "&lt;script&gt;" in response.text
    assert doc.findtext(".//h1") == hostile.name
    shown = rows(doc)
    assert shown["note"] == HOSTILE and shown[HOSTILE] == "value"
    for script in doc.iter("script"):
        assert script.get("src") or script.get("type") == "application/json"


def test_page_security_headers(odata: OdataHub, browser: Browser) -> None:
    response = browser.get(f"/products/{odata.products[0].id}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    doc = page_of(response)
    scripts = [s.get("src") for s in doc.iter("script") if s.get("src")]
    assert scripts[-1] == "/static/js/product.js"
    assert browser.get("/static/js/product.js").status_code == 200


CONTEXT = {"collection": "SENTINEL-2", "sort": "-sensing_start", "limit": "10", "offset": "10"}


def _list(odata: OdataHub) -> list[Product]:
    params = {k: v for k, v in CONTEXT.items() if k not in ("limit", "offset")}
    query = plain.parse({**params, "limit": "1000"})
    return list(odata.hub.catalogue.search(query).items)


def _nav(doc: html.HtmlElement, rel: str) -> str | None:
    found = doc.xpath(f"//nav[contains(@class,'product-nav')]//a[@rel='{rel}']/@href")
    return found[0] if found else None


def test_previous_and_next_of_the_result_list(odata: OdataHub, browser: Browser) -> None:
    listed = _list(odata)
    assert len(listed) >= 12
    context = urlencode(CONTEXT)
    doc = page_of(browser.get(f"/products/{listed[11].id}?from={quote(context)}&i=11"))
    previous, following = _nav(doc, "prev"), _nav(doc, "next")
    assert previous is not None and following is not None
    assert urlsplit(previous).path == f"/products/{listed[10].id}"
    assert parse_qs(urlsplit(previous).query) == {"from": [context], "i": ["10"]}
    assert urlsplit(following).path == f"/products/{listed[12].id}"
    assert parse_qs(urlsplit(following).query)["i"] == ["12"]
    back = doc.get_element_by_id("product-back").get("href")
    assert parse_qs(urlsplit(back).query) == {
        "collection": ["SENTINEL-2"], "sort": ["-sensing_start"], "limit": ["10"], "offset": ["10"]
    }  # fmt: skip
    first = page_of(browser.get(f"/products/{listed[0].id}?from={quote(context)}&i=0"))
    assert _nav(first, "prev") is None and _nav(first, "next") is not None
    last = len(listed) - 1
    end = page_of(browser.get(f"/products/{listed[last].id}?from={quote(context)}&i={last}"))
    assert _nav(end, "next") is None and _nav(end, "prev") is not None


def test_stale_or_broken_list_context(odata: OdataHub, browser: Browser) -> None:
    listed = _list(odata)
    context = quote(urlencode(CONTEXT))
    stale = page_of(browser.get(f"/products/{listed[3].id}?from={context}&i=7"))
    assert _nav(stale, "prev") is None and _nav(stale, "next") is None
    assert stale.get_element_by_id("product-back") is not None
    broken = quote(urlencode({"cloudy": "1"}))
    for query in (f"from={broken}&i=2", f"from={context}&i=-1", f"from={context}&i=x"):
        doc = page_of(browser.get(f"/products/{listed[3].id}?{query}"))
        assert not doc.xpath("//nav[contains(@class,'product-nav')]"), query


def test_product_page_needs_search_rights(tmp_path: Path) -> None:
    built = build_odata_hub(tmp_path, n=1, seed=4, auth={"anonymous_search": False})
    visitor = Browser(built.hub)
    try:
        path = f"/products/{built.products[0].id}"
        response = visitor.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={quote(path, safe='/')}"
        visitor.log_in(*DOWNLOADER)
        assert visitor.get(path).status_code == 200
    finally:
        visitor.close()
        built.hub.close()
