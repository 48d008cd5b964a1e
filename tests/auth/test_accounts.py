"""Authentication, throttling, user management and quotas over a real SQLite account file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eohub.auth import Accounts, DownloadGate, LoginPolicy, Throttle
from eohub.auth.passwords import Passwords
from eohub.auth.quotas import FLOW_LEASE_S
from eohub.auth.stores.sqlite import SQLiteAccountStore
from eohub.errors import Forbidden, QuotaExceeded, TooManyRequests, Unauthenticated
from eohub.model.user import DEFAULT_ROLES, Quota, Role, User


class Clock:
    """A settable clock (the services take the time as a parameter)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteAccountStore]:
    built = SQLiteAccountStore(tmp_path / "accounts.sqlite")
    built.migrate()
    yield built
    built.close()


@pytest.fixture
def accounts(store: SQLiteAccountStore, clock: Clock) -> Accounts:
    policy = LoginPolicy(max_failures=3, base_delay_s=10, max_delay_s=40)
    return Accounts(store, policy=policy, clock=clock)


def test_a_created_user_signs_in_and_gets_default_roles(accounts: Accounts) -> None:
    accounts.create("alice", "correct horse")
    user = accounts.authenticate("alice", "correct horse")
    assert user.username == "alice" and user.roles == DEFAULT_ROLES
    assert accounts.authenticate("ALICE", "correct horse").username == "alice"
    account = accounts.store.get("alice")
    assert account is not None and account.password_hash.startswith("$argon2id$")
    assert "correct horse" not in account.password_hash


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong password"), ("nobody", "correct horse"), ("bad name!", "x"), ("", "")],
)
def test_wrong_credentials_are_refused(accounts: Accounts, name: str, password: str) -> None:
    accounts.create("alice", "correct horse")
    with pytest.raises(Unauthenticated, match="Invalid user name or password"):
        accounts.authenticate(name, password)


def test_bad_usernames_and_passwords_are_refused_at_creation(accounts: Accounts) -> None:
    with pytest.raises(ValueError, match="invalid username"):
        accounts.create("al ice", "correct horse")
    with pytest.raises(ValueError, match="8 to 1024"):
        accounts.create("alice", "short")
    assert accounts.users() == []


def test_failed_logins_throttle_even_the_right_password(accounts: Accounts, clock: Clock) -> None:
    accounts.create("alice", "correct horse")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            accounts.authenticate("alice", "guess")
    with pytest.raises(TooManyRequests) as throttled:
        accounts.authenticate("alice", "correct horse")
    assert throttled.value.retry_after == 10
    clock.now += timedelta(seconds=11)
    with pytest.raises(Unauthenticated):  # a fourth failure doubles the wait
        accounts.authenticate("alice", "guess")
    with pytest.raises(TooManyRequests) as throttled:
        accounts.authenticate("alice", "correct horse")
    assert throttled.value.retry_after == 20
    clock.now += timedelta(seconds=21)
    assert accounts.authenticate("alice", "correct horse").username == "alice"
    account = accounts.store.get("alice")
    assert account is not None and account.failed_logins == 0


def test_a_locked_account_is_refused_until_unlocked(accounts: Accounts) -> None:
    accounts.create("alice", "correct horse")
    accounts.authenticate("alice", "correct horse")  # now in the verification cache
    accounts.lock("alice", "abuse")
    with pytest.raises(Forbidden, match="locked: abuse"):
        accounts.authenticate("alice", "correct horse")
    accounts.unlock("alice")
    assert accounts.authenticate("alice", "correct horse").username == "alice"


def test_a_password_change_takes_effect_at_once(accounts: Accounts) -> None:
    accounts.create("alice", "correct horse")
    accounts.authenticate("alice", "correct horse")
    with pytest.raises(Unauthenticated):
        accounts.change_password("alice", "battery staple", old_password="wrong one")
    accounts.change_password("alice", "battery staple", old_password="correct horse")
    with pytest.raises(Unauthenticated):
        accounts.authenticate("alice", "correct horse")
    assert accounts.authenticate("alice", "battery staple").username == "alice"


def test_the_administrator_is_created_once_with_every_role(accounts: Accounts) -> None:
    generated = accounts.ensure_administrator("root", None)
    assert generated is not None and len(generated) >= 12
    assert accounts.authenticate("root", generated).roles == frozenset(Role)
    accounts.set_roles("root", [Role.SEARCH])
    assert accounts.ensure_administrator("root", "another password") is None
    assert accounts.authenticate("root", generated).roles == frozenset(Role)


