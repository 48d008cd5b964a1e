"""eodag's generic STAC provider against the hub: search, then download the product asset."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from odata_support import OdataHub, live_server
from stac_support import build_stac_hub

from eohub.protocols.stac import collections


@pytest.fixture(scope="module")
def stac_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    built = build_stac_hub(tmp_path_factory.mktemp("staceodag"), records=0,
                           auth={"anonymous_search": True, "anonymous_download": True})  # fmt: skip
    yield built
    built.hub.close()


def test_eodag_searches_and_downloads(
    stac_hub: OdataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EODAG_CFG_DIR", str(tmp_path / "eodag-config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    # Only our provider: the built-in ones would try to reach their servers.
    monkeypatch.setenv("EODAG_PROVIDERS_WHITELIST", '["eohub"]')
    from eodag import EODataAccessGateway

    product = stac_hub.by_collection("SENTINEL-2")
    cid = collections.collection_id_of(product)
    assert product.footprint is not None
    west, south, east, north = product.footprint.bounds
    with live_server(stac_hub.hub) as url:
        dag = EODataAccessGateway()
        dag.add_provider("eohub", url=f"{url}/stac/search")
        dag.set_preferred_provider("eohub")
        results = dag.search(
            collection=cid,
            start=product.sensing.start.strftime("%Y-%m-%dT00:00:00Z"),
            end=(product.sensing.end.strftime("%Y-%m-%dT23:59:59Z")),
            geom={"lonmin": west, "latmin": south, "lonmax": east, "latmax": north},
        )
        found = [r for r in results if r.properties.get("id") == product.name]
        assert found, [r.properties.get("id") for r in results]
        path = Path(dag.download(found[0], output_dir=str(tmp_path / "out"), extract=False))
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    assert files, path
    digest = hashlib.md5(files[0].read_bytes()).hexdigest()
    assert digest == product.checksum("MD5")
