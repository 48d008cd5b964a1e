"""stac-api-validator, run as a program against the STAC API on a real uvicorn server.

The command is the one docs/stac.md gives; schemas come from ``stac_offline`` (no network).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from odata_support import OdataHub, live_server
from shapely.geometry import shape
from stac_support import build_stac_hub

from eohub.protocols.stac import collections
from eohub.query import Query

OFFLINE = Path(__file__).parent / "stac_offline"
VALIDATOR = Path(sys.executable).parent / "stac-api-validator"


@pytest.fixture(scope="module")
def stac_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OdataHub]:
    # Anonymous download: the validator also opens every asset and link it finds.
    built = build_stac_hub(tmp_path_factory.mktemp("stacval"),
                           auth={"anonymous_search": True, "anonymous_download": True})  # fmt: skip
    yield built
    built.hub.close()


def test_stac_api_validator_finds_no_error(stac_hub: OdataHub) -> None:
    products = stac_hub.hub.catalogue.search(Query(limit=1000)).items
    s2 = [p for p in products if collections.collection_id_of(p) == "sentinel-2-l1c"]
    product = next(p for p in s2 if p.footprint)
    assert product.footprint is not None
    point = shape(product.footprint.geojson).representative_point()
    cloud = product.cloud_cover  # one value the eq test finds
    geometry = json.dumps({"type": "Point", "coordinates": [point.x, point.y]})
    env = {**os.environ, "PYTHONPATH": str(OFFLINE)}
    with live_server(stac_hub.hub) as url:
        run = subprocess.run(
            [str(VALIDATOR), "--root-url", f"{url}/stac",
             "--conformance", "core", "--conformance", "collections",
             "--conformance", "features", "--conformance", "item-search",
             "--conformance", "filter", "--conformance", "item-search#sort",
             "--conformance", "item-search#fields",
             "--collection", "sentinel-2-l1c", "--geometry", geometry,
             "--fields-nested-property", "properties.eo:cloud_cover",
             "--conformance", "item-search#query",
             "--query-comparison-field", "eo:cloud_cover", "--query-eq-value", str(cloud),
             "--query-neq-value", str(cloud), "--query-lt-value", "100",
             "--query-lte-value", "100", "--query-gt-value", "-1", "--query-gte-value", "0",
             "--query-substring-field", "product:type", "--query-starts-with-value", "S2MSI",
             "--query-ends-with-value", "1C", "--query-contains-value", "MSI1",
             # the validator reads the 'in' property as an array: instruments is one
             "--query-in-field", "instruments", "--query-in-values", "msi,olci"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    report = run.stdout + run.stderr
    assert "Errors: none" in report, report[-6000:]
    assert run.returncode == 0, report[-3000:]
