"""The rolling archive between two real hubs on 127.0.0.1: a downstream hub holding copies of
an upstream hub's products evicts them by policy, and retrieves an evicted product from the
upstream (through a fault-injecting proxy) when a user downloads it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest
from byte_products import stored_md5
from fault_proxy import Fault, FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import OdataHub, build_odata_hub, live_server
from eohub.api.auth import SESSION_COOKIE
from eohub.config import RetrievalSettings, RetrievalSourceSettings, Settings
from eohub.model import Product, Role
from eohub.sync import SyncDefinition, SyncMode
from eohub.sync.evict import Evictor
from eohub.sync.policy import Basis, EvictionPolicy, Order
from eohub.sync.remote import Backoff
from eohub.sync.retrieve import Retrievals
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=3, base=0.01, cap=0.05)
DAY = 86400.0
OTHER = ("other", "other-password")


@dataclass
class Archive:
    """The upstream hub, the proxy in front of it, and the downstream hub (served too)."""

    up: OdataHub
    proxy: FaultProxy
    down: Hub
    url: str  # the downstream hub's base URL
    data: Path  # the downstream hub's data folder
    dated: list[Product]  # the downstream's online products, oldest publication first

    @property
    def evictor(self) -> Evictor:
        assert self.down.evictor is not None
        return self.down.evictor

    @property
    def retrievals(self) -> Retrievals:
        assert self.down.retrievals is not None
        return self.down.retrievals

    def get(self, product: Product) -> Product:
        return self.down.catalogue.get(product.id)

    def client(self, auth: tuple[str, str] = DOWNLOADER) -> httpx.Client:
        """A client sending the user's password, and their portal session cookie."""
        user = self.down.accounts.user(auth[0])
        session = self.down.accounts.start_session(user, timedelta(hours=1))
        return httpx.Client(base_url=self.url, auth=auth, timeout=30,
                            cookies={SESSION_COOKIE: session.token})  # fmt: skip


@pytest.fixture
def archive(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Archive]:
    """The downstream syncs from and retrieves from the upstream's DHuS OData v1 service, or
    (``indirect`` parameter ``cdse``) its CDSE-style one."""
    api = "/catalogue/odata/v1" if getattr(request, "param", "dhus") == "cdse" else ""
    up = build_odata_hub(tmp_path / "up", n=6)
    try:
        with live_server(up.hub) as base, fault_proxy(base) as (proxied, proxy):
            url = proxied + api
            retrieval = RetrievalSettings(
                sources=[RetrievalSourceSettings(url=url, label="up", username=DOWNLOADER[0],
                                                 password=DOWNLOADER[1])],  # type: ignore[arg-type]
                from_synchronisers=False,
                max_pending_per_user=2,
            )  # fmt: skip
            settings = Settings(data_dir=tmp_path / "down", retrieval=retrieval)  # type: ignore[call-arg]
            down = build_hub(settings)
            add_downloader(down)
            down.accounts.create(*OTHER, [Role.SEARCH, Role.DOWNLOAD], email="other@example.org")
            sync = build_sync(down)
            sync.backoff = FAST
            sync.add(SyncDefinition(label="up", url=url, username=DOWNLOADER[0],
                                    password=DOWNLOADER[1], mode=SyncMode.COPY))  # fmt: skip
            assert sync.run("up").error is None
            assert down.retrievals is not None
            down.retrievals.backoff = FAST
            now = datetime.now(UTC)
            online = sorted((p for p in up.products), key=lambda p: p.name)
            # Published 10, 9, 8, 7, 6 and 5 days ago.
            dated = [
                down.catalogue.get(p.id).evolve(publication_date=now - timedelta(days=10 - i))
                for i, p in enumerate(online)
            ]
            down.catalogue.upsert(dated)
            try:
                with live_server(down) as down_url:
                    down.worker.stop()  # the tests run evictions and retrievals themselves
                    yield Archive(up, proxy, down, down_url, tmp_path / "down", dated)
            finally:
                down.close()
    finally:
        up.hub.close()


def _online_dhus(client: httpx.Client, product_id: uuid.UUID) -> str:
    return client.get(f"/odata/v1/Products('{product_id}')/Online/$value").text


def _csc(client: httpx.Client, product_id: uuid.UUID) -> dict[str, object]:
    body: dict[str, object] = client.get(f"/catalogue/odata/v1/Products({product_id})").json()
    return body


