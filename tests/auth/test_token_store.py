"""The token store contract (signing keys, token sessions, one-time refresh tokens, API keys)
on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eohub.auth.signing import new_signing_key
from eohub.auth.stores.sql import SqlAccountStore
from eohub.auth.stores.tokens import SqlTokenStore
from eohub.auth.token_ports import TokenSession
from eohub.errors import Conflict
from eohub.model.user import Role, User

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgis)])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlAccountStore]:
    built: SqlAccountStore
    if request.param == "sqlite":
        from eohub.auth.stores.sqlite import SQLiteAccountStore

        built = SQLiteAccountStore(tmp_path / "accounts.sqlite")
    else:
        from eohub.auth.stores.postgres import PostgresAccountStore

        built = PostgresAccountStore(request.getfixturevalue("postgres_dsn"))
    built.migrate()
    built.migrate()  # idempotent
    built.add(User("Alice", frozenset({Role.SEARCH}), created=T0), "hash")
    built.add(User("bob", frozenset({Role.DOWNLOAD}), created=T0), "hash")
    yield built
    built.close()


@pytest.fixture
def store(accounts: SqlAccountStore) -> SqlTokenStore:
    return SqlTokenStore(accounts)


def _session(
    sid: str, username: str = "alice", expires: datetime = T0 + timedelta(hours=1)
) -> TokenSession:
    return TokenSession(sid, username, "cdse-public", expires, revoked=False)


def test_one_active_signing_key_even_when_two_processes_race(store: SqlTokenStore) -> None:
    assert store.signing_keys() == []
    first, second = new_signing_key(T0), new_signing_key(T0 + timedelta(seconds=1))
    assert store.add_signing_key(first) is True
    assert store.add_signing_key(second) is False  # the loser adopts the stored key
    keys = store.signing_keys()
    assert [k.kid for k in keys] == [first.kid] and keys[0].active
    assert keys[0].private_pem == first.private_pem and keys[0].created == T0


def test_a_session_comes_back_with_its_account_and_can_be_revoked(store: SqlTokenStore) -> None:
    store.start_session(_session("s1"), T0)
    found = store.session_account("s1")
    assert found is not None
    session, account = found
    assert session.username == "Alice" and session.client_id == "cdse-public"
    assert not session.revoked and session.expires == T0 + timedelta(hours=1)
    assert account.user.roles == {Role.SEARCH}
    store.revoke_session("s1")
    again = store.session_account("s1")
    assert again is not None and again[0].revoked
    assert store.session_account("nope") is None


def test_a_refresh_token_is_used_once_and_extends_its_session(store: SqlTokenStore) -> None:
    store.start_session(_session("s1"), T0)
    later = T0 + timedelta(hours=3)
    store.add_refresh("r1", "s1", "ALICE", later, extend=True)
    assert store.use_refresh("r1") == "ok"
    assert store.use_refresh("r1") == "replayed"
    assert store.use_refresh("never-issued") == "unknown"
    found = store.session_account("s1")
    assert found is not None and found[0].expires == later


def test_expired_sessions_are_forgotten_when_the_user_starts_another(store: SqlTokenStore) -> None:
    store.start_session(_session("old", expires=T0 + timedelta(minutes=1)), T0)
    store.add_refresh("r-old", "old", "alice", T0 + timedelta(minutes=1), extend=False)
    store.start_session(_session("other-user", "bob", T0 + timedelta(minutes=1)), T0)
    store.start_session(_session("new"), T0 + timedelta(hours=1))
    assert store.session_account("old") is None
    assert store.use_refresh("r-old") == "unknown"
    assert store.session_account("other-user") is not None  # only the user's own rows go


def test_password_change_sessions_end_and_removal_forgets_everything(
    accounts: SqlAccountStore, store: SqlTokenStore
) -> None:
    store.start_session(_session("s1"), T0)
    store.start_session(_session("s2", "bob"), T0)
    accounts.remove_sessions("ALICE")  # what a password change or a lock does
    alice, bob = store.session_account("s1"), store.session_account("s2")
    assert alice is not None and alice[0].revoked and bob is not None and not bob[0].revoked
    store.add_refresh("r1", "s1", "alice", T0 + timedelta(hours=1), extend=False)
    store.add_api_key("alice", "laptop", "h1", "eohub_abcd…", T0, None)
    accounts.remove("alice")
    assert store.session_account("s1") is None and store.use_refresh("r1") == "unknown"
    assert store.api_key_account("h1") is None and store.api_keys("alice") == []
    accounts.add(User("alice", frozenset(), created=T0), "hash")  # a new account, same name
    assert store.api_keys("alice") == []


def test_api_keys_are_listed_by_name_found_by_hash_touched_and_revoked(
    store: SqlTokenStore,
) -> None:
    store.add_api_key("alice", "zeta", "h-z", "eohub_zzzz…", T0, T0 + timedelta(days=30))
    store.add_api_key("Alice", "alpha", "h-a", "eohub_aaaa…", T0, None)
    store.add_api_key("bob", "alpha", "h-b", "eohub_bbbb…", T0, None)  # names are per user
    with pytest.raises(Conflict):
        store.add_api_key("ALICE", "alpha", "h-other", "eohub_cccc…", T0, None)
    keys = store.api_keys("alice")
    assert [k.name for k in keys] == ["alpha", "zeta"]
    assert keys[1].expires == T0 + timedelta(days=30) and keys[0].last_used is None
    found = store.api_key_account("h-a")
    assert found is not None and found[1].user.username == "Alice"
    store.touch_api_key("h-a", T0 + timedelta(minutes=5))
    assert store.api_keys("alice")[0].last_used == T0 + timedelta(minutes=5)
    assert store.remove_api_key("alice", "alpha") is True
    assert store.remove_api_key("alice", "alpha") is False
    assert store.api_key_account("h-a") is None
    assert [k.name for k in store.api_keys("bob")] == ["alpha"]
