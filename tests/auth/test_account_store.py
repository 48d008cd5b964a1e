"""The account store contract, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eohub.auth.ports import AccountStore
from eohub.errors import Conflict, NotFound
from eohub.model.user import Quota, Role, User

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    built: AccountStore
    if request.param == "sqlite":
        from eohub.auth.stores.sqlite import SQLiteAccountStore

        built = SQLiteAccountStore(tmp_path / "accounts.sqlite")
    else:
        from eohub.auth.stores.postgres import PostgresAccountStore

        built = PostgresAccountStore(request.getfixturevalue("postgres_dsn"))
    built.migrate()
    built.migrate()  # idempotent
    yield built
    built.close()


def _alice() -> User:
    return User("Alice", frozenset({Role.SEARCH, Role.UPLOAD}), email="a@example.org", created=T0)


def test_add_and_get_case_insensitively(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    account = store.get("alice")
    assert account is not None
    assert account.user == _alice() and account.password_hash == "hash-1"
    assert account.failed_logins == 0 and account.last_failed_login is None
    assert store.get("bob") is None


def test_a_taken_name_conflicts_and_keeps_the_first_account(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    with pytest.raises(Conflict):
        store.add(User("ALICE"), "hash-2")
    account = store.get("Alice")
    assert account is not None and account.password_hash == "hash-1"
    assert [u.username for u in store.list_users()] == ["Alice"]


def test_changes_apply_and_unknown_users_raise(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    store.set_roles("alice", frozenset({Role.DOWNLOAD}))
    store.set_lock("alice", True, "left the project")
    store.set_quota("alice", Quota(max_count=3, period_s=60))
    store.set_password("alice", "hash-2")
    account = store.get("alice")
    assert account is not None
    assert account.user.roles == {Role.DOWNLOAD} and account.password_hash == "hash-2"
    assert account.user.locked and account.user.lock_reason == "left the project"
    assert account.user.quota == Quota(max_count=3, period_s=60)
    store.set_lock("alice", False, "ignored when unlocking")
    store.set_quota("alice", None)
    account = store.get("alice")
    assert account is not None and not account.user.locked and account.user.lock_reason is None
    assert account.user.quota is None
    for change in (
        lambda: store.set_roles("bob", frozenset()),
        lambda: store.set_lock("bob", True, None),
        lambda: store.set_password("bob", "x"),
        lambda: store.set_quota("bob", None),
        lambda: store.remove("bob"),
    ):
        with pytest.raises(NotFound):
            change()


def test_failed_logins_count_and_clear(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    assert store.record_failed_login("nobody", T0) == 0
    assert store.record_failed_login("alice", T0) == 1
    assert store.record_failed_login("ALICE", T0 + timedelta(seconds=5)) == 2
    account = store.get("alice")
    assert account is not None and account.failed_logins == 2
    assert account.last_failed_login == T0 + timedelta(seconds=5)
    store.clear_failed_logins("alice")
    account = store.get("alice")
    assert account is not None and account.failed_logins == 0


def test_download_usage_is_a_sliding_window(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    product = uuid.uuid4()
    store.record_download("alice", product, 100, T0, counted=True)
    store.record_download("alice", product, 50, T0 + timedelta(hours=1), counted=False)
    store.record_download("alice", product, 10, T0 + timedelta(hours=2), counted=True)
    assert store.usage_since("alice", T0).count == 2
    assert store.usage_since("alice", T0).volume == 160
    later = store.usage_since("Alice", T0 + timedelta(minutes=30))
    assert (later.count, later.volume) == (1, 60)
    assert store.usage_since("bob", T0).count == 0


def test_remove_deletes_the_account_and_its_records(store: AccountStore) -> None:
    store.add(_alice(), "hash-1")
    store.record_download("alice", uuid.uuid4(), 100, T0, counted=True)
    store.remove("alice")
    assert store.get("alice") is None
    store.add(_alice(), "hash-2")
    assert store.usage_since("alice", T0).count == 0