def test_dry_run_lists_exactly_the_expected_products_and_deletes_nothing(
    archive: Archive,
) -> None:
    archive.evictor.add(EvictionPolicy("week", keep_s=7.5 * DAY, basis=Basis.PUBLICATION))
    run = subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(archive.data), "evict", "--dry-run"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    listed = {line.split()[0] for line in run.stdout.splitlines() if line.startswith("  ")}
    assert listed == {str(p.id) for p in archive.dated[:3]}
    assert "would evict 3 products" in run.stdout and "publication date older than" in run.stdout
    for product in archive.dated:
        now = archive.get(product)
        assert now.online and now.archive_key and archive.down.store.stat(now.archive_key)


def test_soft_eviction_frees_bytes_and_shows_the_product_offline(archive: Archive) -> None:
    archive.evictor.add(EvictionPolicy("week", keep_s=7.5 * DAY, basis=Basis.PUBLICATION))
    with archive.client() as client:
        young = archive.dated[4]
        entity = _csc(client, young.id)
        assert entity["EvictionDate"] == (young.publication_date + timedelta(days=7.5)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        (report,) = archive.evictor.run()
        assert report.evicted == 3 and report.freed == sum(p.size for p in archive.dated[:3])
        for product in archive.dated[:3]:
            gone = archive.get(product)
            assert not gone.online and gone.archive_key is None
            assert product.archive_key and archive.down.store.stat(product.archive_key) is None
            if product.quicklook_key:  # metadata and quicklook kept
                assert gone.quicklook_key == product.quicklook_key
                assert archive.down.store.stat(product.quicklook_key) is not None
            assert _online_dhus(client, product.id) == "false"
            entity = _csc(client, product.id)
            assert (
                entity["Online"] is False
                and entity["EvictionDate"] == "9999-12-31T23:59:59.999999Z"
            )
        for product in archive.dated[3:]:
            assert _online_dhus(client, product.id) == "true"
    assert archive.evictor.run()[0].evicted == 0  # nothing left to evict


def test_hard_eviction_records_deleted_products(archive: Archive) -> None:
    target = archive.dated[0]
    policy = EvictionPolicy("hard", keep_s=DAY, basis=Basis.PUBLICATION, soft=False,
                            filter=f"Name eq '{target.name}'")  # fmt: skip
    archive.evictor.add(policy)
    (report,) = archive.evictor.run()
    assert [e.product.id for e in report.planned] == [target.id] and report.evicted == 1
    deleted = archive.down.catalogue.get_deleted(target.id)
    assert deleted.deletion_cause == "AUTO_EVICTION (hard)"
    for key in (target.archive_key, target.quicklook_key, target.thumbnail_key):
        assert key is None or archive.down.store.stat(key) is None
    with archive.client() as client:
        found = client.get(f"/catalogue/odata/v1/DeletedProducts({target.id})")
        assert found.status_code == 200 and found.json()["DeletionCause"] == "AUTO_EVICTION (hard)"


def test_byte_budget_fifo_and_lru_pick_the_right_products(archive: Archive) -> None:
    total = sum(p.size for p in archive.dated)
    oldest, second = archive.dated[0], archive.dated[1]
    budget = total - oldest.size  # one product too many: the first in goes
    archive.evictor.add(EvictionPolicy("fifo", max_bytes=budget, order=Order.FIFO,
                                       basis=Basis.PUBLICATION))  # fmt: skip
    plan = archive.evictor.plan(archive.evictor.get("fifo"))
    assert [e.product.id for e in plan] == [oldest.id]
    assert "over the byte budget" in plan[0].reason
    # Downloaded a moment ago, the oldest is the most recently used: LRU takes the next one.
    with archive.client() as client:
        assert client.get(f"/odata/v1/Products('{oldest.id}')/$value").status_code == 200
    archive.evictor.add(EvictionPolicy("lru", max_bytes=budget, order=Order.LRU,
                                       basis=Basis.PUBLICATION))  # fmt: skip
    plan = archive.evictor.plan(archive.evictor.get("lru"))
    assert [e.product.id for e in plan] == [second.id]
    (report,) = archive.evictor.run("lru")
    assert report.evicted == 1 and not archive.get(second).online and archive.get(oldest).online
    assert archive.evictor.plan(archive.evictor.get("fifo")) == []  # under the budget now


def _evict(archive: Archive, *products: Product) -> None:
    names = " or ".join(f"Name eq '{p.name}'" for p in products)
    archive.evictor.add(EvictionPolicy("some", keep_s=1, basis=Basis.PUBLICATION, filter=names))
    assert archive.evictor.run("some")[0].evicted == len(products)
    archive.evictor.remove("some")


@pytest.mark.parametrize("archive", ["dhus", "cdse"], indirect=True)
def test_an_evicted_product_is_retrieved_on_demand(archive: Archive) -> None:
    target = archive.dated[0]
    _evict(archive, target)
    archive.evictor.add(EvictionPolicy("month", keep_s=30 * DAY, basis=Basis.PUBLICATION))
    value = f"/odata/v1/Products('{target.id}')/$value"
    with archive.client(OTHER) as client:
        queued = client.get(value, headers={"Range": "bytes=0-1"})
        assert queued.status_code == 202 and queued.content == b""
        assert queued.headers["content-type"].startswith("text/plain")
        again = client.get(f"/catalogue/odata/v1/Products({target.id})/$value")
        assert again.status_code == 202 and "queued" in again.json()["detail"]["message"]
        page = client.get(f"/products/{target.id}")
        assert "Retrieval pending" in page.text
        assert archive.retrievals.run_once() == 1
        back = archive.get(target)
        assert back.online and back.archive_key
        assert stored_md5(archive.down, back.archive_key) == target.checksum("MD5")
        body = client.get(value)
        assert body.status_code == 200
        assert hashlib.md5(body.content, usedforsecurity=False).hexdigest() == target.checksum(
            "MD5"
        )
        assert _online_dhus(client, target.id) == "true"
        # Kept at least three days, though the 30-day policy would evict it at once.
        entity = _csc(client, target.id)
        evicts = datetime.strptime(str(entity["EvictionDate"]), "%Y-%m-%dT%H:%M:%S.%fZ")
        assert evicts.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=2.9)
        assert target.id not in {
            e.product.id for e in archive.evictor.plan(archive.evictor.get("month"))
        }
        assert "Retrieved" in client.get(f"/products/{target.id}").text
    mails = [message_from_bytes(p.read_bytes()) for p in (archive.data / "outbox").glob("*.eml")]
    assert [m["To"] for m in mails] == ["other@example.org"]
    assert target.name in str(mails[0]["Subject"])


