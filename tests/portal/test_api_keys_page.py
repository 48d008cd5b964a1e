"""The portal's API keys page: a logged-in user creates a key (shown once), uses it, sees it
listed without the secret, and revokes it; forms need the CSRF token and a login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import Browser, portal_hub

from eohub.wiring import Hub

USER = ("keyholder", "keyholder-password")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with portal_hub(tmp_path, auth={"anonymous_search": False}) as built:
        built.accounts.create(*USER)
        yield built


@pytest.fixture
def browser(hub: Hub) -> Iterator[Browser]:
    opened = Browser(hub)
    yield opened
    opened.close()


def test_create_use_list_and_revoke_a_key(hub: Hub, browser: Browser) -> None:
    assert browser.log_in(*USER).status_code == 303
    assert 'href="/account/api-keys"' in browser.get("/account").text
    assert "You have no API keys" in browser.get("/account/api-keys").text
    created = browser.submit("/account/api-keys", {"name": "laptop", "days": "30"})
    assert created.status_code == 201
    found = re.search(r'<code id="new-key-value">(eohub_[A-Za-z0-9_-]+)</code>', created.text)
    assert found, created.text
    key = found.group(1)
    # the key works on the APIs, in a client with no cookie
    anonymous = Browser(hub)
    try:
        assert anonymous.get("/odata/v1/Products").status_code == 401
        assert anonymous.get("/odata/v1/Products", params={"token": key}).status_code == 200
        listing = browser.get("/account/api-keys").text
        assert "laptop" in listing and key not in listing and key[:10] in listing
        revoked = browser.submit("/account/api-keys/revoke", {"name": "laptop"},
                                 form_page="/account/api-keys")  # fmt: skip
        assert revoked.status_code == 303
        assert "You have no API keys" in browser.get("/account/api-keys").text
        refused = anonymous.get("/odata/v1/Products", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401
    finally:
        anonymous.close()


def test_bad_names_duplicates_and_bad_days_are_shown_not_stored(hub: Hub, browser: Browser) -> None:
    browser.log_in(*USER)
    assert browser.submit("/account/api-keys", {"name": "ci"}).status_code == 201
    for fields, text in (
        ({"name": "ci"}, "already have an API key named"),
        ({"name": "   "}, "1 to 64 printable characters"),
        ({"name": "x" * 65}, "1 to 64 printable characters"),
        ({"name": "ok", "days": "-3"}, "whole number"),
    ):
        page = browser.submit("/account/api-keys", fields)
        assert page.status_code in (400, 409) and text in page.text, page.text
    assert [k.name for k in hub.api_keys.list(USER[0])] == ["ci"]


def test_the_page_needs_a_login_and_forms_need_the_csrf_token(hub: Hub, browser: Browser) -> None:
    assert browser.get("/account/api-keys").status_code == 303
    assert browser.post("/account/api-keys", {"name": "x"}).status_code == 303
    browser.log_in(*USER)
    assert (
        browser.post("/account/api-keys", {"name": "x", "csrf_token": "forged"}).status_code == 403
    )
    assert hub.api_keys.list(USER[0]) == []
    unknown = browser.submit("/account/api-keys/revoke", {"name": "never"},
                             form_page="/account/api-keys")  # fmt: skip
    assert unknown.status_code == 404 and "No API key named" in unknown.text


def test_scripts_get_json(hub: Hub, browser: Browser) -> None:
    browser.log_in(*USER)
    token = browser.csrf("/account/api-keys")
    made = browser.request("POST", "/account/api-keys", json={"name": "json", "csrf_token": token})
    assert made.status_code == 201 and made.json()["key"].startswith("eohub_")
    gone = browser.request("POST", "/account/api-keys/revoke",
                           json={"name": "json", "csrf_token": token})  # fmt: skip
    assert gone.status_code == 200 and gone.json() == {"revoked": "json"}
