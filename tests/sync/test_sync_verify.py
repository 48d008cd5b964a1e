"""Which checksums a copying synchroniser computes (``--verify all|blake3``), against a real
upstream eohub on 127.0.0.1 read over CDSE-style OData (MD5 and BLAKE3 listed) or DHuS OData v1
(MD5 only), with the upstream's catalogue listing a wrong checksum for one product.

- ``all`` (the default) computes both: a wrong MD5 listing is refused;
- ``blake3`` computes BLAKE3 alone where the source lists both: a wrong BLAKE3 listing is
  refused, and the MD5 kept is the source's, as listed (not computed: the documented price);
- ``blake3`` against a source listing MD5 alone computes and checks MD5 as ``all`` does.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from blake3 import blake3
from byte_products import add_byte_products, stored_md5
from cli_support import eohub_sync

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings
from eohub.model.product import Checksum, Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode
from eohub.sync.model import VerifyMode
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=2, base=0.01, cap=0.02)
WRONG = {"MD5": "0" * 32, "BLAKE3": "0" * 64}
CDSE, DHUS = "/catalogue/odata/v1", "/odata/v1"


@dataclass
class Mirror:
    """An upstream with four byte products, one of which (``bad``) may be listed wrongly."""

    up: Hub
    url: str
    down: Hub
    data: Path
    bad: Product

    def list_wrong(self, algorithm: str) -> None:
        """The upstream's catalogue lists a wrong ``algorithm`` checksum for ``bad``."""
        kept = tuple(c for c in self.bad.checksums if c.algorithm != algorithm)
        wrong = Checksum(algorithm, WRONG[algorithm])
        self.up.catalogue.upsert([self.bad.evolve(checksums=(wrong, *kept))])

    def run(
        self, path: str, verify: VerifyMode | None = None, *, file_checksums: bool = False
    ) -> tuple[str | None, dict[uuid.UUID, Product]]:
        """Run a synchroniser of the upstream's ``path`` service: (its error, the products
        catalogued here)."""
        sync = build_sync(self.down)
        sync.backoff = FAST
        extra: dict[str, object] = {"file_checksums": file_checksums}
        if verify is not None:
            extra["verify"] = verify
        sync.add(SyncDefinition(
            label="up", url=self.url + path, username=DOWNLOADER[0], password=DOWNLOADER[1],
            mode=SyncMode.COPY, page_size=10, streams=2, max_failures=0, **extra,  # type: ignore[arg-type]
        ))  # fmt: skip
        report = sync.run("up")
        local = {p.id: p for p in self.down.catalogue.search(Query(limit=100)).items}
        return report.error, local


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    products = add_byte_products(up, 4, seed=41, size=(50_000, 300_000))
    data = tmp_path / "down"
    down = build_hub(Settings(data_dir=data))  # type: ignore[call-arg]
    try:
        with live_server(up) as url:
            yield Mirror(up, url, down, data, products[1])
    finally:
        down.close()
        up.close()


def _real_blake3(hub: Hub, key: str) -> str:
    digest = blake3()
    for chunk in hub.store.open(key):
        digest.update(chunk)
    return str(digest.hexdigest())


def test_by_default_both_checksums_are_computed_and_a_wrong_md5_is_refused(
    mirror: Mirror,
) -> None:
    mirror.list_wrong("MD5")
    error, local = mirror.run(CDSE)
    assert error is not None and "MD5" in error and WRONG["MD5"] in error
    assert mirror.bad.id not in local


def test_blake3_mode_checks_blake3_and_keeps_the_sources_md5(mirror: Mirror) -> None:
    error, local = mirror.run(CDSE, VerifyMode.BLAKE3)
    assert error is None and len(local) == 4
    for product in local.values():
        assert product.archive_key is not None and product.online
        real_md5 = stored_md5(mirror.down, product.archive_key)
        assert product.checksum("MD5") == real_md5  # the source's listing, right here
        assert product.checksum("BLAKE3") == _real_blake3(mirror.down, product.archive_key)


def test_a_copy_that_is_no_readable_zip_is_catalogued_without_file_checksums(
    mirror: Mirror, caplog: pytest.LogCaptureFixture
) -> None:
    # The products' bytes are random, named .zip: as the source has them, verified.
    error, local = mirror.run(CDSE, file_checksums=True)
    assert error is None and len(local) == 4
    assert all(mirror.down.catalogue.files(p) is None for p in local.values())
    assert "file checksums of product" in caplog.text and "not computed" in caplog.text


def test_blake3_mode_refuses_bytes_whose_blake3_differs(mirror: Mirror) -> None:
    mirror.list_wrong("BLAKE3")
    error, local = mirror.run(CDSE, VerifyMode.BLAKE3)
    assert error is not None and "BLAKE3" in error and WRONG["BLAKE3"] in error
    assert mirror.bad.id not in local
    assert len(local) == 3  # the others of its page (the cursor holds at the bad one)


def test_blake3_mode_does_not_compute_md5_but_keeps_it_as_the_source_lists_it(
    mirror: Mirror,
) -> None:
    # The documented trade-off: the bytes are proven by BLAKE3, their MD5 is the source's word.
    mirror.list_wrong("MD5")
    error, local = mirror.run(CDSE, VerifyMode.BLAKE3)
    assert error is None and len(local) == 4
    assert local[mirror.bad.id].checksum("MD5") == WRONG["MD5"]


def test_blake3_mode_computes_md5_from_a_source_that_lists_md5_alone(mirror: Mirror) -> None:
    mirror.list_wrong("MD5")  # DHuS OData v1 lists one checksum: MD5
    error, local = mirror.run(DHUS, VerifyMode.BLAKE3)
    assert error is not None and "MD5" in error
    assert mirror.bad.id not in local


def test_the_cli_sets_and_shows_the_mode(mirror: Mirror) -> None:
    def eohub(*args: str) -> subprocess.CompletedProcess[str]:
        return eohub_sync(mirror.data, *args)

    mirror.down.close()  # the CLI opens the catalogue itself
    added = eohub("add", "cli", "--source", mirror.url + CDSE, "--copy", "--verify", "blake3",
                  "--file-checksums")  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = eohub("show", "cli").stdout
    assert '"verify": "blake3"' in shown and '"file_checksums": true' in shown
    assert eohub("edit", "cli", "--verify", "all", "--no-file-checksums").returncode == 0
    shown = eohub("show", "cli").stdout
    assert '"verify": "all"' in shown and '"file_checksums": false' in shown
    refused = eohub("edit", "cli", "--verify", "none")
    assert refused.returncode != 0 and "'none' is not one of 'all', 'blake3'" in refused.stderr