def test_pending_retrievals_beyond_the_limit_are_refused(archive: Archive) -> None:
    first, second, third = archive.dated[:3]
    _evict(archive, first, second, third)
    with archive.client() as client:
        for product in (first, second):
            assert client.get(f"/odata/v1/Products('{product.id}')/$value").status_code == 202
        refused = client.get(f"/odata/v1/Products('{third.id}')/$value")
        assert refused.status_code == 403
        assert refused.headers["cause-message"] == (
            f"QuotaException : User '{DOWNLOADER[0]}' offline products retrieval quota exceeded "
            f"(2 fetches max) trying to fetch product {third.name} ({third.size} bytes compressed)"
        )
        csc = client.get(f"/catalogue/odata/v1/Products({third.id})/$value")
        assert csc.status_code == 403 and "quota exceeded" in csc.json()["detail"]["message"]
        # The same product again joins its pending retrieval.
        assert client.get(f"/odata/v1/Products('{first.id}')/$value").status_code == 202
    with archive.client(OTHER) as client:  # another user has a limit of their own
        assert client.get(f"/odata/v1/Products('{third.id}')/$value").status_code == 202


def test_a_broken_upstream_leaves_the_product_offline_and_retryable(archive: Archive) -> None:
    target = archive.dated[0]
    _evict(archive, target)
    fault = Fault(f"Products('{target.id}')/$value", "corrupt", 1000)
    archive.proxy.faults.append(fault)
    archive.retrievals.attempts = 2
    value = f"/odata/v1/Products('{target.id}')/$value"
    prefix = f"{target.id.hex[:2]}/{target.id.hex[2:4]}/{target.id}/"
    previews = {k for k in (target.quicklook_key, target.thumbnail_key) if k}
    with archive.client() as client:
        assert client.get(value).status_code == 202
        for _ in range(2):
            assert archive.retrievals.run_once() == 0
            assert not archive.get(target).online
            assert set(archive.down.store.keys(prefix)) == previews  # no half product
        status = archive.retrievals.status(target.id, DOWNLOADER[0])
        assert status is not None and status.state == "failed" and "MD5" in (status.error or "")
        assert "Retrieval failed" in client.get(f"/products/{target.id}").text
        fault.times = 0  # the upstream recovers: downloading asks again
        assert client.get(value).status_code == 202
        assert archive.retrievals.run_once() == 1
        assert client.get(value).status_code == 200
