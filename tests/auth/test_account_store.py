"""The account store contract, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import threading
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


def test_download_flows_hold_a_limit_and_expire(store: AccountStore) -> None:
    lease = T0 + timedelta(minutes=5)
    assert store.open_flow("Alice", "a1", T0, lease, 2)
    assert store.open_flow("alice", "a2", T0, lease, 2)
    assert not store.open_flow("ALICE", "a3", T0, lease, 2)
    assert store.open_flow("bob", "b1", T0, lease, 2)
    assert store.open_flow("alice", "a4", T0, lease, None)  # no limit
    assert store.open_flows("alice", T0) == 3
    store.close_flow("a1")
    store.close_flow("a1")  # idempotent
    assert store.open_flows("alice", T0) == 2
    # A flow whose lease ran out (its process died) frees its slot; a renewed one keeps it.
    store.renew_flow("a2", lease + timedelta(minutes=10))
    after = lease + timedelta(seconds=1)
    assert store.open_flows("alice", after) == 1
    assert store.open_flow("alice", "a5", after, after + timedelta(minutes=5), 2)
    assert not store.open_flow("alice", "a6", after, after + timedelta(minutes=5), 2)


def test_flows_started_at_once_never_pass_the_limit(store: AccountStore) -> None:
    """Eight threads (own connections, as server processes have) start a flow at the same
    moment against a limit of three: exactly three start."""
    barrier = threading.Barrier(8)
    started: list[bool] = []
    lock = threading.Lock()

    def start(n: int) -> None:
        barrier.wait(timeout=30)
        ok = store.open_flow("alice", f"f{n}", T0, T0 + timedelta(minutes=5), 3)
        with lock:
            started.append(ok)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(started) == [False] * 5 + [True] * 3
    assert store.open_flows("alice", T0) == 3
