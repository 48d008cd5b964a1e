"""The unmodified sentinelsat client against a real eohub server on 127.0.0.1.

Proves the drop-in promise: the client changes only its base URL (``/dhus/`` and ``/apihub/``)
and reads products, downloads them with its MD5 check, resumes an interrupted download with a
Range request, downloads several at once, fetches quicklooks and browses nodes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from odata_support import OdataHub, build_odata_hub, live_server
from sentinelsat import SentinelAPI
from sentinelsat.exceptions import InvalidKeyError, LTATriggered
from sentinelsat.products import make_path_filter

from account_support import DOWNLOADER
from eohub.protocols.dhus.odata_v1.entities import media_name


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_odata_hub(tmp_path_factory.mktemp("odata-live"))
    yield built
    built.hub.close()


@pytest.fixture(scope="module")
def base_url(data: OdataHub) -> Iterator[str]:
    with live_server(data.hub) as url:
        yield url


@pytest.fixture(params=["dhus", "apihub"])
def api(request: pytest.FixtureRequest, base_url: str) -> SentinelAPI:
    logging.getLogger("sentinelsat").setLevel(logging.WARNING)
    client = SentinelAPI(*DOWNLOADER, f"{base_url}/{request.param}/", show_progressbars=False)
    return client


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _stored(data: OdataHub, product_id: object) -> bytes:
    product = data.hub.catalogue.get(product_id)  # type: ignore[arg-type]
    assert product.archive_key is not None
    return b"".join(data.hub.store.open(product.archive_key))


def test_get_product_odata_short_and_full(api: SentinelAPI, data: OdataHub) -> None:
    product = data.by_collection("SENTINEL-2")
    info = api.get_product_odata(str(product.id))
    assert info["id"] == str(product.id)
    assert info["title"] == product.name
    assert info["size"] == product.size
    assert info["md5"].lower() == product.checksum("MD5")
    assert info["date"] == product.sensing.start.replace(
        microsecond=product.sensing.start.microsecond // 1000 * 1000, tzinfo=None
    )
    assert info["Online"] is True
    assert info["url"].endswith(f"Products('{product.id}')/$value")
    assert info["footprint"].startswith("POLYGON((")
    full = api.get_product_odata(str(product.id), full=True)
    assert full["Filename"] == product.filename
    assert full["Identifier"] == product.name
    assert full["Product type"] == product.product_type
    for name, value in product.attributes.items():
        if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "").isdigit():
            assert full[name] == value, name


def test_download_verifies_the_md5(api: SentinelAPI, data: OdataHub, tmp_path: Path) -> None:
    for product in (data.by_collection("SENTINEL-1"), data.by_collection("SENTINEL-5P")):
        info = api.download(str(product.id), tmp_path)
        path = Path(info["path"])
        assert path.name == media_name(product)
        assert path.read_bytes() == _stored(data, product.id)
        assert _md5(path) == product.checksum("MD5")


def test_resume_sends_a_range_and_finishes(
    api: SentinelAPI, data: OdataHub, tmp_path: Path
) -> None:
    product = data.by_collection("SENTINEL-3")
    whole = _stored(data, product.id)
    partial = tmp_path / (media_name(product) + ".incomplete")
    partial.write_bytes(whole[:1000])
    info = api.download(str(product.id), tmp_path)
    assert info["downloaded_bytes"] == len(whole) - 1000  # only the rest was sent
    assert Path(info["path"]).read_bytes() == whole
    assert not partial.exists()


def test_download_all(api: SentinelAPI, data: OdataHub, tmp_path: Path) -> None:
    ids = [str(p.id) for p in data.products[:5]]
    result = api.download_all(ids, tmp_path, n_concurrent_dl=3)
    downloaded, triggered, failed = result
    assert set(downloaded) == set(ids) and not triggered and not failed
    for product in data.products[:5]:
        assert (tmp_path / media_name(product)).read_bytes() == _stored(data, product.id)


def test_download_quicklook(api: SentinelAPI, data: OdataHub, tmp_path: Path) -> None:
    product = data.with_quicklook()
    info = api.download_quicklook(str(product.id), tmp_path)
    assert info["error"] == ""
    assert product.quicklook_key is not None
    expected = b"".join(data.hub.store.open(product.quicklook_key))
    assert Path(info["path"]).read_bytes() == expected
    assert expected[:3] == b"\xff\xd8\xff"  # a JPEG


def test_is_online_and_offline_download(api: SentinelAPI, data: OdataHub, tmp_path: Path) -> None:
    assert api.is_online(str(data.products[0].id)) is True
    assert api.is_online(str(data.offline.id)) is False
    with pytest.raises(LTATriggered):
        api.download(str(data.offline.id), tmp_path)
    assert api.trigger_offline_retrieval(str(data.offline.id)) is True
    assert api.trigger_offline_retrieval(str(data.products[0].id)) is False


def test_unknown_and_malformed_ids_raise_invalid_key(api: SentinelAPI, tmp_path: Path) -> None:
    for bad in ("00000000-0000-0000-0000-000000000000", "invalid-xyz"):
        with pytest.raises(InvalidKeyError, match="Invalid key"):
            api.get_product_odata(bad)
        with pytest.raises(InvalidKeyError):
            api.is_online(bad)
        with pytest.raises(InvalidKeyError):
            api.download(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_node_filter_download_reads_the_manifest_and_files(
    api: SentinelAPI, data: OdataHub, tmp_path: Path
) -> None:
    product = data.by_collection("SENTINEL-2")
    info = api.download(str(product.id), tmp_path, nodefilter=make_path_filter("*.xml"))
    root = tmp_path / f"{product.name}.SAFE"
    assert (root / "manifest.safe").is_file()
    xml_nodes = [n for n in info["nodes"] if n.endswith(".xml")]
    assert xml_nodes, info["nodes"]
    for node in xml_nodes:
        assert (root / node).is_file()  # sentinelsat checked size and MD5 from the manifest


def test_user_guide_urls_with_curl_style_requests(base_url: str, data: OdataHub) -> None:
    product = data.with_quicklook()
    url = f"{base_url}/dhus/odata/v1/Products('{product.id}')/$value"
    response = requests.get(url, auth=DOWNLOADER, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (f'inline;filename="{media_name(product)}"')
    assert response.content == _stored(data, product.id)
    quicklook = requests.get(
        f"{base_url}/dhus/odata/v1/Products('{product.id}')/Products('Quicklook')/$value",
        timeout=30,
    )
    assert quicklook.status_code == 200 and quicklook.headers["Content-Type"] == "image/jpeg"
