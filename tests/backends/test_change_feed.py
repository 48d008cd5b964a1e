"""The catalogue change feed on a real SQLite file and a real PostGIS: events in commit order,
written in the same transaction as the change, pruned by age."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalogue_samples import T0, bare_product, make_product
from eohub.catalogue.service import Catalogue
from eohub.errors import Conflict, InvalidQuery
from eohub.model import Product
from eohub.model.change import ChangeEvent


def _events(backend: Any, after: int = 0) -> list[tuple[ChangeEvent, uuid.UUID, str]]:
    return [(c.event, c.product_id, c.name) for c in backend.changes(after, 10_000)]


def test_upsert_and_delete_write_events_in_order(catalogue_backend: Any) -> None:
    a, b = make_product("FEED_A"), make_product("FEED_B")
    assert catalogue_backend.change_head() == 0 and catalogue_backend.changes(0, 10) == []
    catalogue_backend.upsert([a, b])
    catalogue_backend.upsert([make_product("FEED_A", cloud_cover=3.0)])
    catalogue_backend.delete(b.id, cause="Obsolete product or Other")
    catalogue_backend.delete(uuid.uuid4())  # unknown Id: nothing happened, no event
    feed = catalogue_backend.changes(0, 100)
    got = [(c.event, c.product_id, c.name) for c in feed]
    # Within one upsert the order is the backend's (PostGIS writes by Id); across, commit order.
    assert sorted(got[:2], key=str) == sorted(
        [(ChangeEvent.CREATED, a.id, "FEED_A"), (ChangeEvent.CREATED, b.id, "FEED_B")], key=str
    )
    assert got[2:] == [
        (ChangeEvent.MODIFIED, a.id, "FEED_A"),
        (ChangeEvent.DELETED, b.id, "FEED_B"),
    ]
    seqs = [c.seq for c in feed]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] > 0
    assert catalogue_backend.change_head() == seqs[-1]
    assert all(c.at.tzinfo is UTC for c in feed)
    assert feed[0].at <= feed[-1].at
    # Paging: after a position, at most limit events.
    assert [c.seq for c in catalogue_backend.changes(seqs[0], 2)] == seqs[1:3]
    assert catalogue_backend.changes(seqs[-1], 10) == []


def test_a_purge_is_a_deletion_too(catalogue_backend: Any) -> None:
    gone = make_product("FEED_PURGED")
    catalogue_backend.upsert([gone])
    catalogue_backend.delete(gone.id, purge=True)
    assert [e for e, _, _ in _events(catalogue_backend)] == [
        ChangeEvent.CREATED,
        ChangeEvent.DELETED,
    ]


def test_reinserting_a_deleted_id_is_created_again(catalogue_backend: Any) -> None:
    p = make_product("FEED_BACK")
    catalogue_backend.upsert([p])
    catalogue_backend.delete(p.id)
    catalogue_backend.upsert([p])
    assert [e for e, _, _ in _events(catalogue_backend)] == [
        ChangeEvent.CREATED,
        ChangeEvent.DELETED,
        ChangeEvent.CREATED,
    ]


def test_a_refused_upsert_leaves_no_event(catalogue_backend: Any) -> None:
    catalogue_backend.upsert([make_product("FEED_TAKEN")])
    head = catalogue_backend.change_head()
    clash = make_product("FEED_TAKEN", id=uuid.uuid4())  # same name under another Id
    with pytest.raises(Conflict):
        catalogue_backend.upsert([make_product("FEED_OTHER"), clash])
    assert catalogue_backend.changes(head, 10) == []
    assert catalogue_backend.get(make_product("FEED_OTHER").id) is None


def test_an_upsert_failing_midway_leaves_no_event(catalogue_backend: Any) -> None:
    """The source fails after more than one chunk was written: all of it rolls back, events
    included (they share the products' transaction)."""

    def source() -> Iterator[Product]:
        for i in range(2100):  # beyond the first chunk of either backend
            yield bare_product(f"FEED_MID_{i:05d}", T0 + timedelta(seconds=i))
        raise RuntimeError("the reader failed")

    with pytest.raises(RuntimeError):
        catalogue_backend.upsert(source())
    assert catalogue_backend.changes(0, 10) == [] and catalogue_backend.change_head() == 0


def test_prune_drops_old_events_but_keeps_the_newest(catalogue_backend: Any) -> None:
    catalogue_backend.upsert([make_product("FEED_OLD_1"), make_product("FEED_OLD_2")])
    cut = datetime.now(UTC) + timedelta(seconds=1)
    assert catalogue_backend.prune_changes(cut - timedelta(days=1)) == 0
    assert catalogue_backend.prune_changes(cut) == 1  # the newest stays: the head is known
    left = catalogue_backend.changes(0, 10)
    assert [c.name for c in left] == ["FEED_OLD_2"]
    head = catalogue_backend.change_head()
    assert head == left[0].seq
    catalogue_backend.upsert([make_product("FEED_NEW")])
    assert [c.seq > head for c in catalogue_backend.changes(head, 10)] == [True]


def test_numbers_are_never_reused_after_pruning(catalogue_backend: Any) -> None:
    catalogue_backend.upsert([make_product("FEED_R1")])
    catalogue_backend.upsert([make_product("FEED_R2")])
    first_head = catalogue_backend.change_head()
    catalogue_backend.prune_changes(datetime.now(UTC) + timedelta(seconds=1))
    catalogue_backend.delete(make_product("FEED_R2").id)
    assert catalogue_backend.change_head() > first_head


def test_the_service_checks_positions(catalogue_backend: Any) -> None:
    catalogue = Catalogue(catalogue_backend)
    catalogue.upsert([make_product("FEED_SVC")])
    assert [c.name for c in catalogue.changes()] == ["FEED_SVC"]
    assert catalogue.changes(0, 0) == []
    with pytest.raises(InvalidQuery):
        catalogue.changes(-1, 10)
    assert catalogue.change_head() == catalogue.changes()[0].seq