def test_the_verification_cache_remembers_only_matching_passwords() -> None:
    passwords = Passwords(cache_s=60)
    stored = passwords.hash("correct horse")
    assert passwords.verify(stored, "correct horse")
    assert passwords.verify(stored, "correct horse")  # from the cache
    assert not passwords.verify(stored, "correct hors")
    assert not passwords.verify("not a hash", "correct horse")
    assert not passwords.verify(passwords.hash("other"), "correct horse")


def _gate(store: SQLiteAccountStore, clock: Clock, **limits: int) -> DownloadGate:
    return DownloadGate(store, Quota(**limits), clock=clock)


def test_concurrent_downloads_are_limited_per_user(store: SQLiteAccountStore, clock: Clock) -> None:
    gate = _gate(store, clock, max_concurrent=2)
    alice, bob, product = User("alice"), User("bob"), uuid.uuid4()
    first, second = gate.admit(alice, product, 10), gate.admit(alice, product, 10)
    with pytest.raises(QuotaExceeded, match='2 concurrent flows achieved by the user "alice"'):
        gate.admit(alice, product, 10)
    gate.admit(bob, product, 10).close()
    first.close()
    first.close()  # idempotent
    gate.admit(alice, product, 10).close()
    second.close()
    assert gate.active(alice) == 0


def test_the_concurrency_limit_holds_across_server_processes(tmp_path: Path, clock: Clock) -> None:
    """Two gates on their own connections to one account file stand for two server processes:
    a user's downloads in both count against one limit; a process that died (its flows never
    closed) frees them when their lease runs out; a renewed flow keeps its slot."""
    stores = [SQLiteAccountStore(tmp_path / "shared.sqlite") for _ in range(2)]
    try:
        stores[0].migrate()
        first, second = (_gate(s, clock, max_concurrent=2) for s in stores)
        alice, product = User("alice"), uuid.uuid4()
        kept = first.admit(alice, product, 10)
        second.admit(alice, product, 10)  # never closed: its process dies
        with pytest.raises(QuotaExceeded, match="2 concurrent flows"):
            first.admit(alice, product, 10)
        assert first.active(alice) == second.active(alice) == 2
        kept.close()
        second.admit(alice, product, 10)  # the slot freed in the other process
        with pytest.raises(QuotaExceeded):
            second.admit(alice, product, 10)
        clock.now += timedelta(seconds=FLOW_LEASE_S + 1)
        assert first.active(alice) == 0
        renewed = first.admit(alice, product, 10)
        first.admit(alice, product, 10).close()
        clock.now += timedelta(seconds=FLOW_LEASE_S - 1)
        renewed.renew()
        clock.now += timedelta(seconds=2)
        assert first.active(alice) == 1
    finally:
        for store in stores:
            store.close()


def test_count_window_ignores_probes_and_resumes(store: SQLiteAccountStore, clock: Clock) -> None:
    gate = _gate(store, clock, max_count=2, period_s=3600)
    alice, product, size = User("alice"), uuid.uuid4(), 10_000_000
    gate.admit(alice, product, size, 0, 2).close()  # sentinelsat's online probe
    gate.admit(alice, product, size).close()
    gate.admit(alice, product, size, 5_000_000).close()  # a resume
    gate.admit(alice, product, size).close()
    with pytest.raises(QuotaExceeded, match=r"Maximum number of download \(2\) exceeded"):
        gate.admit(alice, product, size)
    clock.now += timedelta(hours=1, seconds=1)
    gate.admit(alice, product, size).close()


def test_volume_and_size_limits(store: SQLiteAccountStore, clock: Clock) -> None:
    gate = _gate(store, clock, max_volume=1000, max_size=800)
    alice, product = User("alice"), uuid.uuid4()
    with pytest.raises(QuotaExceeded, match=r"Maximum size of download \(800\)"):
        gate.admit(alice, product, 900)
    gate.admit(alice, product, 600).close()
    with pytest.raises(QuotaExceeded, match=r"cumulative size of download \(1000\)"):
        gate.admit(alice, product, 600)
    own = User("alice", quota=Quota(max_volume=5000))
    gate.admit(own, product, 600).close()  # a user's own limit replaces the default


def test_throttle_spreads_bytes_over_time() -> None:
    now = [0.0]
    throttle = Throttle(1000, clock=lambda: now[0])
    assert throttle.delay(1000) == 0.0  # one second of burst
    assert throttle.delay(500) == pytest.approx(0.5)
    now[0] += 0.5
    assert throttle.delay(500) == pytest.approx(0.5)
    now[0] += 10
    assert throttle.delay(1000) == 0.0
