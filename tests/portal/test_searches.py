"""Saved searches through the real application: save, rename, notify, re-run, delete."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from accounts_support import Browser, mails, portal_hub

from eohub.api.auth import CSRF_HEADER
from eohub.demo.records import generate_products
from eohub.model import Role
from eohub.wiring import Hub

PASSWORD = "search-password-1"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with portal_hub(tmp_path, server={"public_url": "https://hub.example.org"}) as built:
        for name in ("alice", "bob"):
            built.accounts.create(name, PASSWORD, [Role.SEARCH], email=f"{name}@example.org")
        yield built


def _browser(hub: Hub, username: str) -> Browser:
    opened = Browser(hub)
    assert opened.log_in(username, PASSWORD).status_code == 303
    return opened


@pytest.fixture
def alice(hub: Hub) -> Iterator[Browser]:
    opened = _browser(hub, "alice")
    yield opened
    opened.close()


@pytest.fixture
def bob(hub: Hub) -> Iterator[Browser]:
    opened = _browser(hub, "bob")
    yield opened
    opened.close()


def _save_json(browser: Browser, name: str, params: str) -> httpx.Response:
    """What the search page's "Save search" button sends."""
    return browser.request("POST", "/searches", json={"name": name, "params": params},
                           headers={CSRF_HEADER: browser.csrf("/searches")})  # fmt: skip


def _form(browser: Browser, path: str, **data: str) -> httpx.Response:
    return browser.submit(path, data, form_page="/searches")


def test_saved_searches_need_a_login(hub: Hub) -> None:
    anonymous = Browser(hub)
    try:
        page = anonymous.get("/searches")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/searches"
        refused = anonymous.request("POST", "/searches", json={"name": "x", "params": ""})
        assert refused.status_code == 401
    finally:
        anonymous.close()
    assert hub.workspace.searches("alice") == []


def test_save_list_rerun_rename_notify_and_delete(hub: Hub, alice: Browser) -> None:
    saved = _save_json(alice, "Clear Sentinel-2", "platform=Sentinel-2A&cloud_cover=0..20&limit=50")
    assert saved.status_code == 201
    body = saved.json()
    assert body["name"] == "Clear Sentinel-2" and body["url"] == "/searches"
    assert body["params"] == "platform=Sentinel-2A&cloud_cover=0..20"
    sid = body["id"]
    page = alice.get("/searches")
    assert page.status_code == 200
    assert f'id="search-{sid}-name">Clear Sentinel-2</h2>' in page.text
    assert 'href="/?platform=Sentinel-2A&amp;cloud_cover=0..20"' in page.text  # re-run
    assert "Sentinel-2A" in page.text and "cloud cover" in page.text  # the search in words
    assert "E-mail about new products: <strong>off</strong>" in page.text

    renamed = _form(alice, f"/searches/{sid}/rename", name="Clear S2")
    assert renamed.status_code == 303 and renamed.headers["location"] == "/searches?done=renamed"
    assert "Search renamed." in alice.get(renamed.headers["location"]).text
    assert hub.workspace.search("alice", sid).name == "Clear S2"

    assert _form(alice, f"/searches/{sid}/notify", notify="on").status_code == 303
    assert hub.workspace.search("alice", sid).notify
    assert "E-mail about new products: <strong>on</strong>" in alice.get("/searches").text
    toggled = alice.request("POST", f"/searches/{sid}/notify", json={},
                            headers={CSRF_HEADER: alice.csrf("/searches")})  # fmt: skip
    assert toggled.json() == {"id": sid, "notify": False}

    deleted = _form(alice, f"/searches/{sid}/delete")
    assert deleted.status_code == 303 and hub.workspace.searches("alice") == []
    assert 'id="searches-empty"' in alice.get("/searches?done=deleted").text


def test_saving_from_the_form(hub: Hub, alice: Browser) -> None:
    done = _form(alice, "/searches", name="Radar", params="?platform=Sentinel-1A")
    assert done.status_code == 303 and done.headers["location"] == "/searches?done=saved"
    [saved] = hub.workspace.searches("alice")
    assert saved.name == "Radar" and saved.params == "platform=Sentinel-1A"


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("bad", "colour=blue", "unknown field &#39;colour&#39;"),
        ("bad", "cloud_cover=lots", "expects a float value"),
        ("bad", "bbox=0,0", "bbox must be minlon,minlat,maxlon,maxlat"),
        ("", "platform=Sentinel-2A", "Give the search a name"),
    ],
)
def test_invalid_searches_are_refused_clearly_and_nothing_is_stored(
    hub: Hub, alice: Browser, name: str, params: str, says: str
) -> None:
    answer = _save_json(alice, name, params)
    assert answer.status_code == 400
    assert html.unescape(says) in answer.json()["error"]["message"]
    page = _form(alice, "/searches", name=name, params=params)
    assert page.status_code == 400 and says in page.text
    assert f">{html.escape(params, quote=False)}</textarea>" in page.text  # kept for correction
    assert hub.workspace.searches("alice") == []


def test_another_users_search_is_not_found(hub: Hub, alice: Browser, bob: Browser) -> None:
    bobs = hub.workspace.save_search("bob", "Bob's radar", "platform=Sentinel-1A")
    assert "Bob&#39;s radar" in bob.get("/searches").text
    assert "Bob" not in alice.get("/searches").text
    for action, data in (("rename", {"name": "mine now"}), ("notify", {"notify": "on"}),
                         ("delete", {})):  # fmt: skip
        page = _form(alice, f"/searches/{bobs.id}/{action}", **data)
        assert page.status_code == 404 and "not found" in page.text
        answer = alice.request("POST", f"/searches/{bobs.id}/{action}", json=data,
                               headers={CSRF_HEADER: alice.csrf("/searches")})  # fmt: skip
        assert answer.status_code == 404
    assert _form(alice, "/searches/not-a-number/delete").status_code == 404
    assert hub.workspace.searches("bob") == [bobs]


def test_without_the_csrf_token_nothing_changes(hub: Hub, alice: Browser) -> None:
    mine = hub.workspace.save_search("alice", "mine", "")
    attempts = [
        alice.post("/searches", {"name": "forged", "params": ""}),
        alice.request("POST", "/searches", json={"name": "forged", "params": ""}),
        alice.post(f"/searches/{mine.id}/rename", {"name": "forged", "csrf_token": "x"}),
        alice.post(f"/searches/{mine.id}/notify", {"notify": "on"}),
        alice.post(f"/searches/{mine.id}/delete", {}),
    ]
    assert [a.status_code for a in attempts] == [403] * 5
    assert hub.workspace.searches("alice") == [mine]


def test_markup_in_a_name_is_shown_as_text(hub: Hub, alice: Browser) -> None:
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    assert _save_json(alice, payload, "").status_code == 201
    page = alice.get("/searches").text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert html.escape(payload) in page.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")


def test_turning_notification_on_in_the_portal_brings_mail(hub: Hub, alice: Browser) -> None:
    products = list(generate_products(10, seed=41))
    platform = products[0].platform
    sid = _save_json(alice, "my platform", f"platform={platform}").json()["id"]
    _form(alice, f"/searches/{sid}/notify", notify="on")
    hub.catalogue.upsert(products)
    hub.worker.run_once()  # what the server's background worker does within seconds
    [mail] = mails(hub)
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    wanted = [p for p in products if p.platform == platform]
    assert all(f"https://hub.example.org/products/{p.id}" in text for p in wanted)
    assert not any(p.name in text for p in products if p.platform != platform)
    assert re.search(r"last e-mail \d{4}-\d\d-\d\d", alice.get("/searches").text)
