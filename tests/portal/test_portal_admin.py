"""The user administration pages through the real application, as a USER_MANAGER and not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_support import GOOD_PASSWORD, Browser, portal_hub

from eohub.errors import Forbidden
from eohub.model import Quota, Role
from eohub.wiring import Hub

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with portal_hub(tmp_path, auth={"quota": {"period_s": 3600}}) as built:
        built.accounts.create("boss", GOOD_PASSWORD, [Role.USER_MANAGER, Role.SEARCH])
        built.accounts.create(
            "bob", GOOD_PASSWORD, email="bob@example.org", firstname=XSS, lastname="Builder"
        )
        built.accounts.create("newbie", GOOD_PASSWORD, email="new@example.org", pending=True)
        yield built


@pytest.fixture
def boss(hub: Hub) -> Iterator[Browser]:
    browser = Browser(hub)
    assert browser.log_in("boss", GOOD_PASSWORD).status_code == 303
    yield browser
    browser.close()


@pytest.fixture
def bob(hub: Hub) -> Iterator[Browser]:
    browser = Browser(hub)
    assert browser.log_in("bob", GOOD_PASSWORD).status_code == 303
    yield browser
    browser.close()


def _rows(page_text: str) -> list[str]:
    body = page_text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row for row in body.split("<tr>")[1:]]


def test_the_user_list_shows_states_escapes_and_filters(boss: Browser) -> None:
    page = boss.get("/admin/users")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert [r.split('">', 2)[1].split("<")[0] for r in rows] == ["bob", "boss", "newbie"]
    assert "state-unconfirmed" in rows[2] and "state-active" in rows[0]
    assert "bob@example.org" in rows[0] and "download, search" in rows[0]
    assert 'href="/admin/users"' in page.text and "Administration" in page.text

    filtered = boss.get("/admin/users", params={"q": "NEW@"})
    assert len(_rows(filtered.text)) == 1 and "newbie" in _rows(filtered.text)[0]
    nothing = boss.get("/admin/users", params={"q": XSS})
    assert "No user matches" in nothing.text
    assert XSS not in nothing.text and ESCAPED in nothing.text


def test_the_user_page_escapes_profile_fields(boss: Browser) -> None:
    page = boss.get("/admin/users/bob")
    assert page.status_code == 200
    assert XSS not in page.text and f'id="user-firstname">{ESCAPED}<' in page.text
    assert boss.get("/admin/users/nobody").status_code == 404
    assert boss.get("/admin/users/no%20body").status_code == 404


def test_other_users_get_403_and_change_nothing(hub: Hub, bob: Browser) -> None:
    for path in ("/admin/users", "/admin/users/boss", "/admin/users/boss/delete"):
        page = bob.get(path)
        assert page.status_code == 403 and "USER_MANAGER" in page.text, path
    token = bob.csrf("/account")
    actions: dict[str, dict[str, Any]] = {
        "roles": {"role": ["search", "user_manager"]},
        "lock": {"reason": "gotcha"},
        "quota": {"max_count": "1"},
        "delete": {},
    }
    for action, data in actions.items():
        page = bob.post(f"/admin/users/newbie/{action}", {"csrf_token": token, **data})
        assert page.status_code == 403, action
    newbie = hub.accounts.user("newbie")
    assert not newbie.locked and newbie.quota is None and newbie.roles == {"search", "download"}
    assert not hub.accounts.user("bob").has(Role.USER_MANAGER)


def test_anonymous_visitors_are_sent_to_log_in(hub: Hub) -> None:
    visitor = Browser(hub)
    try:
        page = visitor.get("/admin/users/bob")
        assert (
            page.status_code == 303 and page.headers["location"] == "/login?next=/admin/users/bob"
        )
    finally:
        visitor.close()


def test_lock_with_reason_then_unlock(hub: Hub, boss: Browser, bob: Browser) -> None:
    locked = boss.submit("/admin/users/bob/lock", {"reason": XSS}, form_page="/admin/users/bob")
    assert (
        locked.status_code == 303 and locked.headers["location"] == "/admin/users/bob?done=locked"
    )
    assert hub.accounts.user("bob").locked
    assert bob.get("/account").status_code == 303  # the session ended at once
    with pytest.raises(Forbidden):
        hub.accounts.authenticate("bob", GOOD_PASSWORD)
    page = boss.get(locked.headers["location"])
    assert "Account locked" in page.text and XSS not in page.text and ESCAPED in page.text

    unlocked = boss.submit("/admin/users/bob/unlock", {}, form_page="/admin/users/bob")
    assert unlocked.status_code == 303 and not hub.accounts.user("bob").locked
    assert hub.accounts.authenticate("bob", GOOD_PASSWORD).username == "bob"


def test_roles_are_replaced_by_the_ticked_boxes(hub: Hub, boss: Browser) -> None:
    page = boss.get("/admin/users/bob")
    assert 'id="role-search" checked' in page.text and 'id="role-upload">' in page.text
    saved = boss.submit(
        "/admin/users/bob/roles", {"role": ["upload", "search"]}, form_page="/admin/users/bob"
    )
    assert saved.status_code == 303
    assert hub.accounts.user("bob").roles == {Role.UPLOAD, Role.SEARCH}
    none = boss.submit("/admin/users/bob/roles", {}, form_page="/admin/users/bob")
    assert none.status_code == 303 and hub.accounts.user("bob").roles == frozenset()
    bad = boss.submit(
        "/admin/users/bob/roles", {"role": ["search", "emperor"]}, form_page="/admin/users/bob"
    )
    assert bad.status_code == 400 and "unknown role" in bad.text
    assert hub.accounts.user("bob").roles == frozenset()


def test_managers_cannot_lock_out_themselves(hub: Hub, boss: Browser) -> None:
    own = "/admin/users/BOSS"
    demote = boss.submit(f"{own}/roles", {"role": ["search"]}, form_page=own)
    assert demote.status_code == 400 and "your own user_manager role" in demote.text
    lock = boss.submit(f"{own}/lock", {"reason": "oops"}, form_page=own)
    assert lock.status_code == 400 and "your own account" in lock.text
    delete = boss.submit(f"{own}/delete", {}, form_page=own)
    assert delete.status_code == 400 and "your own account" in delete.text
    user = hub.accounts.user("boss")
    assert not user.locked and user.has(Role.USER_MANAGER)


def test_quota_fields_empty_means_the_hub_default(hub: Hub, boss: Browser) -> None:
    page = "/admin/users/bob"
    saved = boss.submit(
        f"{page}/quota", {"max_count": "5", "max_size": "1_000_000"}, form_page=page
    )
    assert saved.status_code == 303
    assert hub.accounts.user("bob").quota == Quota(max_count=5, max_size=1_000_000, period_s=3600)
    shown = boss.get(page).text
    assert 'id="max_count" name="max_count" type="text" value="5"' in shown

    for field, value in (
        ("max_count", "0"),
        ("max_volume", "lots"),
        ("max_bandwidth", "10"),
        ("period_s", "-5"),
        ("max_size", "1" * 30),
    ):
        bad = boss.submit(f"{page}/quota", {field: value}, form_page=page)
        assert bad.status_code == 400 and f'id="{field}-error"' in bad.text, field
    assert hub.accounts.user("bob").quota == Quota(max_count=5, max_size=1_000_000, period_s=3600)

    reset = boss.submit(f"{page}/quota", {}, form_page=page)
    assert reset.status_code == 303 and hub.accounts.user("bob").quota is None


def test_confirm_a_pending_account(hub: Hub, boss: Browser) -> None:
    page = boss.get("/admin/users/newbie")
    assert 'id="confirm-form"' in page.text
    done = boss.submit("/admin/users/newbie/confirm", {}, form_page="/admin/users/newbie")
    assert done.status_code == 303 and not hub.accounts.user("newbie").pending


def test_delete_after_confirmation(hub: Hub, boss: Browser) -> None:
    question = boss.get("/admin/users/bob/delete")
    assert question.status_code == 200 and 'id="delete-form"' in question.text
    deleted = boss.submit("/admin/users/bob/delete", {}, form_page="/admin/users/bob/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/admin/users?done=deleted"
    assert hub.accounts.store.get("bob") is None
    assert "Account deleted" in boss.get("/admin/users?done=deleted").text
    assert boss.get("/admin/users/bob").status_code == 404


@pytest.mark.parametrize("action", ["roles", "lock", "unlock", "quota", "confirm", "delete"])
def test_admin_forms_need_the_csrf_token(hub: Hub, boss: Browser, action: str) -> None:
    before = hub.accounts.user("newbie")
    page = boss.post(
        f"/admin/users/newbie/{action}", {"role": ["upload"], "reason": "x", "max_count": "1"}
    )
    assert page.status_code == 403 and "did not come from this site" in page.text
    assert hub.accounts.user("newbie") == before
