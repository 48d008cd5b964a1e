"""Real hubs on 127.0.0.1 in tiers: a Tier-0 eohub, a Tier-1 mirroring part of it over its
CDSE-style OData, a Tier-2 mirroring the Tier-1; failover between sources; the serving hub's
scheduler."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fault_proxy import Fault, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import OdataHub, build_odata_hub, live_server
from eohub.config import Settings
from eohub.demo.factory import demo_products
from eohub.errors import InvalidQuery
from eohub.model import Product
from eohub.model.user import Quota
from eohub.query import Query
from eohub.query.evaluate import matches
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.filters import local_filter
from eohub.sync.model import FilterLanguage, ValueServing
from eohub.sync.remote import Backoff
from eohub.sync.scheduler import SyncScheduler
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=3, base=0.01, cap=0.05)
CSC = "/catalogue/odata/v1"
# The western hemisphere, and two of the four missions.
REGION = "POLYGON((-180 -90, 0 -90, 0 90, -180 90, -180 -90))"
MISSIONS = "Collection/Name eq 'SENTINEL-1' or Collection/Name eq 'SENTINEL-2'"


def _downstream(root: Path) -> tuple[Hub, SyncService]:
    hub = build_hub(Settings(data_dir=root))  # type: ignore[call-arg]
    add_downloader(hub)
    sync = build_sync(hub)
    sync.backoff = FAST
    return hub, sync


def _all(hub: Hub) -> dict[uuid.UUID, Product]:
    return {p.id: p for p in hub.catalogue.search(Query(limit=1000)).items}


def _md5s(hub: Hub) -> dict[uuid.UUID, str | None]:
    return {pid: p.checksum("MD5") for pid, p in _all(hub).items()}


@pytest.fixture
def tier0(tmp_path: Path) -> Iterator[tuple[OdataHub, str]]:
    up = build_odata_hub(tmp_path / "t0", n=16)
    try:
        with live_server(up.hub) as base:
            yield up, base
    finally:
        up.hub.close()


def test_three_tiers_converge_on_the_same_ids_and_checksums(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    t0, base0 = tier0
    t1, sync1 = _downstream(tmp_path / "t1")
    t2, sync2 = _downstream(tmp_path / "t2")
    try:
        definition = SyncDefinition(
            label="tier0", url=base0 + CSC, username=DOWNLOADER[0], password=DOWNLOADER[1],
            mode=SyncMode.COPY, filter=MISSIONS, filter_language=FilterLanguage.CDSE,
            geofilter=f"intersects {REGION}", page_size=3,
        )  # fmt: skip
        sync1.add(definition)
        wanted = local_filter(definition)
        expected = {p.id for p in _all(t0.hub).values() if matches(wanted, p)}
        assert 0 < len(expected) < len(_all(t0.hub))

        first = sync1.run("tier0")
        assert first.error is None and first.catalogued == len(expected)
        assert set(_all(t1)) == expected
        assert _md5s(t1) == {pid: md5 for pid, md5 in _md5s(t0.hub).items() if pid in expected}
        copied = next(iter(_all(t1).values()))
        assert copied.online and copied.archive_key is not None  # bytes verified and stored
        original = t0.hub.catalogue.get(copied.id)
        assert (copied.name, copied.platform, copied.product_type, copied.footprint) == (
            original.name, original.platform, original.product_type, original.footprint,
        )  # fmt: skip

        with live_server(t1) as base1:
            sync2.add(SyncDefinition(
                label="tier1", url=base1, username=DOWNLOADER[0], password=DOWNLOADER[1],
                page_size=4,
            ))  # fmt: skip
            assert sync2.run("tier1").error is None
            assert _md5s(t2) == _md5s(t1)

            # New upstream products and a deletion travel down both tiers.
            more = t0.hub.ingestor().ingest_all(demo_products(8, tmp_path / "more", seed=31))
            assert more.ingested == 8
            gone = next(iter(expected))
            t0.hub.catalogue.delete(gone, cause="withdrawn")
            expected = {p.id for p in _all(t0.hub).values() if matches(wanted, p)}
            second = sync1.run("tier0")
            assert second.error is None and second.deleted == 1
            assert set(_all(t1)) == expected
            assert sync2.run("tier1").error is None
            assert _md5s(t2) == _md5s(t1)
            assert gone not in _all(t2)
            assert sync1.run("tier0").catalogued == 0  # caught up: nothing read twice

        state = sync1.get("tier0")
        assert state.lag_seconds == 0.0  # its cursor reached the source's newest product
    finally:
        t1.close()
        t2.close()


def test_a_source_that_dies_mid_sync_fails_over_to_the_next(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        with fault_proxy(base0) as (flaky, proxy):
            sync.add(SyncDefinition(
                label="mirror", url=flaky + CSC, sources=(base0 + CSC,),
                username=DOWNLOADER[0], password=DOWNLOADER[1], page_size=3,
            ))  # fmt: skip
            first = sync.run("mirror", max_pages=2)  # part of the way through the first source
            assert first.error is None and 0 < len(_all(down)) < len(_all(t0.hub))
            proxy.faults.append(Fault("/Products", "500", times=1000))  # the source dies
            report = sync.run("mirror")
        assert report.error is None and report.failovers == 1
        assert report.source == base0 + CSC
        assert _md5s(down) == _md5s(t0.hub)
        state = sync.get("mirror")
        assert state.counters.products == len(_all(t0.hub))  # none catalogued twice
        assert state.source_state(flaky + CSC).failures == 1
        assert state.ranked_sources()[0] == base0 + CSC  # measured: the live one ranks first
    finally:
        down.close()


def test_a_cdse_style_source_fails_over_to_a_dhus_one(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    """Each source speaks the protocol its URL names: a CDSE-style first source that dies
    hands over to a DHuS OData v1 one, and nothing is catalogued twice."""
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        with fault_proxy(base0) as (flaky, proxy):
            sync.add(SyncDefinition(
                label="mixed", url=flaky + CSC, sources=(base0 + "/odata/v1",),
                username=DOWNLOADER[0], password=DOWNLOADER[1], page_size=3,
            ))  # fmt: skip
            first = sync.run("mixed", max_pages=2)
            assert first.error is None and 0 < len(_all(down)) < len(_all(t0.hub))
            proxy.faults.append(Fault("/Products", "500", times=1000))
            report = sync.run("mixed")
        assert report.error is None and report.failovers == 1
        assert report.source == base0 + "/odata/v1"
        assert _md5s(down) == _md5s(t0.hub)
        assert sync.get("mixed").counters.products == len(_all(t0.hub))
    finally:
        down.close()


def test_the_scheduler_runs_a_synchroniser_on_its_interval_under_a_lease(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    scheduler = SyncScheduler(sync, poll_s=0.05)
    try:
        added = sync.add(SyncDefinition(
            label="scheduled", url=base0 + CSC, username=DOWNLOADER[0],
            password=DOWNLOADER[1], schedule="1s",
        ))  # fmt: skip
        # Another process holds the run lease: this one does not run it.
        assert sync.store.take_lease(added.id, "other", datetime.now(UTC), 60)
        scheduler.run_one(sync.get(added.id))
        assert _all(down) == {}
        sync.store.release_lease(added.id, "other")

        scheduler.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # caught up, and the run over (its next one set)
            if set(_all(down)) == set(_all(t0.hub)) and sync.get(added.id).next_run:
                break
            time.sleep(0.1)
        assert set(_all(down)) == set(_all(t0.hub))
        runs = sync.get(added.id)
        assert runs.next_run is not None
        assert runs.next_run - runs.last_run <= timedelta(seconds=5)  # type: ignore[operator]

        more = t0.hub.ingestor().ingest_all(demo_products(3, tmp_path / "more", seed=41))
        assert more.ingested == 3
        deadline = time.monotonic() + 30
        while set(_all(down)) != set(_all(t0.hub)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(_all(down)) == set(_all(t0.hub))  # picked up on a later interval
    finally:
        scheduler.stop()
        down.close()


def test_a_metadata_mirror_names_the_source_value_to_redirect_or_proxy_to(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        sync.add(SyncDefinition(
            label="s1", url=base0 + CSC, username=DOWNLOADER[0], password=DOWNLOADER[1],
            filter="Collection/Name eq 'SENTINEL-1'", filter_language=FilterLanguage.CDSE,
            value=ValueServing.REDIRECT,
        ))  # fmt: skip
        sync.add(SyncDefinition(label="rest", url=base0, value=ValueServing.PROXY))
        assert sync.run("s1").error is None and sync.run("rest").error is None
        local = _all(down)
        s1 = next(p for p in local.values() if p.collection == "SENTINEL-1")
        s2 = next(p for p in local.values() if p.collection == "SENTINEL-2")
        assert sync.value_source(s1) == (
            ValueServing.REDIRECT,
            f"{base0}{CSC}/Products({s1.id})/$value",
        )
        assert sync.value_source(s2) == (
            ValueServing.PROXY,
            f"{base0}/odata/v1/Products('{s2.id}')/$value",
        )
        # The URL answers with the product's bytes on the source.
        response = httpx.get(sync.value_source(s1)[1], auth=DOWNLOADER)  # type: ignore[index]
        assert response.status_code == 200 and len(response.content) == s1.size
        with pytest.raises(InvalidQuery):
            sync.add(SyncDefinition(label="x", url=base0, mode=SyncMode.COPY,
                                    value=ValueServing.PROXY))  # fmt: skip
    finally:
        down.close()


def test_a_metadata_mirror_redirects_or_proxies_downloads_to_its_source(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    """Over real HTTP: the mirror answers ``$value`` of a product it has no bytes of with a 302
    to the source (CDSE and DHuS routes), or with the source's bytes, ranges included."""
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        sync.add(SyncDefinition(
            label="s1", url=base0 + CSC, username=DOWNLOADER[0], password=DOWNLOADER[1],
            filter="Collection/Name eq 'SENTINEL-1'", filter_language=FilterLanguage.CDSE,
            value=ValueServing.REDIRECT,
        ))  # fmt: skip
        sync.add(SyncDefinition(label="rest", url=base0, username=DOWNLOADER[0],
                                password=DOWNLOADER[1], value=ValueServing.PROXY))  # fmt: skip
        assert sync.run("s1").error is None and sync.run("rest").error is None
        local = _all(down)
        s1 = next(p for p in local.values() if p.collection == "SENTINEL-1")
        s2 = next(p for p in local.values() if p.collection == "SENTINEL-2" and p.size > 100)
        assert not s1.online and not s2.online
        upstream = httpx.get(f"{base0}{CSC}/Products({s2.id})/$value", auth=DOWNLOADER).content
        with live_server(down) as base:
            redirect = httpx.get(f"{base}{CSC}/Products({s1.id})/$value", auth=DOWNLOADER)
            assert redirect.status_code == 302
            assert redirect.headers["location"] == f"{base0}{CSC}/Products({s1.id})/$value"
            paths = (f"{CSC}/Products({s2.id})/$value", f"/odata/v1/Products('{s2.id}')/$value")
            for path in paths:
                whole = httpx.get(base + path, auth=DOWNLOADER)
                assert whole.status_code == 200 and whole.content == upstream
                assert hashlib.md5(whole.content).hexdigest() == s2.checksum("MD5")
            part = httpx.get(base + f"{CSC}/Products({s2.id})/$value", auth=DOWNLOADER,
                             headers={"Range": "bytes=10-49"})  # fmt: skip
            assert part.status_code == 206 and part.content == upstream[10:50]
            assert part.headers["content-range"] == f"bytes 10-49/{len(upstream)}"
            anonymous = httpx.get(base + f"{CSC}/Products({s2.id})/$value")
            assert anonymous.status_code == 401  # the mirror's own rules come first
    finally:
        down.close()


