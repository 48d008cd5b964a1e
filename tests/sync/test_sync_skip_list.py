"""The skip list: one upstream product that always fails its checksum does not hold a copy
synchroniser back for ever.

A real upstream eohub on 127.0.0.1 (through the proxy that logs requests) holds 9 small
products; one of the first page's has a wrong MD5 in the upstream catalogue, so its bytes never
verify. With ``max_failures`` 3 the first two runs stop at it (the cursor holds, later pages
wait); the third puts it on the skip list, records its error and moves on, so every other
product is synced, and no later run fetches it again. ``eohub sync show`` lists it;
``eohub sync retry`` takes it off the list and tries it at once: once the upstream is repaired
it is catalogued and the list is empty, while one that fails again stays queued (never dropped)
and goes back on the list after ``max_failures`` more runs, other products passing meanwhile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from byte_products import add_byte_products
from cli_support import eohub_sync
from fault_proxy import FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings
from eohub.model.product import Checksum, Product
from eohub.model.user import Role
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.model import FailureState
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=2, base=0.01, cap=0.02)
MANAGER = ("manager", "manager-password")
WRONG_MD5 = "0" * 32


@dataclass
class Skips:
    """The upstream, its proxy, the downstream hub and its synchroniser ``up``, and the
    product whose upstream MD5 is wrong."""

    up: Hub
    proxy: FaultProxy
    down: Hub
    data: Path
    sync: SyncService
    bad: Product
    order: list[Product]  # the upstream products in the order the synchroniser reads them

    def local(self) -> dict[uuid.UUID, Product]:
        return {p.id: p for p in self.down.catalogue.search(Query(limit=100)).items}

    def upstream(self) -> dict[uuid.UUID, Product]:
        return {p.id: p for p in self.up.catalogue.search(Query(limit=100)).items}

    def fetches_of(self, product: Product, since: int = 0) -> int:
        """``$value`` requests of ``product`` (``Products('<id>')`` or CDSE's ``Products(<id>)``)
        from log entry ``since`` on."""
        wanted = {f"Products('{product.id}')/$value", f"Products({product.id})/$value"}
        return sum(1 for p, _ in self.proxy.log[since:] if any(p.endswith(w) for w in wanted))

    def set_upstream_md5(self, md5: str) -> None:
        current = self.upstream()[self.bad.id]
        kept = tuple(c for c in current.checksums if c.algorithm != "MD5")
        self.up.catalogue.upsert([current.evolve(checksums=(Checksum("MD5", md5), *kept))])


@pytest.fixture(params=["/odata/v1", "/catalogue/odata/v1"], ids=["dhus", "cdse"])
def skips(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Skips]:
    """The synchroniser reads the upstream over DHuS OData v1 or CDSE-style OData (a retried
    product is found by Id in either)."""
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    products = add_byte_products(up, 9, seed=31, size=(2_000, 20_000))
    order = sorted(products, key=lambda p: (p.publication_date, str(p.id)))
    data = tmp_path / "down"
    down = build_hub(Settings(data_dir=data))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = FAST
    try:
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            sync.add(SyncDefinition(
                label="up", url=url + request.param, username=DOWNLOADER[0],
                password=DOWNLOADER[1],
                mode=SyncMode.COPY, page_size=3, streams=1, max_failures=3,
            ))  # fmt: skip
            skips = Skips(up, proxy, down, data, sync, order[1], order)
            # The upstream's catalogue says another MD5 than its bytes have: always a mismatch.
            skips.set_upstream_md5(WRONG_MD5)
            yield skips
    finally:
        down.close()
        up.close()


def _show(skips: Skips) -> dict[str, object]:
    shown = eohub_sync(skips.data, "show", "up")
    assert shown.returncode == 0, shown.stderr
    found: dict[str, object] = json.loads(shown.stdout)
    return found


def test_a_product_that_always_fails_is_skipped_after_n_runs_then_retried(skips: Skips) -> None:
    first_page = {p.id for p in skips.order[:3]} - {skips.bad.id}
    for run in (1, 2):
        report = skips.sync.run("up")
        assert report.error is not None and "MD5" in report.error
        assert report.skipped == 0
        assert set(skips.local()) == first_page  # the cursor holds: later pages wait
        (failed,) = skips.sync.failed_products("up")
        assert (failed.product_id, failed.state, failed.failures) == (
            skips.bad.id, FailureState.FAILING, run,
        )  # fmt: skip
        assert failed.last_error is not None and WRONG_MD5 in failed.last_error

    assert skips.fetches_of(skips.bad) == 2 * 3  # two runs of three tries
    report = skips.sync.run("up")
    assert report.error is None and report.skipped == 1
    assert set(skips.local()) == set(skips.upstream()) - {skips.bad.id}  # the rest passed
    state = skips.sync.get("up")
    assert state.skipped == 1 and state.counters.products == 8
    assert state.last_error is None

    shown = _show(skips)
    assert shown["skipped"] == 1 and shown["max_failures"] == 3
    (listed,) = shown["failed_products"]  # type: ignore[misc]
    assert listed["id"] == str(skips.bad.id) and listed["state"] == "skipped"
    assert listed["failures"] == 3 and WRONG_MD5 in listed["last_error"]
    assert listed["name"] == skips.bad.name

    # The admin API and the metrics show it; MaxFailures can be changed there.
    skips.down.accounts.create(*MANAGER, [Role.SEARCH, Role.DATA_MANAGER])
    with live_server(skips.down) as down_url:
        api = f"{down_url}/odata/v1/Synchronizers(1)"
        entity = httpx.get(api, auth=MANAGER).json()["d"]
        assert (entity["SkippedProducts"], entity["MaxFailures"]) == (1, 3)
        metrics = httpx.get(f"{down_url}/metrics").text
        assert 'eohub_sync_skipped_products{synchroniser="up"} 1.0' in metrics
        bad = httpx.patch(api, json={"MaxFailures": 5000}, auth=MANAGER)
        assert bad.status_code == 400 and "0 (never skip) to 1000" in bad.text
        assert httpx.patch(api, json={"MaxFailures": 4}, auth=MANAGER).status_code == 204
    assert skips.sync.get("up").definition.max_failures == 4

    mark = len(skips.proxy.log)
    again = skips.sync.run("up")
    assert (again.error, again.catalogued, again.skipped) == (None, 0, 0)
    assert skips.fetches_of(skips.bad, mark) == 0  # on the list: not fetched again
    assert skips.sync.get("up").skipped == 1  # and still recorded

    skips.set_upstream_md5(skips.bad.checksum("MD5") or "")  # the upstream is repaired
    retried = eohub_sync(skips.data, "retry", "up")
    assert retried.returncode == 0, retried.stderr
    assert "up: 1 product(s) taken off the skip list, 1 catalogued now" in retried.stdout
    mine = skips.local()[skips.bad.id]
    assert mine.online and mine.checksum("MD5") == skips.bad.checksum("MD5")
    assert _show(skips)["failed_products"] == [] and skips.sync.get("up").skipped == 0
    assert skips.sync.run("up").catalogued == 0
    assert set(skips.local()) == set(skips.upstream())


def test_a_retried_product_that_fails_again_stays_recorded_and_blocks_nothing(
    skips: Skips,
) -> None:
    for _ in range(3):
        skips.sync.run("up")
    assert skips.sync.get("up").skipped == 1

    missing = eohub_sync(skips.data, "retry", "up", "--product", str(uuid.uuid4()))
    assert missing.returncode != 0 and "is not on the skip list" in missing.stderr
    assert skips.sync.get("up").skipped == 1  # bad input changed nothing

    retried = eohub_sync(skips.data, "retry", "up", "--product", str(skips.bad.id))
    assert retried.returncode == 1
    assert "failed again (tried again by the next runs)" in retried.stderr
    (failed,) = skips.sync.failed_products("up")
    assert (failed.state, failed.failures) == (FailureState.RETRY, 1)  # queued, not dropped

    newest = max(p.publication_date for p in skips.upstream().values())
    more = [  # published upstream after everything the synchroniser has read
        p.evolve(publication_date=newest + timedelta(seconds=i + 1))
        for i, p in enumerate(add_byte_products(skips.up, 3, seed=32))
    ]
    skips.up.catalogue.upsert(more)
    mark = len(skips.proxy.log)
    report = skips.sync.run("up")
    assert report.error is None and report.catalogued == 3  # not held back
    assert len(report.retry_failures) == 1 and skips.bad.name in report.retry_failures[0]
    assert skips.fetches_of(skips.bad, mark) > 0  # tried again before the pages
    assert {p.id for p in more} <= set(skips.local())
    (failed,) = skips.sync.failed_products("up")
    assert (failed.state, failed.failures) == (FailureState.RETRY, 2)

    report = skips.sync.run("up")
    assert report.error is None and report.skipped == 1  # back on the list after 3 failures
    (failed,) = skips.sync.failed_products("up")
    assert (failed.state, failed.failures) == (FailureState.SKIPPED, 3)
    mark = len(skips.proxy.log)
    assert skips.sync.run("up").error is None
    assert skips.fetches_of(skips.bad, mark) == 0
    assert set(skips.local()) == set(skips.upstream()) - {skips.bad.id}


def test_max_failures_0_never_skips_and_bad_values_are_refused(skips: Skips) -> None:
    refused = eohub_sync(skips.data, "add", "x", "--source", "http://127.0.0.1:9/", "--copy",
                     "--max-failures", "-1")  # fmt: skip
    assert refused.returncode != 0 and "0 (never skip) to 1000" in refused.stderr
    assert [s.definition.label for s in skips.sync.list_all()] == ["up"]

    edited = eohub_sync(skips.data, "edit", "up", "--max-failures", "0")
    assert edited.returncode == 0, edited.stderr
    for run in range(1, 5):
        report = skips.sync.run("up")
        assert report.error is not None and report.skipped == 0
        (failed,) = skips.sync.failed_products("up")
        assert (failed.state, failed.failures) == (FailureState.FAILING, run)
    assert len(skips.local()) == 2  # held back at the failing product, as DHuS does


def test_an_entry_that_cannot_be_decoded_goes_on_the_skip_list_too(skips: Skips) -> None:
    """A source whose listing has one broken entry (an undecodable ContentDate) does not hold
    the synchroniser back for ever: as a failed transfer, it is skipped after max_failures
    runs, then taken back by `eohub sync retry` once the source serves it right."""
    skips.set_upstream_md5(skips.bad.checksum("MD5") or "")  # its bytes are fine here
    skips.proxy.mangle = str(skips.bad.id)
    first_page = {p.id for p in skips.order[:3]} - {skips.bad.id}
    for run in (1, 2):
        report = skips.sync.run("up")
        assert report.error is not None and "ContentDate" in report.error
        assert set(skips.local()) == first_page  # held at the broken entry
        (failed,) = skips.sync.failed_products("up")
        assert (failed.product_id, failed.state, failed.failures) == (
            skips.bad.id, FailureState.FAILING, run)  # fmt: skip
    report = skips.sync.run("up")
    assert report.error is None and report.skipped == 1
    assert set(skips.local()) == set(skips.upstream()) - {skips.bad.id}
    assert skips.sync.run("up").error is None  # passed over: nothing held back any more

    skips.proxy.mangle = None  # the source repairs its entry
    retried = eohub_sync(skips.data, "retry", "up")
    assert retried.returncode == 0, retried.stderr
    assert set(skips.local()) == set(skips.upstream())
    assert not skips.sync.failed_products("up")
