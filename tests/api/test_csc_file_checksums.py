"""Checksums of the files inside products, end to end on a real server (127.0.0.1) over a real
SQLite catalogue and archive: the CDSE ``Nodes`` and the STAC file assets show the MD5 and
BLAKE3 of exactly the bytes each file's download serves, for products ingested as folders and
as zips; a product without them (ingested before they existed) shows none until ``eohub fsck
--repair`` computes them from the archive."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from blake3 import blake3
from odata_support import live_server

from account_support import DOWNLOADER, add_downloader
from eohub.config import Settings
from eohub.demo.factory import build_product
from eohub.demo.records import generate_products
from eohub.maintenance.fsck import fsck
from eohub.model import Product
from eohub.protocols.stac.collections import collection_id_of
from eohub.wiring import Hub, build_hub

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
MAX_NODES = 400
FORMS = {"folder": ("SENTINEL-2", False), "zip": ("SENTINEL-1", True),
         "zip3": ("SENTINEL-3", True), "file": ("SENTINEL-5P", False)}  # fmt: skip


@dataclass
class Served:
    hub: Hub
    base: str
    products: dict[str, Product]  # by input form

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", DOWNLOADER)
        kwargs.setdefault("timeout", 60)
        url = path if path.startswith("http") else f"{self.base}/catalogue/odata/v1/{path}"
        return requests.get(url, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root: Path = tmp_path_factory.mktemp("file-checksums")
    hub = build_hub(Settings(data_dir=root / "hub"))
    add_downloader(hub)
    records = list(generate_products(80, seed=3))
    products: dict[str, Product] = {}
    for form, (collection, zipped) in FORMS.items():
        record = next(r for r in records if r.collection == collection)
        path = build_product(record, root / "incoming" / form, zipped=zipped)
        assert path.is_dir() == (form == "folder")
        result = hub.ingestor().ingest(path)
        assert result.product is not None, result.reason
        products[form] = result.product
    with live_server(hub) as base:
        yield Served(hub, base, products)
    hub.close()


def _walk(served: Served, product: Product) -> list[tuple[list[str], dict[str, Any]]]:
    """Every node of a product with its chain of names (breadth first, bounded)."""
    found: list[tuple[list[str], dict[str, Any]]] = []
    level = [([], served.get(f"Products({product.id})/Nodes"))]
    while level and len(found) < MAX_NODES:
        names, response = level.pop(0)
        assert response.status_code == 200, response.text
        for node in response.json()["result"]:
            chain = [*names, node["Name"]]
            found.append((chain, node))
            if node["ChildrenNumber"]:
                level.append((chain, requests.get(node["Nodes"]["uri"], auth=DOWNLOADER,
                                                  timeout=60)))  # fmt: skip
    assert len(found) < MAX_NODES
    return found


def _node_value(served: Served, product: Product, chain: list[str]) -> bytes:
    path = "/".join(f"Nodes({requests.utils.quote(n, safe='')})" for n in chain)
    response = served.get(f"Products({product.id})/{path}/$value")
    assert response.status_code == 200, response.text
    return response.content


def _expected(data: bytes) -> dict[str, str]:
    return {"MD5": hashlib.md5(data).hexdigest(), "BLAKE3": blake3(data).hexdigest()}


@pytest.mark.parametrize("form", ["folder", "zip", "zip3"])
def test_file_nodes_carry_the_checksums_of_the_bytes_they_serve(served: Served, form: str) -> None:
    product = served.products[form]
    nodes = _walk(served, product)
    files = [(chain, node) for chain, node in nodes if node["ChildrenNumber"] == 0]
    folders = [node for _, node in nodes if node["ChildrenNumber"] > 0]
    assert len(files) >= 3 and folders
    for node in folders:
        assert node["Checksum"] == []
    for chain, node in files:
        assert list(node) == ["Id", "Name", "ContentLength", "ChildrenNumber", "Checksum",
                              "Nodes"]  # fmt: skip
        data = _node_value(served, product, chain)
        assert len(data) == node["ContentLength"]
        assert [c["Algorithm"] for c in node["Checksum"]] == ["MD5", "BLAKE3"], chain
        assert {c["Algorithm"]: c["Value"] for c in node["Checksum"]} == _expected(data), chain
        for checksum in node["Checksum"]:
            assert DATETIME.match(checksum["ChecksumDate"])


def test_one_file_node_asked_by_name(served: Served) -> None:
    product = served.products["folder"]
    chain = [product.filename, "manifest.safe"]
    path = "/".join(f"Nodes({n})" for n in chain)
    [node] = served.get(f"Products({product.id})/{path}").json()["result"]
    data = _node_value(served, product, chain)
    assert {c["Algorithm"]: c["Value"] for c in node["Checksum"]} == _expected(data)


def test_single_file_product_node_has_the_product_checksums(served: Served) -> None:
    product = served.products["file"]
    [node] = served.get(f"Products({product.id})/Nodes").json()["result"]
    entity = served.get(f"Products({product.id})").json()
    assert node["Checksum"] == entity["Checksum"]
    data = _node_value(served, product, [node["Name"]])
    assert {c["Algorithm"]: c["Value"] for c in node["Checksum"]} == _expected(data)


def test_stac_file_assets_carry_md5_multihashes(served: Served) -> None:
    product = served.products["zip"]
    url = f"{served.base}/stac/collections/{collection_id_of(product)}/items/{product.name}"
    item = requests.get(url, auth=DOWNLOADER, timeout=60).json()
    files = {k: a for k, a in item["assets"].items() if k not in ("product", "quicklook",
                                                                   "thumbnail")}  # fmt: skip
    assert len(files) >= 4
    for key, asset in files.items():
        data = requests.get(asset["href"], auth=DOWNLOADER, timeout=60).content
        assert len(data) == asset["file:size"], key
        # multihash: MD5 is code 0xd5 (varint d5 01), then the length 16 (0x10)
        assert asset["file:checksum"] == "d50110" + hashlib.md5(data).hexdigest(), key


def _forget_file_checksums(served: Served, product: Product) -> None:
    """Make the product look as ingested before file checksums existed."""
    with sqlite3.connect(served.hub.settings.sqlite_path) as conn:
        conn.execute("DELETE FROM product_files WHERE id = ?", (str(product.id),))


def test_fsck_repair_computes_missing_file_checksums(served: Served) -> None:
    product = served.products["zip"]
    before = {tuple(chain): node["Checksum"] for chain, node in _walk(served, product)}
    _forget_file_checksums(served, product)
    assert all(node["Checksum"] == [] for _, node in _walk(served, product))
    report = fsck(served.hub.catalogue, served.hub.store)
    assert report.files.missing == 1 and report.files.stored == 0
    repaired = fsck(served.hub.catalogue, served.hub.store, repair=True)
    assert repaired.files.missing == 1 and repaired.files.stored == 1
    assert repaired.files.failed == [] and repaired.clean
    after = {tuple(chain): node["Checksum"] for chain, node in _walk(served, product)}
    strip = {k: [(c["Algorithm"], c["Value"]) for c in v] for k, v in after.items()}
    assert strip == {k: [(c["Algorithm"], c["Value"]) for c in v] for k, v in before.items()}
    assert fsck(served.hub.catalogue, served.hub.store).files.missing == 0
