"""Access over HTTP: Basic challenge, roles, anonymous settings, throttling, quotas.

Every case runs against a real hub (SQLite catalogue and account file, ingested products);
the quota and sentinelsat cases go through a real server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import sentinelsat
from fastapi import FastAPI
from odata_support import OdataHub, asgi_get, asgi_request, build_odata_hub, live_server

from account_support import DOWNLOADER
from eohub.api.app import create_app
from eohub.model import Quota, Role

SEARCHER = ("searcher", "searcher-password")
ADMIN = ("admin", "admin-password")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(
        tmp_path_factory.mktemp("access"),
        n=4,
        auth={
            "anonymous_search": False,
            "max_failed_logins": 3,
            "quota": {"max_concurrent": 1, "max_count": 3},
        },
    )
    built.hub.accounts.create(*SEARCHER, [Role.SEARCH])
    built.hub.accounts.create(*ADMIN, list(Role))
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def app(data: OdataHub) -> FastAPI:
    return create_app(hub=data.hub)


def _value_url(data: OdataHub, prefix: str = "") -> str:
    return f"{prefix}/odata/v1/Products('{data.products[0].id}')/$value"


@pytest.mark.parametrize(
    "path",
    ["/search?q=*", "/dhus/search?q=*&format=json", "/odata/v1/Products", "/api/search"],
)
def test_without_credentials_the_hub_challenges(app: FastAPI, path: str) -> None:
    response = asgi_get(app, path, auth=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="eohub"'
    assert "cause-message" in response.headers


def test_opensearch_401_is_the_container_html_page(app: FastAPI) -> None:
    response = asgi_get(app, "/apihub/search?q=*&format=json", auth=None)
    assert response.headers["content-type"].startswith("text/html")
    assert "HTTP Status 401 – Unauthorized" in response.text


def test_the_version_stub_answers_without_credentials(app: FastAPI) -> None:
    for prefix in ("", "/dhus", "/apihub"):
        response = asgi_get(app, f"{prefix}/api/stub/version", auth=None)
        assert response.status_code == 200 and set(response.json()) == {"value"}


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()])
def test_malformed_credentials_are_a_401(app: FastAPI, header: str) -> None:
    response = asgi_get(app, "/odata/v1/Products", auth=None, headers={"Authorization": header})
    assert response.status_code == 401 and "Malformed" in response.headers["cause-message"]


def test_a_searcher_searches_and_sees_quicklooks_but_cannot_download(
    app: FastAPI, data: OdataHub
) -> None:
    assert asgi_get(app, "/search?q=*&format=json", auth=SEARCHER).status_code == 200
    product = data.with_quicklook()
    quicklook = f"/odata/v1/Products('{product.id}')/Products('Quicklook')/$value"
    assert asgi_get(app, quicklook, auth=SEARCHER).status_code == 200
    refused = asgi_get(app, f"/odata/v1/Products('{product.id}')/$value", auth=SEARCHER)
    assert refused.status_code == 403
    assert "DOWNLOAD" in refused.headers["cause-message"]
    offline = asgi_get(app, f"/odata/v1/Products('{data.offline.id}')/$value", auth=SEARCHER)
    assert offline.status_code == 403  # no retrieval is queued for a user who cannot download


def test_anonymous_download_is_refused_by_default_even_with_anonymous_search(
    tmp_path: Path,
) -> None:
    built = build_odata_hub(tmp_path, n=1)
    try:
        app = create_app(hub=built.hub)
        assert asgi_get(app, "/odata/v1/Products", auth=None).status_code == 200
        response = asgi_get(app, _value_url(built), auth=None)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        assert asgi_get(app, _value_url(built)).status_code == 200
    finally:
        built.hub.close()


def test_wrong_password_throttles_then_the_lock_and_unlock_work(
    app: FastAPI, data: OdataHub
) -> None:
    data.hub.accounts.create("mallory", "mallory-password")
    wrong = ("mallory", "not-the-password")
    for _ in range(3):
        assert asgi_get(app, "/odata/v1/Products", auth=wrong).status_code == 401
    throttled = asgi_get(app, "/odata/v1/Products", auth=("mallory", "mallory-password"))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    data.hub.accounts.unlock("mallory")  # an administrator's unlock forgets the failures
    assert asgi_get(app, "/odata/v1/Products", auth=("mallory", "mallory-password")).is_success
    data.hub.accounts.lock("mallory", "shared credentials")
    locked = asgi_get(app, "/search?q=*", auth=("mallory", "mallory-password"))
    assert locked.status_code == 403 and "shared credentials" in locked.text


def test_concurrent_and_count_quotas_with_dhus_messages(data: OdataHub) -> None:
    accounts = data.hub.accounts
    accounts.create("quoted", "quoted-password")
    accounts.set_quota("quoted", Quota(max_bandwidth=1024))  # holds the first download open
    auth = ("quoted", "quoted-password")
    with live_server(data.hub) as base, httpx.Client(auth=auth, timeout=30) as client:
        url = base + _value_url(data)
        with client.stream("GET", url) as first:
            assert first.status_code == 200
            second = client.get(url)
            assert second.status_code == 403
            assert "concurrent flows" in second.headers["cause-message"]
        deadline = time.monotonic() + 10  # the server frees the slot once it sees the close
        while data.hub.downloads.active(accounts.user("quoted")) and time.monotonic() < deadline:
            time.sleep(0.05)
        accounts.set_quota("quoted", None)
        assert client.get(url, headers={"Range": "bytes=0-1"}).status_code == 206  # a probe
        assert client.get(url).status_code == 200
        assert client.get(url).status_code == 200
        refused = client.get(url)
        assert refused.status_code == 403
        assert "Maximum number of download (3) exceeded" in refused.headers["cause-message"]
        assert '<message xml:lang="en">Maximum number of download' in refused.text


def test_sentinelsat_wrong_password_and_quota_errors(data: OdataHub, tmp_path: Path) -> None:
    data.hub.accounts.create("scripted", "scripted-password", [Role.SEARCH, Role.DOWNLOAD])
    with live_server(data.hub) as base:
        wrong = sentinelsat.SentinelAPI("scripted", "nope-nope", f"{base}/dhus/")
        with pytest.raises(sentinelsat.UnauthorizedError):
            wrong.count(platformname="Sentinel-1")
        api = sentinelsat.SentinelAPI("scripted", "scripted-password", f"{base}/dhus/")
        api.show_progressbars = False
        product = str(data.products[0].id)
        for _ in range(3):
            api.download(product, tmp_path)
            (tmp_path / f"{data.products[0].name}.zip").unlink(missing_ok=True)
        with pytest.raises(sentinelsat.SentinelAPIError, match="Maximum number of download"):
            api.download(product, tmp_path)


def test_curl_style_download_with_credentials(data: OdataHub) -> None:
    with live_server(data.hub) as base:
        url = base + _value_url(data, "/dhus")
        anonymous = requests.get(url, timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
        response = requests.get(url, auth=ADMIN, timeout=30)
        assert response.status_code == 200 and len(response.content) == data.products[0].size
        assert DOWNLOADER != ADMIN


def test_only_data_managers_delete_products(app: FastAPI, data: OdataHub) -> None:
    product = data.products[-1]
    url = f"/odata/v1/Products('{product.id}')"
    for auth, status in ((None, 401), (DOWNLOADER, 403), (SEARCHER, 403)):
        refused = asgi_request(app, "DELETE", url, auth=auth)
        assert refused.status_code == status, refused.text
        assert data.hub.catalogue.get(product.id).id == product.id  # nothing changed
    assert asgi_request(app, "DELETE", url + "?cause=test", auth=ADMIN).status_code == 204
    assert asgi_get(app, url, auth=ADMIN).status_code == 404


def test_cdse_downloads_answer_429_in_cdse_shape_when_the_quota_is_used_up(
    data: OdataHub,
) -> None:
    """The hub allows one download at a time and three per period (the fixture's quota)."""
    accounts = data.hub.accounts
    accounts.create("cdse-quoted", "cdse-quoted-password", [Role.SEARCH, Role.DOWNLOAD])
    accounts.set_quota("cdse-quoted", Quota(max_concurrent=1, max_bandwidth=1024))
    auth = ("cdse-quoted", "cdse-quoted-password")
    product = data.products[0]
    with live_server(data.hub) as base, httpx.Client(auth=auth, timeout=30) as client:
        url = f"{base}/catalogue/odata/v1/Products({product.id})/$value"
        with client.stream("GET", url) as first:  # held open by the bandwidth limit
            assert first.status_code == 200
            second = client.get(url)
            assert second.status_code == 429, second.text
            detail = second.json()["detail"]
            assert set(detail) == {"message", "request_id"}
            assert "concurrent" in detail["message"]
        deadline = time.monotonic() + 10  # the server frees the slot once it sees the close
        while (
            data.hub.downloads.active(accounts.user("cdse-quoted")) and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        accounts.set_quota("cdse-quoted", None)  # back to the hub's: three per period
        for _ in range(2):  # the first (cut) download counted too
            response = client.get(url)
            assert response.status_code == 200 and len(response.content) == product.size
        refused = client.get(url)
        assert refused.status_code == 429, refused.text
        assert set(refused.json()["detail"]) == {"message", "request_id"}
        assert "Maximum number of download (3) exceeded" in refused.json()["detail"]["message"]
