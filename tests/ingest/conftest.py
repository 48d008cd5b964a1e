"""Fixtures of the ingest tests: factory products of every mission and a real S3 server.

Outside CI a SeaweedFS that cannot start skips the S3 tests loudly; with ``CI=true`` it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_support import MISSIONS, first_of_each_mission, make_product

from s3_server import SeaweedS3, start_for_tests

PREVIEW_PX = 600  # previews larger than the 512 px quicklook, so both sizes are exercised


@pytest.fixture(scope="session")
def mission_products(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Read-only factory products: (mission, "folder"|"zip") -> path (Sentinel-5P: "file").

    Tests that move, delete or edit products work on copies.
    """
    root = tmp_path_factory.mktemp("mission-products")
    found: dict[tuple[str, str], Path] = {}
    for mission, record in first_of_each_mission().items():
        if mission == "SENTINEL-5P":
            found[(mission, "file")] = make_product(record, root / "file", image_px=PREVIEW_PX)
            continue
        for form in ("folder", "zip"):
            found[(mission, form)] = make_product(
                record, root / form, zipped=form == "zip", image_px=PREVIEW_PX
            )
    assert {m for m, _ in found} == set(MISSIONS)
    return found


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A SeaweedFS (master, volume, filer, S3) of this module's own, on free 127.0.0.1 ports.

    Its own, because tests here stop it in the middle of an upload.
    """
    server = start_for_tests(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.kill()  # its data is thrown away: no need for a graceful stop


@pytest.fixture(scope="module")
def s3_server(seaweed: SeaweedS3) -> tuple[str, str, str]:
    """(endpoint_url, access_key, secret_key) of the module's real S3 server."""
    endpoint, access, secret = seaweed.credentials
    return str(endpoint), str(access), str(secret)
