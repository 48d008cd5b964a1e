"""The cart pages through the real application, and its download scripts run for real.

The hub holds products really ingested (every mission) plus one catalogued offline product.
The wget and curl scripts are fetched from a live server on 127.0.0.1 and run with bash: they
download every online product, resume, and check the MD5 sums.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from accounts_support import Browser
from lxml import etree

from api.odata_support import OdataHub, build_odata_hub, live_server
from eohub.api.auth import CSRF_HEADER, SESSION_COOKIE
from eohub.model import Product, Role
from eohub.protocols.dhus.odata_v1.entities import media_name

METALINK = "{urn:ietf:params:xml:ns:metalink}"
PASSWORD = "cart-password-1"
_users = itertools.count()


@pytest.fixture(scope="module")
def odata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("cart"), n=8, seed=0)
    yield built
    built.hub.close()


def _user(odata: OdataHub) -> str:
    """A fresh user with SEARCH and DOWNLOAD (each test has its own cart)."""
    name = f"shopper{next(_users)}"
    odata.hub.accounts.create(name, PASSWORD, [Role.SEARCH, Role.DOWNLOAD], email=f"{name}@x.org")
    return name


@pytest.fixture
def browser(odata: OdataHub) -> Iterator[Browser]:
    opened = Browser(odata.hub)
    assert opened.log_in(_user(odata), PASSWORD).status_code == 303
    yield opened
    opened.close()


def _token(browser: Browser) -> str:
    return browser.csrf("/cart")


def _add(browser: Browser, product: Product) -> httpx.Response:
    return browser.request("POST", "/cart/items", json={"product_id": str(product.id)},
                           headers={CSRF_HEADER: _token(browser)})  # fmt: skip


def _cart_ids(browser: Browser) -> list[str]:
    page = browser.get("/cart")
    assert page.status_code == 200
    return re.findall(r'<tr data-product-id="([^"]+)"', page.text)


def test_the_cart_needs_a_login(odata: OdataHub) -> None:
    anonymous = Browser(odata.hub)
    try:
        for path in ("/cart", "/cart/download.meta4", "/cart/download-wget.sh", "/cart/urls.txt"):
            page = anonymous.get(path)
            assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        refused = anonymous.request(
            "POST", "/cart/items", json={"product_id": str(odata.products[0].id)}
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "login_required"
    finally:
        anonymous.close()


def test_add_list_remove_and_clear(odata: OdataHub, browser: Browser) -> None:
    p1, p2, p3 = odata.products[:3]
    form = browser.submit("/cart/items", {"product_id": str(p1.id), "next": f"/products/{p1.id}"},
                          form_page="/cart")  # fmt: skip
    assert form.status_code == 303 and form.headers["location"] == f"/products/{p1.id}"
    assert _add(browser, p2).json() == {"count": 2}
    assert _add(browser, p2).json() == {"count": 2}  # already there
    assert _add(browser, p3).json() == {"count": 3}
    page = browser.get("/cart")
    assert _cart_ids(browser) == [str(p3.id), str(p2.id), str(p1.id)]
    for product in (p1, p2, p3):
        assert f'<a href="/products/{product.id}">{product.name}</a>' in page.text
        assert f"{product.sensing.start:%Y-%m-%d}" in page.text
    assert "3 products" in page.text

    removed = browser.submit(f"/cart/items/{p2.id}/delete", {}, form_page="/cart")
    assert removed.status_code == 303 and removed.headers["location"] == "/cart"
    assert _cart_ids(browser) == [str(p3.id), str(p1.id)]
    fetch_headers = {CSRF_HEADER: _token(browser), "Accept": "application/json"}
    answer = browser.request("POST", f"/cart/items/{p1.id}/delete", headers=fetch_headers)
    assert answer.json() == {"count": 1}
    cleared = browser.submit("/cart/clear", {}, form_page="/cart")
    assert cleared.status_code == 303
    assert _cart_ids(browser) == [] and 'id="cart-empty"' in browser.get("/cart").text


def test_unknown_products_are_refused_and_nothing_is_stored(browser: Browser) -> None:
    for value in (str(uuid.uuid4()), "not-an-id", ""):
        answer = browser.request("POST", "/cart/items", json={"product_id": value},
                                 headers={CSRF_HEADER: _token(browser)})  # fmt: skip
        assert answer.status_code == 404 and "not found" in answer.json()["error"]["message"]
    page = browser.submit("/cart/items", {"product_id": str(uuid.uuid4())}, form_page="/cart")
    assert page.status_code == 404 and "Cart not changed" in page.text
    assert _cart_ids(browser) == []


def test_without_the_csrf_token_nothing_changes(odata: OdataHub, browser: Browser) -> None:
    p1, p2 = odata.products[:2]
    assert _add(browser, p1).status_code == 200
    attempts = [
        browser.post("/cart/items", {"product_id": str(p2.id)}),
        browser.request("POST", "/cart/items", json={"product_id": str(p2.id)}),
        browser.request(
            "POST", "/cart/items", json={"product_id": str(p2.id)}, headers={CSRF_HEADER: "forged"}
        ),  # fmt: skip
        browser.post(f"/cart/items/{p1.id}/delete", {}),
        browser.post("/cart/clear", {"csrf_token": "forged"}),
    ]
    assert [a.status_code for a in attempts] == [403] * 5
    assert _cart_ids(browser) == [str(p1.id)]


def test_users_never_see_each_others_cart(odata: OdataHub, browser: Browser) -> None:
    p1, p2 = odata.products[:2]
    _add(browser, p1)
    other = Browser(odata.hub)
    try:
        assert other.log_in(_user(odata), PASSWORD).status_code == 303
        assert _cart_ids(other) == []
        assert p1.name not in other.get("/cart").text
        other.submit(f"/cart/items/{p1.id}/delete", {}, form_page="/cart")
        other.submit("/cart/clear", {}, form_page="/cart")
        assert str(p1.id) not in other.get("/cart/urls.txt").text
        _add(other, p2)
        assert _cart_ids(other) == [str(p2.id)]
    finally:
        other.close()
    assert _cart_ids(browser) == [str(p1.id)]


def test_a_full_cart_says_so(odata: OdataHub, browser: Browser) -> None:
    workspace = odata.hub.workspace
    limit = workspace.max_cart
    workspace.max_cart = 2
    try:
        _add(browser, odata.products[0])
        _add(browser, odata.products[1])
        full = _add(browser, odata.products[2])
        assert full.status_code == 409 and "at most 2 products" in full.json()["error"]["message"]
    finally:
        workspace.max_cart = limit
    assert len(_cart_ids(browser)) == 2


def test_metadata_is_escaped_and_deleted_products_show_as_gone(
    odata: OdataHub, browser: Browser
) -> None:
    hostile = odata.offline.evolve(
        id=uuid.uuid4(), name='<img src=x onerror="alert(1)">S1_XSS', filename="x.SAFE"
    )
    odata.hub.catalogue.upsert([hostile])
    gone = odata.offline.evolve(id=uuid.uuid4(), name="S2_TO_BE_DELETED", filename="y.SAFE")
    odata.hub.catalogue.upsert([gone])
    _add(browser, hostile)
    _add(browser, gone)
    odata.hub.catalogue.delete(gone.id, purge=True)
    page = browser.get("/cart").text
    assert '<img src=x onerror="alert(1)">' not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;S1_XSS" in page
    assert "No longer in the catalogue" in page and "S2_TO_BE_DELETED" not in page
    assert "None of these products is online" in page  # neither is downloadable


# -- download files ------------------------------------------------------------------------------
def _online(odata: OdataHub) -> list[Product]:
    return [p for p in odata.products if p.online and p.archive_key]


def _fill(browser: Browser, odata: OdataHub) -> list[Product]:
    """Every product in the cart (the offline one too); the downloadable ones."""
    for product in [*odata.products, odata.offline]:
        assert _add(browser, product).status_code == 200
    return _online(odata)


def test_metalink_lists_each_online_file_with_size_and_md5(
    odata: OdataHub, browser: Browser
) -> None:
    online = _fill(browser, odata)
    answer = browser.get("/cart/download.meta4")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/metalink4+xml")
    assert "attachment" in answer.headers["content-disposition"]
    root = etree.fromstring(answer.content)
    files = {f.get("name"): f for f in root.iter(f"{METALINK}file")}
    assert sorted(files) == sorted(media_name(p) for p in online)
    for product in online:
        entry = files[media_name(product)]
        assert int(entry.findtext(f"{METALINK}size")) == product.size
        assert entry.find(f"{METALINK}hash").get("type") == "md5"
        assert entry.findtext(f"{METALINK}hash") == product.checksum("MD5").lower()
        url = entry.findtext(f"{METALINK}url")
        assert url == f"http://testserver/odata/v1/Products('{product.id}')/$value"
    assert str(odata.offline.id) not in answer.text


def test_url_list_and_the_public_url(odata: OdataHub, browser: Browser) -> None:
    online = _fill(browser, odata)
    expected = {f"http://testserver/odata/v1/Products('{p.id}')/$value" for p in online}
    assert set(browser.get("/cart/urls.txt").text.splitlines()) == expected
    server = odata.hub.settings.server
    server.public_url = "https://hub.example.org/"
    try:
        urls = browser.get("/cart/urls.txt").text.splitlines()
        script = browser.get("/cart/download-curl.sh").text
    finally:
        server.public_url = None
    assert all(u.startswith("https://hub.example.org/odata/v1/Products('") for u in urls)
    assert "BASE=https://hub.example.org/odata/v1" in script


# -- the scripts, run for real -------------------------------------------------------------------
def _session(odata: OdataHub, username: str) -> tuple[dict[str, str], dict[str, str]]:
    """Cookie and CSRF header of a fresh portal session of ``username``."""
    session = odata.hub.accounts.start_session(
        odata.hub.accounts.user(username), timedelta(hours=1)
    )
    return {SESSION_COOKIE: session.token}, {CSRF_HEADER: session.csrf}


def _run(script: Path, target: Path, username: str, password: str = PASSWORD,
         **env: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    environment = {"PATH": os.environ["PATH"], "HOME": str(script.parent),
                   "EOHUB_USER": username, "EOHUB_PASSWORD": password, **env}  # fmt: skip
    return subprocess.run(
        ["bash", str(script), str(target)], env=environment, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("tool", ["wget", "curl"])
def test_the_script_downloads_resumes_and_checks(
    odata: OdataHub, tmp_path: Path, tool: str
) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is needed for this test")
    username = _user(odata)
    cookies, headers = _session(odata, username)
    online = _online(odata)
    with live_server(odata.hub) as base, httpx.Client(base_url=base, cookies=cookies) as client:
        for product in [*odata.products, odata.offline]:
            added = client.post("/cart/items", json={"product_id": str(product.id)},
                                headers=headers)  # fmt: skip
            assert added.status_code == 200
        fetched = client.get(f"/cart/download-{tool}.sh")
        assert fetched.status_code == 200 and "attachment" in fetched.headers["content-disposition"]
        script = tmp_path / f"cart-{tool}.sh"
        script.write_text(fetched.text)
        target = tmp_path / "downloads"

        done = _run(script, target, username)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "all downloads complete" in done.stdout
        names = {media_name(p): p for p in online}
        assert sorted(p.name for p in target.iterdir()) == sorted(names)
        assert any(name.endswith(".nc") for name in names)  # Sentinel-5P keeps its netCDF name
        for name, product in names.items():
            assert (target / name).stat().st_size == product.size
            assert _md5(target / name) == product.checksum("MD5").lower()

        partial = target / media_name(online[0])  # an interrupted download is resumed
        partial.write_bytes(partial.read_bytes()[: online[0].size // 3 or 1])
        resumed = _run(script, target, username)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert _md5(partial) == online[0].checksum("MD5").lower()

        wrong = _run(script, tmp_path / "refused", username, password="not-the-password")
        assert wrong.returncode == 1 and "download failed" in wrong.stderr

    checksum = online[1].checksum("MD5").lower()
    script.write_text(fetched.text.replace(checksum, "0" * 32))
    corrupt = _run(script, target, username)  # every file is complete: only the check runs
    assert corrupt.returncode == 1
    assert f"{media_name(online[1])}: FAILED" in corrupt.stdout
    assert "checksum mismatch" in corrupt.stderr


def test_the_script_asks_for_credentials(odata: OdataHub, browser: Browser, tmp_path: Path) -> None:
    _fill(browser, odata)
    script = tmp_path / "cart.sh"
    script.write_text(browser.get("/cart/download-wget.sh").text)
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    asked = subprocess.run(["bash", str(script), str(tmp_path / "out")], env=environment,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert asked.returncode == 2 and "EOHUB_USER" in asked.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_user_without_the_download_role_is_told(odata: OdataHub) -> None:
    odata.hub.accounts.create("looker", PASSWORD, [Role.SEARCH])
    looker = Browser(odata.hub)
    try:
        assert looker.log_in("looker", PASSWORD).status_code == 303
        assert _add(looker, odata.products[0]).json() == {"count": 1}
        assert 'id="no-download-role"' in looker.get("/cart").text
    finally:
        looker.close()


def test_the_product_page_adds_to_the_cart(odata: OdataHub, browser: Browser) -> None:
    product = odata.products[4]
    page = browser.get(f"/products/{product.id}")
    assert 'id="add-to-cart"' in page.text
    form = re.search(r'<form method="post" action="/cart/items".*?</form>', page.text, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    added = browser.request("POST", "/cart/items", data=fields)
    assert added.status_code == 303 and added.headers["location"] == "/cart"
    assert str(product.id) in _cart_ids(browser)
