"""The synchroniser store on a real SQLite account file and on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.sync import SqlSyncStore, SyncDefinition, SyncMode, SyncStatus
from eohub.sync.model import Cursor, DeletedCursor, FailureState, SyncCounters
from eohub.sync.service import check_definition

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlSyncStore]:
    built: Any
    if request.param == "sqlite":
        from eohub.auth.stores.sqlite import SQLiteAccountStore

        built = SQLiteAccountStore(tmp_path / "accounts.sqlite")
    else:
        from eohub.auth.stores.postgres import PostgresAccountStore

        built = PostgresAccountStore(request.getfixturevalue("postgres_dsn"))
    built.migrate()
    sync_store = SqlSyncStore(built.connect, built.dialect)
    sync_store.migrate()
    sync_store.migrate()  # idempotent
    yield sync_store
    built.close()


def test_add_get_progress_pause_and_remove(store: SqlSyncStore) -> None:
    definition = SyncDefinition(
        label="be-1", url="http://127.0.0.1:1/odata/v1", username="u", password="p",
        mode=SyncMode.COPY, filter="Name eq 'x'", geofilter="intersects POINT(1 2)",
    )  # fmt: skip
    added = store.add(definition, NOW)
    assert added.definition == definition and added.status is SyncStatus.RUNNING
    assert added.cursor == Cursor() and added.created == NOW
    with pytest.raises(Conflict):
        store.add(definition, NOW)
    moved = added.evolve(
        cursor=Cursor(1_700_000_000_123, True, "0f0e0d0c-0000-0000-0000-000000000001"),
        deleted_cursor=DeletedCursor(1_700_000_000_456, 3),
        counters=SyncCounters(10, 2**40, 2, 1),
        last_run=NOW, last_success=NOW, last_error="boom", last_remote_date=NOW,
    )  # fmt: skip
    store.save_progress(moved)
    assert store.get("be-1") == moved
    assert store.get(str(added.id)) == moved
    store.set_status(added.id, SyncStatus.PAUSED)
    assert store.get(added.id).status is SyncStatus.PAUSED
    assert [s.id for s in store.list()] == [added.id]
    store.remove(added.id)
    with pytest.raises(NotFound):
        store.get("be-1")
    with pytest.raises(NotFound):
        store.remove(added.id)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"url": "ftp://x"}, "http(s) URL"),
        ({"page_size": 0}, "page size"),
        ({"streams": 1000}, "streams"),
        ({"filter": "Name eq"}, "$filter"),
        ({"filter": "nosuchfield eq 1"}, "nosuchfield"),
        ({"geofilter": "touches POINT(1 2)"}, "geofilter"),
        ({"geofilter": "intersects POLYGON((0 0, 1 1"}, "WKT"),
        ({"token": "t", "username": "u"}, "not both"),
    ],
)
def test_bad_definitions_are_refused_with_a_clear_reason(
    changes: dict[str, object], words: str
) -> None:
    values: dict[str, object] = {"label": "x", "url": "http://127.0.0.1:1"}
    values.update(changes)
    with pytest.raises(InvalidQuery) as raised:
        check_definition(SyncDefinition(**values))  # type: ignore[arg-type]
    assert words in raised.value.user_message


def test_failed_products_count_up_to_the_skip_list_and_are_retried(store: SqlSyncStore) -> None:
    sync = store.add(SyncDefinition(label="f", url="http://127.0.0.1:1/odata/v1"), NOW)
    bad, held = uuid.uuid4(), uuid.uuid4()
    later = NOW + timedelta(hours=1)
    for n in (1, 2):
        found = store.product_failed(sync.id, bad, "P", f"error {n}", NOW + timedelta(hours=n),
                                     limit=3, state=FailureState.FAILING)  # fmt: skip
        assert (found.failures, found.state, found.last_error) == (n, FailureState.FAILING,
                                                                   f"error {n}")  # fmt: skip
    found = store.product_failed(sync.id, bad, "P", "x" * 5000, later, limit=3,
                                 state=FailureState.FAILING)  # fmt: skip
    assert (found.failures, found.state) == (3, FailureState.SKIPPED)
    assert found.first_failed == NOW + timedelta(hours=1) and found.last_failed == later
    assert found.last_error == "x" * 2000  # bounded
    assert store.get(sync.id).skipped == 1
    for n in range(1, 6):  # 0: never on the skip list
        found = store.product_failed(sync.id, held, "H", "e", NOW, limit=0,
                                     state=FailureState.FAILING)  # fmt: skip
        assert (found.failures, found.state) == (n, FailureState.FAILING)

    with pytest.raises(NotFound):
        store.retry(sync.id, uuid.uuid4())
    assert store.get(sync.id).skipped == 1  # nothing changed
    assert store.retry(sync.id) == 1
    assert store.retry(sync.id) == 0
    queued = store.failed_products(sync.id, FailureState.RETRY)
    assert [(f.product_id, f.failures) for f in queued] == [(bad, 0)]
    found = store.product_failed(sync.id, bad, "P", "again", later, limit=3,
                                 state=FailureState.RETRY)  # fmt: skip
    assert (found.failures, found.state) == (1, FailureState.RETRY)
    assert store.get(sync.id).skipped == 0

    store.products_done(sync.id, [bad])
    assert [f.product_id for f in store.failed_products(sync.id)] == [held]
    store.remove(sync.id)
    assert store.failed_products(sync.id) == ()