def test_a_proxied_download_follows_the_sources_redirect_with_its_credentials(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    """A source that redirects its downloads to another port (as CDSE to its download host):
    the mirror's proxy sends its credentials along and serves the bytes."""
    _, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        with fault_proxy(base0) as (url, proxy):
            proxy.faults.append(Fault(")/$value", "redirect", 1000))
            sync.add(SyncDefinition(label="rest", url=url, username=DOWNLOADER[0],
                                    password=DOWNLOADER[1], value=ValueServing.PROXY))  # fmt: skip
            assert sync.run("rest").error is None
            product = next(p for p in _all(down).values() if p.size > 100)
            path = f"/odata/v1/Products('{product.id}')/$value"
            upstream = httpx.get(base0 + path, auth=DOWNLOADER).content
            with live_server(down) as base:
                served = httpx.get(base + path, auth=DOWNLOADER)
            assert served.status_code == 200 and served.content == upstream
            assert any(p == path for p, _ in proxy.log)  # asked of the source, redirected
    finally:
        down.close()


def test_proxied_downloads_pass_the_mirrors_own_download_quota(
    tier0: tuple[OdataHub, str], tmp_path: Path
) -> None:
    """Bytes a metadata-only mirror proxies count as its own downloads: over the user's count
    the mirror refuses with DHuS's wording (403; 429 on the CDSE route) and asks the source
    for nothing;
    a ``bytes=0-1`` probe is not counted."""
    t0, base0 = tier0
    down, sync = _downstream(tmp_path / "down")
    try:
        sync.add(SyncDefinition(label="rest", url=base0, username=DOWNLOADER[0],
                                password=DOWNLOADER[1], value=ValueServing.PROXY))  # fmt: skip
        assert sync.run("rest").error is None
        product = next(p for p in _all(down).values() if p.size > 100)
        down.accounts.set_quota(DOWNLOADER[0], Quota(max_count=1, period_s=3600))
        paths = (f"{CSC}/Products({product.id})/$value",
                 f"/odata/v1/Products('{product.id}')/$value")  # fmt: skip
        with live_server(down) as base:
            probe = httpx.get(base + paths[0], auth=DOWNLOADER, headers={"Range": "bytes=0-1"})
            assert probe.status_code == 206 and len(probe.content) == 2
            first = httpx.get(base + paths[1], auth=DOWNLOADER)
            assert first.status_code == 200 and len(first.content) == product.size, first.text
            for path, status in zip(paths, (429, 403), strict=True):  # CDSE's code, DHuS's
                refused = httpx.get(base + path, auth=DOWNLOADER)
                assert refused.status_code == status, path
                assert "Maximum number of download (1) exceeded" in refused.text
        assert (
            down.accounts.store.usage_since(
                DOWNLOADER[0], datetime.now(UTC) - timedelta(hours=1)
            ).count
            == 1
        )
    finally:
        down.close()
