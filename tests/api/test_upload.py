"""Product upload over HTTP: ``POST /api/upload`` and the OData ``Ingests`` two-step flow.

Real hub (SQLite catalogue and accounts, archive folder), real product files from the demo
factory, requests through the ASGI app and through uvicorn on 127.0.0.1 (a multi-megabyte
streamed body, and a client that goes away mid-upload).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree
from odata_support import asgi_request, live_server

from eohub.api.app import create_app
from eohub.config import Settings
from eohub.demo.factory import demo_products
from eohub.model import Role
from eohub.query import Query
from eohub.wiring import Hub, build_hub

UPLOADER = ("uploader", "uploader-password")
OTHER = ("other", "other-password")
MANAGER = ("manager", "manager-password")
SEARCHER = ("searcher", "searcher-password")
BOUNDARY = "eohub-test-7d1f0c"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"


@dataclass
class Files:
    """Product files to upload: zips of every zipped mission and one netCDF."""

    zips: list[Path]
    netcdf: Path
    big: Path  # a zip of several megabytes


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("upload-files")
    built = demo_products(8, root / "small", seed=11, zipped_ratio=1.0)
    zips = [p for p in built if p.suffix == ".zip"]
    netcdf = next(p for p in built if p.suffix == ".nc")
    big = next(
        p
        for p in demo_products(6, root / "big", seed=12, zipped_ratio=1.0, image_px=1024)
        if p.suffix == ".zip" and p.stat().st_size > 4 * 1024 * 1024
    )
    assert len(zips) >= 3
    return Files(zips, netcdf, big)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    built = build_hub(Settings(data_dir=tmp_path / "hub"))
    built.accounts.create(*UPLOADER, [Role.UPLOAD, Role.SEARCH, Role.DOWNLOAD])
    built.accounts.create(*OTHER, [Role.UPLOAD])
    built.accounts.create(*MANAGER, [Role.UPLOAD, Role.DATA_MANAGER])
    built.accounts.create(*SEARCHER, [Role.SEARCH])
    yield built
    built.close()


@pytest.fixture
def app(hub: Hub) -> FastAPI:
    return create_app(hub=hub)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def count(hub: Hub) -> int:
    return hub.catalogue.count(Query())


def leftovers(hub: Hub) -> list[str]:
    """Files and folders under <data_dir>/uploads other than the ingest registry. Walked with
    ``os.walk``, which passes over a folder the server removes while it is read (``rglob``
    raised FileNotFoundError then: the test failed at random)."""
    root = hub.settings.data_dir / "uploads"
    found = [
        os.path.relpath(os.path.join(folder, name), root)
        for folder, dirs, files in os.walk(root)
        for name in (*dirs, *files)
    ]
    return sorted(set(found) - {"ingests", "ingests.sqlite"})


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body of (name, filename or None, data) parts."""
    out = bytearray()
    for name, filename, data in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def post_upload(
    app: FastAPI, body: bytes, *, auth: tuple[str, str] | None = UPLOADER, prefix: str = ""
) -> httpx.Response:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return asgi_request(
        app, "POST", f"{prefix}/api/upload", content=body, headers=headers, auth=auth
    )


def upload_file(
    app: FastAPI, path: Path, *, auth: tuple[str, str] | None = UPLOADER
) -> httpx.Response:
    return post_upload(app, multipart(("product", path.name, path.read_bytes())), auth=auth)


def corrupt_zip(files: Files, tmp_path: Path) -> Path:
    """A product zip cut in half (named like the product)."""
    source = files.zips[0]
    data = source.read_bytes()
    target = tmp_path / "corrupt" / source.name
    target.parent.mkdir()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(target)
    return target


