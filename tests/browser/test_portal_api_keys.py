"""The portal's API keys page in a real browser: create a key, see it once, use it from a script
(``requests``, as Bearer, ``?token=`` and Basic) against the hub's APIs, revoke it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from browser_support import Inbox, Portal, browsing, log_in, serve_portal
from playwright.sync_api import Browser, expect


@pytest.fixture(scope="module")
def small_portal(
    tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]
) -> Iterator[Portal]:
    """A hub with a few products (downloads only need one)."""
    with serve_portal(tmp_path_factory.mktemp("apikeys"), smtp[1], n=4) as served:
        yield served


def test_create_use_and_revoke_an_api_key(browser: Browser, small_portal: Portal) -> None:
    username = small_portal.user("keyholder")
    product = small_portal.products[0]
    value_url = f"{small_portal.url}/catalogue/odata/v1/Products({product.id})/$value"
    with browsing(browser, small_portal) as (page, console):
        log_in(page, username)
        page.goto("/account/api-keys")
        expect(page.locator("#keys-empty")).to_be_visible()
        page.get_by_label("Name").fill("laptop script")
        page.get_by_label("Days of validity").fill("30")
        page.get_by_role("button", name="Create the key").click()
        notice = page.locator("#new-key")
        expect(notice).to_contain_text("not shown again")
        key = page.locator("#new-key-value").inner_text().strip()
        assert key.startswith("eohub_")
        row = page.locator("tr.api-key[data-name='laptop script']")
        expect(row).to_be_visible()
        assert key not in row.inner_text()  # the list shows the first characters only

        # the key works from a script, against the APIs, in every way the page explains
        bearer = {"Authorization": f"Bearer {key}"}
        download = requests.get(value_url, headers=bearer, timeout=30)
        assert download.status_code == 200 and len(download.content) == product.size
        by_query = requests.get(value_url, params={"token": key}, timeout=30)
        assert by_query.status_code == 200
        basic = requests.get(value_url, auth=(username, key), timeout=30)
        assert basic.status_code == 200
        stac = requests.post(f"{small_portal.url}/stac/search", json={"limit": 1},
                             headers=bearer, timeout=30)  # fmt: skip
        assert stac.status_code == 200 and stac.json()["features"]

        # seen once: coming back shows the row but never the key again (the creation's answer
        # is the POST's own page, so that the key is never stored; a reload would post again)
        page.goto("/account/api-keys")
        expect(page.locator("#new-key")).to_have_count(0)
        assert key not in page.content()
        expect(row.locator("td").nth(2)).to_contain_text("UTC")  # "last used" is filled in

        page.get_by_role("button", name="Revoke laptop script").click()
        expect(page.locator("#keys-empty")).to_be_visible()
        revoked = requests.get(value_url, headers=bearer, timeout=30)
        assert revoked.status_code == 401
        assert 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]
        assert requests.get(value_url, auth=(username, key), timeout=30).status_code == 401
        assert not console.errors, console.errors
