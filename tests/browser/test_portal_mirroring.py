"""The hubs page and the mirroring page in a real browser: rows rendered, no CSP breach, a
synchroniser paused with its button, then one changed and removed through its forms."""

from __future__ import annotations

import pytest
from browser_support import PASSWORD, Portal, browsing, log_in
from playwright.sync_api import Browser, expect

from eohub.model import Role
from eohub.query import Query
from eohub.sync.model import SyncDefinition, SyncStatus
from eohub.wiring import build_sync

UPSTREAM = "http://127.0.0.1:9/odata/v1"  # never contacted: the synchroniser has no schedule


@pytest.fixture(scope="module")
def mirrored(portal: Portal) -> Portal:
    """The portal's hub with one (unscheduled) synchroniser and a data manager."""
    build_sync(portal.hub).add(SyncDefinition(label="upstream s2", url=UPSTREAM))
    portal.hub.accounts.create("keeper", PASSWORD, [Role.DATA_MANAGER, Role.SEARCH])
    return portal


def test_the_hubs_page_renders_this_hub_and_its_source(browser: Browser, mirrored: Portal) -> None:
    with browsing(browser, mirrored) as (page, console):
        page.goto("/")
        page.get_by_role("link", name="Hubs").click()
        expect(page.get_by_role("heading", name="Hubs")).to_be_visible()
        this_hub = page.locator("#hubs tr.this-hub")
        expect(this_hub).to_contain_text(mirrored.url)
        expect(this_hub).to_contain_text("SENTINEL-")
        expect(page.locator("#hubs tr.source-hub")).to_contain_text(UPSTREAM)
        assert console.errors == []


def test_a_manager_pauses_a_synchroniser(browser: Browser, mirrored: Portal) -> None:
    with browsing(browser, mirrored) as (page, console):
        log_in(page, "keeper")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Mirroring").click()
        row = page.locator("#synchronisers tbody tr", has_text="upstream s2")
        expect(row.locator(".sync-status")).to_have_text("running")
        with page.expect_navigation():
            page.get_by_role("button", name="Pause upstream s2").click()
        expect(page.get_by_role("status")).to_contain_text("Synchroniser paused")
        expect(row.locator(".sync-status")).to_have_text("paused")
        assert build_sync(mirrored.hub).get("upstream s2").status is SyncStatus.PAUSED
        assert console.errors == []


def test_a_manager_changes_then_removes_a_synchroniser(browser: Browser, mirrored: Portal) -> None:
    syncs = build_sync(mirrored.hub)
    syncs.add(SyncDefinition(label="edit me", url=UPSTREAM, username="mirror", password="secret"))
    with browsing(browser, mirrored) as (page, console):
        log_in(page, "keeper")
        page.goto("/admin/mirroring")
        page.get_by_role("link", name="Edit edit me").click()
        expect(page.get_by_label("User name at the source")).to_have_value("mirror")
        expect(page.get_by_label("New password at the source")).to_have_value("")
        page.locator("#filter").fill("startswith(Name,")
        with page.expect_navigation():
            page.get_by_role("button", name="Save the changes").click()
        expect(page.locator("#filter-error")).to_contain_text("The filter does not parse")
        assert syncs.get("edit me").definition.filter is None  # refused: nothing stored
        assert len(console.errors) == 1 and "status of 400" in console.errors[0]  # the answer
        console.errors.clear()

        page.locator("#filter").fill("startswith(Name,'S1')")
        page.get_by_label("Parallel downloads").fill("2")
        with page.expect_navigation():
            page.get_by_role("button", name="Save the changes").click()
        expect(page.get_by_role("status")).to_contain_text("Synchroniser changed")
        d = syncs.get("edit me").definition
        assert (d.filter, d.streams, d.password) == ("startswith(Name,'S1')", 2, "secret")

        page.get_by_role("link", name="Remove edit me").click()
        expect(page.locator("#kept")).to_contain_text("stay in this hub")
        with page.expect_navigation():
            page.get_by_role("button", name="Remove edit me").click()
        expect(page.get_by_role("status")).to_contain_text("Synchroniser removed")
        expect(page.locator("#synchronisers tbody tr", has_text="edit me")).to_have_count(0)
        assert [s.definition.label for s in syncs.list_all()] == ["upstream s2"]
        assert len(mirrored.products) == mirrored.hub.catalogue.count(Query())
        assert console.errors == []
