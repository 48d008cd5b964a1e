"""Faults of a remote hub beyond error statuses: stalls (the client's timeout fires and the
request is retried), a source that vanishes mid-transfer (survived, resumed by a later run),
and a source whose clock is years off (nothing lost or repeated: the cursor only ever compares
the source's times with the source's times). Real hubs on 127.0.0.1, through the fault proxy.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from byte_products import add_byte_products
from fault_proxy import Fault, FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings, SyncSettings
from eohub.model import Product
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=4, base=0.01, cap=0.05)
TIMEOUT = 0.5  # the synchroniser's HTTP timeout here; the proxy stalls for 4 times as long


@dataclass
class Mirror:
    """An upstream hub with byte products, its proxy, and a downstream hub."""

    up: Hub
    served: str  # the upstream's own URL
    url: str  # through the proxy
    proxy: FaultProxy
    down: Hub
    sync: SyncService

    def definition(self, **changes: object) -> SyncDefinition:
        values: dict[str, object] = {
            "label": "up", "url": self.url, "username": DOWNLOADER[0],
            "password": DOWNLOADER[1], "page_size": 4, "mode": SyncMode.COPY, "streams": 2,
        }  # fmt: skip
        values.update(changes)
        return SyncDefinition(**values)  # type: ignore[arg-type]

    def local(self) -> dict[uuid.UUID, Product]:
        return {p.id: p for p in self.down.catalogue.search(Query(limit=1000)).items}

    def upstream(self) -> dict[uuid.UUID, Product]:
        return {p.id: p for p in self.up.catalogue.search(Query(limit=1000)).items}

    def assert_converged(self) -> None:
        """Same Ids; every local copy's stored bytes hash to the upstream's MD5."""
        upstream, local = self.upstream(), self.local()
        assert set(local) == set(upstream)
        for pid, remote in upstream.items():
            mine = local[pid]
            assert mine.online and mine.archive_key is not None
            assert mine.checksum("MD5") == remote.checksum("MD5")
            digest = hashlib.md5(usedforsecurity=False)
            for chunk in self.down.store.open(mine.archive_key):
                digest.update(chunk)
            assert digest.hexdigest() == remote.checksum("MD5"), mine.name


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    add_byte_products(up, 10, seed=4, size=(20_000, 60_000), quicklook_every=3)
    # The hub's own setting (sync.timeout_s), as an operator sets it.
    timeout = SyncSettings(timeout_s=TIMEOUT)
    down = build_hub(Settings(data_dir=tmp_path / "down", sync=timeout))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = FAST
    try:
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            proxy.stall = 4 * TIMEOUT
            yield Mirror(up, served, url, proxy, down, sync)
    finally:
        down.close()
        up.close()


def _listings(proxy: FaultProxy) -> list[str]:
    return [p for p, _ in proxy.log if p.endswith("/Products")]


def test_a_stalled_listing_times_out_and_is_retried(mirror: Mirror) -> None:
    mirror.proxy.faults.append(Fault("/odata/v1/Products", "stall", 1))
    mirror.sync.add(mirror.definition())
    began = time.monotonic()
    report = mirror.sync.run("up")
    assert report.error is None
    assert time.monotonic() - began >= TIMEOUT  # the timeout fired: nothing answered
    mirror.assert_converged()
    listings = _listings(mirror.proxy)
    assert len(listings) >= 2 and listings[0] == listings[1]  # the stalled one, asked again
    assert mirror.sync.get("up").counters.products == len(mirror.upstream())
    assert mirror.proxy.faults[0].times == 0


def test_a_transfer_that_stalls_midway_resumes_with_range(mirror: Mirror) -> None:
    target = next(iter(mirror.upstream().values()))
    mirror.proxy.faults.append(Fault(f"Products('{target.id}')/$value", "stall-body", 1))
    mirror.sync.add(mirror.definition())
    report = mirror.sync.run("up")
    assert report.error is None and report.resumes == 1
    ranges = [r for p, r in mirror.proxy.log if str(target.id) in p and p.endswith(")/$value")]
    assert ranges[0] is None and ranges[1] is not None
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) == target.size // 2
    mirror.assert_converged()
    assert mirror.proxy.faults[0].times == 0


def test_downloads_redirected_to_another_port_carry_the_credentials(mirror: Mirror) -> None:
    # As CDSE's catalogue sends $value to its download host: httpx alone would drop the
    # Authorization header (another origin) and the upstream would answer 401.
    mirror.proxy.faults += [Fault(")/$value", "redirect", 1000)]
    mirror.sync.add(mirror.definition())
    report = mirror.sync.run("up")
    assert report.error is None, report.error
    mirror.assert_converged()
    redirected = [p for p, _ in mirror.proxy.log if p.endswith(")/$value")]
    assert len(redirected) >= len(mirror.upstream())  # every download went by the redirect
    assert any(m.quicklook_key for m in mirror.local().values())  # quicklooks too


def test_a_redirect_to_another_host_gets_no_credentials_and_fails_clearly(
    mirror: Mirror,
) -> None:
    target = next(iter(mirror.upstream().values()))
    mirror.proxy.faults.append(Fault(f"Products('{target.id}')/$value", "redirect-away", 1000))
    mirror.sync.add(mirror.definition(max_failures=0))
    report = mirror.sync.run("up")
    assert report.error is not None
    assert "redirected to http://localhost" in report.error
    assert "credentials are not sent" in report.error
    assert target.id not in mirror.local()
    tries = [p for p, _ in mirror.proxy.log if p.endswith(f"Products('{target.id}')/$value")]
    assert len(tries) == 1  # refused at once: retrying would not change the redirect


def test_a_stalled_preview_is_retried(mirror: Mirror) -> None:
    mirror.proxy.faults.append(Fault("Products('Quicklook')/$value", "stall", 2))
    mirror.sync.add(mirror.definition())
    assert mirror.sync.run("up").error is None
    assert mirror.proxy.faults[0].times == 0
    mirror.assert_converged()
    local = mirror.local()
    for remote in mirror.upstream().values():
        assert (local[remote.id].quicklook_key is None) == (remote.quicklook_key is None)


def test_a_source_that_vanishes_mid_transfer_is_survived_and_resumed_later(
    mirror: Mirror,
) -> None:
    upstream = mirror.upstream()
    mirror.sync.add(mirror.definition(streams=1))
    # The fifth product in the order the synchroniser reads (creation date, then Id).
    order = sorted(upstream.values(), key=lambda p: (p.publication_date, str(p.id)))
    target = order[4]
    mirror.proxy.faults.append(Fault(f"Products('{target.id}')/$value", "vanish", 1))
    report = mirror.sync.run("up")
    assert report.error is not None and str(target.id) in report.error
    local = mirror.local()
    assert target.id not in local  # never catalogued from half a body
    assert set(local) <= set(upstream)
    assert len(local) >= 4  # the first page was done before the source vanished
    assert list(mirror.down.store.keys(f"{target.id.hex[:2]}/{target.id.hex[2:4]}/")) == []
    state = mirror.sync.get("up")
    assert state.last_error is not None
    assert state.counters.products == len(local)
    with pytest.raises(httpx.ConnectError):  # gone: the port refuses connections
        httpx.get(f"{mirror.url}/odata/v1/Products", timeout=2)
    assert mirror.sync.run("up").error is not None  # still gone: fails again, quickly

    port = int(mirror.url.rsplit(":", 1)[1])
    with fault_proxy(mirror.served, proxy=mirror.proxy, port=port):
        report = mirror.sync.run("up")
    assert report.error is None
    mirror.assert_converged()
    assert mirror.sync.get("up").counters.products == len(upstream)  # none catalogued twice


@pytest.mark.parametrize("skew", [timedelta(days=20 * 365), timedelta(days=-20 * 365)])
def test_a_source_with_a_skewed_clock_loses_and_repeats_nothing(
    mirror: Mirror, skew: timedelta
) -> None:
    """The source publishes (and dates its answers) 20 years off our clock; a later batch is
    published while a page is being read. The cursor holds the source's own times only."""
    mirror.proxy.date_skew = skew
    first = list(mirror.upstream().values())
    start = datetime.now(UTC) + skew
    mirror.up.catalogue.upsert(
        [p.evolve(publication_date=start + timedelta(seconds=i)) for i, p in enumerate(first)]
    )
    mirror.proxy.faults.append(Fault("/odata/v1/Products", "429-date", 1))
    mirror.sync.add(mirror.definition(page_size=3))
    began = time.monotonic()
    assert mirror.sync.run("up").error is None
    # Retry-After as a date of the skewed clock: the wait stays within the backoff's cap.
    assert time.monotonic() - began < 30
    assert mirror.proxy.faults[0].times == 0
    mirror.assert_converged()

    more = add_byte_products(mirror.up, 7, seed=9)
    later = start + timedelta(minutes=5)
    mirror.up.catalogue.upsert(
        [p.evolve(publication_date=later + timedelta(seconds=i)) for i, p in enumerate(more)]
    )
    assert mirror.sync.run("up").error is None
    mirror.assert_converged()
    state = mirror.sync.get("up")
    assert state.counters.products == len(first) + len(more)  # each exactly once
    newest = max(p.publication_date for p in mirror.upstream().values())
    assert state.last_remote_date == newest.replace(microsecond=newest.microsecond // 1000 * 1000)
    assert state.lag_seconds == 0.0  # measured on the source's clock: no years of "lag"
    now = datetime.now(UTC)
    for product in mirror.local().values():  # published here on our clock
        assert abs((product.publication_date - now).total_seconds()) < 300
    assert mirror.sync.run("up").catalogued == 0


def test_more_streams_than_the_source_allows_are_throttled_not_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The source allows one download at a time per user (DHuS's 403 "... concurrent flows");
    of four streams, the three refused at first give their slots back and wait: the run goes on
    one transfer at a time instead of asking again and again, and fails no product."""
    up = build_hub(Settings(data_dir=tmp_path / "up", auth={"quota": {"max_concurrent": 1}}))  # type: ignore[call-arg]
    add_downloader(up)
    add_byte_products(up, 12, seed=6, size=(200_000, 400_000))
    down = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = Backoff(attempts=8, base=0.02, cap=0.2)
    try:
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            mirror = Mirror(up, served, url, proxy, down, sync)
            sync.add(mirror.definition(streams=4, page_size=12))
            report = sync.run("up")
            assert report.error is None
            mirror.assert_converged()
            asked = [p for p, _ in proxy.log if p.endswith(")/$value")]
            # Three refusals at most (four started, the source allows one), then none: before,
            # every refused stream kept asking with backoff (about one refusal per product).
            assert 12 < len(asked) <= 12 + 3
            assert "1 at a time from now on in this run" in caplog.text
    finally:
        down.close()
        up.close()