# -- POST /api/upload -----------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "/dhus", "/apihub"])
def test_upload_ingests_a_zip_searchable_and_downloadable(
    app: FastAPI, hub: Hub, files: Files, prefix: str
) -> None:
    path = files.zips[1]
    body = multipart(("product", path.name, path.read_bytes()), ("collections", None, b"a, b"))
    response = post_upload(app, body, prefix=prefix)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["outcome"] == "ingested"
    assert answer["md5"] == md5_of(path)
    assert answer["size"] == path.stat().st_size
    assert answer["ignored_collections"] == ["a", "b"]
    assert answer["name"] == path.name.removesuffix(".zip")
    found = asgi_request(
        app,
        "GET",
        f"/odata/v1/Products?$format=json&$filter=Name eq '{answer['name']}'",
        auth=UPLOADER,
    )
    assert [r["Id"] for r in found.json()["d"]["results"]] == [answer["id"]]
    value = asgi_request(app, "GET", f"/odata/v1/Products('{answer['id']}')/$value", auth=UPLOADER)
    assert value.status_code == 200
    assert hashlib.md5(value.content).hexdigest() == md5_of(path)
    assert leftovers(hub) == []


def test_upload_of_a_netcdf_product(app: FastAPI, hub: Hub, files: Files) -> None:
    response = upload_file(app, files.netcdf)
    assert response.status_code == 201, response.text
    product = hub.catalogue.get(uuid.UUID(response.json()["id"]))
    assert product.collection == "SENTINEL-5P"
    assert product.checksum("MD5") == md5_of(files.netcdf)
    assert leftovers(hub) == []


def test_duplicate_upload_is_409(app: FastAPI, hub: Hub, files: Files) -> None:
    assert upload_file(app, files.zips[0]).status_code == 201
    before = count(hub)
    response = upload_file(app, files.zips[0])
    assert response.status_code == 409
    assert "already in the catalogue" in response.json()["error"]["message"]
    assert count(hub) == before
    assert leftovers(hub) == []


def test_corrupt_product_is_400_with_reason_and_nothing_stored(
    app: FastAPI, hub: Hub, files: Files, tmp_path: Path
) -> None:
    before = count(hub)
    response = upload_file(app, corrupt_zip(files, tmp_path))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "rejected_product"
    assert "corrupt or truncated zip" in error["message"]
    assert count(hub) == before
    assert leftovers(hub) == []
    assert not list((hub.settings.data_dir / "archive").rglob("*.zip"))


