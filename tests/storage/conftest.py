"""Fixtures of the archive tests: a real SeaweedFS S3 server, and each store in turn.

Outside CI a SeaweedFS that cannot start skips the S3 tests loudly; with ``CI=true`` it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eohub.storage.filesystem import FilesystemStore
from eohub.storage.ports import ObjectStore
from eohub.storage.s3 import S3Store
from s3_server import SeaweedS3, new_s3_store, s3_client, start_for_tests


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS (master, volume, filer, S3) on free 127.0.0.1 ports for the session."""
    server = start_for_tests(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(seaweed: SeaweedS3) -> tuple[str, str, str]:
    """(endpoint_url, access_key, secret_key) of the session's real S3 server."""
    return seaweed.credentials


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each ObjectStore in turn: a local folder, and a fresh bucket on the real S3 server."""
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "archive")
    return new_s3_store(request.getfixturevalue("s3_server"))


@pytest.fixture
def leftovers(request: pytest.FixtureRequest, store: ObjectStore) -> Callable[[], list[str]]:
    """Lists what a failed put may have left behind: partial files or multipart uploads."""
    if isinstance(store, FilesystemStore):
        tmp = store.root / ".eohub-tmp"
        return lambda: sorted(path.name for path in tmp.iterdir())
    assert isinstance(store, S3Store)
    client: Any = s3_client(*request.getfixturevalue("s3_server"))

    def uploads() -> list[str]:
        answer = client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        return sorted(upload["Key"] for upload in answer.get("Uploads", []))

    return uploads
