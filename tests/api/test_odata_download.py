"""``Products('id')/$value``: headers, ranges, conditional requests, offline products, nginx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.utils import format_datetime

import pytest
from fastapi import FastAPI
from odata_support import OdataHub, asgi_request, build_odata_hub

from eohub.api.app import create_app
from eohub.api.download import RangeError, parse_range
from eohub.protocols.dhus.odata_v1.entities import media_name
from eohub.storage.ports import ByteRange


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("odata-dl"), n=8)
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def app(data: OdataHub) -> FastAPI:
    return create_app(hub=data.hub)


def _url(product_id: object) -> str:
    return f"/odata/v1/Products('{product_id}')/$value"


def _bytes(data: OdataHub, key: str | None) -> bytes:
    assert key is not None
    return b"".join(data.hub.store.open(key))


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-1", 10, ByteRange(0, 1)),
        ("bytes=25-", 100, ByteRange(25, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-1000", 100, ByteRange(0, 99)),
        ("bytes=5-5000", 100, ByteRange(5, 99)),
        ("bytes = 3-4", 10, ByteRange(3, 4)),
    ],
)
def test_parse_range(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size", "status"),
    [
        ("bytes=5-3", 10, 416),
        ("bytes=10-", 10, 416),
        ("bytes=-0", 10, 416),
        ("bytes=-", 10, 416),
        ("items=0-1", 10, 416),
        ("bytes=a-b", 10, 416),
        ("bytes=0-1,3-4", 10, 501),
        ("bytes=0-", 0, 416),
        ("bytes=" + "9" * 400 + "-", 10, 416),
    ],
)
def test_parse_range_refusals(header: str, size: int, status: int) -> None:
    with pytest.raises(RangeError) as err:
        parse_range(header, size)
    assert err.value.status == status


def test_get_and_head_headers_match_dhus(app: FastAPI, data: OdataHub) -> None:
    product = data.by_collection("SENTINEL-2")
    body = _bytes(data, product.archive_key)
    md5 = product.checksum("MD5")
    for method in ("GET", "HEAD"):
        response = asgi_request(app, method, _url(product.id))
        assert response.status_code == 200
        headers = response.headers
        assert headers["content-disposition"] == f'inline;filename="{media_name(product)}"'
        assert headers["content-type"] == "application/octet-stream"
        assert headers["accept-ranges"] == "bytes"
        assert headers["etag"] == f'"{md5}"'
        assert headers["content-length"] == str(len(body))
        assert headers["content-range"] == f"bytes 0-{len(body) - 1}/{len(body)}"
        assert headers["last-modified"] == format_datetime(
            product.modification_date.replace(microsecond=0), usegmt=True
        )
        assert response.content == (body if method == "GET" else b"")


def test_single_ranges(app: FastAPI, data: OdataHub) -> None:
    product = data.by_collection("SENTINEL-1")
    body = _bytes(data, product.archive_key)
    size = len(body)
    for header, start, end in (("bytes=0-1", 0, 1), ("bytes=25-", 25, size - 1),
                               ("bytes=-100", size - 100, size - 1)):  # fmt: skip
        response = asgi_request(app, "GET", _url(product.id), headers={"Range": header})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert response.headers["content-length"] == str(end - start + 1)
        assert response.content == body[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=9-2", "pages=1-2", "bytes=x"])
def test_unsatisfiable_ranges_are_416(app: FastAPI, data: OdataHub, header: str) -> None:
    product = data.products[0]
    response = asgi_request(app, "GET", _url(product.id), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{product.size}"
    assert "cause-message" in response.headers


def test_several_ranges_are_501(app: FastAPI, data: OdataHub) -> None:
    response = asgi_request(
        app, "GET", _url(data.products[0].id), headers={"Range": "bytes=0-1,5-6"}
    )
    assert response.status_code == 501 and "MULTIPART" in response.text


def test_conditional_requests(app: FastAPI, data: OdataHub) -> None:
    product = data.products[1]
    md5 = product.checksum("MD5")
    url = _url(product.id)
    modified = format_datetime(product.modification_date.replace(microsecond=0), usegmt=True)
    assert asgi_request(app, "GET", url, headers={"If-None-Match": f'"{md5}"'}).status_code == 304
    assert asgi_request(app, "GET", url, headers={"If-None-Match": md5.upper()}).status_code == 304
    assert asgi_request(app, "GET", url, headers={"If-None-Match": "*"}).status_code == 304
    assert asgi_request(app, "GET", url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert asgi_request(app, "GET", url, headers={"If-Modified-Since": modified}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert asgi_request(app, "GET", url, headers={"If-Modified-Since": old}).status_code == 200
    assert (
        asgi_request(app, "GET", url, headers={"If-Modified-Since": "garbage"}).status_code == 200
    )
    assert asgi_request(app, "GET", url, headers={"If-Match": '"other"'}).status_code == 412
    assert asgi_request(app, "GET", url, headers={"If-Unmodified-Since": old}).status_code == 412
    same = asgi_request(app, "GET", url, headers={"Range": "bytes=0-9", "If-Range": f'"{md5}"'})
    assert same.status_code == 206 and len(same.content) == 10
    stale = asgi_request(app, "GET", url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == product.size


def test_offline_product_answers_202(app: FastAPI, data: OdataHub) -> None:
    for headers in ({}, {"Range": "bytes=0-1"}):
        response = asgi_request(app, "GET", _url(data.offline.id), headers=headers)
        assert response.status_code == 202 and response.content == b""
        assert response.headers["content-type"].startswith("text/plain")


def test_missing_bytes_of_an_online_product_is_503_not_500(app: FastAPI, data: OdataHub) -> None:
    product = data.products[-1]
    ghost = product.evolve(
        id=uuid.uuid4(), name=product.name + "X", archive_key="no/such/object.zip"
    )
    data.hub.catalogue.upsert([ghost])
    try:
        response = asgi_request(app, "GET", _url(ghost.id))
        assert response.status_code == 503 and "cause-message" in response.headers
    finally:
        data.hub.catalogue.delete(ghost.id)


def test_quicklook_and_thumbnail(app: FastAPI, data: OdataHub) -> None:
    product = data.with_quicklook()
    for kind, key in (("Quicklook", product.quicklook_key), ("Thumbnail", product.thumbnail_key)):
        response = asgi_request(
            app, "GET", f"/odata/v1/Products('{product.id}')/Products('{kind}')/$value"
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content == _bytes(data, key)
    without = next(p for p in data.products if not p.quicklook_key)
    missing = asgi_request(
        app, "GET", f"/odata/v1/Products('{without.id}')/Products('Quicklook')/$value"
    )
    assert missing.status_code == 404


def test_accel_redirect_hands_the_bytes_to_nginx(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    built = build_odata_hub(
        tmp_path_factory.mktemp("odata-accel"), n=2, server={"accel_redirect_prefix": "/_archive/"}
    )
    try:
        app = create_app(hub=built.hub)
        product = built.products[0]
        response = asgi_request(app, "GET", _url(product.id), headers={"Range": "bytes=0-1"})
        assert response.status_code == 200 and response.content == b""
        assert response.headers["x-accel-redirect"] == f"/_archive/{product.archive_key}"
        assert response.headers["content-disposition"] == (
            f'inline;filename="{media_name(product)}"'
        )
        head = asgi_request(app, "HEAD", _url(product.id))
        assert "x-accel-redirect" not in head.headers
        assert head.headers["content-length"] == str(product.size)
        node = asgi_request(app, "GET", f"/odata/v1/Products('{product.id}')/Nodes")
        assert node.status_code == 200
    finally:
        built.hub.close()