def test_upload_without_credentials_is_401_with_challenge(app: FastAPI, files: Files) -> None:
    response = upload_file(app, files.zips[0], auth=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_upload_by_a_searcher_is_403(app: FastAPI, hub: Hub, files: Files) -> None:
    response = upload_file(app, files.zips[0], auth=SEARCHER)
    assert response.status_code == 403
    assert count(hub) == 0


@pytest.mark.parametrize(
    "name", ["../S2A_evil.zip", "sub/S2A_x.zip", "..\\x.zip", "notes.txt", ".hidden.zip", ""]
)
def test_bad_file_name_is_400(app: FastAPI, hub: Hub, files: Files, name: str) -> None:
    response = post_upload(app, multipart(("product", name, files.zips[0].read_bytes())))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_upload"
    assert count(hub) == 0
    assert leftovers(hub) == []


def test_missing_product_part_is_400(app: FastAPI, hub: Hub) -> None:
    response = post_upload(app, multipart(("collections", None, b"x")))
    assert response.status_code == 400
    assert "'product'" in response.json()["error"]["message"]
    field_only = post_upload(app, multipart(("product", None, b"not a file")))
    assert field_only.status_code == 400
    assert leftovers(hub) == []


def test_truncated_multipart_body_is_400_and_leaves_nothing(
    app: FastAPI, hub: Hub, files: Files
) -> None:
    body = multipart(("product", files.zips[0].name, files.zips[0].read_bytes()))
    response = post_upload(app, body[: len(body) // 2])
    assert response.status_code == 400
    assert leftovers(hub) == []
    assert count(hub) == 0


def test_body_that_is_not_multipart_is_415(app: FastAPI, files: Files) -> None:
    response = asgi_request(
        app,
        "POST",
        "/api/upload",
        content=files.zips[0].read_bytes(),
        auth=UPLOADER,
        headers={"Content-Type": "application/zip"},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


# -- live server ----------------------------------------------------------------------------
def _streamed(path: Path) -> Iterator[bytes]:
    head = multipart(("product", path.name, b"")).split(b"\r\n\r\n\r\n", 1)[0] + b"\r\n\r\n"
    yield head
    with path.open("rb") as fh:
        while chunk := fh.read(256 * 1024):
            yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_live_server_streamed_upload_of_several_megabytes(hub: Hub, files: Files) -> None:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    with live_server(hub) as base, httpx.Client(base_url=base, auth=UPLOADER, timeout=60) as c:
        response = c.post("/api/upload", content=_streamed(files.big), headers=headers)
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["md5"] == md5_of(files.big)
        assert answer["size"] == files.big.stat().st_size > 4 * 1024 * 1024
        digest = hashlib.md5()
        with c.stream("GET", f"/odata/v1/Products('{answer['id']}')/$value") as value:
            assert value.status_code == 200
            for chunk in value.iter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == md5_of(files.big)
    assert leftovers(hub) == []


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_live_server_aborted_upload_leaves_nothing(hub: Hub, files: Files) -> None:
    body = b"".join(_streamed(files.big))
    credentials = "Basic " + base64.b64encode(":".join(UPLOADER).encode()).decode()
    with live_server(hub) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: {credentials}\r\n".encode()
                + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
            _wait_for(lambda: leftovers(hub), "the upload to start")
        _wait_for(lambda: not leftovers(hub), "the aborted upload to be removed")
    assert count(hub) == 0


# -- OData Ingests --------------------------------------------------------------------------
def post_ingest(app: FastAPI, data: bytes, auth: tuple[str, str] = UPLOADER) -> httpx.Response:
    return asgi_request(
        app,
        "POST",
        "/odata/v1/Ingests?$format=json",
        content=data,
        auth=auth,
        headers={"Content-Type": "application/octet-stream"},
    )


def get_ingest(app: FastAPI, ingest_id: str, auth: tuple[str, str] = UPLOADER) -> httpx.Response:
    return asgi_request(app, "GET", f"/odata/v1/Ingests({ingest_id}L)?$format=json", auth=auth)


def test_ingests_two_step_flow(app: FastAPI, hub: Hub, files: Files) -> None:
    path = files.zips[2]
    created = post_ingest(app, path.read_bytes())
    assert created.status_code == 201, created.text
    entity = created.json()["d"]
    assert entity["Status"] == "PENDING"
    assert entity["MD5"] == md5_of(path)
    assert entity["Uploader"] == UPLOADER[0]
    assert created.headers["Location"].endswith(f"/odata/v1/Ingests({entity['Id']}L)")
    assert count(hub) == 0
    started = asgi_request(
        app,
        "PUT",
        f"/odata/v1/Ingests({entity['Id']})",
        auth=UPLOADER,
        json={"d": {"Filename": path.name, "TargetCollections": [{"Name": "mine"}]}},
    )
    assert started.status_code == 204, started.text
    done = get_ingest(app, entity["Id"]).json()["d"]
    assert done["Status"] == "INGESTED", done
    assert done["Filename"] == path.name
    assert [c["Name"] for c in done["TargetCollections"]["results"]] == ["mine"]
    product = hub.catalogue.backend.find_by_name(path.name.removesuffix(".zip"))
    assert product is not None and product.checksum("MD5") == md5_of(path)
    assert str(product.id) in done["StatusMessage"]
    assert leftovers(hub) == []
    again = asgi_request(
        app,
        "PUT",
        f"/odata/v1/Ingests({entity['Id']})",
        auth=UPLOADER,
        json={"Filename": path.name},
    )
    assert again.status_code == 409


def test_ingest_of_a_corrupt_body_ends_in_error(
    app: FastAPI, hub: Hub, files: Files, tmp_path: Path
) -> None:
    path = corrupt_zip(files, tmp_path)
    ingest_id = post_ingest(app, path.read_bytes()).json()["d"]["Id"]
    started = asgi_request(
        app,
        "PUT",
        f"/dhus/odata/v1/Ingests({ingest_id}L)",
        auth=UPLOADER,
        json={"Filename": path.name, "TargetCollections": []},
    )
    assert started.status_code == 204
    entity = get_ingest(app, ingest_id).json()["d"]
    assert entity["Status"] == "ERROR"
    assert "corrupt or truncated zip" in entity["StatusMessage"]
    assert count(hub) == 0
    assert leftovers(hub) == []


def test_ingest_with_a_bad_file_name_stays_pending(app: FastAPI, files: Files) -> None:
    ingest_id = post_ingest(app, files.zips[0].read_bytes()).json()["d"]["Id"]
    refused = asgi_request(
        app,
        "PUT",
        f"/odata/v1/Ingests({ingest_id})?$format=json",
        auth=UPLOADER,
        json={"Filename": "../x.zip"},
    )
    assert refused.status_code == 400
    assert "path separators" in refused.json()["error"]["message"]["value"]
    assert get_ingest(app, ingest_id).json()["d"]["Status"] == "PENDING"


def test_ingests_are_listed_per_uploader_and_all_for_a_data_manager(
    app: FastAPI, files: Files
) -> None:
    mine = post_ingest(app, files.zips[0].read_bytes()).json()["d"]["Id"]
    theirs = post_ingest(app, files.zips[1].read_bytes(), auth=OTHER).json()["d"]["Id"]

    def ids(auth: tuple[str, str]) -> list[str]:
        feed = asgi_request(app, "GET", "/apihub/odata/v1/Ingests?$format=json", auth=auth)
        assert feed.status_code == 200
        return [e["Id"] for e in feed.json()["d"]["results"]]

    assert ids(UPLOADER) == [mine]
    assert ids(OTHER) == [theirs]
    assert ids(MANAGER) == [mine, theirs]
    assert get_ingest(app, theirs).status_code == 404  # another user's ingest
    assert get_ingest(app, theirs, auth=MANAGER).status_code == 200


def test_ingest_entity_in_atom_by_default(app: FastAPI, files: Files) -> None:
    ingest_id = post_ingest(app, files.zips[0].read_bytes()).json()["d"]["Id"]
    response = asgi_request(app, "GET", f"/odata/v1/Ingests({ingest_id}L)", auth=UPLOADER)
    assert response.headers["content-type"].startswith("application/atom+xml")
    entry = etree.fromstring(response.content)
    assert entry.findtext(f".//{{{D}}}MD5") == md5_of(files.zips[0])
    assert entry.findtext(f".//{{{D}}}Status") == "PENDING"


def test_ingest_delete_and_unknown_ids(app: FastAPI, hub: Hub, files: Files) -> None:
    ingest_id = post_ingest(app, files.zips[0].read_bytes()).json()["d"]["Id"]
    assert leftovers(hub) == [f"ingests/{ingest_id}.bin"]
    deleted = asgi_request(app, "DELETE", f"/odata/v1/Ingests({ingest_id}L)", auth=UPLOADER)
    assert deleted.status_code == 204
    assert leftovers(hub) == []
    assert get_ingest(app, ingest_id).status_code == 404
    for method in ("GET", "DELETE"):
        assert (
            asgi_request(app, method, "/odata/v1/Ingests(999L)", auth=UPLOADER).status_code == 404
        )
    put = asgi_request(
        app, "PUT", "/odata/v1/Ingests(999)", auth=UPLOADER, json={"Filename": files.zips[0].name}
    )
    assert put.status_code == 404
    assert asgi_request(app, "GET", "/odata/v1/Ingests(abc)", auth=UPLOADER).status_code == 404


def test_ingests_need_the_upload_role(app: FastAPI, files: Files) -> None:
    anonymous = asgi_request(app, "POST", "/odata/v1/Ingests", content=b"x", auth=None)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    assert asgi_request(app, "GET", "/odata/v1/Ingests", auth=SEARCHER).status_code == 403
    assert post_ingest(app, files.zips[0].read_bytes(), auth=SEARCHER).status_code == 403


def test_ingests_survive_a_restart(hub: Hub, files: Files) -> None:
    ingest_id = post_ingest(create_app(hub=hub), files.zips[0].read_bytes()).json()["d"]["Id"]
    again = get_ingest(create_app(hub=hub), ingest_id)
    assert again.status_code == 200
    assert again.json()["d"]["MD5"] == md5_of(files.zips[0])
