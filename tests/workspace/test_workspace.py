"""Carts and saved searches on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from workspace_support import Env, workspace_env

from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.model import Role


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgis)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with workspace_env(request.param, tmp_path, dsn, max_cart=3, max_searches=2) as built:
        built.accounts.create("alice", "alice-password", [Role.SEARCH], email="alice@example.org")
        built.accounts.create("bob", "bob-password-1", [Role.SEARCH], email="bob@example.org")
        yield built


# -- cart ----------------------------------------------------------------------------------------
def test_the_cart_adds_once_lists_newest_first_and_removes(env: Env) -> None:
    ws, (p1, p2, p3) = env.workspace, env.products[:3]
    assert ws.add_to_cart("alice", p1.id) == 1
    assert ws.add_to_cart("alice", p2.id) == 2
    assert ws.add_to_cart("ALICE", p1.id) == 2  # again, any case of the name: no change
    assert ws.add_to_cart("alice", p3.id) == 3
    items = ws.cart("alice")
    assert [i.product_id for i in items] == [p3.id, p2.id, p1.id]
    assert [i.product for i in items] == [p3, p2, p1]
    assert items[0].added > items[1].added > items[2].added
    assert ws.remove_from_cart("alice", p2.id) == 2
    assert ws.remove_from_cart("alice", p2.id) == 2  # not in the cart any more: no change
    assert [i.product_id for i in ws.cart("alice")] == [p3.id, p1.id]
    assert ws.clear_cart("alice") == 2
    assert ws.cart("alice") == [] and ws.cart_count("alice") == 0


def test_an_unknown_product_is_not_found_and_not_stored(env: Env) -> None:
    with pytest.raises(NotFound):
        env.workspace.add_to_cart("alice", uuid.uuid4())
    assert env.workspace.cart_count("alice") == 0


def test_a_product_deleted_since_shows_as_gone(env: Env) -> None:
    ws, (p1, p2) = env.workspace, env.products[:2]
    ws.add_to_cart("alice", p1.id)
    ws.add_to_cart("alice", p2.id)
    env.catalogue.delete(p1.id, purge=True)
    items = ws.cart("alice")
    assert [(i.product_id, i.available) for i in items] == [(p2.id, True), (p1.id, False)]
    assert items[1].product is None


def test_a_full_cart_refuses_more_with_a_clear_message(env: Env) -> None:
    ws = env.workspace
    for product in env.products[:3]:
        ws.add_to_cart("alice", product.id)
    with pytest.raises(Conflict, match="at most 3 products"):
        ws.add_to_cart("alice", env.products[3].id)
    assert ws.add_to_cart("alice", env.products[0].id) == 3  # one already there is fine
    assert {i.product_id for i in ws.cart("alice")} == {p.id for p in env.products[:3]}
    assert ws.add_to_cart("bob", env.products[3].id) == 1  # the limit is per user


def test_carts_belong_to_their_owner(env: Env) -> None:
    ws, (p1, p2) = env.workspace, env.products[:2]
    ws.add_to_cart("alice", p1.id)
    ws.add_to_cart("bob", p2.id)
    assert [i.product_id for i in ws.cart("alice")] == [p1.id]
    assert [i.product_id for i in ws.cart("bob")] == [p2.id]
    ws.remove_from_cart("bob", p1.id)
    ws.clear_cart("bob")
    assert [i.product_id for i in ws.cart("alice")] == [p1.id]


def test_removing_a_user_removes_their_cart_and_searches(env: Env) -> None:
    env.workspace.add_to_cart("bob", env.products[0].id)
    env.workspace.save_search("bob", "mine", "platform=Sentinel-2A")
    env.accounts.remove("bob")
    assert env.workspace.cart("bob") == [] and env.workspace.searches("bob") == []


# -- saved searches ------------------------------------------------------------------------------
def test_saved_searches_are_saved_renamed_toggled_and_deleted(env: Env) -> None:
    ws = env.workspace
    first = ws.save_search(
        "alice", "  Clear Sentinel-2  ", "?platform=Sentinel-2A&cloud_cover=0..20"
    )
    assert first.name == "Clear Sentinel-2" and not first.notify and first.last_notified is None
    assert first.params == "platform=Sentinel-2A&cloud_cover=0..20"
    second = ws.save_search("alice", "Everything", "")
    assert second.params == ""
    assert [s.id for s in ws.searches("alice")] == [second.id, first.id]
    assert ws.search("alice", first.id) == first
    assert ws.rename_search("alice", first.id, "Clear S2").name == "Clear S2"
    assert ws.set_notify("alice", first.id, True).notify
    assert ws.search("alice", first.id).notify
    assert not ws.set_notify("alice", first.id, False).notify
    ws.delete_search("alice", first.id)
    assert [s.id for s in ws.searches("alice")] == [second.id]
    with pytest.raises(NotFound):
        ws.search("alice", first.id)


def test_paging_parameters_are_not_saved(env: Env) -> None:
    saved = env.workspace.save_search(
        "alice", "paged", "platform=Sentinel-1A&limit=50&offset=100&count=true&sort=-cloud_cover"
    )
    assert saved.params == "platform=Sentinel-1A&sort=-cloud_cover"


def test_another_users_search_is_not_found_and_unchanged(env: Env) -> None:
    ws = env.workspace
    bobs = ws.save_search("bob", "Bob's", "platform=Sentinel-1A")
    with pytest.raises(NotFound):
        ws.search("alice", bobs.id)
    with pytest.raises(NotFound):
        ws.rename_search("alice", bobs.id, "taken over")
    with pytest.raises(NotFound):
        ws.set_notify("alice", bobs.id, True)
    with pytest.raises(NotFound):
        ws.delete_search("alice", bobs.id)
    assert ws.searches("alice") == []
    assert ws.searches("bob") == [bobs]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ("colour=blue", "unknown field 'colour'"),
        ("cloud_cover=cloudy", "expects a float"),
        ("bbox=1,2,3", "bbox must be"),
        ("geometry=POLYGON((0 0, 1 1))", "invalid WKT geometry"),
        ("start=yesterday", "not an ISO-8601"),
        ("platform", "not a query string"),
        ("relation=overlaps&bbox=0,0,1,1", "unknown relation"),
        ("x=" + "a" * 20_001, "too long"),
    ],
)
def test_invalid_parameters_are_refused_and_nothing_is_stored(
    env: Env, params: str, says: str
) -> None:
    with pytest.raises(InvalidQuery, match=says):
        env.workspace.save_search("alice", "bad", params)
    assert env.workspace.searches("alice") == []


@pytest.mark.parametrize(
    ("name", "says"),
    [("", "Give the search a name"), ("   ", "Give the search a name"),
     ("n" * 101, "at most 100"), ("two\nlines", "control characters")],
)  # fmt: skip
def test_invalid_names_are_refused(env: Env, name: str, says: str) -> None:
    with pytest.raises(InvalidQuery, match=says):
        env.workspace.save_search("alice", name, "platform=Sentinel-2A")
    saved = env.workspace.save_search("alice", "good", "platform=Sentinel-2A")
    with pytest.raises(InvalidQuery, match=says):
        env.workspace.rename_search("alice", saved.id, name)
    assert env.workspace.search("alice", saved.id).name == "good"


def test_names_keep_markup_as_text(env: Env) -> None:
    name = '<script>alert("x")</script> & friends'
    assert env.workspace.save_search("alice", name, "").name == name
    assert env.workspace.searches("alice")[0].name == name


def test_the_number_of_saved_searches_is_bounded(env: Env) -> None:
    ws = env.workspace
    ws.save_search("alice", "one", "")
    ws.save_search("alice", "two", "")
    with pytest.raises(Conflict, match="2 saved searches, the most allowed"):
        ws.save_search("alice", "three", "")
    assert [s.name for s in ws.searches("alice")] == ["two", "one"]
    ws.save_search("bob", "bob's first", "")  # per user


# -- what the notifier reads ---------------------------------------------------------------------
def test_subscriptions_list_only_owners_who_can_get_mail(env: Env) -> None:
    ws, store = env.workspace, env.store
    assert not store.any_notify()
    env.accounts.create("carol", "carol-password", [Role.SEARCH])  # no e-mail address
    env.accounts.create("dave", "dave-password-1", [Role.SEARCH], email="dave@example.org")
    searches = {
        user: ws.save_search(user, f"{user}'s", "platform=Sentinel-2A")
        for user in ("alice", "bob", "carol", "dave")
    }
    quiet = ws.save_search("alice", "quiet", "")
    assert not store.any_notify()
    for user, search in searches.items():
        ws.set_notify(user, search.id, True)
    env.accounts.lock("dave", "spam")
    assert store.any_notify()
    found = store.subscriptions()
    assert [(s.username, s.email, s.search.id) for s in found] == [
        ("alice", "alice@example.org", searches["alice"].id),
        ("bob", "bob@example.org", searches["bob"].id),
    ]
    assert quiet.id not in {s.search.id for s in found}
    at = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)
    store.mark_notified([searches["alice"].id], at)
    assert ws.search("alice", searches["alice"].id).last_notified == at
    assert ws.search("bob", searches["bob"].id).last_notified is None
